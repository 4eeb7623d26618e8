"""What a person can ask for (Reprocess, Booked manually, Mark complete), shared by Slack,
Teams and the CLI: check who is already on it, enqueue under a deterministic job id,
audit the click, answer at once. The work itself happens in `workflows.jobs`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from redis.exceptions import RedisError
from sqlalchemy import select

from workflows import queue, service, states
from workflows.db import transaction
from workflows.models import Order, OrderItem, SyncAttempt
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


def _enqueue(settings: Settings, order_id: str, item_id: str | None, action: str, actor: str,
             function: str, job_id: str, **kwargs: object) -> Ack:
    try:
        accepted = queue.enqueue(settings, function, job_id, **kwargs)
    except RedisError:
        return Ack(False, "The job queue is unavailable right now; nothing was started. Try again in a minute.")
    with transaction(settings.database_url) as session:
        states.audit(session, actor=actor, action=f"click.{action}", order_id=order_id, item_id=item_id,
                     result="queued" if accepted else "duplicate", job_id=job_id)
    if not accepted:
        return Ack(False, f"That {action.replace('_', ' ')} is already queued.", job_id)
    return Ack(True, f"{action.replace('_', ' ').capitalize()} queued.", job_id)


def request_reprocess(settings: Settings, order_id: str, item_id: str, actor: str) -> Ack:
    with transaction(settings.database_url) as session:
        item = session.scalar(select(OrderItem).where(OrderItem.order_id == order_id, OrderItem.item_id == item_id))
        if item is None:
            return Ack(False, f"Order {order_id} has no item {item_id}.")
        if item.status != states.IN_PROGRESS:
            return Ack(False, f"{item_id} is already {item.status}.")
        if item.sync_status == states.Q_PROCESSING:
            holder = session.scalar(select(SyncAttempt).where(
                SyncAttempt.item_pk == item.pk, SyncAttempt.status == states.Q_PROCESSING
            ).order_by(SyncAttempt.number.desc()))
            who = holder.triggered_by if holder else "someone"
            states.audit(session, actor=actor, action="click.reprocess", order_id=order_id, item_id=item_id,
                         result="already_running", holder=who)
            return Ack(False, f"{who} is already reprocessing {item_id}.")
        number = service.next_attempt_number(session, item)
    return _enqueue(settings, order_id, item_id, "reprocess", actor, "workflows.jobs.reprocess",
                    queue.job_id("reprocess", order_id, item_id, number), order_id=order_id, item_id=item_id, actor=actor,
                    attempt=number)


def request_booked_manually(settings: Settings, order_id: str, item_id: str, actor: str, reference: str,
                            payment_method: str | None = None, notes: str | None = None) -> Ack:
    with transaction(settings.database_url) as session:
        item = session.scalar(select(OrderItem).where(OrderItem.order_id == order_id, OrderItem.item_id == item_id))
        if item is None:
            return Ack(False, f"Order {order_id} has no item {item_id}.")
        problem = validate_manual_booking(item.system, reference, payment_method)
        if problem:
            return Ack(False, problem[0].upper() + problem[1:] + ".")
        if item.status != states.IN_PROGRESS:
            return Ack(False, f"{item_id} is already {item.status}.")
    return _enqueue(settings, order_id, item_id, "booked_manually", actor, "workflows.jobs.booked_manually",
                    queue.job_id("manual", order_id, item_id, reference.strip()), order_id=order_id, item_id=item_id,
                    actor=actor, reference=reference.strip(), payment_method=payment_method, notes=notes)


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
    return _enqueue(settings, order_id, None, "mark_complete", actor, "workflows.jobs.mark_complete",
                    queue.job_id("complete", order_id), order_id=order_id, actor=actor)
