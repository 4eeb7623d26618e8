"""The manual-playbook connector: for booking systems without a booking API syncdesk may call.

Such a system is never "reprocessed": its alert shows the system's exact manual steps
instead of a Reprocess button, and "Booked manually" captures what the steps produce
(`SystemDescription.manual_fields`). `describe()` says so (`automatic=False`, the generic
steps); `describe_item(item)` gives the same steps filled in with the item's facts.

`find_existing`, `create` and `confirm` raise `ManualOnly` (error class NO_CONNECTOR, not
transient, so no automatic retry): a Reprocess that reaches one anyway is recorded as
"book it by hand" with the steps. A site that does have middleware with a REST endpoint
routes the system to the configurable REST connector instead (`connectors.pms`, see
`connectors.routing`), and gets automatic reprocess.
"""

from __future__ import annotations

from typing import ClassVar

from connectors.errors import ManualOnly
from connectors.types import (
    BookingRequest,
    BookingResult,
    ExistingBooking,
    SystemDescription,
)


def guest_line(item: BookingRequest | None) -> str:
    """The guest as the order shows them: name, email, phone."""
    if item is None:
        return "the guest's name, email and phone from the order"
    parts = [f"{item.guest.first_name} {item.guest.last_name}".strip() or "(no name on the order)"]
    parts += [p for p in (item.guest.email, item.guest.phone) if p]
    return ", ".join(parts)


def when_line(item: BookingRequest | None, time_key: str = "") -> str:
    """The date (or date range) and, when the item carries one, the time."""
    if item is None or item.start is None:
        return "the date on the order"
    text = item.start.isoformat()
    if item.end is not None and item.end != item.start:
        text += f" to {item.end.isoformat()}"
    time = item.details.get(time_key) if time_key else None
    return f"{text} at {time}" if time else text


def detail(item: BookingRequest | None, key: str, fallback: str) -> str:
    value = item.details.get(key) if item is not None else None
    return str(value) if value not in (None, "") else fallback


class PlaybookConnector:
    """Base of the manual-playbook connectors. Subclasses set the class facts and `steps`."""

    system: ClassVar[str]
    name: ClassVar[str]
    booked_means: ClassVar[str]
    why_manual: ClassVar[str]  # e.g. "EMS Premier publishes no booking API"
    manual_fields: ClassVar[tuple[str, ...]] = ("reference",)

    def __init__(self, support: str = "") -> None:
        self.support = support  # who to contact about the system (configured, e.g. RTP_SUPPORT_CONTACT)

    def steps(self, item: BookingRequest | None) -> tuple[str, ...]:
        """The manual steps, filled in with the item's facts (generic when `item` is None)."""
        raise NotImplementedError

    def payment_methods(self) -> tuple[str, ...]:
        return ()

    # -- BookingConnector ------------------------------------------------------------------
    def describe(self) -> SystemDescription:
        return self.describe_item(None)

    def describe_item(self, item: BookingRequest | None) -> SystemDescription:
        return SystemDescription(
            system=self.system, name=self.name, booked_means=self.booked_means, automatic=False,
            playbook=self.steps(item), manual_fields=self.manual_fields, payment_methods=self.payment_methods(),
            support=self.support,
        )

    def find_existing(self, item: BookingRequest) -> ExistingBooking | None:
        raise self._manual(item)

    def find_by_confirmation(self, confirmation: str, item: BookingRequest) -> ExistingBooking | None:
        raise self._manual(item)

    def create(self, item: BookingRequest) -> BookingResult:
        raise self._manual(item)

    def confirm(self, existing: ExistingBooking, item: BookingRequest) -> BookingResult:
        raise self._manual(item)

    def close(self) -> None:
        return None

    def _manual(self, item: BookingRequest) -> ManualOnly:
        error = ManualOnly(
            f"{self.why_manual}, so syncdesk cannot book it: book it by hand in {self.name} "
            "following the steps, then use Booked manually.",
            steps=self.steps(item),
        )
        error.support = self.support
        return error
