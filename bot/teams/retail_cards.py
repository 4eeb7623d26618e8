"""Adaptive Cards for retail orders awaiting dispatch (`workflows.retail.service`), Teams'
counterpart of `bot.slack.retail_render`, as pure functions: the reminder card listing every
overdue order with a **Dispatched** form per item (courier and tracking number, both
required) and, for orders whose every item is dispatched, **Mark complete**. No I/O here.

Same schema and conventions as `bot.teams.cards` (Adaptive Cards 1.5, Universal Actions); a
Dispatched click arrives as the verb `dispatched` with the inputs `courier__<item>` and
`tracking__<item>`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bot.teams.cards import MARK_COMPLETE, card, cut, execute, input_id, text
from bot.wording import retail_headline

if TYPE_CHECKING:
    from workflows.retail.service import RetailOrder, RetailReminder

DISPATCHED = "dispatched"
MAX_ORDERS = 20


def reminder_text(reminder: RetailReminder) -> str:
    return retail_headline(len(reminder.orders), [o.order_id for o in reminder.ready], reminder.after_hours)

def _order_line(order: RetailOrder) -> str:
    items = ", ".join(f"{i.quantity} × {cut(i.description, 120) or i.item_id}" for i in order.items)
    return (f"**{order.order_id}** · {cut(order.guest_name, 80) or '(no name)'} · placed "
            f"{order.placed_at:%d %b %H:%M} UTC · waiting {order.waiting_hours} h\n\n{items}")


def _dispatch_form(order_id: str, item_id: str, description: str) -> dict[str, Any]:
    return {"type": "AdaptiveCard", "body": [
        text(f"Record the dispatch of {order_id} · {item_id}" + (f" · {cut(description, 200)}" if description else ""),
             size="Small"),
        {"type": "Input.Text", "id": input_id("courier", item_id), "label": "Courier", "isRequired": True,
         "maxLength": 64, "placeholder": "e.g. Royal Mail, DPD", "errorMessage": "The courier is required."},
        {"type": "Input.Text", "id": input_id("tracking", item_id), "label": "Tracking number", "isRequired": True,
         "maxLength": 64, "placeholder": "e.g. JD014600006281230704",
         "errorMessage": "The tracking number is required."},
    ], "actions": [execute("Record dispatch", DISPATCHED, order_id, item_id, "positive")]}


def reminder_card(reminder: RetailReminder) -> dict[str, Any]:
    """One card listing every overdue retail order, a Dispatched form per item."""
    body: list[dict[str, Any]] = [
        text(f"📦 {reminder_text(reminder)}", size="Large", weight="Bolder", style="heading"),
        text("Retail items In Progress await picking or dispatch: they are not failed syncs. Press **Dispatched** "
             "once the goods are with the courier; then the order can be completed.", size="Small", isSubtle=True),
    ]
    for order in reminder.orders[:MAX_ORDERS]:
        body.append({"type": "Container", "separator": True, "items": [
            text(_order_line(order)),
            {"type": "ActionSet", "actions": [
                {"type": "Action.ShowCard", "title": f"Dispatched {i.item_id}" if len(order.items) > 1 else "Dispatched",
                 "card": _dispatch_form(order.order_id, i.item_id, i.description)} for i in order.items[:5]]}]})
    for order in reminder.ready[:MAX_ORDERS]:
        body.append({"type": "Container", "separator": True, "items": [
            text(f"✅ {_order_line(order)}\n\nEverything is dispatched. **Mark complete** sets the order Complete on "
                 "the platform, which emails the guest."),
            {"type": "ActionSet", "actions": [execute("Mark complete", MARK_COMPLETE, order.order_id,
                                                      style="positive")]}]})
    rest = reminder.orders[MAX_ORDERS:]
    if rest:
        body.append(text(f"…and {len(rest)} more: " + ", ".join(o.order_id for o in rest[:50]), size="Small"))
    return card(body, reminder_text(reminder))
