"""It's fine (issues 25 and 26.3): a person settles a booking problem — the arrival check or the
front desk found the booking missing — saying why the booking is fine as it is ("the guest
rebooked by phone, CRS number on the folio"). The reason is required and audited with the
settlement; the item goes back to Confirmed where the problem held it, and a Complete order's
alert resolves when no problem is left (`workflows.orders.problem_alerts`).

Nothing outside is called, so it is done in the request itself, like Snooze.
"""

from __future__ import annotations

from workflows.core import queue
from workflows.core.answers import Ack
from workflows.core.db import transaction
from workflows.core.models import Order
from workflows.core.settings import Settings
from workflows.oncall import escalation
from workflows.orders.problem_alerts import How, settle

MIN_REASON = 5


def request_fine(settings: Settings, order_id: str, item_id: str, actor: str, reason: str) -> Ack:
    reason = " ".join((reason or "").split())
    if len(reason) < MIN_REASON:
        return Ack(False, "Say why the booking is fine (at least a few words): it is kept with the order's history.")
    with transaction(settings.database_url) as session:
        order = session.get(Order, order_id, with_for_update=True)
        if order is None:
            return Ack(False, f"Order {order_id} is not known to syncdesk.")
        if not any(i.item_id == item_id for i in order.items):
            return Ack(False, f"Order {order_id} has no item {item_id}.")
        settled = settle(session, order, item_id, actor=actor, how=How.FINE, reason=reason)
        if settled is None:
            return Ack(False, f"{item_id} of {order_id} has no open booking problem: nothing to settle.")
        if settled.resolved:
            escalation.request_resolve(session, order_id)  # and its page, if it was paged
        else:
            escalation.acknowledge(session, order_id, actor)  # a person acted: stop escalating
        entries = queue.added(session)
    queue.dispatch(settings, entries)
    done = " The alert is resolved." if settled.resolved else ""
    return Ack(True, f"Recorded: {item_id}'s booking is fine ({reason}).{done}")
