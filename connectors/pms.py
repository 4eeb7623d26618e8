"""A configurable REST connector: hotels on other PMSs, and middleware in front of any system.

Everything about the remote API is configuration (a routing entry's `options`, validated
at start by `connectors.routing`): base URL, auth, the paths and JSON bodies of its calls
(templates), where the answer keeps the bookings, which fields hold the confirmation
number, the status and our reference, and how its statuses map to ours. The transport,
retries and error classes are `connectors.base`'s.

The built-in `profile: mews` is the reference shape, Mews' Connector API
(https://mews-systems.gitbook.io/connector-api/ and https://docs.mews.com/connector-api/):
- Authentication / Requests: every call is a POST with `ClientToken`, `AccessToken` and
  `Client` in the JSON body (no auth header); paths `/api/connector/v1/<resource>/<operation>`.
- Reservations: `reservations/getAll/2023-06-06` filtered by `ChannelNumbers` ("numbers or
  references used by a Channel", our reference) → `{"Reservations": [...], "Cursor"}`;
  `reservations/add` `{ServiceId, SendConfirmationEmail, Reservations: [{Identifier, State,
  StartUtc, EndUtc, CustomerId, RequestedCategoryId, RateId, AdultCount, ChildCount, Notes}]}`
  → `{"Reservations": [{"Identifier", "Reservation": {"Id", "Number", "State", …}}]}`;
  `reservations/confirm` `{ReservationIds}` (Optional → Confirmed); reservation states
  Enquired/Inquired, Requested, Optional, Confirmed, Started, Processed, Canceled.
- Customers: `customers/add` → the customer, whose `Id` the reservation needs.
- Responses: 400 client error, 401 invalid ClientToken/AccessToken, 403 "server-side
  validation fails or a business-logic check is violated", 408, 409, 429 with Retry-After,
  500; the error body is `{"Message", "Details"}`.
Inferred, and overridable per site: `ChannelNumber` on `reservations/add` (the reservation
carries it and `reservations/update` sets it); Requested = pending and Enquired = absent;
a customers/add repeated by a retried create makes a duplicate guest profile, never a
duplicate reservation.

Template placeholders: `{reference}` `{order_id}` `{item_id}` `{first_name}` `{last_name}`
`{email}` `{phone}` `{description}` `{start}` `{end}` `{start_utc}` `{end_utc}` `{guests}`
`{quantity}` `{customer_id}` `{booking_id}` `{confirmation}` `{details.X}` (the item's
details), `{map.X}` (the site's mapping of `details.X`, e.g. room type code → category id),
`{const.X}` and `{secret:ENV_NAME}` (read from the environment, never from the file). A
string that is one placeholder keeps the value's type.
"""

from __future__ import annotations

import copy
import os
import re
from typing import Any, Literal, Mapping

import httpx
from pydantic import BaseModel, ConfigDict, Field

from connectors.base import BearerToken, HttpConnector, OAuth2ClientCredentials, error_text
from connectors.errors import (
    AuthFailure,
    ConnectorError,
    DataFormat,
    MissingField,
    NoAvailability,
    NotMapped,
    UnknownFailure,
)
from connectors.types import BookingRequest, BookingResult, BookingStatus, ExistingBooking, SystemDescription
from workflows.settings import Settings

_PLACEHOLDER = re.compile(r"\{([^{}]+)\}")
_PRECEDENCE = [BookingStatus.BOOKED, BookingStatus.PENDING, BookingStatus.NO_AVAILABILITY, BookingStatus.ABSENT]
_AVAILABILITY_WORDS = ("availability", "not available", "unavailable", "sold out", "overbook")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PmsAuth(_Strict):
    type: Literal["none", "bearer", "oauth2"] = "none"
    token_env: str | None = None
    token_url: str | None = None
    client_id_env: str | None = None
    client_secret_env: str | None = None


class PmsCall(_Strict):
    method: Literal["GET", "POST", "PUT", "PATCH"] = "POST"
    path: str
    params: dict[str, str] = Field(default_factory=dict)
    body: Any = None
    result: str = ""  # dotted path in the answer: the bookings (search), the booking (create), the id (customer)


class PmsFields(_Strict):
    id: str = "Id"
    confirmation: str = "Number"
    status: str = "State"
    reference: str = "ChannelNumber"


class PmsProfile(_Strict):
    name: str = "the PMS"
    base_url: str
    auth: PmsAuth = PmsAuth()
    search: PmsCall
    create: PmsCall
    confirm: PmsCall | None = None
    customer: PmsCall | None = None
    check: PmsCall | None = None  # a harmless call that proves the credentials (`syncdesk connectors`)
    fields: PmsFields = PmsFields()
    statuses: dict[str, Literal["booked", "pending", "no_availability", "absent"]]
    constants: dict[str, Any] = Field(default_factory=dict)
    maps: dict[str, dict[str, Any]] = Field(default_factory=dict)
    secret_env: dict[str, str] = Field(default_factory=dict)  # {secret:NAME} → the variable that holds it here
    check_in_utc: str = "14:00:00Z"
    check_out_utc: str = "10:00:00Z"
    forbidden_means: Literal["permission", "refused"] = "permission"


_MEWS_TOKENS = {"ClientToken": "{secret:MEWS_CLIENT_TOKEN}", "AccessToken": "{secret:MEWS_ACCESS_TOKEN}",
                "Client": "syncdesk 1.0"}
MEWS: dict[str, Any] = {
    "name": "Mews",
    "search": {"path": "/api/connector/v1/reservations/getAll/2023-06-06", "result": "Reservations",
               "body": {**_MEWS_TOKENS, "ChannelNumbers": ["{reference}"], "Limitation": {"Count": 10}}},
    "customer": {"path": "/api/connector/v1/customers/add", "result": "Id",
                 "body": {**_MEWS_TOKENS, "FirstName": "{first_name}", "LastName": "{last_name}",
                          "Email": "{email}", "Phone": "{phone}", "OverwriteExisting": False}},
    "create": {"path": "/api/connector/v1/reservations/add", "result": "Reservations.0.Reservation",
               "body": {**_MEWS_TOKENS, "ServiceId": "{const.service_id}", "SendConfirmationEmail": False,
                        "Reservations": [{
                            "Identifier": "{item_id}", "State": "Confirmed", "StartUtc": "{start_utc}",
                            "EndUtc": "{end_utc}", "CustomerId": "{customer_id}",
                            "RequestedCategoryId": "{map.room_type}", "RateId": "{map.rate_plan}",
                            "AdultCount": "{guests}", "ChildCount": 0, "ChannelNumber": "{reference}",
                            "Notes": "syncdesk {reference}"}]}},
    "confirm": {"path": "/api/connector/v1/reservations/confirm",
                "body": {**_MEWS_TOKENS, "ReservationIds": ["{booking_id}"]}},
    "check": {"path": "/api/connector/v1/configuration/get", "body": _MEWS_TOKENS},
    "statuses": {"Confirmed": "booked", "Started": "booked", "Processed": "booked", "Optional": "pending",
                 "Requested": "pending", "Enquired": "absent", "Inquired": "absent", "Canceled": "absent"},
    "forbidden_means": "refused",
}
PROFILES: dict[str, dict[str, Any]] = {"mews": MEWS}


def load_profile(options: Mapping[str, Any]) -> PmsProfile:
    """The profile a routing entry's options describe: a built-in one with overrides, or all inline.

    Raises ValueError (pydantic's ValidationError is one) naming what is wrong.
    """
    values = dict(options)
    base_name = values.pop("profile", None)
    if base_name is not None and base_name not in PROFILES:
        raise ValueError(f"unknown profile {base_name!r} (known: {', '.join(sorted(PROFILES))})")
    merged = copy.deepcopy(PROFILES[base_name]) if base_name else {}
    merged.update(values)
    return PmsProfile.model_validate(merged)


def _secret_names(value: Any) -> set[str]:
    if isinstance(value, str):
        return {m[len("secret:"):] for m in _PLACEHOLDER.findall(value) if m.startswith("secret:")}
    if isinstance(value, dict):
        return set().union(*(_secret_names(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(_secret_names(v) for v in value)) if value else set()
    return set()


def required_env(profile: PmsProfile) -> list[str]:
    """Every environment variable the profile reads its credentials from."""
    calls = [c for c in (profile.search, profile.create, profile.confirm, profile.customer, profile.check) if c]
    names = set().union(*(_secret_names(c.model_dump()) for c in calls))
    env = {profile.secret_env.get(n, n) for n in names}
    auth = profile.auth
    env |= {e for e in (auth.token_env, auth.client_id_env, auth.client_secret_env) if e}
    return sorted(env)


def _dig(answer: Any, path: str) -> Any:
    for part in [p for p in path.split(".") if p]:
        if isinstance(answer, list) and part.isdigit() and int(part) < len(answer):
            answer = answer[int(part)]
        elif isinstance(answer, dict):
            answer = answer.get(part)
        else:
            return None
    return answer


def _auth(profile: PmsProfile) -> Any:
    auth = profile.auth
    env = os.environ
    if auth.type == "bearer":
        return BearerToken(env.get(auth.token_env or "", ""))
    if auth.type == "oauth2":
        return OAuth2ClientCredentials(auth.token_url or "", env.get(auth.client_id_env or "", ""),
                                       env.get(auth.client_secret_env or "", ""),
                                       what=f"{auth.client_id_env} / {auth.client_secret_env}")
    return None


class PmsConnector(HttpConnector):
    """Books through any REST API described by a profile. Check first, create, confirm pending ones."""

    def __init__(self, settings: Settings, options: Mapping[str, Any] | None = None,
                 system: str = "pms") -> None:
        self.profile = load_profile(options or {})
        self.system = system
        self.name = self.profile.name  # type: ignore[misc]  # instance name: one class, many systems
        self._ids: dict[str, str] = {}  # confirmation number → the system's id, from the last search
        super().__init__(self.profile.base_url, settings=settings, auth=_auth(self.profile))

    # -- BookingConnector ------------------------------------------------------------------
    def describe(self) -> SystemDescription:
        return SystemDescription(system=self.system, name=self.profile.name,
                                 booked_means=f"the booking exists in {self.profile.name} with a booked status")

    def check_credentials(self) -> None:
        """A live check: the profile's check call, or a token request."""
        if self.profile.check is not None:
            self._call(self.profile.check, {})
        elif self._auth is not None:
            self._auth.headers(self)

    def find_existing(self, item: BookingRequest) -> ExistingBooking | None:
        """The booking carrying our reference, verified here (a remote filter may be ignored)."""
        answer = self._call(self.profile.search, self._context(item))
        results = _dig(answer, self.profile.search.result) if self.profile.search.result else answer
        if results is None:
            results = []
        if not isinstance(results, list):
            raise UnknownFailure(f"{self.name} answered the search without a list of bookings.",
                                 detail=repr(answer)[:500])
        fields = self.profile.fields
        ours = [b for b in results if isinstance(b, dict) and str(_dig(b, fields.reference) or "") == item.reference]
        if not ours:
            return None
        bookings = [self._existing(b) for b in ours]
        return min(bookings, key=lambda b: _PRECEDENCE.index(b.status))

    def create(self, item: BookingRequest) -> BookingResult:
        """Create the booking (after the guest profile, when the system wants one). Sent once."""
        context = self._context(item)
        if self.profile.customer is not None:
            customer = self._call(self.profile.customer, context)
            context["customer_id"] = _dig(customer, self.profile.customer.result or self.profile.fields.id)
            if not context["customer_id"]:
                raise UnknownFailure(f"{self.name} created no guest profile id.", detail=repr(customer)[:500])
        answer = self._call(self.profile.create, context)
        existing = self._existing(_dig(answer, self.profile.create.result) if self.profile.create.result else answer)
        if existing.status is BookingStatus.BOOKED:
            return BookingResult(existing.confirmation, "created", existing.raw_status)
        if existing.status is BookingStatus.PENDING and self.profile.confirm is not None:
            confirmed = self.confirm(existing, item)
            return BookingResult(confirmed.confirmation, "created", confirmed.raw_status)
        if existing.status is BookingStatus.NO_AVAILABILITY:
            raise NoAvailability(f"{self.name} has no availability ({existing.confirmation} is {existing.raw_status}).",
                                 detail=repr(answer)[:500])
        raise UnknownFailure(f"{self.name} created {existing.confirmation} but it is {existing.raw_status}, "
                             "not booked.", detail=repr(answer)[:500])

    def confirm(self, existing: ExistingBooking, item: BookingRequest) -> BookingResult:
        if existing.status is BookingStatus.BOOKED:
            return BookingResult(existing.confirmation, "found", existing.raw_status)
        if existing.status is BookingStatus.NO_AVAILABILITY:
            raise NoAvailability(f"{self.name} booking {existing.confirmation} is {existing.raw_status}: "
                                 "no availability.", detail=f"confirmation={existing.confirmation}")
        if existing.status is not BookingStatus.PENDING:
            raise ValueError(f"cannot confirm a booking that is {existing.raw_status}")
        if self.profile.confirm is None:
            raise UnknownFailure(f"{self.name} booking {existing.confirmation} is {existing.raw_status} and this "
                                 "site has no confirm call configured: confirm it by hand, then use Booked manually.")
        if existing.confirmation not in self._ids:
            self.find_existing(item)  # learns the system's id of the booking (confirm calls may want it)
        context = self._context(item) | {"confirmation": existing.confirmation,
                                         "booking_id": self._ids.get(existing.confirmation, existing.confirmation)}
        self._call(self.profile.confirm, context)
        booked = next((raw for raw, ours in self.profile.statuses.items() if ours == "booked"), "booked")
        return BookingResult(existing.confirmation, "confirmed", booked)

    # -- error mapping ---------------------------------------------------------------------
    def map_status(self, response: httpx.Response, method: str, path: str) -> ConnectorError | None:
        said = error_text(response)
        status = response.status_code
        detail = self.describe_response(response, method, path)
        if 400 <= status < 500 and status not in (401, 429) and any(w in said.lower() for w in _AVAILABILITY_WORDS):
            return NoAvailability(f"{self.name} has no availability: {said}", detail=detail, status=status)
        if status == 403 and self.profile.forbidden_means == "refused":
            return DataFormat(f"{self.name} refused the booking: {said}", detail=detail, status=status)
        if status == 404:
            return NotMapped(f"{self.name} does not know this property or product: {said}", detail=detail,
                             status=status)
        return None

    # -- templates -------------------------------------------------------------------------
    def _context(self, item: BookingRequest) -> dict[str, Any]:
        start = item.start.isoformat() if item.start else ""
        end = item.end.isoformat() if item.end else start
        return {
            "reference": item.reference, "order_id": item.order_id, "item_id": item.item_id,
            "first_name": item.guest.first_name, "last_name": item.guest.last_name, "email": item.guest.email,
            "phone": item.guest.phone, "description": item.description, "start": start, "end": end,
            "start_utc": f"{start}T{self.profile.check_in_utc}" if start else "",
            "end_utc": f"{end}T{self.profile.check_out_utc}" if end else "",
            "guests": item.guests, "quantity": item.quantity, "_item": item,
        }

    def _value(self, key: str, context: dict[str, Any]) -> Any:
        item: BookingRequest | None = context.get("_item")
        kind, _, name = key.partition(".")
        if key.startswith("secret:"):
            env = self.profile.secret_env.get(key[7:], key[7:])
            value = os.environ.get(env)
            if not value:
                raise AuthFailure(f"{self.name}'s credential {env} is not set in the environment.", detail=key)
            return value
        if kind == "details" and item is not None:
            if item.details.get(name) in (None, ""):
                raise MissingField(f"The item has no {name}; {self.name} needs it.",
                                   detail=f"item {item.reference} details={item.details!r}")
            return item.details[name]
        if kind == "map" and item is not None:
            code = str(self._value(f"details.{name}", context))
            mapped = self.profile.maps.get(name, {}).get(code)
            if mapped is None:
                raise NotMapped(f"{name} {code!r} is not mapped for {self.name} in the routing file (maps.{name}).",
                                detail=f"item {item.reference}")
            return mapped
        if kind == "const":
            if name not in self.profile.constants:
                raise NotMapped(f"{self.name} needs constants.{name} in the routing file.", detail=key)
            return self.profile.constants[name]
        if key in context:
            return context[key]
        raise MissingField(f"{self.name}'s profile asks for {{{key}}}, which syncdesk does not know.", detail=key)

    def _render(self, template: Any, context: dict[str, Any]) -> Any:
        if isinstance(template, str):
            whole = _PLACEHOLDER.fullmatch(template)
            if whole:
                return self._value(whole.group(1), context)
            return _PLACEHOLDER.sub(lambda m: str(self._value(m.group(1), context)), template)
        if isinstance(template, list):
            return [self._render(v, context) for v in template]
        if isinstance(template, dict):
            return {k: self._render(v, context) for k, v in template.items()}
        return template

    def _call(self, call: PmsCall, context: dict[str, Any]) -> Any:
        path = self._render(call.path, context)
        params = {k: str(self._render(v, context)) for k, v in call.params.items()} or None
        body = self._render(call.body, context) if call.body is not None else None
        return self.request(call.method, path, params=params, json=body)

    def _existing(self, booking: Any) -> ExistingBooking:
        fields = self.profile.fields
        number = _dig(booking, fields.confirmation)
        if not isinstance(booking, dict) or not number:
            raise UnknownFailure(f"{self.name} returned a booking without {fields.confirmation}; it may or may "
                                 "not exist.", detail=repr(booking)[:500])
        raw = str(_dig(booking, fields.status) or "")
        wanted = {k.lower(): v for k, v in self.profile.statuses.items()}.get(raw.lower())
        if wanted is None:
            raise UnknownFailure(f"{self.name} returned a status syncdesk does not know: {raw!r}. Check the booking "
                                 "there before doing anything else.", detail=f"status={raw!r}")
        if _dig(booking, fields.id):
            self._ids[str(number)] = str(_dig(booking, fields.id))
        return ExistingBooking(confirmation=str(number), status=BookingStatus(wanted), raw_status=raw,
                               reference=str(_dig(booking, fields.reference) or ""))
