"""What a person can ask for (Reprocess, Booked manually, Mark complete), shared by Slack,
Teams and the CLI: check who is already on it, enqueue under a deterministic job id,
audit the click, answer at once. The work itself happens in `workflows.jobs`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from redis.exceptions import RedisError
from rq.exceptions import NoSuchJobError
from rq.job import Job
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from connectors.premier import payment_methods
from workflows import escalation, queue, service, states
from workflows.db import transaction
from workflows.jobs import lock_holder, lock_is_stale
from workflows.models import AuditEvent, Order, OrderItem
from workflows.settings import Settings

REFERENCE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{2,63}$")
PREMIER_PAYMENT_METHODS = ("onejourney", "ecommerce", "revspa")


@dataclass(frozen=True)
class Ack:
    """The immediate answer to a click: queued (with the job id) or why not."""

    accepted: bool
    message: str
    job_id: str | None = None


def validate_manual_booking(system: str, reference: str, payment_method: str | None,
                            methods: tuple[str, ...] = PREMIER_PAYMENT_METHODS) -> str | None:
    """Why a manual booking cannot be recorded, or None when it can."""
    ref = (reference or "").strip()
    if not ref:
        return "the external confirmation number is required"
    if not REFERENCE.match(ref):
        return (f"{ref!r} does not look like a confirmation number (3-64 letters, digits, '.', '-', '_' or '/', "
                "starting with a letter or digit)")
    if system == "premier" and payment_method not in methods:
        return ("EMS Premier needs the payment method the deposit was assigned to "
                f"({' / '.join(methods)}), or the end-of-day accounts will not balance")
    return None


def _ended_runs(session: Session, order_id: str, item_id: str | None, action: str) -> int:
    """How many runs of `action` on this order/item ended without effect (refused, failed, skipped).

    Part of the action's job id: a double click or a Slack retry before the job has run
    gets the same id (enqueued once), while asking again after a refusal gets a new one.
    """
    query = select(func.count()).select_from(AuditEvent).where(
        AuditEvent.order_id == order_id,
        AuditEvent.action.in_([f"{action}.{end}" for end in ("refused", "failed", "skipped")]),
    )
    if item_id is not None:
        query = query.where(AuditEvent.item_id == item_id)
    return session.scalar(query) or 0


def _reprocessing(session: Session, item: OrderItem) -> str | None:
    """Who holds the item's Reprocess lock now; None when no one does or the lock is stale
    (a job that died unnoticed: the next Reprocess takes it over)."""
    if item.sync_status != states.Q_PROCESSING:
        return None
    holder = lock_holder(session, item)
    return None if holder is None or lock_is_stale(holder) else holder.triggered_by


def _queued_by(settings: Settings, job_id: str) -> str | None:
    """Who asked for the job already queued under `job_id`, when RQ still knows."""
    try:
        job = Job.fetch(job_id, connection=queue.get_redis(settings.redis_url))
    except (NoSuchJobError, RedisError):
        return None
    actor = job.kwargs.get("actor")
    return str(actor) if actor else None


def _enqueue(settings: Settings, action: str, function: str, job_id: str, job_kwargs: dict[str, Any]) -> Ack:
    """Enqueue `function(**job_kwargs)` once under `job_id`, audit the click, answer at once."""
    what = action.replace("_", " ")
    order_id, item_id, actor = job_kwargs["order_id"], job_kwargs.get("item_id"), job_kwargs["actor"]
    try:
        accepted = queue.enqueue(settings, function, job_id, actions=True, **job_kwargs)
        holder = None if accepted else _queued_by(settings, job_id)
    except RedisError:
        return Ack(False, "The job queue is unavailable right now; nothing was started. Try again in a minute.")
    with transaction(settings.database_url) as session:
        states.audit(session, actor=actor, action=f"click.{action}", order_id=order_id, item_id=item_id,
                     result="queued" if accepted else "duplicate", job_id=job_id,
                     holder=holder)
        if accepted:
            escalation.acknowledge(session, order_id, actor)  # a person is on it: stop escalating
        entries = queue.added(session)
    queue.dispatch(settings, entries)
    if not accepted:
        by = f" (asked by {holder})" if holder and holder != actor else ""
        return Ack(False, f"That {what} is already queued{by}.", job_id)
    return Ack(True, f"{what.capitalize()} queued.", job_id)


def request_reprocess(settings: Settings, order_id: str, item_id: str, actor: str) -> Ack:
    with transaction(settings.database_url) as session:
        item = session.scalar(select(OrderItem).where(OrderItem.order_id == order_id, OrderItem.item_id == item_id))
        if item is None:
            return Ack(False, f"Order {order_id} has no item {item_id}.")
        if item.status != states.IN_PROGRESS:
            return Ack(False, f"{item_id} is already {item.status}.")
        holder = _reprocessing(session, item)
        if holder:
            states.audit(session, actor=actor, action="click.reprocess", order_id=order_id, item_id=item_id,
                         result="already_running", holder=holder)
            return Ack(False, f"{holder} is already reprocessing {item_id}.")
        number = service.next_attempt_number(session, item)
        ended = _ended_runs(session, order_id, item_id, "reprocess")
    # Not the automatic retry's id (reprocess, order, item, number): a person's click runs now,
    # and the automatic retry, finding attempt `number` made, stands down.
    return _enqueue(settings, "reprocess", "workflows.jobs.reprocess",
                    queue.job_id("reprocess", order_id, item_id, number, ended),
                    {"order_id": order_id, "item_id": item_id, "actor": actor, "attempt": number})


def request_booked_manually(settings: Settings, order_id: str, item_id: str, actor: str, reference: str,
                            payment_method: str | None = None, notes: str | None = None) -> Ack:
    reference = (reference or "").strip()
    with transaction(settings.database_url) as session:
        item = session.scalar(select(OrderItem).where(OrderItem.order_id == order_id, OrderItem.item_id == item_id))
        if item is None:
            return Ack(False, f"Order {order_id} has no item {item_id}.")
        problem = validate_manual_booking(item.system, reference, payment_method, payment_methods(settings))
        if problem:
            return Ack(False, problem[0].upper() + problem[1:] + ".")
        if item.status != states.IN_PROGRESS:
            return Ack(False, f"{item_id} is already {item.status}.")
        holder = _reprocessing(session, item)
        if holder:
            return Ack(False, f"{holder} is reprocessing {item_id} right now; "
                              "wait for its outcome before recording a manual booking.")
        ended = _ended_runs(session, order_id, item_id, "booked_manually")
    return _enqueue(settings, "booked_manually", "workflows.jobs.booked_manually",
                    queue.job_id("manual", order_id, item_id, reference, ended),
                    {"order_id": order_id, "item_id": item_id, "actor": actor, "reference": reference,
                     "payment_method": payment_method, "notes": notes})


def request_complete(settings: Settings, order_id: str, actor: str) -> Ack:
    with transaction(settings.database_url) as session:
        order = session.get(Order, order_id)
        if order is None:
            return Ack(False, f"Order {order_id} is not known to syncdesk.")
        if order.platform_status == states.COMPLETE:
            return Ack(False, f"Order {order_id} is already Complete.")
        blockers = states.completion_blockers(order)
        if blockers:
            return Ack(False, "Not yet: " + "; ".join(blockers) + ".")
        ended = _ended_runs(session, order_id, None, "complete")
    return _enqueue(settings, "mark_complete", "workflows.jobs.mark_complete",
                    queue.job_id("complete", order_id, ended), {"order_id": order_id, "actor": actor})
