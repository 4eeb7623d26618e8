"""Retail orders: awaiting picking or dispatch is not a failed sync (DESIGN §1), so they get
their own flow — one reminder listing every order waiting too long, and a "Dispatched"
action that records courier and tracking number, after which Mark complete is allowed.

The operations manual (`shared/sources/000_b03b22bf70da5413.txt`): for retail, In Progress
"simply means the order is placed and is awaiting your team to begin the picking or
dispatch process"; staff "dispatch the goods via your chosen courier", then set the item
Confirmed and the order Complete.

- `overdue_retail(session, now=, after_hours=)` → a `RetailReminder` (or None): orders with a
  retail item still In Progress longer than `RETAIL_REMIND_AFTER_HOURS`, each order at most
  once per that period. The chat layer renders it as one message.
- `send_retail_reminder()` — the RQ job the worker's clock enqueues: builds the reminder,
  hands it to every registered sink (`reminders`; none registered: it is logged), then
  records a `retail.reminded` audit event per order.
- `record_dispatch(session, …)` — the service: In Progress → Dispatched with audit.
- `dispatched(…)` — the RQ job behind the "Dispatched" button.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from dataclasses import dataclass
from typing import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session

from workflows.core import queue, states
from workflows.core.lifecycle import RULES
from workflows.core.db import transaction
from workflows.core.models import AuditEvent, Order, OrderItem, utcnow
from workflows.core.ports import Port
from workflows.core.settings import get_settings
from workflows.orders import masking, service

log = logging.getLogger(__name__)

RETAIL = "retail"
REMINDED = "retail.reminded"
TRACKING = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._/-]{2,63}$")
_CLOSED = tuple(status for status, rule in RULES.items() if rule.on.done)  # nothing left to dispatch


@dataclass(frozen=True)
class RetailItem:
    item_id: str
    description: str
    quantity: int


@dataclass(frozen=True)
class RetailOrder:
    order_id: str
    guest_name: str
    placed_at: dt.datetime
    waiting_hours: int
    items: tuple[RetailItem, ...]


@dataclass(frozen=True)
class RetailReminder:
    """One reminder: every retail order awaiting dispatch too long, oldest first."""

    orders: tuple[RetailOrder, ...]
    after_hours: int
    generated_at: dt.datetime
    # Orders whose every item is dispatched: the reminder offers Mark complete for them.
    ready: tuple[RetailOrder, ...] = ()

    @property
    def summary(self) -> str:
        """A plain-text line per order (for logs; the chat layer renders its own)."""
        lines = []
        if self.orders:
            lines.append(f"{len(self.orders)} retail order(s) awaiting dispatch for more than {self.after_hours} h:")
            lines += [f"- {o.order_id} ({o.guest_name or 'no name'}), waiting {o.waiting_hours} h: "
                      + ", ".join(f"{i.quantity} x {i.description}" for i in o.items) for o in self.orders]
        lines += [f"{o.order_id} ({o.guest_name or 'no name'}) is dispatched: ready to Mark complete"
                  for o in self.ready]
        return "\n".join(lines)


class DispatchRefused(ValueError):
    """The dispatch cannot be recorded; the message says why, in words."""


# -- the reminder --------------------------------------------------------------------------

def overdue_retail(session: Session, *, now: dt.datetime, after_hours: int,
                   guest_details: str = masking.FULL) -> RetailReminder | None:
    """Orders whose retail items await dispatch longer than `after_hours` and were not reminded
    since; their guests as `guest_details` (CHAT_GUEST_DETAILS) shows them."""
    cutoff = now - dt.timedelta(hours=after_hours)
    rows = session.execute(
        select(Order, OrderItem).join(OrderItem, OrderItem.order_id == Order.id).where(
            OrderItem.kind == RETAIL, OrderItem.status == states.IN_PROGRESS, Order.platform_status.not_in(_CLOSED)
        ).order_by(Order.id, OrderItem.item_id)
    ).all()
    waiting: dict[str, tuple[Order, list[OrderItem]]] = {}
    for order, item in rows:
        waiting.setdefault(order.id, (order, []))[1].append(item)
    reminded = set(session.scalars(select(AuditEvent.order_id).where(
        AuditEvent.action == REMINDED, AuditEvent.created_at > cutoff, AuditEvent.order_id.in_(list(waiting))
    )).all()) if waiting else set()
    overdue = []
    for order_id, (order, items) in waiting.items():
        since = order.placed_at or order.created_at
        if since > cutoff or order_id in reminded:
            continue
        overdue.append(RetailOrder(
            order_id=order_id, guest_name=masking.guest_name(order.guest_first_name, order.guest_last_name,
                                                             guest_details), placed_at=since,
            waiting_hours=int((now - since).total_seconds() // 3600),
            items=tuple(RetailItem(i.item_id, i.description, i.quantity) for i in items),
        ))
    if not overdue:
        return None
    overdue.sort(key=lambda o: o.placed_at)
    return RetailReminder(tuple(overdue), after_hours, now)


ReminderSink = Callable[[RetailReminder], None]
# How each surface posts a reminder (one message per surface); the wiring registers them.
reminders: Port[ReminderSink] = Port("retail reminder sink")


def send_retail_reminder() -> str:
    """RQ job: post one reminder listing every overdue retail order, then remember it was sent."""
    settings = get_settings()
    now = utcnow()
    with transaction(settings.database_url) as session:
        reminder = overdue_retail(session, now=now, after_hours=settings.retail_remind_after_hours,
                                  guest_details=settings.chat_guest_details)
    if reminder is None:
        return "no retail order overdue"
    if not reminders.surfaces():
        log.warning("no chat surface registered for retail reminders; it would post:\n%s", reminder.summary)
    for surface in reminders.surfaces():
        reminders.get(surface)(reminder)  # a failure raises: the job fails, nothing is recorded, the next run reminds again
    with transaction(settings.database_url) as session:
        for order in reminder.orders:
            states.audit(session, actor="syncdesk", action=REMINDED, order_id=order.order_id,
                         waiting_hours=order.waiting_hours, items=[i.item_id for i in order.items])
    return f"reminded: {len(reminder.orders)} order(s)"


# -- Dispatched ----------------------------------------------------------------------------

def record_dispatch(session: Session, order_id: str, item_id: str, actor: str, courier: str,
                    tracking: str) -> OrderItem:
    """Move a retail item from In Progress to Dispatched, with courier and tracking number audited.

    Raises DispatchRefused when courier or tracking is missing or the item cannot be
    dispatched. Recording the same dispatch twice is a no-op.
    """
    courier, tracking = (courier or "").strip(), (tracking or "").strip()
    missing = [name for name, value in (("the courier", courier), ("the tracking number", tracking)) if not value]
    if missing:
        raise DispatchRefused(" and ".join(missing) + (" are" if len(missing) > 1 else " is") + " required")
    if not TRACKING.match(tracking):
        raise DispatchRefused(f"{tracking!r} does not look like a tracking number (3-64 letters, digits, spaces, "
                              "'.', '-', '_' or '/')")
    item = session.scalar(select(OrderItem).where(OrderItem.order_id == order_id, OrderItem.item_id == item_id)
                          .with_for_update())
    if item is None:
        raise DispatchRefused(f"order {order_id} has no item {item_id}")
    if item.kind != RETAIL:
        raise DispatchRefused(f"{item_id} is a {item.kind} item; only retail items are dispatched")
    if item.status == states.DISPATCHED and item.external_reference == tracking:
        return item
    if item.status != states.IN_PROGRESS:
        raise DispatchRefused(f"{item_id} is already {item.status}")
    states.move_item(session, item, states.DISPATCHED, actor=actor, courier=courier, tracking=tracking,
                     extra={"external_reference": tracking, "notes": f"Dispatched via {courier}, tracking {tracking}"})
    return item


def ready_to_complete(session: Session, order_id: str, now: dt.datetime,
                      guest_details: str = masking.FULL) -> RetailOrder | None:
    """The order, when every item is dispatched (or confirmed) and it is not yet done: Mark complete is next."""
    order = session.get(Order, order_id)
    if order is None or order.platform_status in _CLOSED or not order.items:
        return None
    if any(i.kind != RETAIL or i.status not in (states.DISPATCHED, states.CONFIRMED) for i in order.items):
        return None
    since = order.placed_at or order.created_at
    return RetailOrder(order.id, masking.guest_name(order.guest_first_name, order.guest_last_name, guest_details),
                       since, int((now - since).total_seconds() // 3600),
                       tuple(RetailItem(i.item_id, i.description, i.quantity) for i in order.items))


def dispatched(order_id: str, item_id: str, actor: str, courier: str, tracking: str) -> str:
    """RQ job behind the "Dispatched" button: record it, then re-render the order's alerts; a
    retail-only order with everything dispatched is offered Mark complete in the reminder's place."""
    settings = get_settings()
    try:
        with transaction(settings.database_url) as session:
            item = record_dispatch(session, order_id, item_id, actor, courier, tracking)
            service.refresh_alerts(session, item.order, f"dispatched:{item_id}:{tracking.strip()}")
            ready = ready_to_complete(session, order_id, utcnow(), settings.chat_guest_details) \
                if not item.order.alerts else None
            entries = queue.added(session)
    except DispatchRefused as exc:
        with transaction(settings.database_url) as session:
            states.audit(session, actor=actor, action="dispatch.refused", order_id=order_id, item_id=item_id,
                         result="refused", reason=str(exc))
        return f"refused: {exc}"
    queue.dispatch(settings, entries)
    if ready is not None:  # an order with an alert shows Mark complete there instead
        notice = RetailReminder((), settings.retail_remind_after_hours, utcnow(), ready=(ready,))
        for surface in reminders.surfaces():
            reminders.get(surface)(notice)
    return f"dispatched: {item_id} via {courier.strip()} ({tracking.strip()})"
