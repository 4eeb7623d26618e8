"""The RQ jobs behind a person's requests: Reprocess, Booked manually, Mark complete, and
(issue 14) Cancel and refund and Undo Booked manually.

Every job may run twice (worker killed, Redis failover) and still have one effect: the
connector checks for an existing booking first, every state move is a compare-and-set,
and a job re-run under the same job id takes over its own abandoned lock. Jobs end by
re-rendering the alert from state. A job records its failure rather than raising, so RQ's
retries are only used for abandoned jobs (and for a database that is briefly down).
"""

from __future__ import annotations

import logging

from rq import get_current_job
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from connectors.errors import ConnectorError, ErrorClass, PlatformRefused, UnknownFailure
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
from workflows.core.settings import Settings, get_settings
from workflows.oncall import escalation
from workflows.orders import search, service
from workflows.orders.jobs import refresh_now
from workflows.orders.payloads import parse_platform_order
from workflows.orders.payment import check_payment, uncheckable
from workflows.systems.booking import book, booking_request
from workflows.systems.clients import platform_client, shared_platform_client
from workflows.systems.registry import premier_payment_methods

log = logging.getLogger(__name__)



def _job_id() -> str | None:
    job = get_current_job()
    return job.id if job else None


# -- Reprocess ---------------------------------------------------------------------------

def _skip(session: Session, actor: str, order_id: str, item_id: str, reason: str) -> None:
    states.audit(session, actor=actor, action="reprocess.skipped", order_id=order_id, item_id=item_id,
                 result="skipped", reason=reason)


def _lock(settings: Settings, order_id: str, item_id: str, actor: str, job_id: str | None,
          attempt: int | None) -> tuple[int, BookingRequest] | None:
    """Take the item's order-queue lock (failed|ready → processing) and open an attempt.

    Returns the attempt's id and what to book (read under the lock), or None when the item
    needs nothing or someone else holds it.
    A re-run of the same job (it was abandoned mid-way) and a lock gone stale take it over.
    `attempt` is the attempt number the job was asked to make: when someone else already
    made it (a person's Reprocess before the automatic retry), there is nothing left to do.
    """
    with transaction(settings.database_url) as session:
        item = _item(session, order_id, item_id, lock=True)
        done = service.done_elsewhere(session, item.order)
        if done:
            _skip(session, actor, order_id, item_id, done)
            return None
        if item.status != states.IN_PROGRESS:
            _skip(session, actor, order_id, item_id, f"{item_id} is already {item.status}")
            return None
        holder = lock_holder(session, item) if item.sync_status == states.Q_PROCESSING else None
        mine = holder is not None and job_id is not None and holder.job_id == job_id
        if item.sync_status == states.Q_PROCESSING and not (mine or lock_is_stale(holder)):
            assert holder is not None
            _skip(session, actor, order_id, item_id, f"{holder.triggered_by} is already reprocessing it")
            return None
        if attempt is not None and not mine:
            made = session.scalar(select(SyncAttempt).where(
                SyncAttempt.item_pk == item.pk, SyncAttempt.number >= attempt
            ).order_by(SyncAttempt.number))
            if made is not None and made.status != states.Q_PROCESSING:
                _skip(session, actor, order_id, item_id,
                      f"attempt {made.number} was already made by {made.triggered_by} ({made.status})")
                return None
        if item.sync_status == states.Q_PROCESSING:
            if holder is not None:
                holder.status, holder.finished_at = states.Q_FAILED, utcnow()
                holder.message = "abandoned (worker stopped mid-job); taken over by a re-run"
                holder.error_class = ErrorClass.UNKNOWN.value
            states.audit(session, actor=actor, action="reprocess.took_over", order_id=order_id, item_id=item_id,
                         abandoned_attempt=holder.number if holder else None)
        else:
            try:
                states.move_sync(session, item, states.Q_PROCESSING, actor=actor, job_id=job_id)
            except (states.TransitionConflict, states.IllegalTransition) as exc:
                _skip(session, actor, order_id, item_id, str(exc))
                return None
        row = SyncAttempt(item_pk=item.pk, order_id=order_id, number=service.next_attempt_number(session, item),
                          status=states.Q_PROCESSING, triggered_by=actor, job_id=job_id)
        session.add(row)
        session.flush()
        return row.id, booking_request(item.order, item)


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


def _finish_failed(settings: Settings, attempt_id: int, error: ConnectorError, actor: str,
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


def _finish_success(settings: Settings, attempt_id: int, item_id: str, result: BookingResult, actor: str,
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
        service.refresh_alerts(session, item.order, cause)
        entries = queue.added(session)
    queue.dispatch(settings, entries)


def _not_told(what: str) -> str:
    """The end of an outcome the platform was not told about (no PLATFORM_API_URL)."""
    return f"; the platform was not updated (PLATFORM_API_URL is not set): set {what} there by hand"


def _platform_confirm(settings: Settings, order_id: str, item_id: str, reference: str) -> bool:
    """Set the platform's item Confirmed; False when there is no platform to tell (PLATFORM_API_URL unset)."""
    if not settings.platform_api_url:
        log.warning("PLATFORM_API_URL not set: item %s/%s confirmed in syncdesk only", order_id, item_id)
        return False
    shared_platform_client(settings).confirm_item(order_id, item_id, reference)
    return True


def reprocess(order_id: str, item_id: str, actor: str, attempt: int | None = None) -> str:
    """Book the item in its external system, exactly once, and confirm it on the platform.

    `attempt` is the attempt number this job was asked to make (see `_lock`).
    """
    settings = get_settings()
    job_id = _job_id()
    payment = check_payment(settings, order_id)
    if not payment.state.safe_to_book:
        reason = f"{_payment_words(payment)}: no booking attempted"
        with transaction(settings.database_url) as session:
            states.audit(session, actor=actor, action="reprocess.refused", order_id=order_id, item_id=item_id,
                         result="refused", reason=reason, detail=payment.detail)
        refresh_now(settings, order_id, f"refused:{job_id}")
        return f"refused: {reason}"
    locked = _lock(settings, order_id, item_id, actor, job_id, attempt)
    if locked is None:
        refresh_now(settings, order_id, f"skipped:{job_id}")
        return "skipped"
    attempt_id, request = locked
    result: BookingResult | None = None
    try:
        result = book(settings, request)
        told = _platform_confirm(settings, order_id, item_id, result.confirmation)
    except ConnectorError as exc:
        _finish_failed(settings, attempt_id, exc, actor, result.confirmation if result else None)
        refresh_now(settings, order_id, f"failed:{job_id}:{attempt_id}")
        why = f"booked as {result.confirmation}, but the platform was not updated: {exc.message}" if result \
            else exc.message
        return f"failed: {exc.error_class.value}: {why}"
    except Exception as exc:  # outermost boundary of the job: record it, keep the alert open
        log.exception("reprocess of %s/%s crashed", order_id, item_id)
        _finish_failed(settings, attempt_id, UnknownFailure(f"{exc.__class__.__name__}: {exc}"), actor,
                       result.confirmation if result else None)
        refresh_now(settings, order_id, f"crashed:{job_id}:{attempt_id}")
        return f"failed: unknown: {exc.__class__.__name__}: {exc}"
    _finish_success(settings, attempt_id, item_id, result, actor, f"success:{job_id}:{attempt_id}")
    return f"success: {result.action} {result.confirmation}" + ("" if told else _not_told(f"{item_id} Confirmed"))


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


def booked_manually(order_id: str, item_id: str, actor: str, reference: str, payment_method: str | None = None,
                    notes: str | None = None) -> str:
    """Record a booking a person made by hand and confirm the item on the platform."""
    settings = get_settings()
    job_id = _job_id()
    reference = (reference or "").strip()
    with transaction(settings.database_url) as session:
        item = _item(session, order_id, item_id)
        # A re-run of a job that got this far (at-least-once delivery) has nothing left to do.
        already = item.status == states.CONFIRMED and item.external_reference == reference
        problem = None if already else _manual_refusal(session, item, reference, payment_method,
                                                       premier_payment_methods(settings))
        if problem:
            states.audit(session, actor=actor, action="booked_manually.refused", order_id=order_id,
                         item_id=item_id, result="refused", reason=problem)
    if already or problem:
        refresh_now(settings, order_id, f"manual-{'refused' if problem else 'again'}:{job_id}")
        return f"refused: {problem}" if problem else f"already confirmed: {reference}"
    try:
        told = _platform_confirm(settings, order_id, item_id, reference)
    except ConnectorError as exc:
        with transaction(settings.database_url) as session:
            states.audit(session, actor=actor, action="booked_manually.failed", order_id=order_id,
                         item_id=item_id, result="failed", error_class=exc.error_class.value, message=exc.message,
                         next_step=exc.error_class.next_step)
        refresh_now(settings, order_id, f"manual-failed:{job_id}")
        return f"failed: {exc.message}"
    with transaction(settings.database_url) as session:
        item = _item(session, order_id, item_id, lock=True)
        if item.status == states.IN_PROGRESS:
            session.add(SyncAttempt(item_pk=item.pk, order_id=order_id, number=service.next_attempt_number(session, item),
                                    status=states.Q_SUCCESS, triggered_by=actor, job_id=job_id,
                                    confirmation=reference, message="booked manually", finished_at=utcnow()))
            if item.sync_status != states.Q_SUCCESS:
                item.sync_status = states.Q_SUCCESS  # from any queue status: a person booked it
            states.move_item(session, item, states.CONFIRMED, actor=actor, how="manual", confirmation=reference,
                             payment_method=payment_method, notes=notes,
                             extra={"external_reference": reference, "confirmed_by": actor,
                                    "confirmed_at": utcnow(), "payment_method": payment_method, "notes": notes})
            search.add_reference(session, order_id, reference)
    refresh_now(settings, order_id, f"manual:{job_id}")
    return f"confirmed: {reference}" + ("" if told else _not_told(f"{item_id} Confirmed ({reference})"))


# -- Mark complete -----------------------------------------------------------------------

def mark_complete(order_id: str, actor: str, unchecked_reason: str | None = None) -> str:
    """Set the order Complete on the platform (it emails the guest) and resolve the alert.

    `unchecked_reason`: the person completes it without a payment check, because syncdesk
    cannot check this payment at all (`orders.payment.uncheckable`); audited with the reason.
    """
    settings = get_settings()
    job_id = _job_id()
    payment = check_payment(settings, order_id)
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
    if already or done or blockers:
        refresh_now(settings, order_id, f"complete-{'refused' if blockers else 'again'}:{job_id}")
        if done:
            return f"skipped: {done}"
        return f"refused: {'; '.join(blockers)}" if blockers else "already complete"
    try:
        told = _platform_complete(settings, order_id)
    except ConnectorError as exc:
        return _platform_failed(settings, order_id, actor, "complete", exc, job_id)
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
    refresh_now(settings, order_id, f"complete:{job_id}")
    return "complete" + ("" if told else _not_told(f"order {order_id} Complete"))


def close_order(order_id: str, actor: str) -> str:
    """Set a Complete order Closed on the platform, then here (`requests.request_close`)."""
    settings = get_settings()
    job_id = _job_id()
    with transaction(settings.database_url) as session:
        order = session.get(Order, order_id)
        if order is None:
            raise LookupError(f"order {order_id} is not known")
        status = order.platform_status
        refusal = None if states.CLOSED in states.order_targets(status) else f"order is {status}"
        if refusal and status != states.CLOSED:
            states.audit(session, actor=actor, action="close.refused", order_id=order_id, result="refused",
                         reason=refusal)
    if status == states.CLOSED:
        return "already closed"
    if refusal:
        refresh_now(settings, order_id, f"close-refused:{job_id}")
        return f"refused: {refusal}"
    try:
        shared_platform_client(settings).close_order(order_id)
    except ConnectorError as exc:
        return _platform_failed(settings, order_id, actor, "close", exc, job_id)
    with transaction(settings.database_url) as session:
        order = session.get(Order, order_id, with_for_update=True)
        assert order is not None
        if order.platform_status != states.CLOSED:
            states.move_order(session, order, states.CLOSED, actor=actor)
    refresh_now(settings, order_id, f"close:{job_id}")
    return "closed"


def _platform_failed(settings: Settings, order_id: str, actor: str, move: str, exc: ConnectorError,
                     job_id: str) -> str:
    """The platform refused or failed to set the order's status (`move`: complete, close):
    audited with its error class and next step, and the alert shows it."""
    with transaction(settings.database_url) as session:
        states.audit(session, actor=actor, action=f"{move}.failed", order_id=order_id, result="failed",
                     error_class=exc.error_class.value, message=exc.message, next_step=exc.error_class.next_step)
    refresh_now(settings, order_id, f"{move}-failed:{job_id}")
    return f"failed: {exc.message}"


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
    blockers.append(_payment_words(payment) + hint)
    return blockers


def _payment_words(payment: PaymentCheck) -> str:
    """"payment refunded", or for an unknown payment why it is unknown (e.g. STRIPE_API_KEY unset)."""
    words = f"payment {payment.state.value.replace('_', ' ')}"
    return f"{words} ({payment.detail})" if payment.state is PaymentState.UNKNOWN and payment.detail else words


def _platform_complete(settings: Settings, order_id: str) -> bool:
    """Set the platform's order Complete; False when there is no platform to tell (PLATFORM_API_URL unset)."""
    if not settings.platform_api_url:
        log.warning("PLATFORM_API_URL not set: order %s completed in syncdesk only", order_id)
        return False
    shared_platform_client(settings).complete_order(order_id)
    return True



# -- Cancel and refund (issue 14) --------------------------------------------------------

def _audit_refusal(session: Session, action: str, order_id: str, item_id: str, actor: str,
                   problem: str | None) -> None:
    if problem:
        states.audit(session, actor=actor, action=f"{action}.refused", order_id=order_id, item_id=item_id,
                     result="refused", reason=problem)


def _stood_down(settings: Settings, action: str, order_id: str, problem: str | None, job_id: str | None,
                already: str) -> str:
    """A job with nothing to do (refused now, or a run again of one that did it): the alert is
    re-rendered, so its thread says why."""
    refresh_now(settings, order_id, f"{action}-{'refused' if problem else 'again'}:{job_id}")
    return f"refused: {problem}" if problem else already


def _connector_failed(settings: Settings, action: str, order_id: str, item_id: str, actor: str,
                      exc: ConnectorError, job_id: str | None) -> str:
    """The platform refused (409: `<action>.refused`) or failed (`<action>.failed`): audited with
    its message and next step, the alert re-rendered (its thread says so)."""
    ended = "refused" if isinstance(exc, PlatformRefused) else "failed"
    with transaction(settings.database_url) as session:
        states.audit(session, actor=actor, action=f"{action}.{ended}", order_id=order_id, item_id=item_id,
                     result=ended, reason=exc.message, error_class=exc.error_class.value, message=exc.message,
                     next_step=exc.error_class.next_step)
    refresh_now(settings, order_id, f"{action}-{ended}:{job_id}")
    return f"{ended}: {exc.message}"


def cancel_key(order_id: str, item_id: str) -> str:
    """The idempotency key of an item's Cancel Deliveries: one per item, ever, so double clicks,
    job re-runs and a retry after a failure all get the platform's first answer (one refund)."""
    return f"syncdesk:cancel-delivery:{order_id}:{item_id}"


def _read_back(settings: Settings, order_id: str) -> None:
    """Bring our copy in line with the platform's after it changed the order (a cancelled last
    item cancels the order there, which resolves the alert here). The poller re-checks anyway."""
    try:
        with platform_client(settings) as platform:
            data = parse_platform_order(platform.get_order(order_id))
        with transaction(settings.database_url) as session:
            service.apply_platform_order(session, data, actor=service.PLATFORM_ACTOR)
            if rule_for(data.status).on.done:
                escalation.request_resolve(session, order_id)
            entries = queue.added(session)
        queue.dispatch(settings, entries)
    except (ConnectorError, ValueError) as exc:
        log.warning("could not read %s back from the platform after Cancel Deliveries: %s", order_id, exc)


def cancel_and_refund(order_id: str, item_id: str, actor: str, reason: str) -> str:
    """Cancel Deliveries on the platform for an item that cannot be booked: the platform
    cancels it and refunds the guest (source 003); then Stripe is asked again, so the message
    shows the refund. Exactly once: the platform answers a repeated key as it did first, and
    the item moves In Progress → Cancelled by compare-and-set."""
    settings = get_settings()
    job_id = _job_id()
    with transaction(settings.database_url) as session:
        item = _item(session, order_id, item_id)
        mine = refunded_by(session, order_id, item_id)
        already = item.status == states.CANCELLED and mine is not None and mine.detail.get("job_id") == job_id
        problem = None if already else cancel_refusal(session, item)
        _audit_refusal(session, "cancel_refund", order_id, item_id, actor, problem)
    if already or problem:
        return _stood_down(settings, "cancel_refund", order_id, problem, job_id, "already cancelled and refunded")
    try:
        with platform_client(settings) as platform:
            done = platform.cancel_delivery(order_id, item_id, reason, cancel_key(order_id, item_id))
    except ConnectorError as exc:
        return _connector_failed(settings, "cancel_refund", order_id, item_id, actor, exc, job_id)
    with transaction(settings.database_url) as session:
        item = _item(session, order_id, item_id, lock=True)
        if item.status == states.IN_PROGRESS:
            states.move_item(session, item, states.CANCELLED, actor=actor, how="cancel_delivery", reason=reason,
                             refund_reference=done.refund_reference, refund_minor=done.refund_minor,
                             currency=item.order.currency, job_id=job_id)
    check_payment(settings, order_id)  # Stripe's word on the refund, for the message
    _read_back(settings, order_id)
    refresh_now(settings, order_id, f"cancel:{job_id}")
    return f"cancelled: refund {done.refund_reference} of {done.refund_minor}"


# -- Undo Booked manually (issue 14) -----------------------------------------------------

def undo_booked_manually(order_id: str, item_id: str, actor: str, reason: str, reference: str | None) -> str:
    """A manual booking with the wrong reference: the platform's item back to the status it
    had, ours back to In Progress and failed, with the reason; audited, and the reference kept
    in the item's attempts (so `find` still finds it)."""
    settings = get_settings()
    job_id = _job_id()
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
    if already or problem:
        return _stood_down(settings, "undo_manual", order_id, problem, job_id, "already undone")
    try:
        if settings.platform_api_url:
            with platform_client(settings) as platform:
                platform.revert_item(order_id, item_id, previous, undone=reference or "")
        else:
            log.warning("PLATFORM_API_URL not set: undo of %s/%s in syncdesk only", order_id, item_id)
    except ConnectorError as exc:
        return _connector_failed(settings, "undo_manual", order_id, item_id, actor, exc, job_id)
    with transaction(settings.database_url) as session:
        item = _item(session, order_id, item_id, lock=True)
        if item.status == states.CONFIRMED and item.external_reference == reference:
            session.add(SyncAttempt(
                item_pk=item.pk, order_id=order_id, number=service.next_attempt_number(session, item),
                status=states.Q_FAILED, triggered_by=actor, job_id=job_id, confirmation=reference,
                message=f"Booked manually as {reference}, undone: {reason}", finished_at=utcnow()))
            states.move_item(session, item, previous, actor=actor, how="undo", undone_reference=reference,
                             reason=reason, extra={"external_reference": None, "confirmed_by": None,
                                                   "confirmed_at": None, "payment_method": None,
                                                   "sync_status": states.Q_FAILED})
            search.reindex(session, item.order)
    refresh_now(settings, order_id, f"undo:{job_id}")
    return f"undone: {reference}"
