"""What a person can ask for (Reprocess, Booked manually, Mark complete; Cancel and refund,
Undo Booked manually; Close order), shared by Slack, Teams and the CLI: check who is already on it, enqueue under a deterministic job id,
audit the click, answer at once. The work itself happens in `workflows.actions.jobs`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from redis.exceptions import RedisError
from rq.exceptions import NoSuchJobError
from rq.job import Job
from sqlalchemy import Select, bindparam, func, select
from sqlalchemy.orm import Session

from workflows.actions.rules import (
    cancel_refusal,
    reprocessing_holder,
    undo_refusal,
    validate_manual_booking,
)
from workflows.core import queue, states
from workflows.core.answers import Ack
from workflows.core.db import transaction
from workflows.core.models import AuditEvent, Order, OrderItem
from workflows.core.settings import Settings
from workflows.oncall import escalation
from workflows.orders import service
from workflows.orders.payment import uncheckable
from workflows.systems.booking import booking_request
from workflows.systems.registry import books_automatically, connector_for, premier_payment_methods


def unknown_order(order_id: str) -> Ack:
    """The one answer for an order syncdesk has never seen, whichever action was asked for."""
    return Ack(False, f"Order {order_id} is not known to syncdesk.")


@contextmanager
def _request(settings: Settings) -> Iterator[Session]:
    """One request, one transaction (issue 29): its checks, the enqueue, and the audit events and
    moves the enqueue implies commit together, and the jobs they asked for through the outbox go
    to RQ once it has committed. A refusal returned from inside commits only what it audited.

    The RQ enqueue happens inside the transaction. Safe: the job could already start before the
    click's writes committed when they had a transaction of their own after the enqueue, and
    the job and the click both move the item by compare-and-set; the enqueue decides alone
    whether this click or an earlier one queued the job (its id is deterministic)."""
    with transaction(settings.database_url) as session:
        yield session
        entries = queue.added(session)
    queue.dispatch(settings, entries)


def _no_booking_api(settings: Settings, order: Order, item: OrderItem) -> str | None:
    """Why Reprocess cannot book this item at all (a Test order, a system with no booking API),
    or None. A system that has an API but no credentials yet still runs: its job records why."""
    request = booking_request(order, item)
    if not books_automatically(request, settings):
        name = connector_for(request, settings).describe().name
        return (f"{name} has no booking API, so Reprocess cannot book {item.item_id}: book it by hand "
                "(the alert lists the steps), then use Booked manually.")
    return None


def _ended_runs_query(order_id: Any, item_id: Any, action: str) -> Select[tuple[int]]:
    """How many runs of `action` on this order/item ended without effect (refused, failed, skipped).

    Part of the action's job id: a double click or a Slack retry before the job has run
    gets the same id (enqueued once), while asking again after a refusal gets a new one.
    """
    query = select(func.count()).select_from(AuditEvent).where(
        AuditEvent.order_id == order_id,
        AuditEvent.action.in_([f"{action}.{end}" for end in ("refused", "failed", "skipped")]),
    )
    return query if item_id is None else query.where(AuditEvent.item_id == item_id)


def _ended_runs(session: Session, order_id: str, item_id: str | None, action: str) -> int:
    return session.scalar(_ended_runs_query(order_id, item_id, action)) or 0


def _queued_by(settings: Settings, job_id: str) -> str | None:
    """Who asked for the job already queued under `job_id`, when RQ still knows."""
    try:
        job = Job.fetch(job_id, connection=queue.get_redis(settings.redis_url))
    except (NoSuchJobError, RedisError):
        return None
    actor = job.kwargs.get("actor")
    return str(actor) if actor else None


def _enqueue(session: Session, settings: Settings, action: str, function: str, job_id: str,
             job_kwargs: dict[str, Any], what: str | None = None, *, ready: OrderItem | None = None) -> Ack:
    """Enqueue `function(**job_kwargs)` once under `job_id`, audit the click, answer at once; all
    in the request's transaction (`_request`). `ready`: the failed item a Reprocess waits for, as
    the request read it, its order locked (`_REPROCESS_FACTS`): no second read of either, and its
    move is a compare-and-set all the same."""
    what = what or action.replace("_", " ")
    order_id, item_id, actor = job_kwargs["order_id"], job_kwargs.get("item_id"), job_kwargs["actor"]
    try:
        accepted = queue.enqueue(settings, function, job_id, actions=True, **job_kwargs)
        holder = None if accepted else _queued_by(settings, job_id)
    except RedisError:
        return Ack(False, "The job queue is unavailable right now (Redis at REDIS_URL does not answer); nothing was "
                          "started. Try again in a minute; if it lasts, check that Redis runs at REDIS_URL.")
    # no_autoflush: the audit events written here go to the database together when the
    # transaction ends (`queue.added` flushes), one INSERT instead of one per event; nothing
    # in it reads the audit trail back.
    with session.no_autoflush:
        states.audit(session, actor=actor, action=f"click.{action}", order_id=order_id, item_id=item_id,
                     result="queued" if accepted else "duplicate", job_id=job_id,
                     holder=holder)
        if accepted:
            # a person is on it: stop escalating
            escalation.acknowledge(session, order_id, actor, order_locked=ready is not None)
            if ready is not None:
                service.mark_ready(session, ready, actor=actor, job_id=job_id)
    if not accepted:
        by = f" (asked by {holder})" if holder and holder != actor else ""
        return Ack(False, f"That {what} is already queued{by}.", job_id)
    return Ack(True, f"{what.capitalize()} queued.", job_id)


# The click's hot path (issues 17, 29): the order, the item, the item's last attempt number and
# the ended runs in one round trip, with a statement built once (building it cost more CPU than
# running it). The two counts are only used once every check passed; reading them with the rest
# costs less than a second and a third query. The order's row is locked here, which spares the
# acknowledgement its own lock statement (`escalation.acknowledge`: order before alerts, the order
# intake locks them in). Safe: what the join read may be older than the lock when it had to wait,
# as it was when it was read before any lock, and every write the click makes is a compare-and-set;
# the lock is held through the enqueue, a Redis call bounded by its socket timeouts.
_ORDER_ID, _ITEM_ID = bindparam("order_id"), bindparam("item_id")
_REPROCESS_FACTS = (
    select(Order, OrderItem, service.last_attempt_number(OrderItem.pk),
           _ended_runs_query(_ORDER_ID, _ITEM_ID, "reprocess").scalar_subquery())
    .outerjoin(OrderItem, (OrderItem.order_id == Order.id) & (OrderItem.item_id == _ITEM_ID))
    .where(Order.id == _ORDER_ID)
    .with_for_update(of=Order))


def request_reprocess(settings: Settings, order_id: str, item_id: str, actor: str) -> Ack:
    with _request(settings) as session:
        row = session.execute(_REPROCESS_FACTS, {"order_id": order_id, "item_id": item_id}).one_or_none()
        if row is None:
            return unknown_order(order_id)
        order, item, last_number, ended = row
        if item is None:
            return Ack(False, f"Order {order_id} has no item {item_id}.")
        if order.platform_status == states.TEST:  # said plainly, before the general "done" answer
            return Ack(False, f"Order {order.id} is a Test order: syncdesk never books Test orders.")
        done = service.done_elsewhere(session, order)
        if done:
            return Ack(False, f"{done}: nothing left to reprocess.")
        if item.status != states.IN_PROGRESS:
            return Ack(False, f"{item_id} is already {item.status}.")
        if refusal := _no_booking_api(settings, order, item):
            return Ack(False, refusal)
        holder = reprocessing_holder(session, item)
        if holder:
            states.audit(session, actor=actor, action="click.reprocess", order_id=order_id, item_id=item_id,
                         result="already_running", holder=holder)
            return Ack(False, f"{holder} is already reprocessing {item_id}.")
        number = service.attempt_after(last_number)
        # Not the automatic retry's id (reprocess, order, item, number): a person's click runs now,
        # and the automatic retry, finding attempt `number` made, stands down.
        return _enqueue(session, settings, "reprocess", "workflows.actions.jobs.reprocess",
                        queue.job_id("reprocess", order_id, item_id, number, ended),
                        {"order_id": order_id, "item_id": item_id, "actor": actor, "attempt": number}, ready=item)


def request_booked_manually(settings: Settings, order_id: str, item_id: str, actor: str, reference: str,
                            payment_method: str | None = None, notes: str | None = None) -> Ack:
    reference = (reference or "").strip()
    with _request(settings) as session:
        if session.get(Order, order_id) is None:
            return unknown_order(order_id)
        item = session.scalar(select(OrderItem).where(OrderItem.order_id == order_id, OrderItem.item_id == item_id))
        if item is None:
            return Ack(False, f"Order {order_id} has no item {item_id}.")
        done = service.done_elsewhere(session, item.order)
        if done:
            return Ack(False, f"{done}: nothing left to record.")
        problem = validate_manual_booking(item.system, reference, payment_method, premier_payment_methods(settings))
        if problem:
            return Ack(False, problem[0].upper() + problem[1:] + ".")
        if item.status != states.IN_PROGRESS:
            return Ack(False, f"{item_id} is already {item.status}.")
        holder = reprocessing_holder(session, item)
        if holder:
            return Ack(False, f"{holder} is reprocessing {item_id} right now; "
                              "wait for its outcome before recording a manual booking.")
        ended = _ended_runs(session, order_id, item_id, "booked_manually")
        return _enqueue(session, settings, "booked_manually", "workflows.actions.jobs.booked_manually",
                        queue.job_id("manual", order_id, item_id, reference, ended),
                        {"order_id": order_id, "item_id": item_id, "actor": actor, "reference": reference,
                         "payment_method": payment_method, "notes": notes})


def request_complete(settings: Settings, order_id: str, actor: str, *, unchecked_reason: str | None = None) -> Ack:
    """Mark complete; with `unchecked_reason`, "Complete without payment check": only for a payment
    syncdesk cannot check at all (not Stripe, or no STRIPE_API_KEY) and never a refunded one."""
    unchecked_reason = (unchecked_reason or "").strip() or None
    with _request(settings) as session:
        order = session.get(Order, order_id)
        if order is None:
            return unknown_order(order_id)
        done = service.done_elsewhere(session, order)
        if done:
            return Ack(False, f"{done}.")
        blockers = states.completion_blockers(order)
        if blockers:
            return Ack(False, "Not yet: " + "; ".join(blockers) + ".")
        if unchecked_reason is not None:
            refusal = _unchecked_refusal(settings, order)
            if refusal:
                states.audit(session, actor=actor, action="click.mark_complete", order_id=order_id,
                             result="refused", reason=refusal)
                return Ack(False, refusal)
        ended = _ended_runs(session, order_id, None, "complete")
        job_kwargs: dict[str, Any] = {"order_id": order_id, "actor": actor}
        if unchecked_reason is not None:
            job_kwargs["unchecked_reason"] = unchecked_reason
        return _enqueue(session, settings, "mark_complete", "workflows.actions.jobs.mark_complete",
                        queue.job_id("complete", order_id, ended, "unchecked" if unchecked_reason else ""),
                        job_kwargs)


def request_close(settings: Settings, order_id: str, actor: str) -> Ack:
    """Close order: a Complete order, with nothing more owed, is set Closed on the platform
    (source 003: until then only the platform could); audited like every move."""
    with _request(settings) as session:
        order = session.get(Order, order_id)
        if order is None:
            return unknown_order(order_id)
        if order.platform_status == states.CLOSED:
            return Ack(False, f"{order_id} is already Closed.")
        if states.CLOSED not in states.order_targets(order.platform_status):
            return Ack(False, f"{order_id} is {order.platform_status}: only a Complete order can be closed "
                              "(Mark complete first).")
        if not settings.platform_api_url:
            return Ack(False, "PLATFORM_API_URL is not set: close the order on the platform.")
        ended = _ended_runs(session, order_id, None, "close")
        return _enqueue(session, settings, "close_order", "workflows.actions.jobs.close_order",
                        queue.job_id("close", order_id, ended), {"order_id": order_id, "actor": actor}, "close")


def _unchecked_refusal(settings: Settings, order: Order) -> str | None:
    """Why "Complete without payment check" is not allowed for this order, or None."""
    if order.payment_state in ("refunded", "not_captured", "mismatch"):
        return (f"The payment is known to be {order.payment_state.replace('_', ' ')}: "
                "completing without a check is not allowed.")
    if uncheckable(settings, order.payment_provider, order.payment_reference) is None:
        return "syncdesk can check this payment with Stripe: use Mark complete."
    return None


# -- Cancel and refund, Undo Booked manually (issue 14) ----------------------------------

MIN_REASON = 5


def _item_move(session: Session, action: str, order_id: str, item_id: str, actor: str, reason: str,
               refusal_of: Any, why: str) -> tuple[str, str | None, int] | Ack:
    """The checks Cancel and refund and Undo share: the item exists, the move's own rule allows
    it (`refusal_of`), a reason of a few words. (reason, the item's reference, ended runs), or
    the refusal, audited (and nothing else written)."""
    reason = " ".join((reason or "").split())
    item = session.scalar(select(OrderItem).where(OrderItem.order_id == order_id, OrderItem.item_id == item_id))
    refusal = f"Order {order_id} has no item {item_id}." if item is None else refusal_of(session, item)
    if refusal is None and len(reason) < MIN_REASON:
        refusal = why
    if refusal:
        refusal = refusal[0].upper() + refusal[1:].rstrip(".") + "."
        states.audit(session, actor=actor, action=f"click.{action}", order_id=order_id, item_id=item_id,
                     result="refused", reason=refusal)
        return Ack(False, refusal)
    assert item is not None
    return reason, item.external_reference, _ended_runs(session, order_id, item_id, action)


def _cancel_refusal_here(settings: Settings) -> Any:
    def refusal(session: Session, item: OrderItem) -> str | None:
        problem = cancel_refusal(session, item)
        if problem is None and not settings.platform_api_url:
            return "PLATFORM_API_URL is not set: cancel it on the platform with Cancel Deliveries"
        return problem
    return refusal


def request_cancel_refund(settings: Settings, order_id: str, item_id: str, actor: str, reason: str) -> Ack:
    """Cancel an item that cannot be booked and refund it through the platform's Cancel
    Deliveries (DESIGN §3.2), exactly once: one job id per click run, one idempotency key per item."""
    with _request(settings) as session:
        checked = _item_move(session, "cancel_refund", order_id, item_id, actor, reason,
                             _cancel_refusal_here(settings),
                             "Say why the item is cancelled (at least a few words): the guest's refund carries it.")
        if isinstance(checked, Ack):
            return checked
        reason, _, ended = checked
        return _enqueue(session, settings, "cancel_refund", "workflows.actions.jobs.cancel_and_refund",
                        queue.job_id("cancel-refund", order_id, item_id, ended),
                        {"order_id": order_id, "item_id": item_id, "actor": actor, "reason": reason},
                        "cancel and refund")


def request_undo_manual(settings: Settings, order_id: str, item_id: str, actor: str, reason: str) -> Ack:
    """Undo Booked manually (a wrong reference typed): the item goes back to failed with the
    reason, and the platform's item back to its previous status; the reference stays in the history."""
    with _request(settings) as session:
        checked = _item_move(session, "undo_manual", order_id, item_id, actor, reason, undo_refusal,
                             "Say what was wrong (at least a few words): it is kept with the item's history.")
        if isinstance(checked, Ack):
            return checked
        reason, reference, ended = checked
        return _enqueue(session, settings, "undo_manual", "workflows.actions.jobs.undo_booked_manually",
                        queue.job_id("undo", order_id, item_id, reference, ended),
                        {"order_id": order_id, "item_id": item_id, "actor": actor, "reason": reason,
                         "reference": reference}, "undo of Booked manually")
