"""Booking an item in its external system, exactly once: the order facts a connector needs
(`booking_request`) and the check-first routine every Reprocess runs (`book`).

DESIGN §1, "SynXis: check first": the reservation may exist even though the platform never
heard back, so a connector is always asked for an existing booking before it creates one;
a pending one is confirmed, a waitlisted one is "no availability", and one in a state
syncdesk must neither confirm nor replace (BookingStatus.REVIEW: SynXis PendingCancel, …)
is left to a person. A failed search is an error, never "nothing there": `book` creates
only when the connector answered that nothing (or only an absent booking) exists.

Every error that leaves here names who to contact about the system
(`ConnectorError.support`, the connector's configured support contact).
"""

from __future__ import annotations

from dataclasses import replace

from connectors.errors import ConnectionFailed, ConnectorError, NeedsReview, NoAvailability, Timeout
from connectors.types import BookingConnector, BookingRequest, BookingResult, BookingStatus, ExistingBooking, Guest
from workflows.core.models import Order, OrderItem
from workflows.core.settings import Settings
from workflows.systems import pace
from workflows.systems.registry import connector_for


def booking_request(order: Order, item: OrderItem) -> BookingRequest:
    return BookingRequest(
        order_id=order.id, item_id=item.item_id, kind=item.kind, system=item.system,
        description=item.description, start=item.start, end=item.end, quantity=item.quantity,
        guests=item.guests, details=dict(item.details or {}),
        guest=Guest(order.guest_first_name, order.guest_last_name, order.guest_email, order.guest_phone),
    )


def book(settings: Settings, request: BookingRequest) -> BookingResult:
    """Check first, then confirm what is found or create it (DESIGN §1, "SynXis: check first").

    Holds one of the system's concurrent bookings meanwhile (`workflows.systems.pace`); a
    timeout or a lost connection slows the system's pace down, as a 429 or a 5xx does.
    """
    connector = connector_for(request, settings)
    try:
        if not connector.describe().automatic:
            return _book(connector, request)  # a playbook: nothing is sent, nothing to pace
        limiter = pace.limiter(settings, request.system)
        with limiter.slot():
            try:
                return _book(connector, request)
            except (Timeout, ConnectionFailed):
                limiter.slow_down()
                raise
    except ConnectorError as exc:
        if not exc.support:  # who to contact about it: the system's support (issue 12)
            exc.support = connector.describe().support
        raise


def _book(connector: BookingConnector, request: BookingRequest) -> BookingResult:
    """Book from what check-first found. Check-first asks by two keys (`connectors.types.Found`):
    a booking found by one only carries a warning, which goes with the outcome, success
    (`BookingResult.warning`) or failure (`ConnectorError.warning`), so the attempt records it
    and the alert shows it. A failure after finding a hold also carries the hold's deadline
    (`ConnectorError.hold_deadline`), which escalation counts against."""
    existing = connector.find_existing(request)
    try:
        result = _act(connector, request, existing)
    except ConnectorError as exc:
        if existing is not None:
            exc.warning = exc.warning or existing.warning
            if existing.status is BookingStatus.PENDING:
                exc.hold_deadline = exc.hold_deadline or existing.deadline
        raise
    if existing is not None and existing.warning and not result.warning:
        result = replace(result, warning=existing.warning)
    return result


def _act(connector: BookingConnector, request: BookingRequest, existing: ExistingBooking | None) -> BookingResult:
    if existing is None or existing.status is BookingStatus.ABSENT:
        return connector.create(request)
    if existing.status is BookingStatus.BOOKED:
        return BookingResult(existing.confirmation, "found", existing.raw_status)
    name = connector.describe().name
    evidence = f"confirmation={existing.confirmation} status={existing.raw_status}"
    if existing.status is BookingStatus.NO_AVAILABILITY:
        raise NoAvailability(
            f"{name} reservation {existing.confirmation} is {existing.raw_status}: no availability.", detail=evidence)
    if existing.status is BookingStatus.REVIEW:
        meaning = f" ({existing.meaning})" if existing.meaning else ""
        raise NeedsReview(
            f"{name} holds {existing.confirmation} as {existing.raw_status}{meaning}. syncdesk will neither confirm "
            f"it nor create another: settle it in {name}, then use Booked manually.", detail=evidence)
    return connector.confirm(existing, request)
