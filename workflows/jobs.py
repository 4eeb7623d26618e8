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
from sqlalchemy import select

from connectors.errors import ConnectorError, ErrorClass, UnknownFailure
from connectors.types import BookingRequest, BookingResult, BookingStatus, Guest, PaymentCheck, PaymentState
from workflows import queue, service, states
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
    queue.dispatch(settings)


# -- Reprocess ---------------------------------------------------------------------------

def _lock(settings: Settings, order_id: str, item_id: str, actor: str, job_id: str | None) -> int | None:
    """Take the item's order-queue lock (failed|ready → processing) and open an attempt.

    Returns the attempt's id, or None when the item needs nothing or someone else holds it.
    A re-run of the same job (it was abandoned mid-way) and a lock gone stale take it over.
    """
    with transaction(settings.database_url) as session:
        item = _item(session, order_id, item_id, lock=True)
        if item.status != states.IN_PROGRESS:
            states.audit(session, actor=actor, action="reprocess.skipped", order_id=order_id, item_id=item_id,
                         reason=f"item is {item.status}")
            return None
        if item.sync_status == states.Q_PROCESSING:
            holder = session.scalar(select(SyncAttempt).where(
                SyncAttempt.item_pk == item.pk, SyncAttempt.status == states.Q_PROCESSING
            ).order_by(SyncAttempt.number.desc()))
            mine = holder is not None and job_id is not None and holder.job_id == job_id
            stale = holder is None or utcnow() - holder.started_at > STALE_LOCK
            if not (mine or stale):
                states.audit(session, actor=actor, action="reprocess.skipped", order_id=order_id,
                             item_id=item_id, reason=f"{holder.triggered_by} is already reprocessing it")
                return None
            if holder is not None:
                holder.status, holder.finished_at = states.Q_FAILED, utcnow()
                holder.message = "abandoned (worker stopped mid-job); taken over by a re-run"
                holder.error_class = ErrorClass.UNKNOWN.value
            states.audit(session, actor=actor, action="reprocess.took_over", order_id=order_id, item_id=item_id)
        else:
            states.move_sync(session, item, states.Q_PROCESSING, actor=actor, job_id=job_id)
        attempt = SyncAttempt(item_pk=item.pk, order_id=order_id, number=service.next_attempt_number(session, item),
                              status=states.Q_PROCESSING, triggered_by=actor, job_id=job_id)
        session.add(attempt)
        session.flush()
        return attempt.id


def _item(session, order_id: str, item_id: str, *, lock: bool = False) -> OrderItem:  # type: ignore[no-untyped-def]
    query = select(OrderItem).where(OrderItem.order_id == order_id, OrderItem.item_id == item_id)
    if lock:
        query = query.with_for_update()
    item = session.scalar(query)
    if item is None:
        raise LookupError(f"order {order_id} has no item {item_id}")
    return item


def _book(settings: Settings, request: BookingRequest) -> BookingResult:
    from connectors.registry import connector_for
    from connectors.errors import NoAvailability

    connector = connector_for(request, settings)
    existing = connector.find_existing(request)
    if existing is not None:
        if existing.status is BookingStatus.BOOKED:
            return BookingResult(existing.confirmation, "found", existing.raw_status)
        if existing.status is BookingStatus.PENDING:
            return connector.confirm(existing, request)
        if existing.status is BookingStatus.NO_AVAILABILITY:
            raise NoAvailability(f"{existing.confirmation} is {existing.raw_status}: no availability")
    return connector.create(request)


def _finish_failed(settings: Settings, attempt_id: int, error: ConnectorError, actor: str) -> None:
    with transaction(settings.database_url) as session:
        attempt = session.get(SyncAttempt, attempt_id, with_for_update=True)
        assert attempt is not None
        item = attempt.item
        attempt.status, attempt.finished_at = states.Q_FAILED, utcnow()
        attempt.error_class, attempt.message = error.error_class.value, error.message
        attempt.raw_log = error.detail or error.message
        states.move_sync(session, item, states.Q_FAILED, actor=actor, error_class=error.error_class.value)
        states.audit(session, actor=actor, action="reprocess.failed", order_id=item.order_id, item_id=item.item_id,
                     result="failed", error_class=error.error_class.value, message=error.message,
                     attempt=attempt.number)
        service.schedule_auto_retry(session, item, attempt, settings.auto_retry_after_seconds)


def _platform_confirm(settings: Settings, order_id: str, item_id: str, reference: str) -> None:
    if not settings.platform_api_url:
        log.warning("PLATFORM_API_URL not set: item %s/%s confirmed in syncdesk only", order_id, item_id)
        return
    from connectors.platform import PlatformClient

    with PlatformClient(settings) as platform:
        platform.confirm_item(order_id, item_id, reference)


def reprocess(order_id: str, item_id: str, actor: str, attempt: int | None = None) -> str:
    """Book the item in its external system, exactly once, and confirm it on the platform."""
    settings = get_settings()
    job_id = _job_id()
    payment = check_payment(settings, order_id)
    if not payment.state.safe_to_book:
        with transaction(settings.database_url) as session:
            states.audit(session, actor=actor, action="reprocess.refused", order_id=order_id, item_id=item_id,
                         result="refused", reason=f"payment {payment.state.value}: no booking attempted",
                         detail=payment.detail)
        _refresh_all(settings, order_id, f"refused:{job_id}")
        return f"refused: payment {payment.state.value}"
    attempt_id = _lock(settings, order_id, item_id, actor, job_id)
    if attempt_id is None:
        _refresh_all(settings, order_id, f"skipped:{job_id}")
        return "skipped"
    with transaction(settings.database_url) as session:
        order = session.get(Order, order_id)
        assert order is not None
        request = booking_request(order, _item(session, order_id, item_id))
    try:
        result = _book(settings, request)
        _platform_confirm(settings, order_id, item_id, result.confirmation)
    except ConnectorError as exc:
        _finish_failed(settings, attempt_id, exc, actor)
        _refresh_all(settings, order_id, f"failed:{job_id}:{attempt_id}")
        return f"failed: {exc.error_class.value}"
    except Exception as exc:  # outermost boundary of the job: record it, keep the alert open
        log.exception("reprocess of %s/%s crashed", order_id, item_id)
        _finish_failed(settings, attempt_id, UnknownFailure(f"{exc.__class__.__name__}: {exc}"), actor)
        _refresh_all(settings, order_id, f"crashed:{job_id}:{attempt_id}")
        return "failed: unknown"
    with transaction(settings.database_url) as session:
        attempt_row = session.get(SyncAttempt, attempt_id, with_for_update=True)
        assert attempt_row is not None
        item = attempt_row.item
        attempt_row.status, attempt_row.finished_at = states.Q_SUCCESS, utcnow()
        attempt_row.confirmation = result.confirmation
        states.move_sync(session, item, states.Q_SUCCESS, actor=actor, confirmation=result.confirmation)
        states.move_item(session, item, states.CONFIRMED, actor=actor, confirmation=result.confirmation,
                         how=result.action, extra={"external_reference": result.confirmation,
                                                   "confirmed_by": actor, "confirmed_at": utcnow()})
    _refresh_all(settings, order_id, f"success:{job_id}:{attempt_id}")
    return f"success: {result.action} {result.confirmation}"


# -- Booked manually ---------------------------------------------------------------------

def booked_manually(order_id: str, item_id: str, actor: str, reference: str, payment_method: str | None = None,
                    notes: str | None = None) -> str:
    """Record a booking a person made by hand and confirm the item on the platform."""
    from workflows.actions import validate_manual_booking

    settings = get_settings()
    with transaction(settings.database_url) as session:
        item = _item(session, order_id, item_id)
        if item.status == states.CONFIRMED and item.external_reference == reference.strip():
            return f"already confirmed: {reference}"
        problem = validate_manual_booking(item.system, reference, payment_method)
    if problem:
        with transaction(settings.database_url) as session:
            states.audit(session, actor=actor, action="booked_manually.refused", order_id=order_id,
                         item_id=item_id, result="refused", reason=problem)
        _refresh_all(settings, order_id, f"manual-refused:{_job_id()}")
        return f"refused: {problem}"
    reference = reference.strip()
    try:
        _platform_confirm(settings, order_id, item_id, reference)
    except ConnectorError as exc:
        with transaction(settings.database_url) as session:
            states.audit(session, actor=actor, action="booked_manually.failed", order_id=order_id,
                         item_id=item_id, result="failed", error_class=exc.error_class.value, message=exc.message)
        _refresh_all(settings, order_id, f"manual-failed:{_job_id()}")
        return f"failed: {exc.message}"
    with transaction(settings.database_url) as session:
        item = _item(session, order_id, item_id, lock=True)
        if item.status == states.IN_PROGRESS:
            session.add(SyncAttempt(item_pk=item.pk, order_id=order_id, number=service.next_attempt_number(session, item),
                                    status=states.Q_SUCCESS, triggered_by=actor, job_id=_job_id(),
                                    confirmation=reference, message="booked manually", finished_at=utcnow()))
            if item.sync_status != states.Q_SUCCESS:
                item.sync_status = states.Q_SUCCESS
            states.move_item(session, item, states.CONFIRMED, actor=actor, how="manual", confirmation=reference,
                             payment_method=payment_method, notes=notes,
                             extra={"external_reference": reference, "confirmed_by": actor,
                                    "confirmed_at": utcnow(), "payment_method": payment_method, "notes": notes})
    _refresh_all(settings, order_id, f"manual:{_job_id()}")
    return f"confirmed: {reference}"


# -- Mark complete -----------------------------------------------------------------------

def mark_complete(order_id: str, actor: str) -> str:
    """Set the order Complete on the platform (it emails the guest) and resolve the alert."""
    settings = get_settings()
    payment = check_payment(settings, order_id)
    with transaction(settings.database_url) as session:
        order = session.get(Order, order_id)
        if order is None:
            raise LookupError(f"order {order_id} is not known")
        if order.platform_status == states.COMPLETE:
            return "already complete"
        blockers = states.completion_blockers(order)
        if not payment.state.settled:
            blockers.append(f"payment {payment.state.value.replace('_', ' ')}")
        if blockers:
            states.audit(session, actor=actor, action="complete.refused", order_id=order_id, result="refused",
                         reason="; ".join(blockers))
    if blockers:
        _refresh_all(settings, order_id, f"complete-refused:{_job_id()}")
        return "refused: " + "; ".join(blockers)
    try:
        if settings.platform_api_url:
            from connectors.platform import PlatformClient

            with PlatformClient(settings) as platform:
                platform.complete_order(order_id)
    except ConnectorError as exc:
        with transaction(settings.database_url) as session:
            states.audit(session, actor=actor, action="complete.failed", order_id=order_id, result="failed",
                         error_class=exc.error_class.value, message=exc.message)
        _refresh_all(settings, order_id, f"complete-failed:{_job_id()}")
        return f"failed: {exc.message}"
    with transaction(settings.database_url) as session:
        order = session.get(Order, order_id, with_for_update=True)
        assert order is not None
        if order.platform_status != states.COMPLETE:
            states.move_order(session, order, states.COMPLETE, actor=actor)
        service.resolve_alerts(session, order, actor=actor, reason="order complete")
    _refresh_all(settings, order_id, f"complete:{_job_id()}")
    return "complete"


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
