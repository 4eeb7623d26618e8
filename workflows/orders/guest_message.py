"""A message to the guest, drafted for a person to send (issue 26.6): "Message guest" on an
alert gives copy-ready text with the facts: the payment is safe, what happens next, and the
confirmation number once every item is booked. syncdesk sends nothing to the guest.

Which text: **booked** when every bookable item is Confirmed (their numbers listed),
**waitlisted** when a SynXis item came back Waitlisted (source 004: the guest has already had
SynXis' waitlist e-mail, so the message says we are on it rather than surprising them), else
**pending**. Templates live per item kind (room, spa, table, ticket) in
`GUEST_MESSAGE_FILE` (YAML: `{kind: {pending|booked|waitlisted: text}}`, any missing one falls
back to the built-in text), with the placeholders `{first_name}`, `{order_id}`, `{what}`,
`{when}`, `{amount}`, `{confirmations}`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from string import Formatter
from typing import Any

import yaml

from workflows.core import states
from workflows.core.db import transaction
from workflows.core.settings import Settings
from workflows.orders.lookup import money
from workflows.orders.snapshot import OrderSnapshot, load

PLACEHOLDERS = ("first_name", "order_id", "what", "when", "amount", "confirmations")
SITUATIONS = ("pending", "booked", "waitlisted")

DEFAULTS: dict[str, str] = {
    "pending": (
        "Dear {first_name},\n\n"
        "Thank you for your booking {order_id}: {what}, {when}. Your payment of {amount} has been received "
        "and is safe. Our reservations team is finishing the booking with the {place} and will send you its "
        "confirmation shortly; there is nothing you need to do.\n\n"
        "Kind regards"),
    "booked": (
        "Dear {first_name},\n\n"
        "Your booking {order_id} is confirmed: {what}, {when}. Confirmation: {confirmations}. Your payment of "
        "{amount} has been received.\n\n"
        "We look forward to welcoming you.\n\n"
        "Kind regards"),
    "waitlisted": (
        "Dear {first_name},\n\n"
        "You may have received an e-mail saying your request {order_id} ({what}, {when}) is on a waiting list. "
        "Your payment of {amount} is safe. Our reservations team is securing your booking by hand and will "
        "confirm it to you shortly, or refund you in full if we cannot.\n\n"
        "Kind regards"),
}
PLACES = {"room": "hotel", "spa": "spa", "table": "restaurant", "ticket": "resort"}


class TemplateError(ValueError):
    """GUEST_MESSAGE_FILE is wrong; the message names the entry."""


@dataclass(frozen=True)
class GuestMessage:
    order_id: str
    situation: str  # "pending" | "booked" | "waitlisted"
    text: str


@lru_cache(maxsize=4)
def _file(path: str, mtime: float) -> dict[str, dict[str, str]]:
    try:
        data = yaml.safe_load(Path(path).read_text()) or {}
    except yaml.YAMLError as exc:
        raise TemplateError(f"GUEST_MESSAGE_FILE {path} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise TemplateError(f"GUEST_MESSAGE_FILE {path}: expected {{kind: {{pending|booked|waitlisted: text}}}}")
    for kind, texts in data.items():
        for situation, text in (texts or {}).items() if isinstance(texts, dict) else [(None, texts)]:
            if situation not in SITUATIONS or not isinstance(text, str):
                raise TemplateError(f"GUEST_MESSAGE_FILE {path}: {kind}.{situation}: expected one of "
                                    f"{', '.join(SITUATIONS)} with a text")
            unknown = {f for _, f, _, _ in Formatter().parse(text) if f and f not in PLACEHOLDERS + ("place",)}
            if unknown:
                raise TemplateError(f"GUEST_MESSAGE_FILE {path}: {kind}.{situation}: unknown placeholder(s) "
                                    f"{', '.join(sorted(unknown))}; use {', '.join(PLACEHOLDERS)}")
    return data


def template(settings: Settings, kind: str, situation: str) -> str:
    if settings.guest_message_file:
        path = Path(settings.guest_message_file)
        try:
            mtime = path.stat().st_mtime
        except FileNotFoundError as exc:
            raise TemplateError(f"GUEST_MESSAGE_FILE {path} does not exist") from exc
        found = (_file(str(path), mtime).get(kind) or {}).get(situation)
        if found:
            return found
    return DEFAULTS[situation]


def situation_of(snapshot: OrderSnapshot) -> str:
    bookable = [i for i in snapshot.items if i.kind != "retail" and i.status != states.CANCELLED]
    if bookable and all(i.status == states.CONFIRMED for i in bookable):
        return "booked"
    if any(i.system == "synxis" and i.last_attempt is not None and i.last_attempt.error_class == "no_availability"
           for i in bookable):
        return "waitlisted"
    return "pending"


def compose(snapshot: OrderSnapshot, text: str) -> str:
    """Fill a template from the order's facts (pure)."""
    items = [i for i in snapshot.items if i.kind != "retail"]
    first = min((i for i in items if i.start), key=lambda i: i.start, default=None)  # type: ignore[arg-type,return-value]
    when = "date to be confirmed"
    if first is not None and first.start is not None:
        when = f"arriving {first.start:%A %d %B %Y}" if first.kind == "room" else f"on {first.start:%A %d %B %Y}"
    values: dict[str, Any] = {
        "first_name": (snapshot.guest_name.split() or ["guest"])[0],
        "order_id": snapshot.order_id,
        "what": "; ".join(i.description or i.kind for i in items) or "your booking",
        "when": when,
        "amount": money(snapshot.total_minor, snapshot.currency),
        "confirmations": ", ".join(f"{i.external_reference}" for i in items if i.external_reference) or "to follow",
        "place": PLACES.get(items[0].kind, "property") if items else "property",
    }
    return text.format(**values)


def draft(settings: Settings, order_id: str, actor: str, *, via: str, now: dt.datetime | None = None
          ) -> GuestMessage | None:
    """The message for the order's guest, audited (`guest_message.drafted`); None for an unknown order."""
    with transaction(settings.database_url) as session:
        snapshot = load(session, order_id, settings=settings)
        if snapshot is None:
            return None
        situation = situation_of(snapshot)
        kind = next((i.kind for i in snapshot.items if i.kind != "retail"), "room")
        text = compose(snapshot, template(settings, kind, situation))
        states.audit(session, actor=actor, action="guest_message.drafted", order_id=order_id, via=via,
                     situation=situation)
    return GuestMessage(order_id, situation, text)
