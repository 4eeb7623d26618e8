"""Block Kit for syncdesk, as pure functions of an `OrderSnapshot`: the alert message, the
compact resolved summary, the thread reply for a job's outcome, the View-log and
Booked-manually modals, the order queue and the App Home tab. No I/O here.

Implements Slack's Block Kit reference (docs.slack.dev/reference/block-kit): a message
holds at most 50 blocks, a modal or Home tab 100; section text at most 3000 characters,
header plain_text 150, button text 75 and value 2000, action_id and block_id 255, modal
title 24 and private_metadata 3000 characters. Text that could exceed a limit (guest
names, descriptions, raw logs) is cut here, never left for Slack to reject. mrkdwn
escaping follows "Formatting text for app surfaces" (&, <, > escaped).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from connectors.errors import ErrorClass
from workflows.actions import PREMIER_PAYMENT_METHODS
from workflows.lookup import QueueRow, money
from workflows.snapshot import AttemptView, AuditView, ItemView, OrderSnapshot
from bot.wording import (  # the words both surfaces share
    ERROR_CLASSES as _CLASSES,
    SYSTEM_NAMES,
    cut,
    dates as _dates,
    day as _day,
    headline as _headline,
    is_manual,
    property_label as _property,
    story,
    system_name,
    time_utc as _time,
    urgency,
)

if TYPE_CHECKING:
    from connectors.types import SystemDescription

# Slack's limits (Block Kit reference)
MAX_MESSAGE_BLOCKS = 50
MAX_VIEW_BLOCKS = 100
MAX_SECTION_TEXT = 3000
MAX_HEADER_TEXT = 150
MAX_BUTTON_TEXT = 75
MAX_MODAL_TITLE = 24
MAX_OPTION_TEXT = 75

# action_ids and callback_ids the listeners in `bot.slack.app` match on
REPROCESS = "reprocess"
BOOKED_MANUALLY = "booked_manually"
MARK_COMPLETE = "mark_complete"
VIEW_LOG = "view_log"
IM_ON_IT = "im_on_it"
HOME_FILTER_STATUS = "home_filter_status"
HOME_FILTER_DATE = "home_filter_date"
BOOKED_MANUALLY_VIEW = "booked_manually_submit"

# block_ids of the Booked-manually modal (response_action errors are keyed by them)
REFERENCE_BLOCK = "reference"
PAYMENT_METHOD_BLOCK = "payment_method"
NOTES_BLOCK = "notes"
EXISTING_BLOCK = "existing"

QUEUE_STATUSES = ("failed", "ready", "processing", "success", "created")
OPEN_ORDER_STATUSES = ("Complete", "Cancelled", "Closed")

_ACTOR = re.compile(r"slack:(U[A-Z0-9]+)(?: \([^)]*\))?")


# -- text ---------------------------------------------------------------------------------

def escape(text: str) -> str:
    """Escape the three characters mrkdwn treats as control sequences."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def who(actor: str) -> str:
    """An actor as Slack shows it: `slack:U123 (ana)` becomes a mention, others stay words."""
    match = _ACTOR.fullmatch(actor)
    return f"<@{match.group(1)}>" if match else escape(actor)


def slack_text(message: str) -> str:
    """A workflows message (an `Ack`) for Slack: escaped, with Slack actors as mentions."""
    return _ACTOR.sub(lambda m: f"<@{m.group(1)}>", escape(message))


def _urgency_mark(arrival: dt.date | None, today: dt.date) -> str:
    if arrival is None:
        return ""
    days = (arrival - today).days
    return "🔴 " if days <= 1 else "🟠 " if days <= 7 else ""


def _value(order_id: str, item_id: str | None = None) -> str:
    return json.dumps([order_id, item_id] if item_id else [order_id], separators=(",", ":"))


def parse_value(value: str) -> tuple[str, str | None]:
    """The (order id, item id) a button carries."""
    data = json.loads(value)
    return str(data[0]), (str(data[1]) if len(data) > 1 and data[1] is not None else None)


# -- blocks -------------------------------------------------------------------------------

def header(text: str) -> dict[str, Any]:
    return {"type": "header", "text": {"type": "plain_text", "text": cut(text, MAX_HEADER_TEXT), "emoji": True}}


def section(text: str, **extra: Any) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": cut(text, MAX_SECTION_TEXT)}, **extra}


def context(*texts: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": cut(t, MAX_SECTION_TEXT)} for t in texts[:10]]}


def divider() -> dict[str, Any]:
    return {"type": "divider"}


def button(text: str, action_id: str, value: str, style: str | None = None) -> dict[str, Any]:
    b: dict[str, Any] = {"type": "button", "text": {"type": "plain_text", "text": cut(text, MAX_BUTTON_TEXT)},
                         "action_id": action_id, "value": value}
    if style:
        b["style"] = style
    return b


def _plain(text: str, limit: int) -> dict[str, Any]:
    return {"type": "plain_text", "text": cut(text, limit)}


# -- the alert ----------------------------------------------------------------------------

def payment_line(s: OrderSnapshot) -> str:
    """The **Payment** line: the stored Stripe check, or a loud warning."""
    d = s.payment_detail
    cur = d.get("currency") or s.currency
    ref = f"`{escape(s.payment_reference)}`" if s.payment_reference else "no reference"
    amount = money(int(d.get("amount_minor") or s.total_minor), cur)
    state = s.payment_state
    detail = escape(str(d.get("detail") or ""))
    if state == "captured":
        return f"*Payment:* ✅ {amount} captured ({ref}), no refunds"
    if state == "partially_refunded":
        return (f"*Payment:* ⚠️ {amount} captured ({ref}), *{money(int(d.get('refunded_minor') or 0), cur)} "
                "refunded* — check what the guest is still owed before booking")
    if state == "refunded":
        return (f"*Payment:* 🚨 *REFUNDED* — {money(int(d.get('refunded_minor') or 0), cur)} refunded ({ref}). "
                "Do not book; syncdesk will not reprocess or complete this order.")
    if state == "not_captured":
        return (f"*Payment:* 🚨 *NOT CAPTURED* ({ref}) — the money was never taken. Do not book; "
                "ask the guest to pay again.")
    if state == "mismatch":
        return (f"*Payment:* 🚨 *AMOUNT MISMATCH* — order {money(int(d.get('expected_minor') or s.total_minor), cur)}, "
                f"Stripe received {money(int(d.get('received_minor') or 0), cur)} ({ref}). Do not book until resolved.")
    if state == "unknown":
        return (f"*Payment:* ⚠️ *NOT VERIFIED* ({ref}){': ' + detail if detail else ''}. "
                "Check it by hand before telling the guest anything.")
    return f"*Payment:* ⏳ not checked yet ({ref}, {money(s.total_minor, s.currency)})"


def _payment_word(s: OrderSnapshot) -> str:
    marks = {"captured": "✅", "partially_refunded": "⚠️", "unknown": "⚠️"}
    state = s.payment_state or "not checked"
    return f"{marks.get(state, '🚨' if s.payment_state else '⏳')} {state.replace('_', ' ')}"


def alert_text(s: OrderSnapshot, today: dt.date | None = None) -> str:
    """The notification text (and accessibility fallback) of the alert message."""
    today = today or dt.datetime.now(dt.timezone.utc).date()
    if _resolved(s):
        return f"Resolved · {s.order_id} · {s.guest_name}"
    return f"{_headline(s)} · {urgency(s.arrival, today)} · {s.guest_name}"


def _resolved(s: OrderSnapshot) -> bool:
    return s.status in OPEN_ORDER_STATUSES


def _guest(s: OrderSnapshot) -> str:
    contact = " · ".join(escape(x) for x in (s.guest_email, s.guest_phone) if x)
    return f"*Guest:* {escape(s.guest_name) or '(no name)'}" + (f" · {contact}" if contact else "")


def _item_line(item: ItemView) -> str:
    party = f"{item.guests} guest{'s' if item.guests != 1 else ''}"
    qty = f"{item.quantity} × " if item.quantity != 1 else ""
    return (f"*{escape(item.item_id)}* · {qty}{escape(item.description) or item.kind} · {_dates(item)} · {party}\n"
            f"{system_name(item.system)} · {escape(_property(item))}")


def _attempt_line(a: AttemptView) -> str:
    when = _time(a.finished_at or a.started_at)
    what = {"failed": "failed", "success": "succeeded", "processing": "running"}.get(a.status, a.status)
    cls = ""
    if a.error_class:
        cls = f" · {ErrorClass(a.error_class).label if a.error_class in _CLASSES else escape(a.error_class)}"
    ref = f" · `{escape(a.confirmation)}`" if a.confirmation else ""
    return f"#{a.number} {what} {when} by {who(a.triggered_by)}{cls}{ref}"


def _why(item: ItemView, order_id: str) -> dict[str, Any]:
    last = next((a for a in reversed(item.attempts) if a.error_class), None)
    if last is None:
        text = "*Why:* no failure recorded yet."
    else:
        cls = ErrorClass(last.error_class) if last.error_class in _CLASSES else ErrorClass.UNKNOWN
        message = escape(cut(last.message or "", 500))
        text = (f"*Why: {cls.label}.* {cls.explanation}\n"
                + (f"> {message}\n" if message else "")
                + f"*Next step:* {cls.next_step}")
    extra = {}
    if any(a.raw_log or a.message for a in item.attempts):
        extra["accessory"] = button("View log", VIEW_LOG, _value(order_id, item.item_id))
    return section(text, block_id=f"why:{item.item_id}"[:255], **extra)


def _attempts(s: OrderSnapshot, item: ItemView) -> dict[str, Any]:
    shown = item.attempts[-4:]
    lines = [_attempt_line(a) for a in shown]
    if len(item.attempts) > len(shown):
        lines.insert(0, f"{len(item.attempts) - len(shown)} earlier attempts")
    retry = s.pending_retry()
    if retry is not None and retry.item_id == item.item_id:
        at = retry.detail.get("at")
        when = _time(dt.datetime.fromisoformat(at)) if at else "soon"
        lines.append(f"🔁 automatic retry scheduled for {when} (once)")
    elif any(a.triggered_by.startswith("syncdesk (automatic") for a in item.attempts):
        lines.append("🔁 automatic retry done")
    count = len(item.attempts)
    return context(f"*Attempts ({count}):*\n" + "\n".join(lines) if lines else "*Attempts:* none yet")


def playbook_block(item: ItemView) -> dict[str, Any]:
    """The manual steps of a system without a booking API, in place of the Reprocess button."""
    desc = item.system_description
    assert desc is not None
    steps = "\n".join(f"{n}. {escape(step)}" for n, step in enumerate(desc.playbook, 1))
    return section(f"*Book it by hand in {escape(desc.name)}:*\n{steps}", block_id=f"playbook:{item.item_id}"[:255])


def _item_buttons(s: OrderSnapshot, item: ItemView) -> dict[str, Any]:
    value = _value(s.order_id, item.item_id)
    elements = []
    if item.sync_status != "processing" and not is_manual(item):
        elements.append(button("Reprocess", REPROCESS, value, "primary"))
    elements.append(button("Booked manually", BOOKED_MANUALLY, value))
    return {"type": "actions", "block_id": f"actions:{item.item_id}"[:255], "elements": elements}


def can_complete(s: OrderSnapshot) -> bool:
    """Mark complete is offered when nothing would refuse it: every item booked or dispatched."""
    if _resolved(s) or not s.items:
        return False
    return all(i.status == "Confirmed" or (i.kind == "retail" and i.status == "Dispatched") for i in s.items)


def _confirmed_line(item: ItemView) -> str:
    ref = f" `{escape(item.external_reference)}`" if item.external_reference else ""
    by = f" by {who(item.confirmed_by)}" if item.confirmed_by else ""
    pm = f" · deposit on {escape(item.payment_method)}" if item.payment_method else ""
    return f"✅ *{escape(item.item_id)}* {item.status} in {system_name(item.system)}{ref}{by}{pm}"


MAX_ITEMS_SHOWN = 8  # 5 blocks per failing item; keeps the message well under 50 blocks


def alert_blocks(s: OrderSnapshot, today: dt.date | None = None) -> list[dict[str, Any]]:
    """The alert message: header and urgency, guest, payment, per failing item why/attempts/buttons."""
    today = today or dt.datetime.now(dt.timezone.utc).date()
    if _resolved(s):
        return resolved_blocks(s)
    arrival = s.arrival
    on_it = {"accessory": button("I'm on it", IM_ON_IT, _value(s.order_id))} if _unhandled(s) else {}
    blocks = [
        header(f"{_urgency_mark(arrival, today)}{_headline(s)} · {urgency(arrival, today)}"),
        section(f"{_guest(s)}\n*Order:* {escape(s.order_id)} · {escape(s.status)} · "
                f"{money(s.total_minor, s.currency)}"
                + (f" · placed {_time(s.placed_at)}" if s.placed_at else ""), **on_it),
        section(payment_line(s), block_id="payment"),
    ]
    failing = s.failing_items
    shown = 0
    for item in failing[:MAX_ITEMS_SHOWN]:
        status = " · ⏳ *reprocessing now*" if item.sync_status == "processing" else ""
        item_blocks = [divider(), section(_item_line(item) + status, block_id=f"item:{item.item_id}"[:255]),
                       _why(item, s.order_id), _attempts(s, item)]
        item_blocks += [playbook_block(item)] if is_manual(item) else []
        item_blocks.append(_item_buttons(s, item))
        if len(blocks) + len(item_blocks) > MAX_MESSAGE_BLOCKS - 8:  # room for the rest of the message
            break
        blocks += item_blocks
        shown += 1
    if len(failing) > shown:
        blocks.append(section(f"…and {len(failing) - shown} more failing items: "
                              f"`/syncdesk order {escape(s.order_id)}`"))
    done = [i for i in s.items if i.status in ("Confirmed", "Dispatched")]
    if done:
        lines = [_confirmed_line(i) for i in done[:20]]
        if len(done) > 20:
            lines.append(f"…and {len(done) - 20} more")
        blocks += [divider(), section("\n".join(lines))]
    if can_complete(s):
        blocks.append(section("Every item is booked. *Mark complete* sets the order Complete on the platform, "
                              "which emails the guest their confirmation."))
        blocks.append({"type": "actions", "block_id": "complete",
                       "elements": [button("Mark complete", MARK_COMPLETE, _value(s.order_id), "primary")]})
    taken = next((a.acknowledged_by for a in s.alerts if a.state == "acknowledged" and a.acknowledged_by), None)
    blocks.append(context(f"syncdesk · {escape(s.order_id)} · "
                          + (f"payment checked {_time(s.payment_checked_at)}" if s.payment_checked_at
                             else "payment not checked yet")
                          + (f" · 👤 {who(taken)} is on it" if taken else "")))
    return blocks[:MAX_MESSAGE_BLOCKS]


def _unhandled(s: OrderSnapshot) -> bool:
    """An alert nobody has taken yet: "I'm on it" stops its escalation."""
    return any(a.state == "open" for a in s.alerts)


def _story(s: OrderSnapshot) -> list[str]:
    """Who did what, from the audit trail: the lines of a resolved summary."""
    return story(s, who, escape, lambda ref: f"`{escape(ref)}`")


def resolved_blocks(s: OrderSnapshot) -> list[dict[str, Any]]:
    """The compact summary a completed or cancelled order's alert turns into."""
    mark = "✅" if s.status == "Complete" else "⚪"
    story = _story(s)[-15:] or ["no actions recorded"]
    return [
        header(f"{mark} {s.status} · {s.order_id} · {s.guest_name}"),
        section("\n".join(story)),
        context(payment_line(s).replace("*Payment:* ", "Payment: "),
                f"{len(s.items)} item{'s' if len(s.items) != 1 else ''}"),
    ]


def outcome_reply(e: AuditView) -> str | None:
    """The thread reply for one job outcome in the audit trail, or None if it is not one."""
    actor = who(e.actor)
    item = escape(e.item_id or "")
    d = e.detail
    if e.action == "item.confirmed":
        ref = escape(str(d.get("confirmation") or ""))
        how = d.get("how")
        if how == "manual":
            pm = f", deposit on {escape(str(d['payment_method']))}" if d.get("payment_method") else ""
            return f"Booked manually by {actor}: {item} confirmed, `{ref}`{pm}"
        verb = {"found": "already there, confirmed", "confirmed": "pending booking confirmed"}.get(how, "booked")
        return f"Reprocessed by {actor}: {verb}, {item} `{ref}`"
    if e.action == "reprocess.failed":
        cls = d.get("error_class")
        label = ErrorClass(cls).label if cls in _CLASSES else "failed"
        return f"Reprocessed by {actor}: {item} failed again · {label}: {escape(cut(str(d.get('message') or ''), 300))}"
    if e.action in ("reprocess.refused", "booked_manually.refused", "complete.refused"):
        return f"{e.action.split('.')[0].replace('_', ' ').capitalize()} by {actor} refused: {escape(str(d.get('reason') or ''))}"
    if e.action in ("booked_manually.failed", "complete.failed"):
        return f"{e.action.split('.')[0].replace('_', ' ').capitalize()} by {actor} failed: {escape(str(d.get('message') or ''))}"
    if e.action == "order.complete":
        return f"Marked complete by {actor}: the platform emails the guest their confirmation."
    return None


# -- modals -------------------------------------------------------------------------------

def _item(s: OrderSnapshot, item_id: str) -> ItemView:
    return next(i for i in s.items if i.item_id == item_id)


def _log_chunks(log: str, size: int, count: int) -> list[str]:
    """`log` in at most `count` chunks of `size`, dropping the middle when it is longer."""
    if len(log) > size * count:
        budget = size * count - 60
        head, tail = log[: budget // 2], log[len(log) - (budget - budget // 2):]
        log = f"{head}\n… {len(log) - len(head) - len(tail)} characters omitted …\n{tail}"
    return [log[i:i + size] for i in range(0, len(log), size)] or [""]


def log_modal(s: OrderSnapshot, item_id: str) -> dict[str, Any]:
    """The View-log modal: the raw logs of an item's attempts, newest first, cut to fit."""
    item = _item(s, item_id)
    blocks = [section(f"*{escape(s.order_id)} · {escape(item_id)}* · {system_name(item.system)}")]
    budget = 48  # blocks left under the 50 we allow ourselves
    for n, a in enumerate(reversed(item.attempts)):
        if budget < 3:
            blocks.append(context(f"{len(item.attempts) - n} older attempts not shown"))
            break
        raw = escape(a.raw_log or a.message or "(no log)")
        chunks = _log_chunks(raw, MAX_SECTION_TEXT - 8, 8 if n == 0 else 1)[: budget - 1]
        blocks.append(context(_attempt_line(a)))
        blocks += [section(f"```{c}```") for c in chunks]
        budget -= 1 + len(chunks)
    return {"type": "modal", "title": _plain("Error log", MAX_MODAL_TITLE),
            "close": _plain("Close", MAX_BUTTON_TEXT), "blocks": blocks}


@dataclass(frozen=True)
class ExistingCheck:
    """What the Booked-manually modal says about an existing booking in the system."""

    state: str  # "checking" | "found" | "absent" | "error"
    confirmation: str = ""
    status: str = ""
    detail: str = ""


def _existing_text(system: str, check: ExistingCheck) -> str:
    name = system_name(system)
    if check.state == "checking":
        return f"⏳ Checking {name} for an existing reservation…"
    if check.state == "found":
        return (f"⚠️ *{name} already has reservation `{escape(check.confirmation)}`* ({escape(check.status)}). "
                "Do not book again: use this number"
                + (" (it must be Confirmed in SynXis first)." if check.status not in ("Confirmed", "") else "."))
    if check.state == "absent":
        return f"✅ No reservation for this item in {name}: book it there, then enter its number below."
    return f"❓ Could not check {name}: {escape(check.detail)}. Look for the reservation by hand before booking."


def payment_methods(item: ItemView) -> tuple[str, ...]:
    """The payment methods "Booked manually" asks for: the playbook's (configured), or EMS
    Premier's defaults when the system was not described; () when none is asked for."""
    desc: SystemDescription | None = item.system_description
    if desc is not None and "payment_method" in desc.manual_fields:
        return desc.payment_methods or PREMIER_PAYMENT_METHODS
    if desc is None and item.system == "premier":
        return PREMIER_PAYMENT_METHODS
    return ()


def booked_manually_modal(s: OrderSnapshot, item_id: str, metadata: str,
                          existing: ExistingCheck | None = None) -> dict[str, Any]:
    """The Booked-manually form: confirmation number, notes, and for EMS Premier the payment method."""
    item = _item(s, item_id)
    blocks: list[dict[str, Any]] = [section(
        f"Record a booking you made by hand for *{escape(s.order_id)} · {escape(item_id)}*\n{_item_line(item)}\n"
        f"*Guest:* {escape(s.guest_name)}")]
    if existing is not None:
        blocks.append(section(_existing_text(item.system, existing), block_id=EXISTING_BLOCK))
    if is_manual(item):
        blocks.append(playbook_block(item))
    initial = {"initial_value": existing.confirmation} if existing and existing.state == "found" else {}
    blocks.append({
        "type": "input", "block_id": REFERENCE_BLOCK,
        "label": _plain(f"{system_name(item.system)} confirmation number", 2000),
        "element": {"type": "plain_text_input", "action_id": "value", "max_length": 64,
                    "placeholder": _plain("e.g. 13098CU000379", 150), **initial},
        "hint": _plain("The number the booking system gave the reservation.", 2000),
    })
    methods = payment_methods(item)
    if methods:
        blocks.append({
            "type": "input", "block_id": PAYMENT_METHOD_BLOCK,
            "label": _plain("Deposit payment method", 2000),
            "element": {"type": "static_select", "action_id": "value",
                        "placeholder": _plain("Where the deposit was assigned", 150),
                        "options": [{"text": _plain(m, MAX_OPTION_TEXT), "value": m[:150]} for m in methods[:100]]},
        })
        blocks.append(context(f"An offline {system_name(item.system)} booking's deposit must be assigned to the "
                              "e-commerce payment method, or the end-of-day accounts will not balance."))
    blocks.append({
        "type": "input", "block_id": NOTES_BLOCK, "optional": True, "label": _plain("Notes", 2000),
        "element": {"type": "plain_text_input", "action_id": "value", "multiline": True, "max_length": 2000},
    })
    return {"type": "modal", "callback_id": BOOKED_MANUALLY_VIEW, "private_metadata": metadata[:3000],
            "title": _plain("Booked manually", MAX_MODAL_TITLE), "submit": _plain("Record booking", MAX_BUTTON_TEXT),
            "close": _plain("Cancel", MAX_BUTTON_TEXT), "blocks": blocks}


# -- the order queue and the Home tab -----------------------------------------------------

def _row_line(row: QueueRow, link: str | None) -> str:
    placed = _time(row.placed_at) if row.placed_at else "-"
    order = f"<{link}|{escape(row.order_id)}>" if link else f"`{escape(row.order_id)}`"
    cls = ErrorClass(row.error_class).label if row.error_class in _CLASSES else (row.error_class or "-")
    return f"{order} · {placed} · {escape(row.status)} · *{row.queue_status}* · {row.attempts} att. · {cls}"


def queue_blocks(rows: Sequence[QueueRow], title: str, links: dict[str, str] | None = None,
                 limit_blocks: int = MAX_MESSAGE_BLOCKS) -> list[dict[str, Any]]:
    """The order queue, newest first, like the admin order-queue page."""
    links = links or {}
    blocks = [header(title)]
    if not rows:
        return blocks + [section("No orders match.")]
    lines = [_row_line(r, links.get(r.order_id)) for r in rows]
    chunk: list[str] = []
    for line in lines:
        if sum(len(x) + 1 for x in chunk) + len(line) > MAX_SECTION_TEXT - 50:
            blocks.append(section("\n".join(chunk)))
            chunk = []
        chunk.append(line)
        if len(blocks) >= limit_blocks - 2:
            break
    if chunk:
        blocks.append(section("\n".join(chunk)))
    return blocks[: limit_blocks - 1] + [context(f"{len(rows)} orders · placed · order status · queue status · "
                                                 "attempts · last error")]


def _option(value: str, text: str) -> dict[str, Any]:
    return {"text": _plain(text, MAX_OPTION_TEXT), "value": value}


def home_view(open_orders: Iterable[OrderSnapshot], rows: Sequence[QueueRow], links: dict[str, str],
              status: str | None = None, day: dt.date | None = None,
              today: dt.date | None = None) -> dict[str, Any]:
    """The App Home dashboard: counts, filters, open alerts sorted by arrival, the queue."""
    today = today or dt.datetime.now(dt.timezone.utc).date()
    snapshots = sorted(open_orders, key=lambda s: (s.arrival or dt.date.max, s.order_id))
    by_status = Counter(r.queue_status for r in rows)
    by_system = Counter(system_name(i.system) for s in snapshots for i in s.failing_items)
    status_options = [_option("all", "all statuses")] + [_option(q, q) for q in QUEUE_STATUSES]
    select: dict[str, Any] = {"type": "static_select", "action_id": HOME_FILTER_STATUS,
                              "placeholder": _plain("Queue status", 150), "options": status_options}
    if status:
        select["initial_option"] = _option(status, status)
    picker: dict[str, Any] = {"type": "datepicker", "action_id": HOME_FILTER_DATE,
                              "placeholder": _plain("Placed on", 150)}
    if day:
        picker["initial_date"] = day.isoformat()
    blocks: list[dict[str, Any]] = [
        header("syncdesk · failed booking syncs"),
        section("*Open alerts:* " + str(len(snapshots))
                + (" · " + " · ".join(f"{k} {v}" for k, v in sorted(by_system.items())) if by_system else "")
                + "\n*Queue:* " + (" · ".join(f"{k} {by_status[k]}" for k in QUEUE_STATUSES if by_status[k]) or "empty")),
        {"type": "actions", "block_id": "home_filters", "elements": [select, picker]},
        divider(),
    ]
    for s in snapshots[:40]:
        failing = s.failing_items
        systems = ", ".join(sorted({system_name(i.system) for i in failing})) or "-"
        last = next((a for i in failing for a in reversed(i.attempts) if a.error_class), None)
        cls = ErrorClass(last.error_class).label if last and last.error_class in _CLASSES else "-"
        link = links.get(s.order_id)
        name = f"<{link}|{escape(s.order_id)}>" if link else f"*{escape(s.order_id)}*"
        attempts = sum(len(i.attempts) for i in failing)
        blocks.append(section(f"{_urgency_mark(s.arrival, today)}{name} · {escape(cut(s.guest_name, 80))} · "
                              f"{urgency(s.arrival, today)}\n{systems} · {cls} · {attempts} attempt"
                              f"{'s' if attempts != 1 else ''} · payment {_payment_word(s)}"))
    if len(snapshots) > 40:
        blocks.append(context(f"…and {len(snapshots) - 40} more open alerts"))
    if not snapshots:
        blocks.append(section("Nothing failing. 🎉"))
    filt = " · ".join(x for x in (status, day.isoformat() if day else None) if x) or "all"
    blocks += [divider()] + queue_blocks(rows, f"Order queue ({filt})", links,
                                         limit_blocks=MAX_VIEW_BLOCKS - len(blocks) - 1)
    return {"type": "home", "blocks": blocks[:MAX_VIEW_BLOCKS]}
