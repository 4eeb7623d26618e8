"""`syncdesk connectors verify SYSTEM --sandbox`: prove, once before going live, that every key
syncdesk finds a booking by works in the vendor's own system (issue 24).

Check-first (DESIGN §1) and the arrival check rely on searches whose parameter names are not
all published (SynXis' `externalReferenceNumber`, Mews' `ChannelNumber`, where ResDiary's diary
shows our reference: `connectors.synxis`, `connectors.pms`, `connectors.resdiary`). A search
that silently finds nothing makes a retry book the guest twice. So this makes a test booking
carrying our reference (test order `SYNCDESK-VERIFY-<UTC timestamp>`, item `ITEM-1`, guest
"Verify Syncdesk"), reads it back by each key (our reference, the guest + arrival + property,
its confirmation number), then cancels it, and says in one line per step whether it worked.

It only ever runs against a vendor's test environment: without `--sandbox` it refuses, and the
connector's base URL must be one the operator listed in `SANDBOX_URLS` (comma-separated base
URLs), so a production URL is never booked by accident, whatever the flag says.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from connectors.base import HttpConnector, TwoKeyCheckFirst
from connectors.errors import ConnectorError, NoConnector
from connectors.types import BookingRequest, ExistingBooking, Guest
from workflows.core.settings import Settings
from workflows.systems.names import system_name
from workflows.systems.registry import connector_once

# The systems with a booking API, the item detail that names their property, and what is booked.
PROPERTY_DETAIL = {"synxis": "hotel_id", "resdiary": "restaurant_id", "pms": "property_code"}
KINDS = {"synxis": "room", "resdiary": "table", "pms": "room"}
DEFAULT_DETAILS: dict[str, dict[str, Any]] = {"resdiary": {"visit_time": "19:00", "covers": 2}}
ARRIVAL_AFTER = dt.timedelta(days=30)  # far enough ahead that a test environment has the date open
TEST_GUEST = Guest("Verify", "Syncdesk", "verify@syncdesk.invalid", "")


class Refused(Exception):
    """Verify will not run: not a sandbox, or nothing to verify. The message says what to do."""


@dataclass(frozen=True)
class Step:
    """One line of the report: a step (create, cancel) or a search key, and whether it worked."""

    name: str  # create | reference | guest | confirmation | cancel
    ok: bool
    detail: str

    def line(self) -> str:
        return f"{self.name:<13} {'ok' if self.ok else 'FAILS':<6}{self.detail}"


@dataclass(frozen=True)
class Verification:
    system: str
    base_url: str
    reference: str
    steps: tuple[Step, ...]

    @property
    def ok(self) -> bool:
        return all(step.ok for step in self.steps)

    def lines(self) -> list[str]:
        return [f"{system_name(self.system)} at {self.base_url}, test booking {self.reference}:",
                *(step.line() for step in self.steps)]


def parse_details(pairs: list[str]) -> dict[str, Any]:
    """`--detail KEY=VALUE` pairs as item details (a VALUE that is JSON, a number, is kept as one).
    Raises Refused naming a pair without `=`."""
    details: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise Refused(f"--detail {pair!r} is not KEY=VALUE (e.g. --detail room_code=LUXT)")
        try:
            details[key.strip()] = json.loads(value)
        except ValueError:
            details[key.strip()] = value
    return details


def is_sandbox(url: str, marked: str) -> bool:
    """Whether `url` is one of the comma-separated base URLs in `marked` (SANDBOX_URLS), compared
    by scheme, host and path, ignoring case in the host and a trailing slash."""
    def key(text: str) -> tuple[str, str, str]:
        parts = urlsplit(text.strip())
        return parts.scheme.lower(), parts.netloc.lower(), parts.path.rstrip("/")

    return bool(url.strip()) and key(url) in {key(u) for u in marked.split(",") if u.strip()}


def verification_item(system: str, prop: str | None, details: Mapping[str, Any], arrival: dt.date | None,
              now: dt.datetime) -> BookingRequest:
    """The test booking: a fixed test order id with the time, one night (or one table) from `arrival`."""
    start = arrival or (now + ARRIVAL_AFTER).date()
    merged = {**DEFAULT_DETAILS.get(system, {}), **({PROPERTY_DETAIL[system]: prop} if prop else {}), **details}
    return BookingRequest(
        order_id=f"SYNCDESK-VERIFY-{now:%Y%m%dT%H%M%SZ}", item_id="ITEM-1", kind=KINDS[system], system=system,
        description="syncdesk connectors verify: a test booking, cancelled at once", start=start,
        end=start if system == "resdiary" else start + dt.timedelta(days=1), quantity=1, guests=2,
        guest=TEST_GUEST, details=merged)


def verify(settings: Settings, system: str, *, sandbox: bool, prop: str | None = None,
           details: Mapping[str, Any] | None = None, arrival: dt.date | None = None,
           now: dt.datetime | None = None) -> Verification:
    """Create, read back by every key, and cancel a test booking in `system`'s test environment.

    Raises Refused, before anything is sent, without `sandbox`, for a system without a booking
    API, or when the connector's base URL is not in SANDBOX_URLS."""
    if not sandbox:
        raise Refused(f"refusing to book in {system} without --sandbox: verify makes and cancels a test booking, "
                      "so run it only against the vendor's test environment (its base URL listed in SANDBOX_URLS)")
    if system not in PROPERTY_DETAIL:
        raise Refused(f"{system} has no booking API to verify (one of {', '.join(PROPERTY_DETAIL)})")
    item = verification_item(system, prop, details or {}, arrival, now or dt.datetime.now(dt.timezone.utc))
    try:
        connector = connector_once(item, settings)
    except NoConnector as exc:
        raise Refused(exc.message) from None
    try:
        if not isinstance(connector, TwoKeyCheckFirst) or not isinstance(connector, HttpConnector):
            raise Refused(f"{system_name(system)}{f' at {prop}' if prop else ''} is booked by hand here: "
                          "no search to verify")
        if not is_sandbox(connector.base_url, settings.sandbox_urls):
            raise Refused(f"{connector.base_url} is not marked as a sandbox: if it is {system_name(system)}'s test "
                          "environment, list it in SANDBOX_URLS (verify makes and cancels a booking there)")
        return Verification(system, connector.base_url, item.reference, tuple(_steps(connector, item)))
    finally:
        close = getattr(connector, "close", None)
        if close is not None:
            close()


def _failed(exc: ConnectorError) -> str:
    return f"{exc.error_class.label}: {exc.message}"


def _has(found: tuple[ExistingBooking, ...] | None, number: str) -> bool:
    return any(b.confirmation == number for b in found or ())


def _steps(connector: Any, item: BookingRequest) -> list[Step]:
    """Create, then each key, then cancel; a step that fails says why, and the next ones still run."""
    try:
        number = connector.create(item).confirmation
    except ConnectorError as exc:
        return [Step("create", False, f"{_failed(exc)} (nothing to read back)")]
    steps = [Step("create", True, f"made {number} carrying our reference {item.reference}")]
    try:
        found = connector.find_by_keys(item)
        steps.append(Step("reference", True, f"found {number} by our reference") if _has(found.by_reference, number)
                     else Step("reference", False, f"did not find {number} by our reference {item.reference}: "
                                                   "check-first would miss it and a retry would book twice"))
        if found.by_guest is None:
            steps.append(Step("guest", False, "could not ask by guest + arrival + property (no such search "
                                              "configured for this site)"))
        else:
            steps.append(Step("guest", True, f"found {number} by the guest, arrival and property")
                         if _has(found.by_guest, number) else
                         Step("guest", False, f"did not find {number} by the guest ({item.guest.last_name}, "
                                              f"arriving {item.start}) and property"))
    except ConnectorError as exc:
        steps += [Step("reference", False, _failed(exc)), Step("guest", False, _failed(exc))]
    try:
        by_number = connector.find_by_confirmation(number, item)
        steps.append(Step("confirmation", True, f"found {number} by its number")
                     if by_number is not None and by_number.confirmation == number else
                     Step("confirmation", False, f"did not find {number} by its number: the arrival check could not "
                                                 "prove a Confirmed item"))
    except ConnectorError as exc:
        steps.append(Step("confirmation", False, _failed(exc)))
    try:
        connector.cancel(number, item)
        steps.append(Step("cancel", True, f"cancelled {number}"))
    except ConnectorError as exc:
        steps.append(Step("cancel", False, f"{_failed(exc)}: cancel {number} by hand"))
    return steps
