"""The RQ job functions: Reprocess, Booked manually, Mark complete, alert refresh, poller.

Every job may run twice (worker killed, Redis failover) and still have one effect: the
connector checks for an existing booking first, every state move is a compare-and-set,
and a job re-run under the same job id takes over its own abandoned lock. Jobs end by
re-rendering the alert from state. A job records its failure rather than raising, so RQ's
retries are only used for abandoned jobs (and for a database that is briefly down).
"""

from __future__ import annotations

import datetime as dt
import logging

from rq import get_current_job
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from connectors.errors import ConnectorError, ErrorClass, NoAvailability, UnknownFailure
from connectors.types import BookingRequest, BookingResult, BookingStatus, Guest, PaymentCheck, PaymentState
from workflows import escalation, queue, service, states
from workflows.db import transaction
from workflows.models import Alert, Order, OrderItem, SyncAttempt, utcnow
from workflows.notify import notifier_for
from workflows.payloads import SyncFailure
from workflows.settings import Settings, get_settings
from workflows.snapshot import load

log = logging.getLogger(__name__)

# A lock older than this belongs to a job that died without RQ noticing; take it over.
STALE_LOCK = dt.timedelta(seconds=queue.JOB_TIMEOUT_SECONDS + 60)


def _job_id() -> str | None:
    job = get_current_job()
    return job.id if job else None


def booking_request(order: Order, item: OrderItem) -> BookingRequest:
    return BookingRequest(
        order_id=order.id, item_id=item.item_id, kind=item.kind, system=item.system,
        description=item.description, start=item.start, end=item.end, quantity=item.quantity,
        guests=item.guests, details=dict(item.details or {}),
        guest=Guest(order.guest_first_name, order.guest_last_name, order.guest_email, order.guest_phone),
    )


# -- payment -----------------------------------------------------------------------------

def check_payment(settings: Settings, order_id: str) -> PaymentCheck:
    """Ask Stripe about the order's payment now and store what it said on the order."""
    with transaction(settings.database_url) as session:
        order = session.get(Order, order_id)
        if order is None:
            raise LookupError(f"order {order_id} is not known")
        reference, expected, currency = order.payment_reference, order.total_minor, order.currency
        provider = order.payment_provider
    if provider != "stripe" or not reference:
        check = PaymentCheck(PaymentState.UNKNOWN, reference, currency, expected_minor=expected,
                             detail=f"payment provider {provider or 'not given'}: check it by hand")
    elif settings.stripe_api_key is None:
        check = PaymentCheck(PaymentState.UNKNOWN, reference, currency, expected_minor=expected,
                             detail="STRIPE_API_KEY is not set: check the payment in the platform by hand")
    else:
        from connectors.stripe_payments import StripePayments

        try:
            check = StripePayments(settings).check(reference, expected, currency)
        except ConnectorError as exc:
            check = PaymentCheck(PaymentState.UNKNOWN, reference, currency, expected_minor=expected,
                                 detail=f"{exc.error_class.label}: {exc.message}")
    with transaction(settings.database_url) as session:
        order = session.get(Order, order_id, with_for_update=True)
        assert order is not None
        order.payment_state = check.state.value
        order.payment_checked_at = utcnow()
        order.payment_detail = {
            "currency": check.currency, "amount_minor": check.amount_minor, "received_minor": check.received_minor,
            "refunded_minor": check.refunded_minor, "expected_minor": check.expected_minor, "detail": check.detail,
        }
    return check


# -- alerts ------------------------------------------------------------------------------

def refresh_alert(order_id: str, surface: str, verify_payment: bool = True) -> None:
    """Post or update the order's alert on `surface` as the database says it is."""
    settings = get_settings()
    if verify_payment:
        check_payment(settings, order_id)
    with transaction(settings.database_url) as session:
        snapshot = load(session, order_id)
        alert = session.scalar(select(Alert).where(Alert.order_id == order_id, Alert.surface == surface))
        if snapshot is None or alert is None:
            return
        current = (alert.channel, alert.message_id)
    channel, message_id = notifier_for(surface).show(snapshot, current)
    if (channel, message_id) != current:
        with transaction(settings.database_url) as session:
            alert = session.scalar(select(Alert).where(Alert.order_id == order_id, Alert.surface == surface))
            if alert is not None:
                alert.channel, alert.message_id = channel, message_id


def _refresh_all(settings: Settings, order_id: str, cause: str) -> None:
    with transaction(settings.database_url) as session:
        order = session.get(Order, order_id)
        if order is not None:
            service.refresh_alerts(session, order, cause)
        entries = queue.added(session)
    queue.dispatch(settings, entries)


# -- Reprocess ---------------------------------------------------------------------------

def lock_holder(session: Session, item: OrderItem) -> SyncAttempt | None:
    """The attempt holding the item's `processing` lock, if any."""
    return session.scalar(select(SyncAttempt).where(
        SyncAttempt.item_pk == item.pk, SyncAttempt.status == states.Q_PROCESSING
    ).order_by(SyncAttempt.number.desc()))


def lock_is_stale(holder: SyncAttempt | None) -> bool:
    """A `processing` lock with no attempt, or older than any job may run, belongs to no one."""
    return holder is None or utcnow() - holder.started_at > STALE_LOCK


def _skip(session: Session, actor: str, order_id: str, item_id: str, reason: str) -> None:
    states.audit(session, actor=actor, action="reprocess.skipped", order_id=order_id, item_id=item_id,
                 result="skipped", reason=reason)


def _lock(settings: Settings, order_id: str, item_id: str, actor: str, job_id: str | None,
          attempt: int | None) -> int | None:
    """Take the item's order-queue lock (failed|ready → processing) and open an attempt.

    Returns the attempt's id, or None when the item needs nothing or someone else holds it.
    A re-run of the same job (it was abandoned mid-way) and a lock gone stale take it over.
    `attempt` is the attempt number the job was asked to make: when someone else already
    made it (a person's Reprocess before the automatic retry), there is nothing left to do.
    """
    with transaction(settings.database_url) as session:
        item = _item(session, order_id, item_id, lock=True)
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
        return row.id


def _item(session: Session, order_id: str, item_id: str, *, lock: bool = False) -> OrderItem:
    where = (OrderItem.order_id == order_id, OrderItem.item_id == item_id)
    query = select(OrderItem).where(*where)
    if lock:
        # FOR UPDATE locks the row on PostgreSQL; SQLite ignores it, so a no-op write takes
        # SQLite's write lock first. Either way the reads that follow in this transaction see
        # one state, never a holder's commit landing between two of them.
        session.execute(update(OrderItem).where(*where).values(item_id=OrderItem.item_id)
                        .execution_options(synchronize_session=False))
        query = query.with_for_update()
    item = session.scalar(query)
    if item is None:
        raise LookupError(f"order {order_id} has no item {item_id}")
    return item


def _book(settings: Settings, request: BookingRequest) -> BookingResult:
    """Check first, then confirm what is found or create it (DESIGN §1, "SynXis: check first")."""
    from connectors.registry import connector_for

    connector = connector_for(request, settings)
    existing = connector.find_existing(request)
    if existing is None or existing.status is BookingStatus.ABSENT:
        return connector.create(request)
    if existing.status is BookingStatus.BOOKED:
        return BookingResult(existing.confirmation, "found", existing.raw_status)
    if existing.status is BookingStatus.NO_AVAILABILITY:
        raise NoAvailability(
            f"{connector.describe().name} reservation {existing.confirmation} is {existing.raw_status}: "
            "no availability.", detail=f"confirmation={existing.confirmation} status={existing.raw_status}")
    return connector.confirm(existing, request)


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
        if not taken_over:
            states.move_sync(session, item, states.Q_FAILED, actor=actor, error_class=error.error_class.value)
        states.audit(session, actor=actor, action="reprocess.failed", order_id=item.order_id, item_id=item.item_id,
                     result="failed", error_class=error.error_class.value, message=message,
                     next_step=error.error_class.next_step, attempt=attempt.number)
        if not taken_over:
            service.schedule_auto_retry(session, item, attempt, settings.auto_retry_after_seconds)


def _finish_success(settings: Settings, attempt_id: int, result: BookingResult, actor: str) -> None:
    with transaction(settings.database_url) as session:
        attempt = session.get(SyncAttempt, attempt_id, with_for_update=True)
        assert attempt is not None
        item = _item(session, attempt.order_id, attempt.item.item_id, lock=True)
        attempt.status, attempt.finished_at = states.Q_SUCCESS, utcnow()
        attempt.confirmation = result.confirmation
        if item.sync_status != states.Q_SUCCESS:
            states.move_sync(session, item, states.Q_SUCCESS, actor=actor, confirmation=result.confirmation)
        if item.status != states.IN_PROGRESS:
            # Someone recorded it by hand while this job was booking: say so rather than crash,
            # so a person can check for a duplicate booking.
            states.audit(session, actor=actor, action="reprocess.conflict", order_id=item.order_id,
                         item_id=item.item_id, result="warning", confirmation=result.confirmation,
                         reason=f"{item.item_id} became {item.status} ({item.external_reference}) meanwhile; "
                                f"check {result.confirmation} is not a duplicate")
            return
        states.move_item(session, item, states.CONFIRMED, actor=actor, confirmation=result.confirmation,
                         how=result.action, extra={"external_reference": result.confirmation,
                                                   "confirmed_by": actor, "confirmed_at": utcnow()})


def _platform_confirm(settings: Settings, order_id: str, item_id: str, reference: str) -> None:
    if not settings.platform_api_url:
        log.warning("PLATFORM_API_URL not set: item %s/%s confirmed in syncdesk only", order_id, item_id)
        return
    from connectors.platform import PlatformClient

    with PlatformClient(settings) as platform:
        platform.confirm_item(order_id, item_id, reference)


def reprocess(order_id: str, item_id: str, actor: str, attempt: int | None = None) -> str:
    """Book the item in its external system, exactly once, and confirm it on the platform.

    `attempt` is the attempt number this job was asked to make (see `_lock`).
    """
    settings = get_settings()
    job_id = _job_id()
    payment = check_payment(settings, order_id)
    if not payment.state.safe_to_book:
        reason = f"payment {payment.state.value.replace('_', ' ')}: no booking attempted"
        with transaction(settings.database_url) as session:
            states.audit(session, actor=actor, action="reprocess.refused", order_id=order_id, item_id=item_id,
                         result="refused", reason=reason, detail=payment.detail)
        _refresh_all(settings, order_id, f"refused:{job_id}")
        return f"refused: {reason}"
    attempt_id = _lock(settings, order_id, item_id, actor, job_id, attempt)
    if attempt_id is None:
        _refresh_all(settings, order_id, f"skipped:{job_id}")
        return "skipped"
    with transaction(settings.database_url) as session:
        order = session.get(Order, order_id)
        assert order is not None
        request = booking_request(order, _item(session, order_id, item_id))
    result: BookingResult | None = None
    try:
        result = _book(settings, request)
        _platform_confirm(settings, order_id, item_id, result.confirmation)
    except ConnectorError as exc:
        _finish_failed(settings, attempt_id, exc, actor, result.confirmation if result else None)
        _refresh_all(settings, order_id, f"failed:{job_id}:{attempt_id}")
        return f"failed: {exc.error_class.value}"
    except Exception as exc:  # outermost boundary of the job: record it, keep the alert open
        log.exception("reprocess of %s/%s crashed", order_id, item_id)
        _finish_failed(settings, attempt_id, UnknownFailure(f"{exc.__class__.__name__}: {exc}"), actor,
                       result.confirmation if result else None)
        _refresh_all(settings, order_id, f"crashed:{job_id}:{attempt_id}")
        return "failed: unknown"
    _finish_success(settings, attempt_id, result, actor)
    _refresh_all(settings, order_id, f"success:{job_id}:{attempt_id}")
    return f"success: {result.action} {result.confirmation}"


# -- Booked manually ---------------------------------------------------------------------

def _manual_refusal(session: Session, item: OrderItem, reference: str, payment_method: str | None,
                    methods: tuple[str, ...]) -> str | None:
    """Why this manual booking cannot be recorded now, or None."""
    from workflows.actions import validate_manual_booking

    problem = validate_manual_booking(item.system, reference, payment_method, methods)
    if problem:
        return problem
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
    from connectors.premier import payment_methods

    settings = get_settings()
    job_id = _job_id()
    reference = (reference or "").strip()
    with transaction(settings.database_url) as session:
        item = _item(session, order_id, item_id)
        # A re-run of a job that got this far (at-least-once delivery) has nothing left to do.
        already = item.status == states.CONFIRMED and item.external_reference == reference
        problem = None if already else _manual_refusal(session, item, reference, payment_method,
                                                       payment_methods(settings))
        if problem:
            states.audit(session, actor=actor, action="booked_manually.refused", order_id=order_id,
                         item_id=item_id, result="refused", reason=problem)
    if already or problem:
        _refresh_all(settings, order_id, f"manual-{'refused' if problem else 'again'}:{job_id}")
        return f"refused: {problem}" if problem else f"already confirmed: {reference}"
    try:
        _platform_confirm(settings, order_id, item_id, reference)
    except ConnectorError as exc:
        with transaction(settings.database_url) as session:
            states.audit(session, actor=actor, action="booked_manually.failed", order_id=order_id,
                         item_id=item_id, result="failed", error_class=exc.error_class.value, message=exc.message,
                         next_step=exc.error_class.next_step)
        _refresh_all(settings, order_id, f"manual-failed:{job_id}")
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
    _refresh_all(settings, order_id, f"manual:{job_id}")
    return f"confirmed: {reference}"


# -- Mark complete -----------------------------------------------------------------------

def mark_complete(order_id: str, actor: str) -> str:
    """Set the order Complete on the platform (it emails the guest) and resolve the alert."""
    settings = get_settings()
    job_id = _job_id()
    payment = check_payment(settings, order_id)
    with transaction(settings.database_url) as session:
        order = session.get(Order, order_id)
        if order is None:
            raise LookupError(f"order {order_id} is not known")
        already = order.platform_status == states.COMPLETE
        blockers = [] if already else _completion_blockers(order, payment)
        if blockers:
            states.audit(session, actor=actor, action="complete.refused", order_id=order_id, result="refused",
                         reason="; ".join(blockers))
    if already or blockers:
        _refresh_all(settings, order_id, f"complete-{'refused' if blockers else 'again'}:{job_id}")
        return f"refused: {'; '.join(blockers)}" if blockers else "already complete"
    try:
        _platform_complete(settings, order_id)
    except ConnectorError as exc:
        with transaction(settings.database_url) as session:
            states.audit(session, actor=actor, action="complete.failed", order_id=order_id, result="failed",
                         error_class=exc.error_class.value, message=exc.message,
                         next_step=exc.error_class.next_step)
        _refresh_all(settings, order_id, f"complete-failed:{job_id}")
        return f"failed: {exc.message}"
    with transaction(settings.database_url) as session:
        order = session.get(Order, order_id, with_for_update=True)
        assert order is not None
        if order.platform_status != states.COMPLETE:
            states.move_order(session, order, states.COMPLETE, actor=actor)
        service.resolve_alerts(session, order, actor=actor, reason="order complete")
        escalation.request_resolve(session, order_id)  # resolve the PagerDuty page, if it was paged
        entries = queue.added(session)
    queue.dispatch(settings, entries)
    _refresh_all(settings, order_id, f"complete:{job_id}")
    return "complete"


def _completion_blockers(order: Order, payment: PaymentCheck) -> list[str]:
    """What stops Mark complete, in words: the order's own status, its items, its payment."""
    if states.COMPLETE not in states.ORDER_TRANSITIONS.get(order.platform_status, frozenset()):
        return [f"order is {order.platform_status}"]
    blockers = states.completion_blockers(order)
    if not payment.state.settled:
        blockers.append(f"payment {payment.state.value.replace('_', ' ')}")
    return blockers


def _platform_complete(settings: Settings, order_id: str) -> None:
    if not settings.platform_api_url:
        log.warning("PLATFORM_API_URL not set: order %s completed in syncdesk only", order_id)
        return
    from connectors.platform import PlatformClient

    with PlatformClient(settings) as platform:
        platform.complete_order(order_id)


# -- the poller --------------------------------------------------------------------------

def poll_stuck_orders() -> int:
    """Record orders stuck In Progress that no intake event covered (a lost webhook)."""
    from connectors.platform import PlatformClient
    from workflows.payloads import PayloadError, poller_failures

    settings = get_settings()
    if not settings.platform_api_url:
        return 0
    before = utcnow() - dt.timedelta(minutes=settings.stuck_after_minutes)
    recorded = 0
    with PlatformClient(settings) as platform:
        stuck = list(platform.list_stuck(before))
    for data in stuck:
        try:
            failures = poller_failures(data, before)
        except PayloadError as exc:
            log.warning("poller skipped an unreadable platform order: %s", exc)
            continue
        for failure in failures:
            recorded += _record_if_uncovered(settings, failure)
    return recorded


def _record_if_uncovered(settings: Settings, failure: SyncFailure) -> int:
    from workflows import intake

    with transaction(settings.database_url) as session:
        covered = session.scalar(select(OrderItem).where(
            OrderItem.order_id == failure.order.id, OrderItem.item_id == failure.failure.item_id))
        if covered is not None and covered.sync_status != states.Q_CREATED:
            return 0  # an intake event already covers it
    outcome = intake.record(settings, failure, "poller")
    return 0 if outcome.duplicate else 1
