"""Block Kit for retail orders awaiting dispatch (`workflows.retail.service`), as pure functions:
the one reminder message listing every overdue order with a **Dispatched** button per
item, and the Dispatched modal (courier and tracking number, both required). No I/O here.

Limits as in `bot.slack.render`: 50 blocks a message, 25 elements an actions block,
3000-character sections; orders beyond what fits with buttons are still listed, as text.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from bot.slack.render import (
    MARK_COMPLETE,
    MAX_BUTTON_TEXT,
    MAX_MESSAGE_BLOCKS,
    MAX_MODAL_TITLE,
    MAX_SECTION_TEXT,
    button,
    context,
    cut,
    escape,
    header,
    parse_value,
    section,
)
from bot.wording import retail_headline

if TYPE_CHECKING:
    from workflows.retail.service import RetailOrder, RetailReminder

DISPATCHED = "dispatched"  # the button's action_id; value: [order id, item id]
DISPATCHED_VIEW = "dispatched_submit"  # the modal's callback_id
COURIER_BLOCK = "courier"
TRACKING_BLOCK = "tracking"
MAX_ORDERS_WITH_BUTTONS = 20  # 2 blocks each, under Slack's 50
MAX_BUTTONS = 25  # elements of one actions block


def reminder_text(reminder: RetailReminder) -> str:
    return retail_headline(len(reminder.orders), [o.order_id for o in reminder.ready], reminder.after_hours)

def _order_line(order: RetailOrder) -> str:
    items = ", ".join(f"{i.quantity} × {escape(cut(i.description, 120)) or escape(i.item_id)}" for i in order.items)
    return (f"*{escape(order.order_id)}* · {escape(cut(order.guest_name, 80)) or '(no name)'} · "
            f"placed {order.placed_at:%d %b %H:%M} UTC · waiting {order.waiting_hours} h\n{items}")


def reminder_blocks(reminder: RetailReminder) -> list[dict[str, Any]]:
    """One message listing every overdue retail order, a Dispatched button per item."""
    blocks: list[dict[str, Any]] = [
        header(f"📦 {reminder_text(reminder)}"),
        context("Retail items In Progress await picking or dispatch: they are not failed syncs. "
                "Press *Dispatched* once the goods are with the courier; then the order can be completed."),
    ]
    shown = reminder.orders[:MAX_ORDERS_WITH_BUTTONS]
    for order in shown:
        blocks.append(section(_order_line(order), block_id=f"retail:{order.order_id}"[:255]))
        blocks.append({"type": "actions", "block_id": f"dispatch:{order.order_id}"[:255], "elements": [
            button(cut(f"Dispatched {i.item_id}" if len(order.items) > 1 else "Dispatched", MAX_BUTTON_TEXT),
                   DISPATCHED, json.dumps([order.order_id, i.item_id], separators=(",", ":")))
            for i in order.items[:MAX_BUTTONS]]})
    for order in reminder.ready[:MAX_ORDERS_WITH_BUTTONS]:
        blocks.append(section(f"✅ {_order_line(order)}\nEverything is dispatched. *Mark complete* sets the order "
                              "Complete on the platform, which emails the guest.",
                              block_id=f"ready:{order.order_id}"[:255]))
        blocks.append({"type": "actions", "block_id": f"complete:{order.order_id}"[:255], "elements": [
            button("Mark complete", MARK_COMPLETE, json.dumps([order.order_id], separators=(",", ":")), "primary")]})
    rest = reminder.orders[len(shown):]
    if rest:
        lines = [f"• {escape(o.order_id)} · {escape(cut(o.guest_name, 60))} · waiting {o.waiting_hours} h" for o in rest]
        text = cut(f"*…and {len(rest)} more* (press Dispatched on the ones above first; "
                   "the next reminder lists these with buttons):\n" + "\n".join(lines), MAX_SECTION_TEXT)
        blocks.append(section(text))
    return blocks[:MAX_MESSAGE_BLOCKS]


def dispatched_modal(order_id: str, item_id: str, channel: str, description: str = "") -> dict[str, Any]:
    """The Dispatched form: courier and tracking number, both required."""
    meta = json.dumps({"order_id": order_id, "item_id": item_id, "channel": channel})
    what = f" · {escape(cut(description, 200))}" if description else ""
    return {
        "type": "modal", "callback_id": DISPATCHED_VIEW, "private_metadata": meta[:3000],
        "title": {"type": "plain_text", "text": cut("Dispatched", MAX_MODAL_TITLE)},
        "submit": {"type": "plain_text", "text": "Record dispatch"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            section(f"Record the dispatch of *{escape(order_id)} · {escape(item_id)}*{what}"),
            {"type": "input", "block_id": COURIER_BLOCK, "label": {"type": "plain_text", "text": "Courier"},
             "element": {"type": "plain_text_input", "action_id": "value", "max_length": 64,
                         "placeholder": {"type": "plain_text", "text": "e.g. Royal Mail, DPD"}}},
            {"type": "input", "block_id": TRACKING_BLOCK, "label": {"type": "plain_text", "text": "Tracking number"},
             "element": {"type": "plain_text_input", "action_id": "value", "max_length": 64,
                         "placeholder": {"type": "plain_text", "text": "e.g. JD014600006281230704"}}},
        ],
    }


def clicked_item(value: str) -> tuple[str, str]:
    order_id, item_id = parse_value(value)
    return order_id, item_id or ""
