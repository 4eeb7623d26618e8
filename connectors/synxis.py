"""Sabre SynXis CRS: the wire format of its REST Reservation Services, and nothing else.

Implements (see `shared/sources/004_fc08ca5570a46f2d.txt` for the multi-step page):
- Multi-Step Reservation — POST/PATCH `/v1/api/reservation`, the status table (Stored,
  Booked, OnHold, Confirmed, Waitlisted, Cancelled, Ignored, PendingModify) and the
  create answer `{"reservations": [{"CrsConfirmationNumber": "13098CU000379"}]}`.
- Create Reservation, Basic Information — required Chain/Id, Hotel/Id, channels, RoomStay
  StartDate/EndDate/GuestCount/NumRooms/Products{RateCode, RoomCode}, status
  (https://developer.synxis.com/basic-information).
- Retrieve Reservations / Use Cases — GET `/v1/api/reservation?hotel=&chain=&view=full&…`,
  "all search criteria must match", broad searches may be paginated or time out
  (https://developer.sabre.com/retrieve-use-cases, https://developer.sabre.com/retrieve-reservations);
  GET `/v1/api/reservation/hotel/{hotelId}/{id}` for one reservation
  (https://developer.sabre.com/sabre_hospitality/hotel/reservation).
- Get a Token for REST APIs (https://developer.synxis.com/guides/rest_api/token).

Search parameter names: `guestFirstName` and `crsConfirmationNumber` are spelled out in
Sabre's pages; `externalReferenceNumber`, `guestLastName` and `startDate` follow the same
convention (the reservation field is `ExternalReferenceNumber`). Because a CRS may ignore a
filter it does not know, every search result is verified here before it is believed.
"""

from __future__ import annotations

from typing import Any, Iterable

import httpx

from connectors.base import HttpConnector, OAuth2ClientCredentials, error_text
from connectors.errors import ConnectorError, MissingField, NoAvailability, NotMapped, UnknownFailure
from connectors.types import (
    BookingRequest,
    BookingResult,
    BookingStatus,
    ExistingBooking,
    SystemDescription,
)
from workflows.settings import Settings

RESERVATION_PATH = "/v1/api/reservation"

STATUS_MAP: dict[str, BookingStatus] = {
    "confirmed": BookingStatus.BOOKED,
    "booked": BookingStatus.PENDING,
    "onhold": BookingStatus.PENDING,
    "pendingmodify": BookingStatus.PENDING,
    "waitlisted": BookingStatus.NO_AVAILABILITY,
    "cancelled": BookingStatus.ABSENT,
    "ignored": BookingStatus.ABSENT,
    "stored": BookingStatus.ABSENT,
}

# When several reservations carry our reference, the most booked one wins.
_PRECEDENCE = [BookingStatus.BOOKED, BookingStatus.PENDING, BookingStatus.NO_AVAILABILITY, BookingStatus.ABSENT]


def map_status(raw: str) -> BookingStatus:
    """SynXis' reservation status to ours; an unknown status is an error, never a guess."""
    key = raw.replace(" ", "").replace("_", "").lower()
    try:
        return STATUS_MAP[key]
    except KeyError:
        raise UnknownFailure(
            f"SynXis returned a reservation status syncdesk does not know: {raw!r}. "
            "Check the reservation in SynXis before doing anything else.",
            detail=f"status={raw!r}",
        ) from None


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


class SynxisConnector(HttpConnector):
    """Books hotel rooms in SynXis CRS. Check first, create confirmed, confirm pending ones."""

    name = "SynXis"

    def __init__(self, settings: Settings) -> None:
        settings.require("synxis_api_url", "synxis_token_url", "synxis_client_id", "synxis_client_secret")
        self.primary_channel = settings.synxis_primary_channel
        self.secondary_channel = settings.synxis_secondary_channel
        auth = OAuth2ClientCredentials(
            settings.secret("synxis_token_url"),
            settings.secret("synxis_client_id"),
            settings.secret("synxis_client_secret"),
            what="SYNXIS_CLIENT_ID / SYNXIS_CLIENT_SECRET",
        )
        super().__init__(settings.secret("synxis_api_url"), settings=settings, auth=auth)

    # -- BookingConnector ------------------------------------------------------------------
    def describe(self) -> SystemDescription:
        return SystemDescription(
            system="synxis",
            name="Sabre SynXis CRS",
            booked_means="the reservation exists in SynXis with status Confirmed",
            automatic=True,
        )

    def find_existing(self, item: BookingRequest) -> ExistingBooking | None:
        """The reservation already made for this item, if any (absent ones are returned typed).

        First a search by our reference; then, for reservations made without it (by hand),
        by guest surname and arrival date. Every result is verified here.
        """
        hotel_id, chain_id = self._property(item)
        base = {"hotel": hotel_id, "chain": chain_id, "view": "full"}
        by_reference = self._search({**base, "externalReferenceNumber": item.reference})
        found = [r for r in by_reference if self._reference_of(r) == item.reference]
        if not found and item.guest.last_name.strip() and item.start is not None:
            by_guest = self._search(
                {**base, "guestLastName": item.guest.last_name.strip(), "startDate": item.start.isoformat()}
            )
            found = [r for r in by_guest if self._matches_guest_stay(r, item, hotel_id)]
        if not found:
            return None
        bookings = [self._existing(r) for r in found]
        return min(bookings, key=lambda b: _PRECEDENCE.index(b.status))

    def create(self, item: BookingRequest) -> BookingResult:
        """POST a Confirmed reservation carrying our reference. Not retried: check first instead."""
        body = self._reservation_body(item)
        answer = self.request("POST", RESERVATION_PATH, json=body)
        confirmation = self._confirmation_from(answer, "POST")
        raw_status = str(_get(self._first_reservation(answer), "Status") or "")
        if not raw_status:
            # The create answer carries only the number: read the reservation back to learn
            # whether it was confirmed or waitlisted.
            hotel_id, _ = self._property(item)
            stored = self._first_reservation(
                self.request("GET", f"{RESERVATION_PATH}/hotel/{hotel_id}/{confirmation}", params={"view": "full"})
            )
            raw_status = str(_get(stored, "Status") or "")
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
        """PATCH a pending (Booked/OnHold/PendingModify) reservation to Confirmed, with the guest."""
        if existing.status is BookingStatus.BOOKED:
            return BookingResult(confirmation=existing.confirmation, action="found", raw_status=existing.raw_status)
        if existing.status is BookingStatus.NO_AVAILABILITY:
            raise NoAvailability(
                f"SynXis reservation {existing.confirmation} is waitlisted: no availability.",
                detail=f"CrsConfirmationNumber={existing.confirmation} Status={existing.raw_status}",
            )
        if existing.status is not BookingStatus.PENDING:
            raise ValueError(f"cannot confirm a reservation that is {existing.raw_status}")
        self._require_guest(item)
        hotel_id, chain_id = self._property(item)
        body = {
            "Chain": {"Id": chain_id},
            "Hotel": {"Id": hotel_id},
            "Channels": self._channels(),
            "Guests": [self._guest(item)],
            "CrsConfirmationNumber": existing.confirmation,
            "status": "Confirmed",
        }
        answer = self.request("PATCH", RESERVATION_PATH, json=body)
        confirmation = self._confirmation_from(answer, "PATCH") if answer else existing.confirmation
        return BookingResult(confirmation=confirmation, action="confirmed", raw_status="Confirmed")

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

    def _guest(self, item: BookingRequest) -> dict[str, Any]:
        guest: dict[str, Any] = {
            "PersonName": {"GivenName": item.guest.first_name, "Surname": item.guest.last_name},
            "Role": "Primary",
        }
        if item.guest.email:
            guest["EmailAddress"] = [{"Type": "Primary", "Value": item.guest.email}]
        if item.guest.phone:
            guest["ContactNumbers"] = [{"Default": True, "Number": item.guest.phone, "Role": "Home", "Type": "Mobile"}]
        return guest

    def _reservation_body(self, item: BookingRequest) -> dict[str, Any]:
        hotel_id, chain_id = self._property(item)
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
            "Chain": {"Id": chain_id},
            "Hotel": {"Id": hotel_id},
            "Channels": self._channels(),
            "RoomStay": {
                "StartDate": item.start.isoformat(),
                "EndDate": item.end.isoformat(),
                "GuestCount": [{"AgeQualifyingCode": "Adult", "NumGuests": max(item.guests, 1)}],
                "NumRooms": max(item.quantity, 1),
                "Products": [
                    {
                        "Primary": True,
                        "Product": {"RateCode": item.details["rate_code"], "RoomCode": item.details["room_code"]},
                    }
                ],
            },
            "Guests": [self._guest(item)],
            "ExternalReferenceNumber": item.reference,
            "status": "Confirmed",
        }

    def _search(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        answer = self.request("GET", RESERVATION_PATH, params={k: str(v) for k, v in params.items()})
        return list(self._reservations(answer, "GET"))

    def _reservations(self, answer: Any, method: str) -> Iterable[dict[str, Any]]:
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
        items = list(self._reservations(answer, "GET"))
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
        """A reservation made without our reference counts only if surname, arrival and hotel all match."""
        reference = self._reference_of(reservation)
        if reference:
            return reference == item.reference
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
        number = _get(reservation, "CrsConfirmationNumber")
        if not number:
            raise UnknownFailure(
                "SynXis returned a reservation without a CrsConfirmationNumber.", detail=repr(reservation)[:500]
            )
        return ExistingBooking(
            confirmation=str(number),
            status=map_status(raw),
            raw_status=raw,
            reference=self._reference_of(reservation),
        )
