"""The service layer: the only writers of order state.

Each function takes a session inside a transaction, does one thing, writes its audit
events with the change and asks for follow-up jobs through the outbox (`workflows.core.queue`),
so a change and the work it implies commit together or not at all.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ScalarSelect, func, select
from sqlalchemy.orm import Session

from connectors.errors import ErrorClass
from workflows.core import queue, states
from workflows.core.db import insert_new, insert_unless_present, keep_as_loaded
from workflows.core.lifecycle import OnStatus, StatusRule, rule_for, settled_by_status
from workflows.core.models import (
    Alert,
    AuditEvent,
    IntakeEvent,
    Order,
    OrderItem,
    OrderSearch,
    OutboxEntry,
    SyncAttempt,
    utcnow,
)
from workflows.orders import problems
from workflows.orders.classify import classify
from workflows.orders.payloads import ItemIn, PlatformOrder, SyncFailure
from workflows.orders.search import reindex, terms

PLATFORM_ACTOR = "platform"
AUTO_ACTOR = "syncdesk (automatic retry)"
POLLER_ACTOR = "syncdesk (poller)"
# Who records an intake failure: only failures the platform reported count towards an
# outage or the digest's failure counts, not our own retries.
INTAKE_ACTORS = (PLATFORM_ACTOR, POLLER_ACTOR)


@dataclass(frozen=True)
class IntakeOutcome:
    order_id: str
    alert: str  # "created" | "updated" | "none"
    duplicate: bool = False
    reason: str = ""
    # The failed attempt just recorded (None when nothing was): intake hands it to outage
    # detection, which decides between an automatic retry and the outage's Reprocess all.
    attempt: SyncAttempt | None = None
    resolved: bool = False  # the platform's status resolved the order's alerts (and any page)


@dataclass(frozen=True)
class PlatformChange:
    """What the platform's copy of an order changed in ours."""

    rule: StatusRule  # what syncdesk does for the order's status now
    resolved: bool = False  # the order's open alerts were resolved by it
    stale: bool = False  # the platform's copy still said an alerting status for an order done here
    confirmed: tuple[str, ...] = ()  # items confirmed (or cancelled) on the platform meanwhile
    new: bool = False  # the order was first seen in this transaction: its items have no attempts
    kept: bool = False  # done on the platform, its alert kept open by a booking problem (`workflows.orders.problems`)


def surfaces_for(slack: bool, teams: bool) -> list[str]:
    """The chat surfaces an alert goes to; Slack always (it logs when no token is set)."""
    return ["slack"] + (["teams"] if teams else [])


def claim_event(session: Session, failure: SyncFailure, *, source: str) -> bool:
    """Store the event's id; False when it was stored before (the platform delivered it again).
    One statement both inserts and finds the duplicate; a concurrent delivery of the same event
    waits for this transaction and then finds it (PostgreSQL), or waits for SQLite's lock."""
    values = dict(event_id=failure.event_id, order_id=failure.order.id, source=source,
                  payload=failure.model_dump(mode="json"))
    return insert_unless_present(session, IntakeEvent, values, unique=["event_id"], returning=IntakeEvent.id) is not None


def apply_platform_order(session: Session, data: PlatformOrder, *, actor: str) -> tuple[Order, PlatformChange]:
    """Bring our copy of the order in line with the platform's (the source of truth), audited.

    Used by intake (every webhook or poller event carries the whole order) and by the
    poller's re-check of open alerts. An order the platform says is done (complete, closed,
    cancelled, or never placed/paid: `workflows.core.lifecycle`) has its open alerts
    resolved here; the caller resolves a page, which lives in `workflows.oncall`.
    """
    order, stale = _upsert_order(session, data, actor)
    new = order in session.new  # first seen now (not yet flushed)
    confirmed = _upsert_items(session, order, data, actor)
    rule = rule_for(order.platform_status)
    resolved = kept = False
    if rule.on.done and any(a.state != states.A_RESOLVED for a in order.alerts):
        # Complete and Closed do not settle a booking problem (asked only where it decides)
        kept = rule.on is OnStatus.RESOLVE and problems.has_open(session, order)
        if settled_by_status(order.platform_status, booking_problem=kept):
            if rule.on is not OnStatus.RESOLVE:  # cancelled, or never paid: nobody is expected any more
                problems.close(session, order, by=actor, why=rule.why)
            resolve_alerts(session, order, actor=actor, reason=rule.why)
            resolved = True
    if resolved or confirmed:
        refresh_alerts(session, order, f"platform:{order.platform_status}:{','.join(confirmed)}:{utcnow().isoformat()}")
    reindex(session, order, new=new)  # `find` by the guest, payment and confirmation numbers as they are now
    return order, PlatformChange(rule, resolved, stale, confirmed, new, kept)


def _upsert_order(session: Session, data: PlatformOrder, actor: str) -> tuple[Order, bool]:
    """The order row with the platform's facts; True when its status was stale (see below)."""
    order = session.get(Order, data.id, with_for_update=True)
    stale = False
    if order is None:
        # Empty collections, not unloaded ones: a new order has no items or alerts stored, so
        # reading them later in this transaction needs no query.
        order = Order(id=data.id, platform_status=data.status, currency=data.currency, total_minor=data.total_minor,
                      items=[], alerts=[])
        session.add(order)
    elif order.platform_status != data.status:
        finished = rule_for(order.platform_status).on in (OnStatus.RESOLVE, OnStatus.CANCELLED)
        if finished and rule_for(data.status).on is OnStatus.ALERT:
            # A copy taken before the order was completed or cancelled (a late webhook, a
            # retried delivery): the platform has moved on since; ours stays.
            stale = True
        else:
            states.audit(session, actor=actor, action="order.platform_status", order_id=order.id,
                         **{"from": order.platform_status, "to": data.status})
            order.platform_status = data.status
    return _copy_order(order, data), stale


def _copy_order(order: Order, data: PlatformOrder) -> Order:
    order.placed_at = data.placed_at
    order.currency = data.currency
    order.total_minor = data.total_minor
    if order.guest_erased_at is None:  # erased (issue 28): a later copy from the platform does not restore it
        order.guest_first_name = data.guest.first_name
        order.guest_last_name = data.guest.last_name
        order.guest_email = data.guest.email
        order.guest_phone = data.guest.phone
    if data.payment is not None:
        order.payment_provider = data.payment.provider
        order.payment_reference = data.payment.reference
        order.payment_amount_minor = data.payment.amount_minor
    return order


def _upsert_items(session: Session, order: Order, data: PlatformOrder, actor: str) -> tuple[str, ...]:
    """Every item with the platform's facts; the ids of those confirmed or cancelled there meanwhile."""
    existing = {item.item_id: item for item in order.items}
    moved = []
    held: set[str] | None = None
    for item_in in data.items:
        item = existing.get(item_in.id)
        if item is None:
            order.items.append(_new_item(item_in))
            continue
        if item_in.status in (states.CONFIRMED, states.CANCELLED) and item.status == states.IN_PROGRESS:
            held = problems.held_items(session, order) if held is None else held
            if item.item_id in held and item_in.status == states.CONFIRMED:
                _copy_item(item, item_in)
                continue  # its booking was found missing: the platform's Confirmed is what is in question
            _moved_on_platform(session, item, item_in, actor)
            if item.item_id in held:
                problems.close(session, order, by=actor, why="cancelled on the platform", item_id=item.item_id)
            moved.append(item.item_id)
        _copy_item(item, item_in)
    return tuple(moved)


def _moved_on_platform(session: Session, item: OrderItem, data: ItemIn, actor: str) -> None:
    """Someone confirmed (or cancelled) the item on the platform itself: record it as theirs."""
    if data.status == states.CONFIRMED:
        reference = data.external_reference
        states.move_item(session, item, states.CONFIRMED, actor=actor, how="platform", confirmation=reference,
                         extra={"external_reference": reference, "confirmed_by": "the platform",
                                "confirmed_at": utcnow(), "sync_status": states.Q_SUCCESS})
    else:
        states.move_item(session, item, states.CANCELLED, actor=actor, how="platform")


def _new_item(data: ItemIn) -> OrderItem:
    item = OrderItem(
        item_id=data.id, kind=data.kind, system=data.system or "", status=data.status,
        sync_status=None if data.kind == "retail" else
        (states.Q_SUCCESS if data.status == states.CONFIRMED else states.Q_CREATED),
        external_reference=data.external_reference,
    )
    return _copy_item(item, data)


def _copy_item(item: OrderItem, data: ItemIn) -> OrderItem:
    item.kind = data.kind
    item.system = data.system or ""
    item.description = data.description
    item.start = data.start
    item.end = data.end
    item.quantity = data.quantity
    item.guests = data.guests
    item.details = dict(data.details)
    return item


_DONE_VERBS = {states.COMPLETE: "completed", states.CLOSED: "closed", states.CANCELLED: "cancelled"}


def done_elsewhere(session: Session, order: Order) -> str | None:
    """Why nothing is left to do for the order, in words ("ORD-1 was already completed on the
    platform at 14:02 UTC"), or None while its status still alerts. Clicks are answered with
    it, and jobs that find it stand down."""
    rule = rule_for(order.platform_status)
    if not rule.on.done:
        return None
    if rule.on is OnStatus.RESOLVE and problems.has_open(session, order):
        return None  # Complete, but its booking is missing: something is owed (`workflows.orders.problems`)
    event = session.scalar(
        select(AuditEvent).where(AuditEvent.order_id == order.id,
                                 AuditEvent.action.in_(("order.platform_status", "order.complete")))
        .order_by(AuditEvent.id.desc()).limit(1))
    when = f" at {event.created_at:%H:%M} UTC" if event is not None else ""
    if event is not None and event.action == "order.complete":
        return f"{order.id} was already completed by {event.actor}{when}"
    verb = _DONE_VERBS.get(order.platform_status)
    if verb:
        return f"{order.id} was already {verb} on the platform{when}"
    return f"{order.id} is {order.platform_status} on the platform: {rule.why}"


def mark_ready(session: Session, item: OrderItem, *, actor: str, job_id: str) -> None:
    """A person asked for a Reprocess: the failed item waits for its job as `ready` (source
    001's order queue), then the job takes it to `processing`. An item the job already took,
    or one that never failed, stays as it is."""
    try:
        states.move_sync(session, item, states.Q_READY, actor=actor, job_id=job_id)
    except (states.TransitionConflict, states.IllegalTransition):
        pass


def last_attempt_number(item_pk: Any) -> ScalarSelect[int | None]:
    """The item's highest attempt number (NULL before its first): `item_pk` is a value, or
    `OrderItem.pk` to read it alongside the item in one query."""
    return select(func.max(SyncAttempt.number)).where(SyncAttempt.item_pk == item_pk).scalar_subquery()


def attempt_after(last: int | None) -> int:
    return (last or 0) + 1


def next_attempt_number(session: Session, item: OrderItem, *, new: bool = False) -> int:
    """`new`: the item was created in this transaction, so it has no attempts to ask about."""
    if new or item.pk is None:
        return 1
    return attempt_after(session.scalar(select(last_attempt_number(item.pk))))


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
            try:
                states.move_alert(session, alert, states.A_RESOLVED, actor=actor, reason=reason)
            except states.TransitionConflict as exc:
                if exc.current != states.A_RESOLVED:
                    raise  # resolved by someone else a moment ago is the same outcome; anything else is not


def refresh_alerts(session: Session, order: Order, cause: str) -> None:
    """Ask the chat layer to re-render every alert of the order from state (via the outbox)."""
    for alert in order.alerts:
        job = _refresh_job(order.id, alert.surface, cause)
        queue.add(session, job.function, job.job_id, **job.kwargs)


def _refresh_job(order_id: str, surface: str, cause: str) -> OutboxEntry:
    return queue.entry("workflows.orders.jobs.refresh_alert", queue.job_id("refresh", order_id, surface, cause),
                       order_id=order_id, surface=surface)


def schedule_auto_retry(session: Session, item: OrderItem, attempt: SyncAttempt, delay_seconds: int) -> bool:
    """One automatic Reprocess after a transient failure not itself from an automatic retry."""
    if attempt.triggered_by == AUTO_ACTOR or attempt.error_class is None:
        return False
    if not ErrorClass(attempt.error_class).transient:
        return False
    number = attempt.number + 1
    order_id = attempt.order_id  # set explicitly: a new item's order_id is only known after a flush
    queue.add(
        session, "workflows.actions.jobs.reprocess", queue.job_id("reprocess", order_id, item.item_id, number),
        delay_seconds=delay_seconds, order_id=order_id, item_id=item.item_id, actor=AUTO_ACTOR, attempt=number,
    )
    at = utcnow() + dt.timedelta(seconds=delay_seconds)
    states.audit(session, actor="syncdesk", action="retry.scheduled", order_id=order_id,
                 item_id=item.item_id, at=at.isoformat(), after_attempt=attempt.number)
    return True


def record_failure(session: Session, failure: SyncFailure, *, source: str, surfaces: list[str]) -> IntakeOutcome:
    """Record one failed sync from the platform (webhook) or the poller, and ask for the alert.

    The caller (`workflows.intake`) decides, in the same transaction, whether the recorded
    attempt belongs to an outage or gets its automatic retry (`schedule_auto_retry`).
    """
    if not claim_event(session, failure, source=source):
        return IntakeOutcome(failure.order.id, "none", duplicate=True)
    actor = PLATFORM_ACTOR if source == "webhook" else POLLER_ACTOR
    first = _record_first_failure(session, failure, actor=actor, surfaces=surfaces)
    if first is not None:
        return first
    order, change = apply_platform_order(session, failure.order, actor=actor)
    item = next(i for i in order.items if i.item_id == failure.failure.item_id)

    if change.rule.on is not OnStatus.ALERT:
        # Not placed, not paid, or done: nothing to book, nothing that can escalate.
        states.audit(session, actor=actor, action="intake.not_alerted", order_id=order.id, item_id=item.item_id,
                     status=order.platform_status, reason=change.rule.why)
        note = f"order is {order.platform_status}: {change.rule.why}; not alerted"
        if change.stale:  # a late copy from before it was completed or cancelled
            note = (f"order {order.id} is already {order.platform_status}; this event still said "
                    f"{failure.order.status}: not alerted")
        return IntakeOutcome(order.id, "none", reason=note + ("; its alert is resolved" if change.resolved else ""),
                             resolved=change.resolved)
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
        item=item, order_id=order.id, number=next_attempt_number(session, item, new=change.new),
        status=states.Q_FAILED,
        error_class=error_class.value, message=failure.failure.message, raw_log=failure.failure.log,
        triggered_by=actor, started_at=failure.occurred_at, finished_at=failure.occurred_at,
    )
    session.add(attempt)
    if item.sync_status != states.Q_PROCESSING:
        item.sync_status = states.Q_FAILED
    states.audit(session, actor=actor, action="intake.failure", order_id=order.id, item_id=item.item_id,
                 event_id=failure.event_id, error_class=error_class.value, attempt=attempt.number)
    outcome = open_alerts(session, order, surfaces, actor=actor)
    refresh_alerts(session, order, f"intake:{failure.event_id}")
    return IntakeOutcome(order.id, outcome, attempt=attempt)


def _record_first_failure(session: Session, failure: SyncFailure, *, actor: str,
                          surfaces: list[str]) -> IntakeOutcome | None:
    """The most common intake, the first failure of an order syncdesk has never seen, whose
    status alerts: what `apply_platform_order` and the rest of `record_failure` write for it, with
    one INSERT per table (`insert_new`) instead of the unit of work, whose flush cost more CPU than
    the INSERTs themselves (issue 29). None, with nothing written, for anything else (a known
    order; a status that does not alert, a retail or settled item: `record_failure` says why).

    The same rows (tests/workflows/intake read them back), and the same objects for the rest of
    intake (outage detection, the automatic retry): they go into the session as loaded
    (`keep_as_loaded`). Safe because the new order's row is this transaction's until it commits:
    nobody else can read or change any of its rows meanwhile."""
    data = failure.order
    failed = data.item(failure.failure.item_id)
    if (rule_for(data.status).on is not OnStatus.ALERT or failed is None or failed.kind == "retail"
            or failed.status != states.IN_PROGRESS):
        return None
    order = _copy_order(Order(id=data.id, platform_status=data.status), data)
    # ON CONFLICT DO NOTHING: a known order (or one a concurrent intake has just inserted, whose
    # commit this waits for) is left to the general path, which locks and updates it.
    if not insert_new(session, [order], unless_present=["id"]):
        return None
    order.items = [_new_item(item_in) for item_in in data.items]
    for new_item in order.items:
        new_item.order_id, new_item.attempts = order.id, []
    item = next(i for i in order.items if i.item_id == failed.id)
    item.sync_status = states.Q_FAILED
    insert_new(session, order.items)
    error_class = classify(failure.failure.code, failure.failure.message, failure.failure.log,
                           failure.failure.http_status)
    attempt = SyncAttempt(item=item, item_pk=item.pk, order_id=order.id, number=1, status=states.Q_FAILED,
                          error_class=error_class.value, message=failure.failure.message, raw_log=failure.failure.log,
                          triggered_by=actor, started_at=failure.occurred_at, finished_at=failure.occurred_at)
    insert_new(session, [attempt])
    order.alerts = [Alert(order_id=order.id, surface=surface, state=states.A_OPEN) for surface in surfaces]
    insert_new(session, order.alerts)
    keep_as_loaded(session, [order, *order.items, attempt, *order.alerts])
    # What `states.audit`, `refresh_alerts` and `reindex` add for it, one INSERT a table; the
    # outbox entries are dispatched after the commit like any (`queue.written`).
    insert_new(session, [
        states.audit_event(actor=actor, action="intake.failure", order_id=order.id, item_id=item.item_id,
                           event_id=failure.event_id, error_class=error_class.value, attempt=attempt.number),
        *(states.audit_event(actor=actor, action="alert.created", order_id=order.id, surface=alert.surface)
          for alert in order.alerts)])
    jobs = [_refresh_job(order.id, alert.surface, f"intake:{failure.event_id}") for alert in order.alerts]
    insert_new(session, jobs)
    queue.written(session, jobs)
    references = {i.external_reference for i in order.items if i.external_reference}
    insert_new(session, [OrderSearch(order_id=order.id, term=term) for term in sorted(terms(order, references))])
    return IntakeOutcome(order.id, "created", attempt=attempt)
