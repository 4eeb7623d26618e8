"""The values that cross the connector boundary: what to book, and what a system answered.

Connectors never see database rows; `workflows` builds a `BookingRequest` from an order
item and gets back `ExistingBooking` / `BookingResult` / `PaymentCheck` values.
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass, field, replace
from collections.abc import Iterator, Mapping
from typing import Any, Protocol, runtime_checkable

from connectors.errors import DataFormat, UnknownFailure


@dataclass(frozen=True)
class Guest:
    first_name: str
    last_name: str
    email: str = ""
    phone: str = ""


@dataclass(frozen=True)
class BookingRequest:
    """One order item to book in an external system, with the order facts it needs."""

    order_id: str
    item_id: str
    kind: str
    system: str
    description: str
    start: dt.date | None
    end: dt.date | None
    quantity: int
    guests: int  # the whole party, adults and children (an item without a count books one adult)
    guest: Guest
    # The system's own fields, as the platform sent them; `children` is how many of `guests` are
    # children (DESIGN §3.1: intake keeps `guests: {"adults", "children"}` as the total and this).
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def children(self) -> int:
        """How many of the party are children (`details.children`, 0 when absent).

        Raises DataFormat when it is not a whole number from 0 to the party size."""
        raw = self.details.get("children")
        if raw in (None, ""):
            return 0
        try:
            children = int(raw) if not isinstance(raw, (bool, float)) else -1
        except (TypeError, ValueError):
            children = -1
        if not 0 <= children <= max(self.guests, 0):
            raise DataFormat(f"The item's children count {raw!r} is not a whole number from 0 to its {self.guests} "
                             "guests.", detail=f"item {self.reference} details={self.details!r}")
        return children

    @property
    def adults(self) -> int:
        """The adults of the party: the guests who are not children (one when the item has no count)."""
        return max(self.guests, 1) - self.children

    @property
    def reference(self) -> str:
        """Our reference, written into the external booking so it can be found again."""
        return f"{self.order_id}/{self.item_id}"


class BookingStatus(enum.Enum):
    """An external booking's state, mapped from each system's own vocabulary (each connector's
    status table says which raw status means what, and why)."""

    BOOKED = "booked"  # a real, valid booking: nothing to do (SynXis: Confirmed, PendingModify)
    PENDING = "pending"  # held, and the connector may confirm it (SynXis: Booked, OnHold; Mews: Optional)
    NO_AVAILABILITY = "no_availability"  # waitlisted: no availability (SynXis: Waitlisted; Mews: Requested)
    ABSENT = "absent"  # counts as not there: create a new one (SynXis: Cancelled, Ignored, Stored)
    # Exists in a state syncdesk must neither confirm nor replace: a person settles it
    # (SynXis: PendingCancel, PaymentPending, Released; ResDiary: Locked).
    REVIEW = "review"


# When several bookings carry our reference, the most booked one is the one that counts.
PRECEDENCE = (BookingStatus.BOOKED, BookingStatus.PENDING, BookingStatus.REVIEW, BookingStatus.NO_AVAILABILITY,
              BookingStatus.ABSENT)


@dataclass(frozen=True)
class StatusMeaning:
    """One of a system's booking statuses: ours for it, and what it means for a guest who paid."""

    ours: BookingStatus
    meaning: str


class UnknownStatus(LookupError):
    """A status the system's table does not list: the connector says so, never guesses."""


class StatusTable(Mapping[str, StatusMeaning]):
    """A system's whole status vocabulary (`name -> StatusMeaning`, as the vendor spells it);
    `meaning_of` looks a status up ignoring case, spaces and underscores, as answers vary."""

    def __init__(self, statuses: dict[str, StatusMeaning]) -> None:
        self.statuses = statuses
        self._by_key = {self.key(name): meaning for name, meaning in statuses.items()}

    def __getitem__(self, name: str) -> StatusMeaning:
        return self.statuses[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.statuses)

    def __len__(self) -> int:
        return len(self.statuses)

    @staticmethod
    def key(raw: str) -> str:
        return raw.replace(" ", "").replace("_", "").lower()

    def meaning_of(self, raw: str) -> StatusMeaning:
        """Raises UnknownStatus for a status the table does not list."""
        try:
            return self._by_key[self.key(raw)]
        except KeyError:
            raise UnknownStatus(raw) from None

    def meaning_or_fail(self, raw: str, *, returned: str, check: str, name: str | None = None) -> StatusMeaning:
        """The meaning of `name` (default `raw`, the status as the system sent it). A status the
        table does not list is an error, never a guess: UnknownFailure, saying what `returned`
        it and what to `check` first."""
        try:
            return self.meaning_of(raw if name is None else name)
        except UnknownStatus:
            raise UnknownFailure(
                f"{returned} syncdesk does not know: {raw!r}. Check {check} before doing anything else.",
                detail=f"status={raw!r}",
            ) from None


@dataclass(frozen=True)
class ExistingBooking:
    confirmation: str  # "" when the system gave it none (a SynXis Stored reservation has none)
    status: BookingStatus
    raw_status: str
    reference: str = ""
    meaning: str = ""  # what the raw status means, in the vendor's words where it has any
    # What the system holds, where its answer says (None: it did not say). The arrival check
    # (workflows/arrivals) compares them with the order; a held booking's deadline is when
    # the system lets it lapse (SynXis Booked/OnHold, ResDiary Unconfirmed).
    start: dt.date | None = None
    end: dt.date | None = None
    guests: int | None = None
    deadline: dt.datetime | None = None
    # Check-first asks by two independent keys (`Found`): set when one of them found this booking
    # and the other did not, in words for staff (logged, recorded on the attempt, shown in the alert).
    warning: str = ""


def most_booked(bookings: list[ExistingBooking]) -> ExistingBooking | None:
    """The booking that counts among several for one item (None for none)."""
    return min(bookings, key=lambda b: PRECEDENCE.index(b.status)) if bookings else None


def _identity(booking: ExistingBooking) -> str:
    """One booking whichever search answered it: its number (a SynXis Stored one has none)."""
    return booking.confirmation or f"{booking.reference}|{booking.raw_status}|{booking.start}|{booking.end}"


def _numbers(bookings: tuple[ExistingBooking, ...]) -> str:
    return ", ".join(b.confirmation or f"an unnumbered {b.raw_status} booking" for b in bookings)


@dataclass(frozen=True)
class Found:
    """What check-first found by each of its two independent keys (issue 24): our reference
    (`BookingRequest.reference`, written into every booking syncdesk makes) and the guest +
    arrival + property. `by_guest` is None when that key could not be asked (the item has no
    surname or arrival date, or the site's configuration has no search by guest).

    Two keys because either may find nothing while the booking is there: a system that drops or
    cannot search our reference (unverified for SynXis and Mews) would be booked twice by a retry,
    and a booking made by hand carries no reference. What either key found counts (`existing`);
    one found by one key and not the other also says so (`warning`)."""

    by_reference: tuple[ExistingBooking, ...] = ()
    by_guest: tuple[ExistingBooking, ...] | None = None

    def only_by_reference(self) -> tuple[ExistingBooking, ...]:
        """Bookings the reference found and the guest search, asked, did not."""
        if self.by_guest is None:
            return ()
        seen = {_identity(b) for b in self.by_guest}
        return tuple(b for b in self.by_reference if _identity(b) not in seen)

    def only_by_guest(self) -> tuple[ExistingBooking, ...]:
        """Bookings the guest search found and the reference did not."""
        seen = {_identity(b) for b in self.by_reference}
        return tuple(b for b in self.by_guest or () if _identity(b) not in seen)

    def warning(self, system: str, item: BookingRequest) -> str:
        """Staff's words for a booking found by one key only; "" when the keys agree."""
        guest = f"the guest ({item.guest.last_name.strip() or 'no surname'}, arriving {item.start or 'on no date'})"
        said = []
        by_reference, by_guest = self.only_by_reference(), self.only_by_guest()
        if by_reference:
            said.append(f"{system} found {_numbers(by_reference)} by our reference {item.reference} but not by "
                        f"{guest}: its guest or dates may differ from the order's, or {system}'s search by guest "
                        "does not work")
        if by_guest:
            said.append(f"{system} found {_numbers(by_guest)} by {guest} but not by our reference "
                        f"{item.reference}: it was booked by hand, or {system} does not keep or find our reference")
        if not said:
            return ""
        return "; ".join(said) + f". Check it in {system} (`syncdesk connectors verify` tests both searches)."

    def existing(self, system: str, item: BookingRequest) -> ExistingBooking | None:
        """The booking that counts among all either key found, carrying the `warning` if any."""
        unique: dict[str, ExistingBooking] = {}
        for booking in (*self.by_reference, *(self.by_guest or ())):
            unique.setdefault(_identity(booking), booking)
        chosen = most_booked(list(unique.values()))
        warning = self.warning(system, item) if chosen is not None else ""
        return replace(chosen, warning=warning) if chosen is not None and warning else chosen


@dataclass(frozen=True)
class BookingResult:
    confirmation: str
    action: str  # "created" | "confirmed" | "found"
    raw_status: str = ""
    warning: str = ""  # check-first found the booking by one key only (`Found.warning`)


@dataclass(frozen=True)
class SystemDescription:
    system: str
    name: str
    booked_means: str
    automatic: bool = True
    # Manual-playbook systems (automatic=False): the exact steps a person follows in the
    # system, and the fields "Booked manually" must capture ("reference", "payment_method").
    playbook: tuple[str, ...] = ()
    manual_fields: tuple[str, ...] = ("reference",)
    payment_methods: tuple[str, ...] = ()
    # Who to contact about this system when an error is unknown (its configured support
    # contact, e.g. "Aspenware support (support@aspenware.com)"); "" when none is configured.
    support: str = ""


class BookingConnector(Protocol):
    """What every booking system implements (issue 3)."""

    def find_existing(self, item: BookingRequest) -> ExistingBooking | None: ...

    def find_by_confirmation(self, confirmation: str, item: BookingRequest) -> ExistingBooking | None:
        """The booking the system numbered `confirmation` (the item's external reference),
        None when it has none by that number: how the arrival check proves a Confirmed item."""
        ...

    def create(self, item: BookingRequest) -> BookingResult: ...

    def confirm(self, existing: ExistingBooking, item: BookingRequest) -> BookingResult: ...

    def describe(self) -> SystemDescription: ...


@runtime_checkable
class ListsBookings(Protocol):
    """A booking system that can list a day's bookings (issue 25, "the other direction"): the
    arrival check names those whose order is cancelled or refunded on the platform. Systems
    that cannot (playbooks) do not implement it."""

    def bookings_on(self, day: dt.date, where: BookingRequest) -> list[ExistingBooking]:
        """Every booking arriving on `day` at the property `where`'s details name (its hotel,
        restaurant or service), in any status, with our reference where it carries one."""
        ...


class PaymentState(enum.Enum):
    CAPTURED = "captured"
    PARTIALLY_REFUNDED = "partially_refunded"
    REFUNDED = "refunded"
    NOT_CAPTURED = "not_captured"
    MISMATCH = "mismatch"
    UNKNOWN = "unknown"

    @property
    def safe_to_book(self) -> bool:
        """Refunded, uncaptured or mismatched money stops a booking; unknown only warns."""
        return self not in (PaymentState.REFUNDED, PaymentState.NOT_CAPTURED, PaymentState.MISMATCH)

    @property
    def settled(self) -> bool:
        """The money is there: what Mark complete requires."""
        return self in (PaymentState.CAPTURED, PaymentState.PARTIALLY_REFUNDED)


@dataclass(frozen=True)
class PaymentCheck:
    state: PaymentState
    reference: str
    currency: str = ""
    amount_minor: int = 0
    received_minor: int = 0
    refunded_minor: int = 0
    expected_minor: int = 0
    detail: str = ""
    checked_at: dt.datetime | None = None
