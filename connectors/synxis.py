"""Sabre SynXis CRS: the wire format of its REST Reservation Services, and nothing else.

Pages followed (Sabre Hospitality's developer portal, developer.synxis.com = developer.sabre.com):
- How to Get a Token for REST APIs (https://developer.synxis.com/guides/rest_api/token):
  the credentials are the API *user name* and *password* (SYNXIS_CLIENT_ID holds the user
  name, SYNXIS_CLIENT_SECRET the password: the variable names predate this page); the
  authorization string is base64( base64(user) + ":" + base64(password) ), sent as
  `Authorization: Basic <string>` (`authorization_string`, with the page's worked example
  as a unit test). The rest of that page is not public, so the token call itself follows
  the one public client that uses it (a TypeScript SynXis client on GitHub):
  POST SYNXIS_TOKEN_URL (`{host}/v1/auth/token`, unverified) with a JSON body
  `{"GrantType": "CLIENT_CREDENTIALS", "UserIPAddress", "UserType", "BusinessContext"}`
  (unverified: `TOKEN_BODY`), optional `Context` header (SYNXIS_CONTEXT; "Business Context
  for the caller (provided by SynXis)", https://developer.synxis.com/node/286), answered
  `{"access_token", "token_type", "expires_in"}` (expires_in in seconds: unverified).
- Multi-Step Reservation (`shared/sources/004_fc08ca5570a46f2d.txt`,
  https://developer.sabre.com/multi-step-reservation): POST/PATCH `/v1/api/reservation`,
  the status table, the create answer `{"reservations": [{"CrsConfirmationNumber"}]}`,
  and the N-step process this connector follows when an item carries packages: create
  Booked, PATCH the `Packages` keeping Booked (step 2), PATCH guest and payment + Confirmed
  (step 3).
- Modify Reservation (https://developer.sabre.com/modify-reservation): PATCH is a merge
  keyed by CrsConfirmationNumber, and a first-level node (Packages) is sent whole.
- Create Reservation, Basic Information (https://developer.synxis.com/basic-information):
  Chain/Id, Hotel/Id, channels, RoomStay StartDate/EndDate/GuestCount/NumRooms/Products.
- Room Stay (https://developer.synxis.com/room-stay): `GuestCount` is a list of
  `{"AgeQualifyingCode": Adult | Child | Senior, "NumGuests"}`: the item's adults and children
  (`BookingRequest.adults` / `.children`) are sent as an Adult and a Child count.
- Payment Methods, Cash / Check, Direct Bill, Credit Card (https://developer.sabre.com/payment-methods-0,
  …/cash/check, …/direct-bill, …/credit-card-0): "the payment method required to confirm a
  reservation is configured by the hotelier for a specific rate"; it goes in
  `Guests[].Payments[]` as `{"Role", "Type"}` with Type Cash, Check, DirectBill (+ `DirectBill:
  {AccountNumber, ProjectNumber, Source}`, "Hotel Setup required") or CreditCard (+ `PaymentCard`,
  which syncdesk never holds: the guest paid the platform). Which one a booking the guest has
  already paid elsewhere carries is not published, so it is a per-chain setting
  (`SynxisPayment`, routing options `payments`, unverified) sent with every Confirmed
  reservation (create, and step 3's PATCH). Without one nothing is sent, as before, and a
  refusal that names a payment or guarantee is shown as the missing setting.
- On - Hold Reservation (https://developer.synxis.com/node/414): OnHold "override[s] the
  guarantee and cancel policies … so the reservation can be confirmed without a payment
  method"; its release time is `onHoldReleaseTime`, documented as hours on the request. A hold's
  deadline is read from an answer's `OnHoldReleaseTime` only when it is an absolute date-time
  (unverified: the answer's field is not published); a Booked hold's timeout is the chain's
  setting and is not in the answer.
- Retrieve Reservations / Use Cases (https://developer.sabre.com/retrieve-reservations,
  https://developer.sabre.com/retrieve-use-cases): GET `/v1/api/reservation?hotel=&chain=
  &view=full&…`, "all search criteria must match", "results may be paginated or the
  response may not return due to a timeout"; GET `/v1/api/reservation/hotel/{hotelId}/{id}`.
  The reservation search's paging is not documented. Sabre's pagination page
  (https://developer.sabre.com/pagination-0: `pageStart`, the first record from 1, and
  `pageSize`, at most 50, answered with `"paging": {"Size", "Start", "Total"}`) applies to the
  Hotel List only, so a reservation search may stop at its page size and say nothing. This
  connector asks for `pageSize` (`SynxisConfig.page_size`, 50) and takes a full page as "maybe
  more": it asks for the next one (`pageStart` advanced), logging a warning, until a short page
  (a `paging` node with a `Total`, where one comes, is believed instead). An answer that
  cannot give the rest (the same page again, or a `paging` node for another page) stops the
  check: nothing is created.
- Reservation Services status list (https://developer.synxis.com/node/391) and the search
  page's status filter (stored, booked, ignored, waitlisted, confirmed, cancelled,
  pendingmodify, pending cancel, onhold, released, payment pending —
  https://developer.sabre.com/sabre_hospitality/hotel/reservation): `STATUSES` gives each
  its meaning; the spellings `PendingCancel`, `PaymentPending`, `Released` and their
  meanings are unverified (only the lower-case list is public), so they stop for a person.

Search parameter names: `crsConfirmationNumber` and `guestFirstName` are spelled out in
Sabre's pages; `externalReferenceNumber`, `guestLastName` and `startDate` follow the same
convention (unverified; the reservation field is `ExternalReferenceNumber`). Because a CRS
may ignore a filter it does not know, every result is compared here before it is believed.
Because a CRS may also answer nothing to a parameter it does not know, check-first always asks
both keys, our reference and the guest's surname + arrival in the hotel (`TwoKeyCheckFirst`,
issue 24), and reports a reservation found by one only; `syncdesk connectors verify` proves
each key against the vendor's test environment once, before going live.

The arrival check's day listing (`bookings_on`, issue 25 "the other direction"): the same
search within the item's hotel and chain by arrival date alone, `startDate=YYYY-MM-DD`
(unverified, as above: the Hotel Reservation page lists "Guest Room Stay details e.g. Arrival
date" among the search criteria, https://developer.sabre.com/sabre_hospitality/hotel/reservation,
without the parameter's name), every page of it, each result's `RoomStay.StartDate` and hotel
compared here.

The arrival check's lookup (`find_by_confirmation`) is the same search by `crsConfirmationNumber`
within the item's hotel and chain: a read by number (`/reservation/hotel/{hotelId}/{id}`)
answers 404 both for "no such reservation" and for an unknown hotel, which must not look alike.

Item details read: `hotel_id`, `chain_id`, `room_code`, `rate_code`, `children`, and `packages`:
a list of `{"code": "SPA", "date": "2026-12-01" (default: arrival), "quantity": 1 (default),
"guests": 2 (default: the item's adults and children)}`, sent as SynXis' `Packages` items
`{"Code", "Date", "Quantity", "GuestCount": [{"AgeQualifyingCode", "NumGuests"}]}` (source 004,
step 2).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from connectors.base import CachedToken, HttpConnector, Timeouts, TwoKeyCheckFirst, error_text
from connectors.errors import (
    ConnectorError,
    DataFormat,
    MissingField,
    NeedsReview,
    NoAvailability,
    NotMapped,
    UnknownFailure,
)
from connectors.types import (
    BookingRequest,
    BookingResult,
    BookingStatus,
    ExistingBooking,
    Found,
    StatusMeaning,
    StatusTable,
    SystemDescription,
    most_booked,
)

RESERVATION_PATH = "/v1/api/reservation"
# The token request body of the one public client that gets SynXis tokens (unverified).
TOKEN_BODY = {"GrantType": "CLIENT_CREDENTIALS", "UserIPAddress": "127.0.0.1", "UserType": "Hotel",
              "BusinessContext": "Default"}
MAX_PAGES = 20  # a search by our reference that needs more pages than this is not narrow enough
PAGE_SIZE = 50  # Sabre's pagination page: "0 = return maximum size of 50" (Hotel List; unverified here)
# The payment types a request may carry without card data (Payment Methods: Cash, Check,
# DirectBill; CreditCard needs the card, which syncdesk never holds).
PAYMENT_TYPES = ("Cash", "Check", "DirectBill")

log = logging.getLogger(__name__)


# Every reservation status SynXis lists, with what it means for a guest who has paid.
STATUSES = StatusTable({
    "Stored": StatusMeaning(BookingStatus.ABSENT, "stored only: no inventory held, no confirmation number, "
                                                 "no confirmed price (not a booking)"),
    "Booked": StatusMeaning(BookingStatus.PENDING, "inventory held, pending until it is Confirmed (or Ignored "
                                                  "by SynXis after the chain's timeout)"),
    "OnHold": StatusMeaning(BookingStatus.PENDING, "inventory held without payment until its release time; "
                                                  "confirmable"),
    "Confirmed": StatusMeaning(BookingStatus.BOOKED, "the final state of a valid reservation"),
    "PendingModify": StatusMeaning(BookingStatus.BOOKED, "a Confirmed reservation with changes pending: it is "
                                                        "booked, and syncdesk does not confirm it again"),
    "Waitlisted": StatusMeaning(BookingStatus.NO_AVAILABILITY, "the room was not available: waitlisted"),
    "Cancelled": StatusMeaning(BookingStatus.ABSENT, "the final status of a cancelled reservation"),
    "Ignored": StatusMeaning(BookingStatus.ABSENT, "a pending reservation SynXis dropped (logically deleted)"),
    # Listed in the search filter only; meanings inferred from their names (unverified).
    "PendingCancel": StatusMeaning(BookingStatus.REVIEW, "a cancellation is in progress: neither a booking to "
                                                        "rely on nor gone yet"),
    "PaymentPending": StatusMeaning(BookingStatus.REVIEW, "SynXis is waiting for a payment it takes itself "
                                                         "(a cancel is refused while payment is pending)"),
    "Released": StatusMeaning(BookingStatus.REVIEW, "released (meaning not published: whether it still "
                                                   "holds the room is unknown)"),
})


def status_of(raw: str) -> StatusMeaning:
    """SynXis' reservation status, with its meaning; an unknown status is an error, never a guess."""
    return STATUSES.meaning_or_fail(raw, returned="SynXis returned a reservation status",
                                    check="the reservation in SynXis")


def map_status(raw: str) -> BookingStatus:
    return status_of(raw).ours


def authorization_string(user: str, password: str) -> str:
    """Sabre Hospitality's token credentials: base64( base64(user) + ":" + base64(password) )."""
    def b64(text: str) -> str:
        return base64.b64encode(text.encode("utf-8")).decode("ascii")

    return b64(f"{b64(user)}:{b64(password)}")


def _get(obj: Any, name: str) -> Any:
    """A field by its SynXis name, tolerating camelCase spellings of the same field."""
    if not isinstance(obj, dict):
        return None
    if name in obj:
        return obj[name]
    lowered = name.lower()
    for key, value in obj.items():
        if key.lower() == lowered:
            return value
    return None


def _path(obj: Any, *names: str) -> Any:
    for name in names:
        obj = _get(obj, name)
    return obj


class SynxisToken(CachedToken):
    """A SynXis bearer token, fetched with the double-base64 Basic credentials."""

    def __init__(self, token_url: str, user: str, password: str, context: str = "") -> None:
        super().__init__(what="SYNXIS_CLIENT_ID / SYNXIS_CLIENT_SECRET: the API user name and password")
        self.token_url = token_url
        self._credentials = authorization_string(user, password)
        self._context = context

    def _fetch(self, connector: HttpConnector) -> tuple[str, float]:
        headers = {"Authorization": f"Basic {self._credentials}", "Accept": "application/json"}
        if self._context:
            headers["Context"] = self._context
        # json= sets Content-Type: application/json, as the public client does.
        response = connector.send("POST", self.token_url, json=TOKEN_BODY, headers=headers, retry_safe=True)
        return self._bearer_answer(connector, response, self.token_url)


@dataclass(frozen=True)
class SynxisPayment:
    """The payment a chain's already-paid web bookings are confirmed with (`Guests[].Payments[]`).

    Unverified: Sabre's pages list the request's payment types (Cash, Check, DirectBill with
    an account, "Hotel Setup required") but not which one a booking paid to a third party
    carries; each chain says which it set up for syncdesk's channel."""

    type: str  # Cash | Check | DirectBill (PAYMENT_TYPES)
    role: str = "Primary"  # Payments/@Role: Alternate, Business, Personal, Primary, Secondary
    account_number: str = ""  # DirectBill/@AccountNumber (required for DirectBill)
    project_number: str = ""  # DirectBill/@ProjectNumber
    source: str = ""  # DirectBill/@Source: Local | Undefined

    def __post_init__(self) -> None:
        if self.type not in PAYMENT_TYPES:
            raise ValueError(f"payment type {self.type!r} is not one syncdesk can send "
                             f"(one of {', '.join(PAYMENT_TYPES)})")
        if self.type == "DirectBill" and not self.account_number:
            raise ValueError("a DirectBill payment needs the chain's account_number")

    def wire(self) -> dict[str, Any]:
        payment: dict[str, Any] = {"Role": self.role, "Type": self.type}
        if self.type == "DirectBill":
            bill = {"AccountNumber": self.account_number, "ProjectNumber": self.project_number,
                    "Source": self.source}
            payment["DirectBill"] = {k: v for k, v in bill.items() if v}
        return payment


def payments_from(options: Mapping[str, Any]) -> dict[str, SynxisPayment]:
    """The per-chain payments of a SynXis route's options: `payments: {<chain id> | "*": {type,
    role, account_number, project_number, source}}` ("*": every other chain). ValueError names
    the bad entry."""
    raw = options.get("payments") or {}
    if not isinstance(raw, Mapping):
        raise ValueError(f"payments: expected a mapping of chain id -> payment, got {raw!r}")
    payments: dict[str, SynxisPayment] = {}
    for chain, entry in raw.items():
        if not isinstance(entry, Mapping):
            raise ValueError(f"payments.{chain}: expected {{type, account_number, …}}, got {entry!r}")
        try:
            payments[str(chain)] = SynxisPayment(**{str(k): str(v) for k, v in entry.items()})
        except TypeError as exc:
            raise ValueError(f"payments.{chain}: {exc}") from None
        except ValueError as exc:
            raise ValueError(f"payments.{chain}: {exc}") from None
    return payments


def guest_count(adults: int, children: int) -> list[dict[str, Any]]:
    """A SynXis GuestCount (Room Stay): the adults and the children, each when there are any."""
    counts = [{"AgeQualifyingCode": "Adult", "NumGuests": adults}] if adults > 0 else []
    if children > 0:
        counts.append({"AgeQualifyingCode": "Child", "NumGuests": children})
    return counts


@dataclass(frozen=True)
class SynxisConfig:
    api_url: str  # SYNXIS_API_URL
    token_url: str  # SYNXIS_TOKEN_URL, e.g. https://{host}/v1/auth/token (unverified)
    client_id: str  # SYNXIS_CLIENT_ID: the Sabre Hospitality API user name
    client_secret: str = field(repr=False)  # SYNXIS_CLIENT_SECRET: the API password
    primary_channel: str = "SYNXISWS_BE"  # SYNXIS_PRIMARY_CHANNEL
    secondary_channel: str = "WEB"  # SYNXIS_SECONDARY_CHANNEL
    context: str = ""  # SYNXIS_CONTEXT: the `Context` header SynXis gives an integration, if it gave one
    support: str = ""  # SYNXIS_SUPPORT_CONTACT: who to contact about unknown errors
    timeouts: Timeouts = Timeouts()
    # The payment each chain's Confirmed reservations carry (routing options `payments`, by chain
    # id, "*" for any other; `payments_from`). Unverified: see SynxisPayment. Empty: none sent.
    payments: Mapping[str, SynxisPayment] = field(default_factory=dict)
    page_size: int = PAGE_SIZE  # the reservation search's `pageSize`: a page this full may have more


@dataclass(frozen=True)
class _Package:
    code: str
    date: str
    quantity: int
    counts: tuple[tuple[str, int], ...]  # (AgeQualifyingCode, NumGuests), as sent or found

    def wire(self) -> dict[str, Any]:
        return {"Code": self.code, "Date": self.date, "Quantity": self.quantity,
                "GuestCount": [{"AgeQualifyingCode": code, "NumGuests": n} for code, n in self.counts]}

    @property
    def key(self) -> tuple[str, str]:
        return self.code.casefold(), self.date


class SynxisConnector(TwoKeyCheckFirst, HttpConnector):
    """Books hotel rooms in SynXis CRS. Check first, create confirmed, confirm pending ones."""

    name = "SynXis"

    def __init__(self, config: SynxisConfig) -> None:
        self.primary_channel = config.primary_channel
        self.secondary_channel = config.secondary_channel
        self.support = config.support
        self.payments = dict(config.payments)
        self.page_size = max(int(config.page_size), 1)
        auth = SynxisToken(config.token_url, config.client_id, config.client_secret, config.context)
        headers = {"Context": config.context} if config.context else None
        super().__init__(config.api_url, timeouts=config.timeouts, auth=auth, headers=headers)

    # -- BookingConnector ------------------------------------------------------------------
    def describe(self) -> SystemDescription:
        return self.description(self.support)

    @staticmethod
    def description(support: str) -> SystemDescription:
        """What the alert says about SynXis, without building a client (`registry.description_for`)."""
        return SystemDescription(
            system="synxis",
            name="Sabre SynXis CRS",
            booked_means="the reservation exists in SynXis with status Confirmed",
            automatic=True,
            support=support,
        )

    def check_credentials(self) -> None:
        """A live check: ask for a token."""
        if self._auth is not None:
            self._auth.headers(self, "GET", self.base_url)

    def find_by_keys(self, item: BookingRequest) -> Found:
        """The reservations made for this item, by each key (absent ones are returned typed):
        a search by our reference, and one by guest surname and arrival date in the item's hotel
        (which also finds reservations made by hand, without our reference). Both are always
        asked, every page of each, and every result is compared here (`find_existing`, the
        shared `TwoKeyCheckFirst`, picks the one that counts). A search that fails raises."""
        hotel_id, chain_id = self._property(item)
        base = {"hotel": hotel_id, "chain": chain_id, "view": "full"}
        by_reference = [r for r in self._search({**base, "externalReferenceNumber": item.reference})
                        if self._reference_of(r) == item.reference]
        by_guest = None
        if item.guest.last_name.strip() and item.start is not None:
            by_guest = [r for r in self._search({**base, "guestLastName": item.guest.last_name.strip(),
                                                 "startDate": item.start.isoformat()})
                        if self._matches_guest_stay(r, item, hotel_id)]
        return Found(tuple(self._existing(r) for r in by_reference),
                     None if by_guest is None else tuple(self._existing(r) for r in by_guest))

    def cancel(self, confirmation: str, item: BookingRequest) -> None:
        """Cancel reservation `confirmation` (`syncdesk connectors verify` cleans up its test booking):
        a Modify Reservation PATCH keyed by CrsConfirmationNumber with status Cancelled (unverified:
        Sabre's Hotel Reservation page lists "cancel" among the Reservation Services without
        publishing its call; the status is the search filter's "cancelled")."""
        body = {**self._envelope(item), "CrsConfirmationNumber": confirmation, "status": "Cancelled"}
        self.request("PATCH", RESERVATION_PATH, json=body)

    def find_by_confirmation(self, confirmation: str, item: BookingRequest) -> ExistingBooking | None:
        """The reservation SynXis numbered `confirmation` in the item's hotel, with the dates, party
        and (for a hold, where the answer says) deadline it holds; None when the hotel has none.

        A search by `crsConfirmationNumber` (every page, each result compared here), not a read
        by number: that answers 404 alike for "no such reservation" and "no such hotel"."""
        number = confirmation.strip()
        if not number:
            raise MissingField("The item has no SynXis confirmation number to look up.",
                               detail=f"item {item.reference}")
        hotel_id, chain_id = self._property(item)
        found = self._search({"hotel": hotel_id, "chain": chain_id, "view": "full", "crsConfirmationNumber": number})
        numbered = [r for r in found if str(_get(r, "CrsConfirmationNumber") or "").strip() == number]
        return most_booked([self._existing(r) for r in numbered])

    def bookings_on(self, day: dt.date, where: BookingRequest) -> list[ExistingBooking]:
        """Every reservation arriving on `day` in the hotel `where` names, any status: a search by
        `startDate` (unverified name), every page, each result's hotel and arrival compared here."""
        hotel_id, chain_id = self._property(where)
        found = self._search({"hotel": hotel_id, "chain": chain_id, "view": "full", "startDate": day.isoformat()})
        return [self._existing(r) for r in found if str(_path(r, "Hotel", "Id")) == str(hotel_id)
                and str(_path(r, "RoomStay", "StartDate") or "")[:10] == day.isoformat()]

    def create(self, item: BookingRequest) -> BookingResult:
        """POST the reservation carrying our reference. Not retried: check first instead.

        Without packages it is created Confirmed in one step; with packages it follows the
        N-step process of source 004: created Booked, packages added, then confirmed.
        """
        packages = self._packages(item)  # a bad package fails here, before anything is sent
        body = self._reservation_body(item, "Booked" if packages else "Confirmed")
        answer = self.request("POST", RESERVATION_PATH, json=body)
        confirmation = self._confirmation_from(answer, "POST")
        if packages:
            self._add_packages(item, confirmation, "Booked", packages)
            result = self._patch_confirmed(item, confirmation)
            return BookingResult(confirmation=result.confirmation, action="created", raw_status="Confirmed")
        raw_status = str(_get(self._first_reservation(answer), "Status") or "")
        if not raw_status:
            # The create answer carries only the number: read the reservation back to learn
            # whether it was confirmed or waitlisted.
            raw_status = str(_get(self._read(item, confirmation), "Status") or "")
        status = map_status(raw_status) if raw_status else BookingStatus.BOOKED
        if status is BookingStatus.NO_AVAILABILITY:
            raise NoAvailability(
                f"SynXis had no availability and waitlisted the reservation ({confirmation}).",
                detail=f"CrsConfirmationNumber={confirmation} Status={raw_status}",
            )
        if status is not BookingStatus.BOOKED:
            raise UnknownFailure(
                f"SynXis created reservation {confirmation} but it is {raw_status}, not Confirmed.",
                detail=f"CrsConfirmationNumber={confirmation} Status={raw_status}",
            )
        return BookingResult(confirmation=confirmation, action="created", raw_status=raw_status or "Confirmed")

    def confirm(self, existing: ExistingBooking, item: BookingRequest) -> BookingResult:
        """PATCH a pending (Booked/OnHold) reservation to Confirmed, with the guest and, first,
        any of the item's packages it lacks. A booked one (Confirmed, PendingModify) is left alone."""
        if existing.status is BookingStatus.BOOKED:
            return BookingResult(confirmation=existing.confirmation, action="found", raw_status=existing.raw_status)
        if existing.status is BookingStatus.NO_AVAILABILITY:
            raise NoAvailability(
                f"SynXis reservation {existing.confirmation} is waitlisted: no availability.",
                detail=f"CrsConfirmationNumber={existing.confirmation} Status={existing.raw_status}",
            )
        if existing.status is BookingStatus.REVIEW:
            raise NeedsReview(
                f"SynXis reservation {existing.confirmation} is {existing.raw_status}: {existing.meaning}. "
                "syncdesk will neither confirm it nor create another: settle it in SynXis, then use Booked manually.",
                detail=f"CrsConfirmationNumber={existing.confirmation} Status={existing.raw_status}",
            )
        if existing.status is not BookingStatus.PENDING:
            raise ValueError(f"cannot confirm a reservation that is {existing.raw_status}")
        self._require_guest(item)
        packages = self._packages(item)
        if packages:
            self._add_packages(item, existing.confirmation, existing.raw_status, packages)
        return self._patch_confirmed(item, existing.confirmation)

    # -- error mapping ---------------------------------------------------------------------
    def map_status(self, response: httpx.Response, method: str, path: str) -> ConnectorError | None:
        said = error_text(response)
        lowered = said.lower()
        property_words = ("hotel", "chain", "property")
        unknown_words = ("not found", "invalid", "unknown", "does not exist")
        if response.status_code == 404 or (
            response.status_code in (400, 422)
            and any(w in lowered for w in property_words)
            and any(w in lowered for w in unknown_words)
        ):
            return NotMapped(
                f"SynXis does not know this hotel/chain (or it is not mapped for syncdesk's user): {said}",
                detail=self.describe_response(response, method, path),
                status=response.status_code,
            )
        if response.status_code in (400, 403, 422) and any(w in lowered for w in ("payment", "guarantee")):
            return NotMapped(
                f"SynXis will not confirm the reservation without a payment or guarantee: {said}. Which one a "
                "chain takes for bookings paid on the platform is its own setup: set it for syncdesk (the SynXis "
                "routing options' `payments` for the chain), then Reprocess, or confirm it in SynXis by hand.",
                detail=self.describe_response(response, method, path),
                status=response.status_code,
            )
        if response.status_code in (400, 422) and any(
            w in lowered for w in ("no availability", "not available", "unavailable", "sold out")
        ):
            return NoAvailability(
                f"SynXis has no availability: {said}",
                detail=self.describe_response(response, method, path),
                status=response.status_code,
            )
        return None

    # -- wire format -----------------------------------------------------------------------
    def _property(self, item: BookingRequest) -> tuple[Any, Any]:
        missing = [k for k in ("hotel_id", "chain_id") if item.details.get(k) in (None, "")]
        if missing:
            raise MissingField(
                f"The item has no SynXis {' and '.join(missing)}; syncdesk cannot tell which hotel to book.",
                detail=f"item {item.reference} details={item.details!r}",
            )
        return item.details["hotel_id"], item.details["chain_id"]

    def _require_guest(self, item: BookingRequest) -> None:
        if not item.guest.last_name.strip():
            raise MissingField(
                "The guest's surname is missing; SynXis needs a guest to confirm a reservation.",
                detail=f"item {item.reference}",
            )

    def _channels(self) -> dict[str, Any]:
        return {
            "PrimaryChannel": {"Code": self.primary_channel},
            "SecondaryChannel": {"Code": self.secondary_channel},
        }

    def _guest(self, item: BookingRequest, *, confirming: bool = False) -> dict[str, Any]:
        """The primary guest; `confirming`: with the chain's payment (source 004 step 3: "guest
        information and payment details then Confirm"), when one is configured."""
        guest: dict[str, Any] = {
            "PersonName": {"GivenName": item.guest.first_name, "Surname": item.guest.last_name},
            "Role": "Primary",
        }
        if item.guest.email:
            guest["EmailAddress"] = [{"Type": "Primary", "Value": item.guest.email}]
        if item.guest.phone:
            guest["ContactNumbers"] = [{"Default": True, "Number": item.guest.phone, "Role": "Home", "Type": "Mobile"}]
        payment = self._payment(item) if confirming else None
        if payment is not None:
            guest["Payments"] = [payment.wire()]
        return guest

    def _payment(self, item: BookingRequest) -> SynxisPayment | None:
        _, chain_id = self._property(item)
        return self.payments.get(str(chain_id)) or self.payments.get("*")

    def _envelope(self, item: BookingRequest) -> dict[str, Any]:
        hotel_id, chain_id = self._property(item)
        return {"Chain": {"Id": chain_id}, "Hotel": {"Id": hotel_id}, "Channels": self._channels()}

    def _reservation_body(self, item: BookingRequest, status: str) -> dict[str, Any]:
        self._property(item)
        missing = [k for k in ("room_code", "rate_code") if not item.details.get(k)]
        missing += [name for name, value in (("start", item.start), ("end", item.end)) if value is None]
        if missing:
            raise MissingField(
                f"The item is missing {', '.join(missing)}; SynXis needs them to book a room.",
                detail=f"item {item.reference} details={item.details!r}",
            )
        self._require_guest(item)
        assert item.start is not None and item.end is not None
        return {
            **self._envelope(item),
            "RoomStay": {
                "StartDate": item.start.isoformat(),
                "EndDate": item.end.isoformat(),
                "GuestCount": guest_count(item.adults, item.children),
                "NumRooms": max(item.quantity, 1),
                "Products": [
                    {
                        "Primary": True,
                        "Product": {"RateCode": item.details["rate_code"], "RoomCode": item.details["room_code"]},
                    }
                ],
            },
            "Guests": [self._guest(item, confirming=status == "Confirmed")],
            "ExternalReferenceNumber": item.reference,
            "status": status,
        }

    def _packages(self, item: BookingRequest) -> list[_Package]:
        """The item's packages (details["packages"]), checked before anything is sent."""
        raw = item.details.get("packages")
        if raw in (None, [], ""):
            return []
        where = f"item {item.reference} packages={raw!r}"
        if not isinstance(raw, list) or not all(isinstance(p, dict) for p in raw):
            raise DataFormat("The item's packages are not a list of {code, date, quantity}.", detail=where)
        packages = []
        for n, entry in enumerate(raw, 1):
            code = str(entry.get("code") or "").strip()
            if not code:
                raise MissingField(f"Package {n} of the item has no code; SynXis needs it.", detail=where)
            date = entry.get("date") or (item.start.isoformat() if item.start else None)
            if date is None:
                raise MissingField(f"Package {code} has no date and the item no arrival date.", detail=where)
            try:
                date = dt.date.fromisoformat(str(date)[:10]).isoformat()
                quantity = int(entry.get("quantity", 1))
                guests = int(entry["guests"]) if "guests" in entry else None
            except (TypeError, ValueError):
                raise DataFormat(f"Package {code} has a date, quantity or guest count SynXis cannot take.",
                                 detail=where) from None
            if quantity < 1 or (guests is not None and guests < 1):
                raise DataFormat(f"Package {code} needs a quantity and a guest count of at least 1.", detail=where)
            # A package's own count is adults; without one it is for the item's whole party.
            counts = guest_count(guests, 0) if guests is not None else guest_count(item.adults, item.children)
            packages.append(_Package(code, date, quantity,
                                     tuple((c["AgeQualifyingCode"], c["NumGuests"]) for c in counts)))
        return packages

    def _add_packages(self, item: BookingRequest, confirmation: str, status: str, packages: list[_Package]) -> None:
        """Source 004 step 2: PATCH the packages the reservation lacks, keeping its status.

        Packages is a first-level node, sent whole (Modify Reservation): the ones already on
        the reservation and ours. Nothing is sent when they are all there (a re-run).
        """
        current = self._current_packages(self._read(item, confirmation))
        have = {p.key for p in current}
        missing = [p for p in packages if p.key not in have]
        if not missing:
            return
        body = {**self._envelope(item), "Packages": [p.wire() for p in [*current, *missing]],
                "CrsConfirmationNumber": confirmation, "status": status}
        self.request("PATCH", RESERVATION_PATH, json=body)

    def _current_packages(self, reservation: dict[str, Any]) -> list[_Package]:
        found = []
        for entry in _get(reservation, "Packages") or []:
            if not isinstance(entry, dict) or not _get(entry, "Code"):
                continue
            counts = _get(entry, "GuestCount")
            kept = tuple((str(_get(c, "AgeQualifyingCode") or "Adult"), int(_get(c, "NumGuests") or 0))
                         for c in counts if isinstance(c, dict)) if isinstance(counts, list) else ()
            found.append(_Package(str(_get(entry, "Code")), str(_get(entry, "Date") or "")[:10],
                                  int(_get(entry, "Quantity") or 1), kept or (("Adult", 1),)))
        return found

    def _patch_confirmed(self, item: BookingRequest, confirmation: str) -> BookingResult:
        """Source 004 step 3: the guest and the chain's payment, and status Confirmed."""
        body = {**self._envelope(item), "Guests": [self._guest(item, confirming=True)],
                "CrsConfirmationNumber": confirmation, "status": "Confirmed"}
        answer = self.request("PATCH", RESERVATION_PATH, json=body)
        confirmed = self._confirmation_from(answer, "PATCH") if answer else confirmation
        return BookingResult(confirmation=confirmed, action="confirmed", raw_status="Confirmed")

    def _read(self, item: BookingRequest, confirmation: str) -> dict[str, Any]:
        hotel_id, _ = self._property(item)
        answer = self.request("GET", f"{RESERVATION_PATH}/hotel/{hotel_id}/{confirmation}", params={"view": "full"})
        return self._first_reservation(answer)

    def _search(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        """Every reservation the search answers, all pages of it; raises when it cannot have them all.

        Sabre documents paging for the Hotel List only: a reservation search may stop at the
        page size without a `paging` node. So a full page (`pageSize` of them) means "maybe
        more" and the next page is asked for (`pageStart` advanced, counted from 1) until a short
        one; a `paging` node's `Total`, where one comes, says when all are read."""
        query = {k: str(v) for k, v in params.items()}
        size = self.page_size
        found: list[dict[str, Any]] = []
        seen: set[str] = set()
        paging: tuple[int, int, int | None] | None = None
        for page in range(1, MAX_PAGES + 1):
            start = len(found) + 1
            answer = self.request("GET", RESERVATION_PATH, params={
                **query, "pageSize": str(size), **({"pageStart": str(start)} if page > 1 else {})})
            items = self._search_results(answer)
            paging = self._paging(answer)
            if page > 1 and paging is not None and paging[0] != start:
                break  # the CRS does not page this search: the "next page" is another one
            keys = [json.dumps(r, sort_keys=True, default=str) for r in items]
            if page > 1 and items and all(k in seen for k in keys):
                break  # the first page again: the CRS ignores pageStart
            seen.update(keys)
            found += items
            if self._last_page(paging, items, size, len(found)):
                return found
            if not items:
                break  # an empty page before the stated total
            if paging is None or paging[2] is None:
                log.warning("SynXis answered a full page of the reservation search (%d, no total given) for %s; "
                            "asking for the next page (pageStart=%d): the answer may be cut at its page size",
                            len(items), query, len(found) + 1)
        total = paging[2] if paging is not None else None
        raise UnknownFailure(
            f"SynXis' reservation search holds more results than it gave ({len(found)} read"
            f"{'' if total is None else f' of {total}'}) and would not give the rest, so syncdesk cannot be sure "
            "the reservation is not there and will not create one. Check SynXis for it; book it by hand if it is "
            "not there, then use Booked manually.",
            detail=f"GET {RESERVATION_PATH} {query} pageSize={size} paging={paging}",
        )

    @staticmethod
    def _last_page(paging: tuple[int, int, int | None] | None, items: list[dict[str, Any]], asked: int,
                   read: int) -> bool:
        """Whether this page is the last: all of a stated total read, else a short (or empty) page."""
        if paging is not None and paging[2] is not None:
            return read >= paging[2]
        return len(items) < asked

    def _search_results(self, answer: Any) -> list[dict[str, Any]]:
        """The reservations of one search answer; an answer that cannot be read is an error, never "none"."""
        if answer is None:
            raise UnknownFailure(
                "SynXis answered the reservation search with an empty body; syncdesk cannot tell whether the "
                "reservation exists, so it will not create one.",
                detail=f"GET {RESERVATION_PATH}: empty body",
            )
        errors = _get(answer, "Errors") if isinstance(answer, dict) else None
        if errors:
            raise UnknownFailure(
                f"SynXis answered the reservation search with errors ({error_text_of(errors)}); syncdesk cannot "
                "tell whether the reservation exists, so it will not create one.",
                detail=repr(answer)[:500],
            )
        return self._reservations(answer, "GET")

    @staticmethod
    def _paging(answer: Any) -> tuple[int, int, int | None] | None:
        """(start, size, total) of a paged answer (`paging` / `pagination`), None when not paged."""
        node = (_get(answer, "paging") or _get(answer, "pagination")) if isinstance(answer, dict) else None
        if not isinstance(node, dict):
            return None
        try:
            start = int(_get(node, "Start") or 1)
            size = int(_get(node, "Size") or 0)
            total = _get(node, "Total")
            return max(start, 1), size, None if total is None else int(total)
        except (TypeError, ValueError):
            return None

    def _reservations(self, answer: Any, method: str) -> list[dict[str, Any]]:
        if answer is None:
            return []
        items = _get(answer, "reservations") if isinstance(answer, dict) else answer
        if items is None and isinstance(answer, dict) and _get(answer, "CrsConfirmationNumber"):
            items = [answer]
        if not isinstance(items, list) or not all(isinstance(r, dict) for r in items):
            raise UnknownFailure(
                f"SynXis answered {method} {RESERVATION_PATH} without a list of reservations.",
                detail=repr(answer)[:500],
            )
        return items

    def _first_reservation(self, answer: Any) -> dict[str, Any]:
        items = self._reservations(answer, "GET")
        return items[0] if items else {}

    def _confirmation_from(self, answer: Any, method: str) -> str:
        number = _get(self._first_reservation(answer), "CrsConfirmationNumber")
        if not number:
            raise UnknownFailure(
                f"SynXis answered {method} {RESERVATION_PATH} without a CrsConfirmationNumber; "
                "the reservation may or may not exist.",
                detail=repr(answer)[:500],
            )
        return str(number)

    @staticmethod
    def _reference_of(reservation: dict[str, Any]) -> str:
        value = _get(reservation, "ExternalReferenceNumber")
        if value is None:
            value = _path(reservation, "BookingInfo", "ExternalReferenceNumber")
        return str(value or "").strip()

    def _matches_guest_stay(self, reservation: dict[str, Any], item: BookingRequest, hotel_id: Any) -> bool:
        """The guest key: surname, arrival and hotel all match, and the reservation carries our
        reference or none (one with another order's reference is that order's)."""
        reference = self._reference_of(reservation)
        if reference and reference != item.reference:
            return False
        if str(_path(reservation, "Hotel", "Id")) != str(hotel_id):
            return False
        start = str(_path(reservation, "RoomStay", "StartDate") or "")[:10]
        if item.start is None or start != item.start.isoformat():
            return False
        wanted = item.guest.last_name.strip().casefold()
        guests = _get(reservation, "Guests") or []
        return any(
            str(_path(g, "PersonName", "Surname") or "").strip().casefold() == wanted
            for g in guests
            if isinstance(g, dict)
        )

    def _existing(self, reservation: dict[str, Any]) -> ExistingBooking:
        raw = str(_get(reservation, "Status") or "")
        status = status_of(raw)
        number = _get(reservation, "CrsConfirmationNumber")
        if not number and status.ours is not BookingStatus.ABSENT:
            # Only a Stored reservation may lack its number (source 004); any other is unreadable.
            raise UnknownFailure(
                f"SynXis returned a {raw} reservation without a CrsConfirmationNumber.", detail=repr(reservation)[:500]
            )
        stay = _get(reservation, "RoomStay")
        return ExistingBooking(
            confirmation=str(number or ""),
            status=status.ours,
            raw_status=raw,
            reference=self._reference_of(reservation),
            meaning=status.meaning,
            start=_date(_get(stay, "StartDate")),
            end=_date(_get(stay, "EndDate")),
            guests=_party(_get(stay, "GuestCount")),
            deadline=_instant(_get(reservation, "OnHoldReleaseTime")) if status.ours is BookingStatus.PENDING else None,
        )


def _date(value: Any) -> dt.date | None:
    """A SynXis date (`2026-12-01`, or a date-time whose date it is); None when absent or unreadable."""
    try:
        return dt.date.fromisoformat(str(value)[:10]) if value else None
    except ValueError:
        return None


def _party(counts: Any) -> int | None:
    """The guests of a GuestCount list (every age code); None when the answer has none."""
    if not isinstance(counts, list) or not counts:
        return None
    try:
        return sum(int(_get(c, "NumGuests") or 0) for c in counts if isinstance(c, dict))
    except (TypeError, ValueError):
        return None


def _instant(value: Any) -> dt.datetime | None:
    """A hold's release as an absolute date-time with its zone; None for anything else (the On-Hold
    page documents `onHoldReleaseTime` as hours on the request, and hours count from a moment the
    answer does not give)."""
    if not isinstance(value, str):
        return None
    try:
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def error_text_of(errors: Any) -> str:
    """The messages of a SynXis `Errors` node (a list of `{"Message"|"UserMessage"|…}`)."""
    if isinstance(errors, list):
        texts = [str(_get(e, "Message") or _get(e, "UserMessage") or _get(e, "ErrorCode") or e)
                 if isinstance(e, dict) else str(e) for e in errors]
        return "; ".join(texts)[:300]
    return str(errors)[:300]
