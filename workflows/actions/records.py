"""What the staff jobs (`workflows.actions.jobs`) read and record in our database.

Each public function here is one transaction. A check (`*_check`) reads under the rules
the request also applied and audits a refusal; a record moves state by compare-and-set, so
a job that runs twice records once. The jobs only orchestrate: check, call the outside
world (Stripe, the booking system, the platform), record, re-render the alert.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from connectors.errors import ConnectorError, ErrorClass
from connectors.platform import CancelledDelivery
from connectors.types import BookingRequest, BookingResult, PaymentCheck, PaymentState
from workflows.actions.rules import (
    cancel_refusal,
    lock_holder,
    lock_is_stale,
    manual_booking,
    refunded_by,
    undo_refusal,
    validate_manual_booking,
)
from workflows.core import queue, states
from workflows.core.db import transaction
from workflows.core.lifecycle import rule_for
from workflows.core.models import Order, OrderItem, SyncAttempt, utcnow
from workflows.core.settings import Settings
from workflows.oncall import escalation
from workflows.orders import search, service
from workflows.orders.problem_alerts import How, settle
from workflows.orders.payloads import PlatformOrder
from workflows.orders.payment import uncheckable
from workflows.systems.booking import booking_request


def audit(settings: Settings, **event: Any) -> None:
    """One audit event in a transaction of its own (a refusal or a failure the job reports)."""
    with transaction(settings.database_url) as session:
        states.audit(session, **event)


def _item(session: Session, order_id: str, item_id: str, *, lock: bool = False) -> OrderItem:
    where = (OrderItem.order_id == order_id, OrderItem.item_id == item_id)
    query = select(OrderItem).where(*where)
    if lock:
        # FOR UPDATE locks the row on PostgreSQL; SQLite ignores it, so there a no-op write
        # takes SQLite's write lock first. Either way the reads that follow in this transaction
        # see one state, never a holder's commit landing between two of them.
        if session.get_bind().dialect.name == "sqlite":
            session.execute(update(OrderItem).where(*where).values(item_id=OrderItem.item_id)
                            .execution_options(synchronize_session=False))
        query = query.with_for_update()
    item = session.scalar(query)
    if item is None:
        raise LookupError(f"order {order_id} has no item {item_id}")
    return item


def _new_attempt(session: Session, item: OrderItem, status: str, actor: str, job_id: str | None,
                 **fields: Any) -> SyncAttempt:
    row = SyncAttempt(item_pk=item.pk, order_id=item.order_id, number=service.next_attempt_number(session, item),
                      status=status, triggered_by=actor, job_id=job_id, **fields)
    session.add(row)
    return row


# -- Reprocess ---------------------------------------------------------------------------

def _lock_refusal(session: Session, item: OrderItem, holder: SyncAttempt | None, mine: bool,
                  attempt: int | None) -> str | None:
    """Why this Reprocess job has nothing to do, or None."""
    done = service.done_elsewhere(session, item.order)
    if done:
        return done
    if item.status != states.IN_PROGRESS:
        return f"{item.item_id} is already {item.status}"
    if item.sync_status == states.Q_PROCESSING and not (mine or lock_is_stale(holder)):
        assert holder is not None
        return f"{holder.triggered_by} is already reprocessing it"
    if attempt is not None and not mine:
        made = session.scalar(select(SyncAttempt).where(
            SyncAttempt.item_pk == item.pk, SyncAttempt.number >= attempt
        ).order_by(SyncAttempt.number))
        if made is not None and made.status != states.Q_PROCESSING:
            return f"attempt {made.number} was already made by {made.triggered_by} ({made.status})"
    return None


def lock(settings: Settings, order_id: str, item_id: str, actor: str, job_id: str | None,
         attempt: int | None) -> tuple[int, BookingRequest] | None:
    """Take the item's order-queue lock (failed|ready → processing) and open an attempt.

    Returns the attempt's id and what to book (read under the lock), or None when the item
    needs nothing or someone else holds it (audited as `reprocess.skipped`).
    A re-run of the same job (it was abandoned mid-way) and a lock gone stale take it over.
    `attempt` is the attempt number the job was asked to make: when someone else already
    made it (a person's Reprocess before the automatic retry), there is nothing left to do.
    """
    with transaction(settings.database_url) as session:
        item = _item(session, order_id, item_id, lock=True)
        holder = lock_holder(session, item) if item.sync_status == states.Q_PROCESSING else None
        mine = holder is not None and job_id is not None and holder.job_id == job_id
        reason = _lock_refusal(session, item, holder, mine, attempt)
        if reason is None and item.sync_status == states.Q_PROCESSING:
            if holder is not None:
                holder.status, holder.finished_at = states.Q_FAILED, utcnow()
                holder.message = "abandoned (worker stopped mid-job); taken over by a re-run"
                holder.error_class = ErrorClass.UNKNOWN.value
            states.audit(session, actor=actor, action="reprocess.took_over", order_id=order_id, item_id=item_id,
                         abandoned_attempt=holder.number if holder else None)
        elif reason is None:
            try:
                states.move_sync(session, item, states.Q_PROCESSING, actor=actor, job_id=job_id)
            except (states.TransitionConflict, states.IllegalTransition) as exc:
                reason = str(exc)
        if reason is not None:
            states.audit(session, actor=actor, action="reprocess.skipped", order_id=order_id, item_id=item_id,
                         result="skipped", reason=reason)
            return None
        row = _new_attempt(session, item, states.Q_PROCESSING, actor, job_id)
        session.flush()
        return row.id, booking_request(item.order, item)


def booking_failed(settings: Settings, attempt_id: int, error: ConnectorError, actor: str,
                   confirmation: str | None = None) -> None:
    """Record the attempt as failed with its classified error; one automatic retry if transient."""
    message = error.message
    if confirmation:
        message = f"Booked as {confirmation}, but the platform was not updated: {error.message}"
    with transaction(settings.database_url) as session:
        attempt = session.get(SyncAttempt, attempt_id, with_for_update=True)
        assert attempt is not None
        item = attempt.item
        taken_over = attempt.status != states.Q_PROCESSING  # a re-run took the lock: the item is its now
        attempt.status, attempt.finished_at = states.Q_FAILED, utcnow()
        attempt.error_class, attempt.message = error.error_class.value, message
        attempt.raw_log = error.detail or error.message
        attempt.confirmation = confirmation
        attempt.warning, attempt.hold_deadline = error.warning or None, error.hold_deadline
        if not taken_over:
            states.move_sync(session, item, states.Q_FAILED, actor=actor, error_class=error.error_class.value)
        states.audit(session, actor=actor, action="reprocess.failed", order_id=item.order_id, item_id=item.item_id,
                     result="failed", error_class=error.error_class.value, message=message,
                     next_step=error.next_step, attempt=attempt.number,
                     **({"warning": error.warning} if error.warning else {}),
                     **({"hold_deadline": error.hold_deadline.isoformat()} if error.hold_deadline else {}))
        if not taken_over:
            service.schedule_auto_retry(session, item, attempt, settings.auto_retry_after_seconds)
            # Whoever clicked is no longer "on it" by waiting: escalation resumes at once.
            escalation.reopen(session, item.order_id, actor=actor, reason="Reprocess failed")


def booking_succeeded(settings: Settings, attempt_id: int, item_id: str, result: BookingResult, actor: str,
                      cause: str) -> None:
    """Record the booking and, in the same transaction, ask for the alert's refresh."""
    with transaction(settings.database_url) as session:
        attempt = session.get(SyncAttempt, attempt_id, with_for_update=True)
        assert attempt is not None
        # The item's first load in this session is the locked one: an unlocked load first
        # (`attempt.item`) would stay in the session, and the locked read would not refresh it.
        item = _item(session, attempt.order_id, item_id, lock=True)
        attempt.status, attempt.finished_at = states.Q_SUCCESS, utcnow()
        attempt.confirmation = result.confirmation
        if result.warning:  # check-first found it by one key only: kept with the outcome, shown in the alert
            attempt.warning = result.warning
            states.audit(session, actor=actor, action="reprocess.check_first_warning", order_id=item.order_id,
                         item_id=item.item_id, result="warning", confirmation=result.confirmation,
                         reason=result.warning, attempt=attempt.number)
        if item.sync_status != states.Q_SUCCESS:
            states.move_sync(session, item, states.Q_SUCCESS, actor=actor, confirmation=result.confirmation)
        if item.status != states.IN_PROGRESS:
            # Someone recorded it by hand while this job was booking: say so rather than crash,
            # so a person can check for a duplicate booking.
            states.audit(session, actor=actor, action="reprocess.conflict", order_id=item.order_id,
                         item_id=item.item_id, result="warning", confirmation=result.confirmation,
                         reason=f"{item.item_id} became {item.status} ({item.external_reference}) meanwhile; "
                                f"check {result.confirmation} is not a duplicate")
        else:
            states.move_item(session, item, states.CONFIRMED, actor=actor, confirmation=result.confirmation,
                             how=result.action, extra={"external_reference": result.confirmation,
                                                       "confirmed_by": actor, "confirmed_at": utcnow()})
            search.add_reference(session, item.order_id, result.confirmation)
            _settle_problem(session, item, actor, result.confirmation)
        service.refresh_alerts(session, item.order, cause)
        entries = queue.added(session)
    queue.dispatch(settings, entries)


def _settle_problem(session: Session, item: OrderItem, actor: str, reference: str) -> None:
    """A booking problem's item booked again (Rebook, Booked manually): the problem is settled,
    and a Complete order's alert resolves with its page (issue 25, `workflows.orders.problem_alerts`)."""
    settled = settle(session, item.order, item.item_id, actor=actor, how=How.BOOKED, confirmation=reference)
    if settled is not None and settled.resolved:
        escalation.request_resolve(session, item.order_id)


# -- Booked manually ---------------------------------------------------------------------

def _manual_refusal(session: Session, item: OrderItem, reference: str, payment_method: str | None,
                    methods: tuple[str, ...]) -> str | None:
    """Why this manual booking cannot be recorded now, or None."""
    problem = validate_manual_booking(item.system, reference, payment_method, methods)
    if problem:
        return problem
    done = service.done_elsewhere(session, item.order)
    if done:
        return done
    if item.status != states.IN_PROGRESS:
        return f"{item.item_id} is already {item.status}" + (
            f" ({item.external_reference})" if item.external_reference else "")
    if item.sync_status == states.Q_PROCESSING:
        holder = lock_holder(session, item)
        if not lock_is_stale(holder):
            assert holder is not None
            return f"{holder.triggered_by} is reprocessing {item.item_id} right now; wait for its outcome"
    return None


def manual_check(settings: Settings, order_id: str, item_id: str, actor: str, reference: str,
                 payment_method: str | None, methods: tuple[str, ...]) -> tuple[bool, str | None]:
    """(already recorded by a run of this job, why it is refused now); a refusal is audited."""
    with transaction(settings.database_url) as session:
        item = _item(session, order_id, item_id)
        # A re-run of a job that got this far (at-least-once delivery) has nothing left to do.
        already = item.status == states.CONFIRMED and item.external_reference == reference
        problem = None if already else _manual_refusal(session, item, reference, payment_method, methods)
        if problem:
            states.audit(session, actor=actor, action="booked_manually.refused", order_id=order_id,
                         item_id=item_id, result="refused", reason=problem)
    return already, problem


def manual_booking_recorded(settings: Settings, order_id: str, item_id: str, actor: str, job_id: str | None,
                            reference: str, payment_method: str | None, notes: str | None) -> None:
    """The item Confirmed by hand with its reference (if it is still In Progress)."""
    with transaction(settings.database_url) as session:
        item = _item(session, order_id, item_id, lock=True)
        if item.status != states.IN_PROGRESS:
            return
        _new_attempt(session, item, states.Q_SUCCESS, actor, job_id, confirmation=reference,
                     message="booked manually", finished_at=utcnow())
        if item.sync_status != states.Q_SUCCESS:
            item.sync_status = states.Q_SUCCESS  # from any queue status: a person booked it
        states.move_item(session, item, states.CONFIRMED, actor=actor, how="manual", confirmation=reference,
                         payment_method=payment_method, notes=notes,
                         extra={"external_reference": reference, "confirmed_by": actor,
                                "confirmed_at": utcnow(), "payment_method": payment_method, "notes": notes})
        search.add_reference(session, order_id, reference)
        _settle_problem(session, item, actor, reference)


# -- Mark complete and Close order -------------------------------------------------------

def payment_words(payment: PaymentCheck) -> str:
    """"payment refunded", or for an unknown payment why it is unknown (e.g. STRIPE_API_KEY unset)."""
    words = f"payment {payment.state.value.replace('_', ' ')}"
    return f"{words} ({payment.detail})" if payment.state is PaymentState.UNKNOWN and payment.detail else words


def _completion_blockers(settings: Settings, order: Order, payment: PaymentCheck,
                         unchecked_reason: str | None) -> list[str]:
    """What stops Mark complete, in words: the order's own status, its items, its payment."""
    if states.COMPLETE not in states.order_targets(order.platform_status):
        return [f"order is {order.platform_status}"]
    blockers = states.completion_blockers(order)
    if payment.state.settled:
        return blockers
    cannot_check = uncheckable(settings, order.payment_provider, order.payment_reference)
    if payment.state is PaymentState.UNKNOWN and cannot_check and unchecked_reason and unchecked_reason.strip():
        return blockers  # completed without the check: the reason is audited with the move
    hint = "; complete it without a payment check, giving a reason" if cannot_check else ""
    blockers.append(payment_words(payment) + hint)
    return blockers


@dataclass(frozen=True)
class CompletionCheck:
    """Where Mark complete stands before the platform is asked."""

    already: bool          # the order is Complete already
    done: str | None       # the order was finished elsewhere (cancelled, closed…): skipped
    blockers: list[str]    # what stops it now (refused)


def completion_check(settings: Settings, order_id: str, actor: str, payment: PaymentCheck,
                     unchecked_reason: str | None) -> CompletionCheck:
    """Mark complete's check, under the rules; a skip or refusal is audited."""
    with transaction(settings.database_url) as session:
        order = session.get(Order, order_id)
        if order is None:
            raise LookupError(f"order {order_id} is not known")
        already = order.platform_status == states.COMPLETE
        done = None if already else service.done_elsewhere(session, order)
        blockers = [] if already or done else _completion_blockers(settings, order, payment, unchecked_reason)
        if done:
            states.audit(session, actor=actor, action="complete.skipped", order_id=order_id, result="skipped",
                         reason=done)
        elif blockers:
            states.audit(session, actor=actor, action="complete.refused", order_id=order_id, result="refused",
                         reason="; ".join(blockers))
    return CompletionCheck(already, done, blockers)


def completed(settings: Settings, order_id: str, actor: str, unchecked_reason: str | None) -> None:
    """The order Complete here, its alerts resolved and its page (if any) resolved."""
    with transaction(settings.database_url) as session:
        order = session.get(Order, order_id, with_for_update=True)
        assert order is not None
        if order.platform_status != states.COMPLETE:
            unchecked = {"payment_unchecked": unchecked_reason} if unchecked_reason else {}
            states.move_order(session, order, states.COMPLETE, actor=actor, **unchecked)
        service.resolve_alerts(session, order, actor=actor, reason="order complete")
        escalation.request_resolve(session, order_id)  # resolve the PagerDuty page, if it was paged
        entries = queue.added(session)
    queue.dispatch(settings, entries)


def close_check(settings: Settings, order_id: str, actor: str) -> tuple[str, str | None]:
    """(the order's status, why Close is refused or None); a refusal is audited."""
    with transaction(settings.database_url) as session:
        order = session.get(Order, order_id)
        if order is None:
            raise LookupError(f"order {order_id} is not known")
        status = order.platform_status
        refusal = None if states.CLOSED in states.order_targets(status) else f"order is {status}"
        if refusal and status != states.CLOSED:
            states.audit(session, actor=actor, action="close.refused", order_id=order_id, result="refused",
                         reason=refusal)
    return status, refusal


def closed(settings: Settings, order_id: str, actor: str) -> None:
    with transaction(settings.database_url) as session:
        order = session.get(Order, order_id, with_for_update=True)
        assert order is not None
        if order.platform_status != states.CLOSED:
            states.move_order(session, order, states.CLOSED, actor=actor)


def platform_copy(settings: Settings, data: PlatformOrder) -> None:
    """Our copy of the order brought in line with the platform's; a done order's page resolved."""
    with transaction(settings.database_url) as session:
        service.apply_platform_order(session, data, actor=service.PLATFORM_ACTOR)
        if rule_for(data.status).on.done:
            escalation.request_resolve(session, data.id)
        entries = queue.added(session)
    queue.dispatch(settings, entries)


# -- Cancel and refund, Undo Booked manually (issue 14) ----------------------------------

def _audit_refusal(session: Session, action: str, order_id: str, item_id: str, actor: str,
                   problem: str | None) -> None:
    if problem:
        states.audit(session, actor=actor, action=f"{action}.refused", order_id=order_id, item_id=item_id,
                     result="refused", reason=problem)


def cancel_check(settings: Settings, order_id: str, item_id: str, actor: str,
                 job_id: str | None) -> tuple[bool, str | None]:
    """(this job already cancelled it, why it is refused now); a refusal is audited."""
    with transaction(settings.database_url) as session:
        item = _item(session, order_id, item_id)
        mine = refunded_by(session, order_id, item_id)
        already = item.status == states.CANCELLED and mine is not None and mine.detail.get("job_id") == job_id
        problem = None if already else cancel_refusal(session, item)
        _audit_refusal(session, "cancel_refund", order_id, item_id, actor, problem)
    return already, problem


def cancelled(settings: Settings, order_id: str, item_id: str, actor: str, job_id: str | None, reason: str,
              done: CancelledDelivery) -> None:
    with transaction(settings.database_url) as session:
        item = _item(session, order_id, item_id, lock=True)
        if item.status == states.IN_PROGRESS:
            states.move_item(session, item, states.CANCELLED, actor=actor, how="cancel_delivery", reason=reason,
                             refund_reference=done.refund_reference, refund_minor=done.refund_minor,
                             currency=item.order.currency, job_id=job_id)


@dataclass(frozen=True)
class UndoCheck:
    previous: str          # the item status before the manual booking: what it goes back to
    already: bool          # this job undid it already
    problem: str | None    # why it is refused now


def undo_check(settings: Settings, order_id: str, item_id: str, actor: str, job_id: str | None,
               reference: str | None) -> UndoCheck:
    """Undo Booked manually's check, under the rules; a refusal is audited."""
    with transaction(settings.database_url) as session:
        item = _item(session, order_id, item_id)
        confirmed = manual_booking(session, item)
        previous = str((confirmed.detail.get("from") if confirmed else None) or states.IN_PROGRESS)
        already = item.status != states.CONFIRMED and session.scalar(select(SyncAttempt.id).where(
            SyncAttempt.item_pk == item.pk, SyncAttempt.job_id == job_id)) is not None
        problem = None if already else undo_refusal(session, item)
        if problem is None and not already and item.external_reference != reference:
            problem = f"{item_id} is now booked as {item.external_reference}, not {reference}: nothing undone"
        _audit_refusal(session, "undo_manual", order_id, item_id, actor, problem)
    return UndoCheck(previous, already, problem)


def undone(settings: Settings, order_id: str, item_id: str, actor: str, job_id: str | None, reason: str,
           reference: str | None, previous: str) -> None:
    """The item back to `previous` and failed, the reference kept in a failed attempt (so `find`
    still finds it)."""
    with transaction(settings.database_url) as session:
        item = _item(session, order_id, item_id, lock=True)
        if item.status != states.CONFIRMED or item.external_reference != reference:
            return
        _new_attempt(session, item, states.Q_FAILED, actor, job_id, confirmation=reference,
                     message=f"Booked manually as {reference}, undone: {reason}", finished_at=utcnow())
        states.move_item(session, item, previous, actor=actor, how="undo", undone_reference=reference,
                         reason=reason, extra={"external_reference": None, "confirmed_by": None,
                                               "confirmed_at": None, "payment_method": None,
                                               "sync_status": states.Q_FAILED})
        search.reindex(session, item.order)
