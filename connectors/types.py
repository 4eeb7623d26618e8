"""The values that cross the connector boundary: what to book, and what a system answered.

Connectors never see database rows; `workflows` builds a `BookingRequest` from an order
item and gets back `ExistingBooking` / `BookingResult` / `PaymentCheck` values.
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass, field
from typing import Any, Protocol


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
    guests: int
    guest: Guest
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def reference(self) -> str:
        """Our reference, written into the external booking so it can be found again."""
        return f"{self.order_id}/{self.item_id}"


class BookingStatus(enum.Enum):
    """An external booking's state, mapped from each system's own vocabulary."""

    BOOKED = "booked"  # final and valid (SynXis: Confirmed)
    PENDING = "pending"  # holds inventory but must be confirmed (SynXis: Booked, OnHold, PendingModify)
    NO_AVAILABILITY = "no_availability"  # (SynXis: Waitlisted)
    ABSENT = "absent"  # counts as not there (SynXis: Cancelled, Ignored, Stored)


@dataclass(frozen=True)
class ExistingBooking:
    confirmation: str
    status: BookingStatus
    raw_status: str
    reference: str = ""


@dataclass(frozen=True)
class BookingResult:
    confirmation: str
    action: str  # "created" | "confirmed" | "found"
    raw_status: str = ""


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


class BookingConnector(Protocol):
    """What every booking system implements (issue 3)."""

    def find_existing(self, item: BookingRequest) -> ExistingBooking | None: ...

    def create(self, item: BookingRequest) -> BookingResult: ...

    def confirm(self, existing: ExistingBooking, item: BookingRequest) -> BookingResult: ...

    def describe(self) -> SystemDescription: ...


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
