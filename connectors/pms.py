"""A configurable REST connector: hotels on other PMSs, and middleware in front of any system.

Everything about the remote API is configuration (a routing entry's `options`, validated
at start by `connectors.routing`): base URL, auth, the paths and JSON bodies of its calls
(templates), where the answer keeps the bookings, which fields hold the confirmation
number, the status and our reference, and how its statuses map to ours. The transport,
retries and error classes are `connectors.base`'s.

The built-in `profile: mews` is the reference shape, Mews' Connector API
(https://mews-systems.gitbook.io/connector-api/ and https://docs.mews.com/connector-api/):
- Authentication / Requests (…/guidelines/authentication): every call is a POST with
  `ClientToken`, `AccessToken` and `Client` in the JSON body (no auth header); paths
  `/api/connector/v1/<resource>/<operation>`.
- Pagination (…/guidelines/pagination): `Limitation: {Count, Cursor}` in, `Cursor` out; the
  check-first search reads every page (a page shorter than Count is the last).
- Customers (…/operations/customers): `customers/add` with an e-mail that already exists and
  `OverwriteExisting: false` answers an error ("If OverwriteExisting is set to false, an error
  response is returned"), so the guest is first looked up with `customers/getAll`
  `{Emails: [..], Extent: {Customers: true}, Limitation}` → `{"Customers": [...], "Cursor"}`
  and reused (the e-mail compared here); when the add is refused anyway (a race), the
  lookup runs again. The status of that refusal is unverified, so any 4xx but 401/429 does.
- Reservations (…/operations/reservations): `reservations/getAll/2023-06-06` filtered by
  `ChannelNumbers` ("numbers or references used by a Channel", our reference) →
  `{"Reservations": [...], "Cursor"}`; `reservations/add` `{ServiceId, SendConfirmationEmail,
  Reservations: [{Identifier, State, StartUtc, EndUtc, CustomerId, RequestedCategoryId,
  RateId, PersonCounts, ChannelNumber, Notes}]}`. `PersonCounts` is
  `[{"AgeCategoryId", "Count"}]`, at least one, counts positive (`AdultCount`/`ChildCount` are
  deprecated: "Use PersonCounts instead"); the age category ids are the site's, from
  `ageCategories/getAll`, configured as `age_categories: {adult: <id>, child: <id>}`: the
  item's adults and children (`BookingRequest.adults` / `.children`, DESIGN §3.1) each in
  theirs. The add answers
  `{"Reservations": [{"Identifier", "Reservation": {"Id", "Number", "State", …}}]}` (the
  `AddedReservation` schema of Mews' OpenAPI definition, as mirrored by api-evangelist/mews:
  it is `reservations/confirm` and `cancel` that answer `{"ReservationIds": [...]}`, not add).
  `reservations/confirm` `{ReservationIds}` "succeeds only if … the reservations have the
  Optional state"; its answer must list the id.
  Check-first's second key, the guest + arrival + property (issue 24; `guest_lookup`, `guest_search`):
  `customers/getAll` by `LastNames` ("filtered by identifiers, emails, names"), then
  `reservations/getAll/2023-06-06` by `AccountIds` ("accounts (currently only Customers) the
  reservation is associated with") and `ScheduledStartUtc` (the arrival day where the property is;
  the access token's enterprise is the property), every result compared here: the guest's account
  (`AccountId`: the 2023-06-06 reservation's field name is unverified), our reference or none, and
  the local arrival date. Both keys are always asked (`TwoKeyCheckFirst`).
  `reservations/cancel` `{ReservationIds, PostCancellationFee, SendEmail, Notes}` → `{"ReservationIds"}`
  (Mews' OpenAPI `ReservationCancellationParameters`), used only by `syncdesk connectors verify`.
  The arrival check's lookup (`find_by_confirmation`, the profile's `lookup` call) is the same
  `getAll/2023-06-06` filtered by `Numbers` (confirmation numbers; `ReservationIds` is the other
  documented key); the answer's `StartUtc`/`EndUtc` (read as dates where the property is) and
  `PersonCounts` say what Mews holds. A profile without a `lookup` call cannot be checked, and
  says so (NoConnector), never guesses.
  The arrival check's day listing (`bookings_on`, the profile's `day_list`, issue 25 "the other
  direction") is `getAll/2023-06-06` filtered by `ScheduledStartUtc` alone, the property's local
  day as UTC instants: "Interval filtering Reservations by their scheduled start time. Cannot be
  used with ActualStartUtc" (…/operations/reservations#get-all-reservations-ver-2023-06-06; the
  2017 version's `TimeFilter`/`StartUtc`/`EndUtc` are deprecated: …/deprecations/migration-guide-
  get-reservations). `ScheduledStartUtc`, not `CollidingUtc` (which also selects guests already
  in house). That Mews takes the interval without any id filter, and the interval's longest
  length, are unverified.
- Reservation states (ServiceOrderState): Inquired (old API: Enquired) "confirmed neither by
  the customer nor enterprise" → absent; Requested "confirmed by the customer but not by the
  enterprise (waitlist)" → no availability (never confirmed); Optional "the enterprise is
  holding resource for the guest" → pending (confirmed with reservations/confirm);
  Confirmed, Started (checked in), Processed (checked out) → booked; Canceled → absent.
- Responses (…/guidelines/responses): 400 client error, 401 invalid ClientToken/AccessToken,
  403 "server-side validation fails or a business-logic check is violated", 408 (the request
  was too heavy to finish: a timeout, retried), 409, 429 with Retry-After, 500; the error body
  is `{"Message", "Details"}`.
- Serialization (…/guidelines/serialization): datetimes are UTC instants `YYYY-MM-DDThh:mm:ssZ`,
  and "adjusting from local time to UTC can also shift the date": `{start_utc}`/`{end_utc}` are
  the property's local check-in/check-out times (`check_in`, `check_out`) on the stay's dates in
  its time zone (the route's `timezone`, else LOCAL_TIMEZONE), converted to UTC.
- Support: the OpenAPI definition's contact, "Partner success, partnersuccess@mews.com";
  quote the response's `Request-Id` header (…/guidelines/responses).
Unverified, and overridable per site: `ChannelNumber` on `reservations/add` (the reservation
carries it and `reservations/update` sets it).

Template placeholders: `{reference}` `{order_id}` `{item_id}` `{first_name}` `{last_name}`
`{email}` `{phone}` `{description}` `{start}` `{end}` `{start_utc}` `{end_utc}` (the check-in and
check-out times, `check_in`/`check_out`, local to the property's time zone, as UTC instants) `{guests}`
`{quantity}` `{customer_id}` `{booking_id}` `{confirmation}` `{person_counts}` (the
`age_categories` counts), `{details.X}` (the item's details), `{map.X}` (the site's mapping of `details.X`, e.g. room type code → category id),
`{const.X}` and `{secret:ENV_NAME}` (read from the environment, never from the file). A
string that is one placeholder keeps the value's type.
"""

from __future__ import annotations

import copy
import datetime as dt
import os
import re
from typing import Any, Literal, Mapping
from zoneinfo import ZoneInfo

import httpx
from pydantic import BaseModel, ConfigDict, Field, model_validator

from connectors.base import (
    BearerToken,
    HttpConnector,
    OAuth2ClientCredentials,
    Timeouts,
    TwoKeyCheckFirst,
    error_text,
)
from connectors.errors import (
    AuthFailure,
    ConnectorError,
    DataFormat,
    MissingField,
    NeedsReview,
    NoAvailability,
    NoConnector,
    NotMapped,
    UnknownFailure,
)
from connectors.types import (
    BookingRequest,
    BookingResult,
    BookingStatus,
    ExistingBooking,
    Found,
    SystemDescription,
    most_booked,
)

_PLACEHOLDER = re.compile(r"\{([^{}]+)\}")
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
    # Dotted path in the answer: the bookings (search), the booking (create), the id (customer),
    # the customers (customer_lookup), the confirmed ids (confirm: the booking's id must be there).
    result: str = ""
    # Cursor paging of a search: where the answer keeps the next cursor, where the body takes it,
    # and where the body says the page size (a shorter page is the last).
    cursor: str = ""
    cursor_in: str = ""
    limit_in: str = ""


class PmsFields(_Strict):
    id: str = "Id"
    confirmation: str = "Number"
    status: str = "State"
    reference: str = "ChannelNumber"
    customer_email: str = "Email"  # the e-mail of a customer customer_lookup answers
    # What the booking holds, for the arrival check ("" = the system does not say): its start and
    # end (a date, or an instant read as a date where the property is), and its party, a number or
    # a list of {"Count"} (Mews' PersonCounts).
    start: str = "StartUtc"
    end: str = "EndUtc"
    party: str = "PersonCounts"
    # The guest key of check-first: the booking's guest account id (matched against the ids
    # `guest_lookup` answers), or else the guest's last name in the booking ("" = not answered).
    account: str = "AccountId"
    last_name: str = ""
    customer_last_name: str = "LastName"  # the last name of a customer guest_lookup answers


class PmsProfile(_Strict):
    name: str = "the PMS"
    base_url: str
    auth: PmsAuth = PmsAuth()
    search: PmsCall
    create: PmsCall
    confirm: PmsCall | None = None
    customer: PmsCall | None = None  # creates the guest profile the booking needs
    customer_lookup: PmsCall | None = None  # finds an existing profile by e-mail first (reused)
    lookup: PmsCall | None = None  # finds a booking by its number ({confirmation}): the arrival check
    # Check-first's second key, the guest + arrival + property: the guest's profiles by last name
    # ({last_name}; their ids are {customer_ids}), then the bookings arriving that day
    # ({arrival_from_utc} to {arrival_to_utc}: the property's local day, in UTC) for them.
    guest_lookup: PmsCall | None = None
    guest_search: PmsCall | None = None
    # The bookings arriving on one day ({arrival_from_utc} to {arrival_to_utc}, the property's
    # local day in UTC), any status: the arrival check's other direction (`bookings_on`).
    day_list: PmsCall | None = None
    cancel: PmsCall | None = None  # cancels a booking ({booking_id}): `syncdesk connectors verify` only
    check: PmsCall | None = None  # a harmless call that proves the credentials (`syncdesk connectors`)
    fields: PmsFields = PmsFields()
    statuses: dict[str, Literal["booked", "pending", "no_availability", "absent", "review"]]
    meanings: dict[str, str] = Field(default_factory=dict)  # what each status means, for messages
    age_categories: dict[str, str] = Field(default_factory=dict)  # {adult: id, child: id}: {person_counts}
    support: str = ""  # who to contact about unknown errors (wins over the system's configured contact)
    constants: dict[str, Any] = Field(default_factory=dict)
    maps: dict[str, dict[str, Any]] = Field(default_factory=dict)
    secret_env: dict[str, str] = Field(default_factory=dict)  # {secret:NAME} → the variable that holds it here
    # The property's check-in and check-out times, local: `{start_utc}`/`{end_utc}` are these on
    # the stay's dates in the property's time zone, as UTC instants (Mews' serialization guideline:
    # datetimes are UTC, and "adjusting from local time to UTC can also shift the date").
    check_in: str = "14:00"
    check_out: str = "10:00"
    forbidden_means: Literal["permission", "refused"] = "permission"

    @model_validator(mode="after")
    def _guest_key(self) -> PmsProfile:
        if self.guest_search is not None and self.guest_lookup is None and not self.fields.last_name:
            raise ValueError("guest_search needs guest_lookup (the guest's profiles by last name) or "
                             "fields.last_name (where a booking names its guest) to tell whose booking it is")
        return self


_MEWS_TOKENS = {"ClientToken": "{secret:MEWS_CLIENT_TOKEN}", "AccessToken": "{secret:MEWS_ACCESS_TOKEN}",
                "Client": "syncdesk 1.0"}
_MEWS_PAGES = {"cursor": "Cursor", "cursor_in": "Limitation.Cursor", "limit_in": "Limitation.Count"}
MEWS: dict[str, Any] = {
    "name": "Mews",
    "search": {"path": "/api/connector/v1/reservations/getAll/2023-06-06", "result": "Reservations", **_MEWS_PAGES,
               "body": {**_MEWS_TOKENS, "ChannelNumbers": ["{reference}"], "Limitation": {"Count": 100}}},
    "lookup": {"path": "/api/connector/v1/reservations/getAll/2023-06-06", "result": "Reservations", **_MEWS_PAGES,
               "body": {**_MEWS_TOKENS, "Numbers": ["{confirmation}"], "Limitation": {"Count": 10}}},
    "customer_lookup": {"path": "/api/connector/v1/customers/getAll", "result": "Customers",
                        "body": {**_MEWS_TOKENS, "Emails": ["{email}"],
                                 "Extent": {"Customers": True, "Documents": False, "Addresses": False},
                                 "Limitation": {"Count": 10}}},
    "customer": {"path": "/api/connector/v1/customers/add", "result": "Id",
                 "body": {**_MEWS_TOKENS, "FirstName": "{first_name}", "LastName": "{last_name}",
                          "Email": "{email}", "Phone": "{phone}", "OverwriteExisting": False}},
    "create": {"path": "/api/connector/v1/reservations/add", "result": "Reservations.0.Reservation",
               "body": {**_MEWS_TOKENS, "ServiceId": "{const.service_id}", "SendConfirmationEmail": False,
                        "Reservations": [{
                            "Identifier": "{item_id}", "State": "Confirmed", "StartUtc": "{start_utc}",
                            "EndUtc": "{end_utc}", "CustomerId": "{customer_id}",
                            "RequestedCategoryId": "{map.room_type}", "RateId": "{map.rate_plan}",
                            "PersonCounts": "{person_counts}", "ChannelNumber": "{reference}",
                            "Notes": "syncdesk {reference}"}]}},
    "confirm": {"path": "/api/connector/v1/reservations/confirm", "result": "ReservationIds",
                "body": {**_MEWS_TOKENS, "ReservationIds": ["{booking_id}"], "SendConfirmationEmail": False}},
    "guest_lookup": {"path": "/api/connector/v1/customers/getAll", "result": "Customers", **_MEWS_PAGES,
                     "body": {**_MEWS_TOKENS, "LastNames": ["{last_name}"],
                              "Extent": {"Customers": True, "Documents": False, "Addresses": False},
                              "Limitation": {"Count": 100}}},
    "guest_search": {"path": "/api/connector/v1/reservations/getAll/2023-06-06", "result": "Reservations",
                     **_MEWS_PAGES,
                     "body": {**_MEWS_TOKENS, "AccountIds": "{customer_ids}",
                              "ScheduledStartUtc": {"StartUtc": "{arrival_from_utc}", "EndUtc": "{arrival_to_utc}"},
                              "Limitation": {"Count": 100}}},
    "day_list": {"path": "/api/connector/v1/reservations/getAll/2023-06-06", "result": "Reservations", **_MEWS_PAGES,
                 "body": {**_MEWS_TOKENS,
                          "ScheduledStartUtc": {"StartUtc": "{arrival_from_utc}", "EndUtc": "{arrival_to_utc}"},
                          "Limitation": {"Count": 100}}},
    "cancel": {"path": "/api/connector/v1/reservations/cancel", "result": "ReservationIds",
               "body": {**_MEWS_TOKENS, "ReservationIds": ["{booking_id}"], "PostCancellationFee": False,
                        "SendEmail": False, "Notes": "syncdesk {reference}"}},
    "check": {"path": "/api/connector/v1/configuration/get", "body": _MEWS_TOKENS},
    "statuses": {"Confirmed": "booked", "Started": "booked", "Processed": "booked", "Optional": "pending",
                 "Requested": "no_availability", "Enquired": "absent", "Inquired": "absent", "Canceled": "absent"},
    "meanings": {
        "Confirmed": "confirmed by both parties, before check-in", "Started": "checked in",
        "Processed": "checked out", "Optional": "the enterprise is holding the room; confirmable",
        "Requested": "confirmed by the customer but not by the enterprise (waitlist)",
        "Enquired": "confirmed neither by the customer nor the enterprise",
        "Inquired": "confirmed neither by the customer nor the enterprise", "Canceled": "canceled",
    },
    "support": "Mews partner support (partnersuccess@mews.com), quoting the Request-Id of the failed call",
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
    calls = [c for c in (profile.search, profile.create, profile.confirm, profile.customer, profile.customer_lookup,
                         profile.lookup, profile.check, profile.guest_lookup, profile.guest_search, profile.cancel)
             if c]
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


def _put(body: dict[str, Any], path: str, value: Any) -> None:
    """Set a dotted path in a rendered body (creating the objects on the way)."""
    parts = [p for p in path.split(".") if p]
    for part in parts[:-1]:
        body = body.setdefault(part, {})
    if parts:
        body[parts[-1]] = value


def _party_size(value: Any) -> int | None:
    """A booking's party: a number, or the sum of a list of `{"Count"}` (PersonCounts); None when
    the answer does not say."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, list) and value:
        counts = [c.get("Count") for c in value if isinstance(c, dict)]
        if counts and all(isinstance(c, int) and not isinstance(c, bool) for c in counts):
            return sum(counts)
    return None


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


MAX_PAGES = 20  # a search by our reference that needs more pages than this is not narrow enough


class PmsConnector(TwoKeyCheckFirst, HttpConnector):
    """Books through any REST API described by a profile. Check first, create, confirm pending ones."""

    def __init__(self, options: Mapping[str, Any] | None = None, system: str = "pms",
                 timeouts: Timeouts = Timeouts(), support: str = "", timezone: str = "UTC") -> None:
        self.profile = load_profile(options or {})
        self.system = system
        self.timezone = timezone  # the property's zone (its route's `timezone`, else LOCAL_TIMEZONE)
        self.name = self.profile.name  # type: ignore[misc]  # instance name: one class, many systems
        self.support = self.profile.support or support  # the profile's contact wins over the system's
        self._ids: dict[str, str] = {}  # confirmation number → the system's id, from the last search
        super().__init__(self.profile.base_url, timeouts=timeouts, auth=_auth(self.profile))

    # -- BookingConnector ------------------------------------------------------------------
    def describe(self) -> SystemDescription:
        return self.description(self.profile, self.system, self.support)

    @staticmethod
    def description(profile: PmsProfile, system: str, support: str) -> SystemDescription:
        """What the alert says about a profile's PMS, without building a client (`registry.description_for`)."""
        return SystemDescription(system=system, name=profile.name,
                                 booked_means=f"the booking exists in {profile.name} with a booked status",
                                 support=profile.support or support)

    def check_credentials(self) -> None:
        """A live check: the profile's check call, or a token request."""
        if self.profile.check is not None:
            self._call(self.profile.check, {})
        elif self._auth is not None:
            self._auth.headers(self, "GET", self.base_url)

    def find_by_keys(self, item: BookingRequest) -> Found:
        """The bookings carrying our reference (every page of the search), and, where the profile
        has a `guest_search`, those of the guest arriving that day: each verified here (a remote
        filter may be ignored). A search that fails raises: it never counts as "nothing found"."""
        fields = self.profile.fields
        results = self._all_pages(self.profile.search, self._context(item), "search")
        ours = [b for b in results if isinstance(b, dict) and str(_dig(b, fields.reference) or "") == item.reference]
        guests = self._guest_bookings(item)
        return Found(tuple(self._existing(b) for b in ours),
                     None if guests is None else tuple(self._existing(b) for b in guests))

    def _guest_bookings(self, item: BookingRequest) -> list[dict[str, Any]] | None:
        """The guest key: bookings arriving on the item's day (where the property is) for the guest
        (by profile id, or by the last name the booking names), with our reference or none; None
        when it cannot be asked (no guest_search, or no surname or arrival)."""
        surname = item.guest.last_name.strip()
        if self.profile.guest_search is None or not surname or item.start is None:
            return None
        fields = self.profile.fields
        context = self._context(item) | self._arrival_day(item.start)
        accounts: set[str] | None = None
        if self.profile.guest_lookup is not None:
            customers = self._all_pages(self.profile.guest_lookup, context, "guest lookup")
            accounts = {str(_dig(c, fields.id)) for c in customers if isinstance(c, dict) and _dig(c, fields.id)
                        and str(_dig(c, fields.customer_last_name) or "").strip().casefold() == surname.casefold()}
            if not accounts:
                return []  # no profile of this guest: no booking of theirs
            context["customer_ids"] = sorted(accounts)
        found = self._all_pages(self.profile.guest_search, context, "search by guest")

        def theirs(booking: dict[str, Any]) -> bool:
            if accounts is not None:
                return str(_dig(booking, fields.account) or "") in accounts
            return str(_dig(booking, fields.last_name) or "").strip().casefold() == surname.casefold()

        return [b for b in found if isinstance(b, dict) and theirs(b)
                and str(_dig(b, fields.reference) or "") in ("", item.reference)
                and self._local_date(_dig(b, fields.start)) == item.start]

    def _arrival_day(self, day: dt.date) -> dict[str, str]:
        """{arrival_from_utc}, {arrival_to_utc}: the arrival day where the property is, as UTC instants."""
        zone = ZoneInfo(self.timezone)
        start = dt.datetime.combine(day, dt.time(0), zone)
        end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), zone)
        return {name: moment.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
                for name, moment in (("arrival_from_utc", start), ("arrival_to_utc", end))}

    def bookings_on(self, day: dt.date, where: BookingRequest) -> list[ExistingBooking]:
        """Every booking arriving on `day` where the property is (the profile's `day_list`: Mews'
        getAll by `ScheduledStartUtc`, every page), each one's local arrival compared here. A
        profile without `day_list` cannot list: NoConnector (the arrival check skips it)."""
        if self.profile.day_list is None:
            raise NoConnector(f"{self.name}'s profile has no day listing (`day_list` in the routing options).",
                              detail=f"day {day}")
        found = self._all_pages(self.profile.day_list, self._context(where) | self._arrival_day(day), "day listing")
        return [self._existing(b) for b in found if isinstance(b, dict)
                and self._local_date(_dig(b, self.profile.fields.start)) == day]

    def cancel(self, confirmation: str, item: BookingRequest) -> None:
        """Cancel booking `confirmation` with the profile's `cancel` call (Mews: reservations/cancel,
        no fee, no e-mail), for `syncdesk connectors verify`. A profile without one: NoConnector."""
        if self.profile.cancel is None:
            raise NoConnector(f"{self.name}'s profile has no cancel call (`cancel` in the routing options): cancel "
                              f"booking {confirmation} in {self.name} by hand.", detail=f"item {item.reference}")
        if confirmation not in self._ids and self.profile.lookup is not None:
            self.find_by_confirmation(confirmation, item)  # learns the system's id of the booking
        booking_id = self._ids.get(confirmation, confirmation)
        context = self._context(item) | {"confirmation": confirmation, "booking_id": booking_id}
        answer = self._call(self.profile.cancel, context)
        if self.profile.cancel.result:
            cancelled = _dig(answer, self.profile.cancel.result)
            if not isinstance(cancelled, list) or booking_id not in [str(c) for c in cancelled]:
                raise UnknownFailure(f"{self.name} answered the cancellation of {confirmation} without listing it "
                                     "as cancelled: check it there.", detail=repr(answer)[:500])

    def find_by_confirmation(self, confirmation: str, item: BookingRequest) -> ExistingBooking | None:
        """The booking numbered `confirmation`, with the dates and party the system holds; None when
        it has none by that number. A profile with no `lookup` call cannot say: NoConnector."""
        if self.profile.lookup is None:
            raise NoConnector(f"{self.name}'s profile has no lookup by booking number (`lookup` in the routing "
                              f"options), so syncdesk could not check booking {confirmation}: check it in "
                              f"{self.name} by hand.", detail=f"item {item.reference} confirmation={confirmation}")
        number = confirmation.strip()
        if not number:
            raise MissingField(f"The item has no {self.name} booking number to look up.",
                               detail=f"item {item.reference}")
        context = self._context(item) | {"confirmation": number}
        results = self._all_pages(self.profile.lookup, context, "lookup")
        field = self.profile.fields.confirmation
        numbered = [b for b in results if isinstance(b, dict) and str(_dig(b, field) or "").strip() == number]
        return most_booked([self._existing(b) for b in numbered])

    def create(self, item: BookingRequest) -> BookingResult:
        """Create the booking (after finding or adding the guest profile, when the system wants one). Sent once."""
        context = self._context(item)
        # Render the booking once before anything is sent: a value the item or the site's
        # configuration lacks (a mapping, an age category) fails here, with no guest profile made.
        self._render(self.profile.create.body, context | {"customer_id": ""})
        if self.profile.customer is not None:
            context["customer_id"] = self._customer_id(context, item)
        answer = self._call(self.profile.create, context)
        existing = self._existing(_dig(answer, self.profile.create.result) if self.profile.create.result else answer)
        if existing.status is BookingStatus.BOOKED:
            return BookingResult(existing.confirmation, "created", existing.raw_status)
        if existing.status is BookingStatus.PENDING and self.profile.confirm is not None:
            confirmed = self.confirm(existing, item)
            return BookingResult(confirmed.confirmation, "created", confirmed.raw_status)
        if existing.status is BookingStatus.NO_AVAILABILITY:
            raise NoAvailability(f"{self.name} has no availability ({existing.confirmation} is {existing.raw_status}"
                                 f"{self._meaning(existing)}).", detail=repr(answer)[:500])
        raise UnknownFailure(f"{self.name} created {existing.confirmation} but it is {existing.raw_status}"
                             f"{self._meaning(existing)}, not booked.", detail=repr(answer)[:500])

    def confirm(self, existing: ExistingBooking, item: BookingRequest) -> BookingResult:
        if existing.status is BookingStatus.BOOKED:
            return BookingResult(existing.confirmation, "found", existing.raw_status)
        if existing.status is BookingStatus.NO_AVAILABILITY:
            raise NoAvailability(f"{self.name} booking {existing.confirmation} is {existing.raw_status}"
                                 f"{self._meaning(existing)}: no availability.",
                                 detail=f"confirmation={existing.confirmation}")
        if existing.status is BookingStatus.REVIEW:
            raise NeedsReview(f"{self.name} booking {existing.confirmation} is {existing.raw_status}"
                              f"{self._meaning(existing)}: settle it in {self.name}, then use Booked manually.",
                              detail=f"confirmation={existing.confirmation}")
        if existing.status is not BookingStatus.PENDING:
            raise ValueError(f"cannot confirm a booking that is {existing.raw_status}")
        if self.profile.confirm is None:
            raise UnknownFailure(f"{self.name} booking {existing.confirmation} is {existing.raw_status} and this "
                                 "site has no confirm call configured: confirm it by hand, then use Booked manually.")
        if existing.confirmation not in self._ids:
            self.find_existing(item)  # learns the system's id of the booking (confirm calls may want it)
        booking_id = self._ids.get(existing.confirmation, existing.confirmation)
        context = self._context(item) | {"confirmation": existing.confirmation, "booking_id": booking_id}
        answer = self._call(self.profile.confirm, context)
        if self.profile.confirm.result:
            confirmed = _dig(answer, self.profile.confirm.result)
            if not isinstance(confirmed, list) or booking_id not in [str(c) for c in confirmed]:
                raise UnknownFailure(f"{self.name} answered the confirmation of {existing.confirmation} without "
                                     "listing it as confirmed: check it there before doing anything else.",
                                     detail=repr(answer)[:500])
        booked = next((raw for raw, ours in self.profile.statuses.items() if ours == "booked"), "booked")
        return BookingResult(existing.confirmation, "confirmed", booked)

    # -- guest profiles --------------------------------------------------------------------
    def _customer_id(self, context: dict[str, Any], item: BookingRequest) -> str:
        """The guest's profile id: the existing one with the guest's e-mail, else a new one."""
        assert self.profile.customer is not None
        email = item.guest.email.strip()
        lookup = self.profile.customer_lookup if email else None
        if lookup is not None:
            found = self._find_customer(lookup, context, email)
            if found:
                return found
        try:
            customer = self._call(self.profile.customer, context)
        except ConnectorError as exc:
            # A profile with this e-mail appeared meanwhile (another booking, a retried create):
            # the system refuses the duplicate, and the profile is there to reuse.
            refused = exc.status is not None and 400 <= exc.status < 500 and exc.status not in (401, 429)
            if lookup is not None and refused:
                found = self._find_customer(lookup, context, email)
                if found:
                    return found
            raise
        customer_id = _dig(customer, self.profile.customer.result or self.profile.fields.id)
        if not customer_id:
            raise UnknownFailure(f"{self.name} created no guest profile id.", detail=repr(customer)[:500])
        return str(customer_id)

    def _find_customer(self, lookup: PmsCall, context: dict[str, Any], email: str) -> str | None:
        answer = self._call(lookup, context)
        customers = _dig(answer, lookup.result) if lookup.result else answer
        if not isinstance(customers, list):
            raise UnknownFailure(f"{self.name} answered the guest lookup without a list of customers.",
                                 detail=repr(answer)[:500])
        fields = self.profile.fields
        for customer in customers:
            if isinstance(customer, dict) and str(_dig(customer, fields.customer_email) or "").strip().casefold() \
                    == email.casefold() and _dig(customer, fields.id):
                return str(_dig(customer, fields.id))
        return None

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
            "start_utc": self._utc(item.start, self.profile.check_in) if item.start else "",
            "end_utc": self._utc(item.end or item.start, self.profile.check_out) if item.start else "",
            "guests": item.guests, "quantity": item.quantity, "_item": item,
        }

    def _utc(self, day: dt.date, local_time: str) -> str:
        """`local_time` on `day` where the property is, as the UTC instant Mews takes."""
        local = dt.datetime.combine(day, dt.time.fromisoformat(local_time), ZoneInfo(self.timezone))
        return local.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")

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
        if key == "person_counts" and item is not None:
            return self._person_counts(item)
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

    def _call(self, call: PmsCall, context: dict[str, Any], cursor: str | None = None) -> Any:
        path = self._render(call.path, context)
        params = {k: str(self._render(v, context)) for k, v in call.params.items()} or None
        body = self._render(call.body, context) if call.body is not None else None
        if cursor is not None and isinstance(body, dict):
            _put(body, call.cursor_in, cursor)
        return self.request(call.method, path, params=params, json=body)

    def _all_pages(self, call: PmsCall, context: dict[str, Any], what: str) -> list[Any]:
        """Every result of a (cursor-paged) call; raises when the pages do not end."""
        found: list[Any] = []
        cursor: str | None = None
        for _ in range(MAX_PAGES):
            answer = self._call(call, context, cursor)
            page = _dig(answer, call.result) if call.result else answer
            if page is None:
                page = []
            if not isinstance(page, list):
                raise UnknownFailure(f"{self.name} answered the {what} without a list of bookings.",
                                     detail=repr(answer)[:500])
            found += page
            following = str(_dig(answer, call.cursor) or "") if call.cursor and call.cursor_in else ""
            limit = _dig(self._render(call.body, context), call.limit_in) if call.limit_in else None
            if not page or not following or following == cursor or (isinstance(limit, int) and len(page) < limit):
                return found
            cursor = following
        raise UnknownFailure(f"{self.name}'s {what} did not end after {MAX_PAGES} pages, so syncdesk cannot be sure "
                             "the booking is not there and will not create one. Check it there; book it by hand "
                             "if it is not, then use Booked manually.", detail=f"{len(found)} results read")

    def _person_counts(self, item: BookingRequest) -> list[dict[str, Any]]:
        """PersonCounts: the item's adults and children by the site's age categories (Mews)."""
        categories = self.profile.age_categories
        adults, children = item.adults, item.children
        if adults < 1:
            raise DataFormat(f"The item has {item.guests} guests and {children} children: {self.name} needs at "
                             "least one adult.", detail=f"item {item.reference}")
        if not categories.get("adult"):
            raise NotMapped(f"{self.name} needs the site's adult age category (age_categories.adult in the routing "
                            "file, from ageCategories/getAll).", detail=f"item {item.reference}")
        counts = [{"AgeCategoryId": categories["adult"], "Count": adults}]
        if children:
            if not categories.get("child"):
                raise NotMapped(f"The item has {children} children and {self.name}'s child age category is not "
                                "configured (age_categories.child in the routing file).",
                                detail=f"item {item.reference}")
            counts.append({"AgeCategoryId": categories["child"], "Count": children})
        return counts

    def _meaning(self, existing: ExistingBooking) -> str:
        return f": {existing.meaning}" if existing.meaning else ""

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
        meaning = {k.lower(): v for k, v in self.profile.meanings.items()}.get(raw.lower(), "")
        return ExistingBooking(confirmation=str(number), status=BookingStatus(wanted), raw_status=raw,
                               reference=str(_dig(booking, fields.reference) or ""), meaning=meaning,
                               start=self._local_date(_dig(booking, fields.start) if fields.start else None),
                               end=self._local_date(_dig(booking, fields.end) if fields.end else None),
                               guests=_party_size(_dig(booking, fields.party) if fields.party else None))

    def _local_date(self, value: Any) -> dt.date | None:
        """A date the system answered: `YYYY-MM-DD`, or an instant (Mews' UTC) as the date where the
        property is (the serialization guideline: converting to UTC can shift the date). None when
        absent or unreadable."""
        if not isinstance(value, str) or not value:
            return None
        try:
            if len(value) == 10:
                return dt.date.fromisoformat(value)
            moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        if moment.tzinfo is None:
            return moment.date()
        return moment.astimezone(ZoneInfo(self.timezone)).date()
