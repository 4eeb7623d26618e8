"""The service layer: the only writers of order state.

Each function takes a session inside a transaction, does one thing, writes its audit
events with the change and asks for follow-up jobs through the outbox (`workflows.queue`),
so a change and the work it implies commit together or not at all.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from connectors.errors import ErrorClass
from workflows import outage, queue, states
from workflows.classify import classify
from workflows.models import Alert, IntakeEvent, Order, OrderItem, SyncAttempt, utcnow
from workflows.payloads import ItemIn, PlatformOrder, SyncFailure

PLATFORM_ACTOR = "platform"
AUTO_ACTOR = "syncdesk (automatic retry)"
POLLER_ACTOR = "syncdesk (poller)"


@dataclass(frozen=True)
class IntakeOutcome:
    order_id: str
    alert: str  # "created" | "updated" | "none"
    duplicate: bool = False
    reason: str = ""


def surfaces_for(slack: bool, teams: bool) -> list[str]:
    """The chat surfaces an alert goes to; Slack always (it logs when no token is set)."""
    return ["slack"] + (["teams"] if teams else [])


def event_seen(session: Session, event_id: str) -> IntakeEvent | None:
    return session.scalar(select(IntakeEvent).where(IntakeEvent.event_id == event_id))


def _upsert_order(session: Session, data: PlatformOrder) -> Order:
    order = session.get(Order, data.id, with_for_update=True)
    if order is None:
        order = Order(id=data.id, platform_status=data.status, currency=data.currency, total_minor=data.total_minor)
        session.add(order)
    elif order.platform_status != data.status and data.status in (states.CANCELLED, states.COMPLETE, states.TEST):
        order.platform_status = data.status  # the platform moved it on; it is the source of truth
    order.placed_at = data.placed_at
    order.currency = data.currency
    order.total_minor = data.total_minor
    order.guest_first_name = data.guest.first_name
    order.guest_last_name = data.guest.last_name
    order.guest_email = data.guest.email
    order.guest_phone = data.guest.phone
    if data.payment is not None:
        order.payment_provider = data.payment.provider
        order.payment_reference = data.payment.reference
        order.payment_amount_minor = data.payment.amount_minor
    existing = {item.item_id: item for item in order.items}
    for item_in in data.items:
        _upsert_item(order, existing.get(item_in.id), item_in)
    return order


def _upsert_item(order: Order, item: OrderItem | None, data: ItemIn) -> OrderItem:
    if item is None:
        item = OrderItem(
            item_id=data.id, kind=data.kind, system=data.system or "", status=data.status,
            sync_status=None if data.kind == "retail" else
            (states.Q_SUCCESS if data.status == states.CONFIRMED else states.Q_CREATED),
        )
        order.items.append(item)
    elif data.status in (states.CONFIRMED, states.CANCELLED) and item.status == states.IN_PROGRESS:
        item.status = data.status  # confirmed or cancelled on the platform meanwhile
    item.kind = data.kind
    item.system = data.system or ""
    item.description = data.description
    item.start = data.start
    item.end = data.end
    item.quantity = data.quantity
    item.guests = data.guests
    item.details = dict(data.details)
    return item


def next_attempt_number(session: Session, item: OrderItem) -> int:
    if item.pk is None:
        return 1  # a new item has no attempts yet
    current = session.scalar(select(func.max(SyncAttempt.number)).where(SyncAttempt.item_pk == item.pk))
    return (current or 0) + 1


def open_alerts(session: Session, order: Order, surfaces: list[str], *, actor: str) -> str:
    """Make sure the order has an open alert on every surface; 'created' or 'updated'."""
    outcome = "updated"
    by_surface = {a.surface: a for a in order.alerts}
    for surface in surfaces:
        alert = by_surface.get(surface)
        if alert is None:
            order.alerts.append(Alert(surface=surface, state=states.A_OPEN))
            states.audit(session, actor=actor, action="alert.created", order_id=order.id, surface=surface)
            outcome = "created"
        elif alert.state == states.A_RESOLVED:
            states.move_alert(session, alert, states.A_OPEN, actor=actor, reason="new failure")
    return outcome


def resolve_alerts(session: Session, order: Order, *, actor: str, reason: str) -> None:
    for alert in order.alerts:
        if alert.state != states.A_RESOLVED:
            states.move_alert(session, alert, states.A_RESOLVED, actor=actor, reason=reason)


def refresh_alerts(session: Session, order: Order, cause: str) -> None:
    """Ask the chat layer to re-render every alert of the order from state (via the outbox)."""
    for alert in order.alerts:
        queue.add(session, "workflows.jobs.refresh_alert", queue.job_id("refresh", order.id, alert.surface, cause),
                  order_id=order.id, surface=alert.surface)


def schedule_auto_retry(session: Session, item: OrderItem, attempt: SyncAttempt, delay_seconds: int) -> bool:
    """One automatic Reprocess after a transient failure not itself from an automatic retry."""
    if attempt.triggered_by == AUTO_ACTOR or attempt.error_class is None:
        return False
    if not ErrorClass(attempt.error_class).transient:
        return False
    number = attempt.number + 1
    order_id = attempt.order_id  # set explicitly: a new item's order_id is only known after a flush
    queue.add(
        session, "workflows.jobs.reprocess", queue.job_id("reprocess", order_id, item.item_id, number),
        delay_seconds=delay_seconds, order_id=order_id, item_id=item.item_id, actor=AUTO_ACTOR, attempt=number,
    )
    at = utcnow() + dt.timedelta(seconds=delay_seconds)
    states.audit(session, actor="syncdesk", action="retry.scheduled", order_id=order_id,
                 item_id=item.item_id, at=at.isoformat(), after_attempt=attempt.number)
    return True


def record_failure(
    session: Session, failure: SyncFailure, *, source: str, surfaces: list[str], auto_retry_after: int,
    outage_policy: outage.Policy | None = None,
) -> IntakeOutcome:
    """Record one failed sync from the platform (webhook) or the poller, and ask for the alert."""
    # A concurrent duplicate fails on the unique event_id when this commits; nothing else lands.
    session.add(IntakeEvent(event_id=failure.event_id, order_id=failure.order.id, source=source,
                            payload=failure.model_dump(mode="json")))
    actor = PLATFORM_ACTOR if source == "webhook" else POLLER_ACTOR
    order = _upsert_order(session, failure.order)
    item = next(i for i in order.items if i.item_id == failure.failure.item_id)

    if order.platform_status == states.TEST:
        states.audit(session, actor=actor, action="intake.test_order", order_id=order.id, item_id=item.item_id)
        return IntakeOutcome(order.id, "none", reason="Test orders are never alerted")
    if order.platform_status == states.CANCELLED:
        resolve_alerts(session, order, actor=actor, reason="order cancelled on the platform")
        refresh_alerts(session, order, f"cancelled:{failure.event_id}")
        return IntakeOutcome(order.id, "none", reason="order is Cancelled")
    if item.kind == "retail":
        states.audit(session, actor=actor, action="intake.retail_not_a_failure", order_id=order.id,
                     item_id=item.item_id, message=failure.failure.message)
        return IntakeOutcome(order.id, "none", reason="retail items await dispatch; they are not sync failures")
    if item.status != states.IN_PROGRESS:
        states.audit(session, actor=actor, action="intake.stale_failure", order_id=order.id,
                     item_id=item.item_id, status=item.status)
        return IntakeOutcome(order.id, "none", reason=f"item {item.item_id} is already {item.status}")

    error_class = classify(failure.failure.code, failure.failure.message, failure.failure.log,
                           failure.failure.http_status)
    attempt = SyncAttempt(
        item=item, order_id=order.id, number=next_attempt_number(session, item), status=states.Q_FAILED,
        error_class=error_class.value, message=failure.failure.message, raw_log=failure.failure.log,
        triggered_by=actor, started_at=failure.occurred_at, finished_at=failure.occurred_at,
    )
    session.add(attempt)
    if item.sync_status != states.Q_PROCESSING:
        item.sync_status = states.Q_FAILED
    states.audit(session, actor=actor, action="intake.failure", order_id=order.id, item_id=item.item_id,
                 event_id=failure.event_id, error_class=error_class.value, attempt=attempt.number)
    outcome = open_alerts(session, order, surfaces, actor=actor)
    if outage.on_failure(session, order, item, attempt, outage_policy) is None:
        schedule_auto_retry(session, item, attempt, auto_retry_after)  # in an outage: paced Reprocess all instead
    refresh_alerts(session, order, f"intake:{failure.event_id}")
    return IntakeOutcome(order.id, outcome)
