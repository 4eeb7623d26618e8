"""The "Dispatched" button of the retail reminder, shared by the chat surfaces: check what
can be checked at once, enqueue `workflows.retail.service.dispatched` under a deterministic job id
(`dispatch`, order, item, tracking number: a double click or a redelivered submission is
queued once), audit the click, answer at once. The job records it (`retail.record_dispatch`).
"""

from __future__ import annotations

from redis.exceptions import RedisError
from sqlalchemy import select

from workflows.core import queue, states
from workflows.core.answers import Ack
from workflows.core.db import transaction
from workflows.core.models import OrderItem
from workflows.core.settings import Settings
from workflows.retail import service as retail


def dispatch_problem(courier: str, tracking: str) -> tuple[str, str] | None:
    """(which field, why) when the form cannot be accepted, else None."""
    if not (courier or "").strip():
        return "courier", "The courier is required."
    if not (tracking or "").strip():
        return "tracking", "The tracking number is required."
    if not retail.TRACKING.match(tracking.strip()):
        return "tracking", ("That does not look like a tracking number (3-64 letters, digits, spaces, "
                            "'.', '-', '_' or '/').")
    return None


def request_dispatched(settings: Settings, order_id: str, item_id: str, actor: str, courier: str,
                       tracking: str) -> Ack:
    courier, tracking = (courier or "").strip(), (tracking or "").strip()
    problem = dispatch_problem(courier, tracking)
    if problem is not None:
        return Ack(False, problem[1])
    with transaction(settings.database_url) as session:
        item = session.scalar(select(OrderItem).where(OrderItem.order_id == order_id, OrderItem.item_id == item_id))
        if item is None:
            return Ack(False, f"Order {order_id} has no item {item_id}.")
        if item.kind != retail.RETAIL:
            return Ack(False, f"{item_id} is a {item.kind} item; only retail items are dispatched.")
        if item.status != states.IN_PROGRESS:
            return Ack(False, f"{item_id} is already {item.status}"
                              + (f" ({item.external_reference})." if item.external_reference else "."))
    job_id = queue.job_id("dispatch", order_id, item_id, tracking)
    try:
        accepted = queue.enqueue(settings, "workflows.retail.service.dispatched", job_id, order_id=order_id,
                                 item_id=item_id, actor=actor, courier=courier, tracking=tracking)
    except RedisError:
        return Ack(False, "The job queue is unavailable right now (Redis at REDIS_URL does not answer); nothing was "
                          "recorded. Try again in a minute; if it lasts, check that Redis runs at REDIS_URL.")
    with transaction(settings.database_url) as session:
        states.audit(session, actor=actor, action="click.dispatched", order_id=order_id, item_id=item_id,
                     result="queued" if accepted else "duplicate", job_id=job_id, courier=courier, tracking=tracking)
    if not accepted:
        return Ack(False, f"That dispatch of {item_id} is already queued.", job_id)
    return Ack(True, f"Dispatch of {item_id} via {courier} ({tracking}) queued.", job_id)
