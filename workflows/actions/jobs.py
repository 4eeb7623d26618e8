"""The RQ jobs behind a person's requests: Reprocess, Booked manually, Mark complete, Close
order, and (issue 14) Cancel and refund and Undo Booked manually.

Every job may run twice (worker killed, Redis failover) and still have one effect: the
connector checks for an existing booking first, every state move is a compare-and-set
(`workflows.actions.records`), and a job re-run under the same job id takes over its own
abandoned lock. A job only orchestrates: check, call the outside world, record, re-render
the alert from state. It records its failure rather than raising, so RQ's retries are only
used for abandoned jobs (and for a database that is briefly down).
"""

from __future__ import annotations

import logging

from rq import get_current_job

from connectors.errors import ConnectorError, PlatformRefused, UnknownFailure
from connectors.types import BookingResult
from workflows.actions import records
from workflows.core import states
from workflows.core.settings import Settings, get_settings
from workflows.orders.jobs import refresh_now
from workflows.orders.payloads import parse_platform_order
from workflows.orders.payment import check_payment
from workflows.systems.booking import book
from workflows.systems.clients import platform_client, shared_platform_client
from workflows.systems.registry import premier_payment_methods

log = logging.getLogger(__name__)


def _job_id() -> str | None:
    job = get_current_job()
    return job.id if job else None


def _not_told(what: str) -> str:
    """The end of an outcome the platform was not told about (no PLATFORM_API_URL)."""
    return f"; the platform was not updated (PLATFORM_API_URL is not set): set {what} there by hand"


def _stood_down(settings: Settings, action: str, order_id: str, problem: str | None, job_id: str | None,
                already: str) -> str:
    """A job with nothing to do (refused now, or a run again of one that did it): the alert is
    re-rendered, so its thread says why."""
    refresh_now(settings, order_id, f"{action}-{'refused' if problem else 'again'}:{job_id}")
    return f"refused: {problem}" if problem else already


def _connector_failed(settings: Settings, action: str, order_id: str, item_id: str | None, actor: str,
                      exc: ConnectorError, job_id: str | None) -> str:
    """The platform refused (409: `<action>.refused`) or failed (`<action>.failed`): audited with
    its message and next step, the alert re-rendered (its thread says so)."""
    ended = "refused" if isinstance(exc, PlatformRefused) else "failed"
    records.audit(settings, actor=actor, action=f"{action}.{ended}", order_id=order_id, item_id=item_id,
                  result=ended, reason=exc.message, error_class=exc.error_class.value, message=exc.message,
                  next_step=exc.error_class.next_step)
    refresh_now(settings, order_id, f"{action}-{ended}:{job_id}")
    return f"{ended}: {exc.message}"


# -- Reprocess ---------------------------------------------------------------------------

def _platform_confirm(settings: Settings, order_id: str, item_id: str, reference: str) -> bool:
    """Set the platform's item Confirmed; False when there is no platform to tell (PLATFORM_API_URL unset)."""
    if not settings.platform_api_url:
        log.warning("PLATFORM_API_URL not set: item %s/%s confirmed in syncdesk only", order_id, item_id)
        return False
    shared_platform_client(settings).confirm_item(order_id, item_id, reference)
    return True


def reprocess(order_id: str, item_id: str, actor: str, attempt: int | None = None) -> str:
    """Book the item in its external system, exactly once, and confirm it on the platform.

    `attempt` is the attempt number this job was asked to make (see `records.lock`).
    """
    settings = get_settings()
    job_id = _job_id()
    payment = check_payment(settings, order_id)
    if not payment.state.safe_to_book:
        reason = f"{records.payment_words(payment)}: no booking attempted"
        records.audit(settings, actor=actor, action="reprocess.refused", order_id=order_id, item_id=item_id,
                      result="refused", reason=reason, detail=payment.detail)
        refresh_now(settings, order_id, f"refused:{job_id}")
        return f"refused: {reason}"
    locked = records.lock(settings, order_id, item_id, actor, job_id, attempt)
    if locked is None:
        refresh_now(settings, order_id, f"skipped:{job_id}")
        return "skipped"
    attempt_id, request = locked
    result: BookingResult | None = None
    try:
        result = book(settings, request)
        told = _platform_confirm(settings, order_id, item_id, result.confirmation)
    except Exception as exc:
        error = exc if isinstance(exc, ConnectorError) else UnknownFailure(f"{exc.__class__.__name__}: {exc}")
        if not isinstance(exc, ConnectorError):  # outermost boundary of the job: record it, keep the alert open
            log.exception("reprocess of %s/%s crashed", order_id, item_id)
        booked = result.confirmation if result else None
        records.booking_failed(settings, attempt_id, error, actor, booked)
        refresh_now(settings, order_id, f"{'failed' if error is exc else 'crashed'}:{job_id}:{attempt_id}")
        why = f"booked as {booked}, but the platform was not updated: {error.message}" if booked else error.message
        return f"failed: {error.error_class.value}: {why}"
    records.booking_succeeded(settings, attempt_id, item_id, result, actor, f"success:{job_id}:{attempt_id}")
    return f"success: {result.action} {result.confirmation}" + ("" if told else _not_told(f"{item_id} Confirmed"))


# -- Booked manually ---------------------------------------------------------------------

def booked_manually(order_id: str, item_id: str, actor: str, reference: str, payment_method: str | None = None,
                    notes: str | None = None) -> str:
    """Record a booking a person made by hand and confirm the item on the platform."""
    settings = get_settings()
    job_id = _job_id()
    reference = (reference or "").strip()
    already, problem = records.manual_check(settings, order_id, item_id, actor, reference, payment_method,
                                            premier_payment_methods(settings))
    if already or problem:
        refresh_now(settings, order_id, f"manual-{'refused' if problem else 'again'}:{job_id}")
        return f"refused: {problem}" if problem else f"already confirmed: {reference}"
    try:
        told = _platform_confirm(settings, order_id, item_id, reference)
    except ConnectorError as exc:
        records.audit(settings, actor=actor, action="booked_manually.failed", order_id=order_id,
                      item_id=item_id, result="failed", error_class=exc.error_class.value, message=exc.message,
                      next_step=exc.error_class.next_step)
        refresh_now(settings, order_id, f"manual-failed:{job_id}")
        return f"failed: {exc.message}"
    records.manual_booking_recorded(settings, order_id, item_id, actor, job_id, reference, payment_method, notes)
    refresh_now(settings, order_id, f"manual:{job_id}")
    return f"confirmed: {reference}" + ("" if told else _not_told(f"{item_id} Confirmed ({reference})"))


# -- Mark complete and Close order -------------------------------------------------------

def _platform_complete(settings: Settings, order_id: str) -> bool:
    """Set the platform's order Complete; False when there is no platform to tell (PLATFORM_API_URL unset)."""
    if not settings.platform_api_url:
        log.warning("PLATFORM_API_URL not set: order %s completed in syncdesk only", order_id)
        return False
    shared_platform_client(settings).complete_order(order_id)
    return True


def _platform_failed(settings: Settings, order_id: str, actor: str, move: str, exc: ConnectorError,
                     job_id: str | None) -> str:
    """The platform refused or failed to set the order's status (`move`: complete, close):
    audited with its error class and next step, and the alert shows it."""
    records.audit(settings, actor=actor, action=f"{move}.failed", order_id=order_id, result="failed",
                  error_class=exc.error_class.value, message=exc.message, next_step=exc.error_class.next_step)
    refresh_now(settings, order_id, f"{move}-failed:{job_id}")
    return f"failed: {exc.message}"


def mark_complete(order_id: str, actor: str, unchecked_reason: str | None = None) -> str:
    """Set the order Complete on the platform (it emails the guest) and resolve the alert.

    `unchecked_reason`: the person completes it without a payment check, because syncdesk
    cannot check this payment at all (`orders.payment.uncheckable`); audited with the reason.
    """
    settings = get_settings()
    job_id = _job_id()
    payment = check_payment(settings, order_id)
    check = records.completion_check(settings, order_id, actor, payment, unchecked_reason)
    if check.already or check.done or check.blockers:
        refresh_now(settings, order_id, f"complete-{'refused' if check.blockers else 'again'}:{job_id}")
        if check.done:
            return f"skipped: {check.done}"
        return f"refused: {'; '.join(check.blockers)}" if check.blockers else "already complete"
    try:
        told = _platform_complete(settings, order_id)
    except ConnectorError as exc:
        return _platform_failed(settings, order_id, actor, "complete", exc, job_id)
    records.completed(settings, order_id, actor, unchecked_reason)
    refresh_now(settings, order_id, f"complete:{job_id}")
    return "complete" + ("" if told else _not_told(f"order {order_id} Complete"))


def close_order(order_id: str, actor: str) -> str:
    """Set a Complete order Closed on the platform, then here (`requests.request_close`)."""
    settings = get_settings()
    job_id = _job_id()
    status, refusal = records.close_check(settings, order_id, actor)
    if status == states.CLOSED:
        return "already closed"
    if refusal:
        refresh_now(settings, order_id, f"close-refused:{job_id}")
        return f"refused: {refusal}"
    try:
        shared_platform_client(settings).close_order(order_id)
    except ConnectorError as exc:
        return _platform_failed(settings, order_id, actor, "close", exc, job_id)
    records.closed(settings, order_id, actor)
    refresh_now(settings, order_id, f"close:{job_id}")
    return "closed"


# -- Cancel and refund (issue 14) --------------------------------------------------------

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
        records.platform_copy(settings, data)
    except (ConnectorError, ValueError) as exc:
        log.warning("could not read %s back from the platform after Cancel Deliveries: %s", order_id, exc)


def cancel_and_refund(order_id: str, item_id: str, actor: str, reason: str) -> str:
    """Cancel Deliveries on the platform for an item that cannot be booked: the platform
    cancels it and refunds the guest (source 003); then Stripe is asked again, so the message
    shows the refund. Exactly once: the platform answers a repeated key as it did first, and
    the item moves In Progress → Cancelled by compare-and-set."""
    settings = get_settings()
    job_id = _job_id()
    already, problem = records.cancel_check(settings, order_id, item_id, actor, job_id)
    if already or problem:
        return _stood_down(settings, "cancel_refund", order_id, problem, job_id, "already cancelled and refunded")
    try:
        with platform_client(settings) as platform:
            done = platform.cancel_delivery(order_id, item_id, reason, cancel_key(order_id, item_id))
    except ConnectorError as exc:
        return _connector_failed(settings, "cancel_refund", order_id, item_id, actor, exc, job_id)
    records.cancelled(settings, order_id, item_id, actor, job_id, reason, done)
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
    check = records.undo_check(settings, order_id, item_id, actor, job_id, reference)
    if check.already or check.problem:
        return _stood_down(settings, "undo_manual", order_id, check.problem, job_id, "already undone")
    try:
        if settings.platform_api_url:
            with platform_client(settings) as platform:
                platform.revert_item(order_id, item_id, check.previous, undone=reference or "")
        else:
            log.warning("PLATFORM_API_URL not set: undo of %s/%s in syncdesk only", order_id, item_id)
    except ConnectorError as exc:
        return _connector_failed(settings, "undo_manual", order_id, item_id, actor, exc, job_id)
    records.undone(settings, order_id, item_id, actor, job_id, reason, reference, check.previous)
    refresh_now(settings, order_id, f"undo:{job_id}")
    return f"undone: {reference}"
