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
from typing import Any

from bot.wording import (  # the words both surfaces share
    ERROR_CLASSES as _CLASSES,
)
from bot.wording import (
    IM_ON_IT,
    MARK_COMPLETE,
    MAX_ITEMS,
    REPROCESS,
    Move,
    attempt_line,
    attempt_lines,
    can_complete,
    can_complete_unchecked,
    cancelled_line,
    confirmed_line,
    cut,
    is_manual,
    item_moves,
    moves,
    next_step,
    order_moves,
    outcome,
    owner_of,
    payment_methods,
    payment_says,
    refund_estimate,
    resumed,
    row_facts,
    snooze_note,
    status_note,
    still_charged,
    story,
    system_name,
    urgency,
)
from bot.wording import (
    dates as _dates,
)
from bot.wording import (
    day as _day,
)
from bot.wording import (
    headline as _headline,
)
from bot.wording import (
    property_label as _property,
)
from bot.wording import (
    resolved as _resolved,
)
from bot.wording import (
    time_utc as _time,
)
from connectors.errors import ErrorClass
from workflows.actions.moves import LABELS as MOVE_LABELS
from workflows.actions.moves import Move as CatalogueMove
from workflows.actions.moves import closable
from workflows.arrivals.findings import DaySummary
from workflows.core import states
from workflows.core.statuses import (
    DONE_ITEM_STATUSES,
    FINISHED_ORDER_STATUSES,
    AlertState,
    ItemStatus,
    QueueStatus,
)
from workflows.orders.lookup import QueueRow, money, note_line
from workflows.orders.reads import ExistingCheck
from workflows.orders.snapshot import AttemptView, AuditView, ItemView, OrderSnapshot

# Slack's limits (Block Kit reference)
MAX_MESSAGE_BLOCKS = 50
MAX_VIEW_BLOCKS = 100
MAX_HOME_ARRIVALS = 8  # headlines on the Home tab, each cut to 300 characters: one section
MAX_SECTION_TEXT = 3000
MAX_HEADER_TEXT = 150
MAX_BUTTON_TEXT = 75
MAX_MODAL_TITLE = 24
MAX_OPTION_TEXT = 75

# action_ids and callback_ids the listeners in `bot.slack.moves` and `bot.slack.app` match on: a
# button's action_id is its move (`workflows.actions.moves.Move`); every overflow menu is MORE,
# its option's value names the move
BOOKED_MANUALLY = CatalogueMove.BOOKED_MANUALLY.value
COMPLETE_UNCHECKED = CatalogueMove.COMPLETE_UNCHECKED.value
COMPLETE_UNCHECKED_VIEW = "complete_unchecked_submit"
VIEW_LOG = CatalogueMove.VIEW_LOG.value
MORE = "more"  # every overflow menu: the option's value says the move (`more_value`)
HOME_FILTER_STATUS = "home_filter_status"
HOME_FILTER_DATE = "home_filter_date"
BOOKED_MANUALLY_VIEW = "booked_manually_submit"

# block_ids of the Booked-manually modal (response_action errors are keyed by them)
REFERENCE_BLOCK = "reference"
PAYMENT_METHOD_BLOCK = "payment_method"
NOTES_BLOCK = "notes"
EXISTING_BLOCK = "existing"
REASON_BLOCK = "reason"  # of the Complete-without-payment-check modal

QUEUE_STATUSES = states.QUEUE_STATUSES

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


def overflow(options: Sequence[tuple[str, str]], action_id: str | None = None) -> dict[str, Any]:
    """An overflow menu ("⋯"): 2 to 5 options of (text, value), value at most 150 characters."""
    return {"type": "overflow", "action_id": action_id or MORE,
            "options": [{"text": _plain(text, MAX_OPTION_TEXT), "value": value[:150]} for text, value in options[:5]]}


def more_value(move: str, order_id: str, item_id: str | None = None) -> str:
    """What an overflow option carries: the move and the order (and item) it is about."""
    return "|".join([move, order_id, item_id or ""])


def parse_more(value: str) -> tuple[str, str, str | None]:
    """The (move, order id, item id) an overflow option carries."""
    move, order_id, item_id = (value.split("|") + ["", ""])[:3]
    return move, order_id, item_id or None


def _plain(text: str, limit: int) -> dict[str, Any]:
    return {"type": "plain_text", "text": cut(text, limit)}


# -- the alert ----------------------------------------------------------------------------

def payment_line(s: OrderSnapshot) -> str:
    """The **Payment** line: the stored Stripe check, a loud warning, or the refund made."""
    said, _ = payment_says(s, escape, lambda ref: f"`{escape(ref)}`", lambda words: f"*{words}*")
    return f"*Payment:* {said}"


def _payment_word(s: OrderSnapshot) -> str:
    marks = {"captured": "✅", "partially_refunded": "⚠️", "unknown": "⚠️"}
    state = s.payment_state or "not checked"
    return f"{marks.get(state, '🚨' if s.payment_state else '⏳')} {state.replace('_', ' ')}"


def alert_text(s: OrderSnapshot, today: dt.date | None = None) -> str:
    """The notification text (and accessibility fallback) of the alert message."""
    today = today or s.today()
    if _resolved(s):
        return f"Resolved · {s.order_id} · {s.guest_name}"
    return f"{_headline(s)} · {urgency(s.arrival, today)} · {s.guest_name}"


def _guest(s: OrderSnapshot) -> str:
    contact = " · ".join(escape(x) for x in (s.guest_email, s.guest_phone) if x)
    return f"*Guest:* {escape(s.guest_name) or '(no name)'}" + (f" · {contact}" if contact else "")


def _item_line(item: ItemView) -> str:
    party = f"{item.guests} guest{'s' if item.guests != 1 else ''}"
    qty = f"{item.quantity} × " if item.quantity != 1 else ""
    return (f"*{escape(item.item_id)}* · {qty}{escape(item.description) or item.kind} · {_dates(item)} · {party}\n"
            f"{system_name(item.system)} · {escape(_property(item))}")


def _attempt_line(a: AttemptView) -> str:
    return attempt_line(a, who, escape, lambda ref: f"`{escape(ref)}`")


def _why(item: ItemView, order_id: str) -> dict[str, Any]:
    last = next((a for a in reversed(item.attempts) if a.error_class), None)
    if last is None:
        text = "*Why:* no failure recorded yet."
    else:
        cls = ErrorClass(last.error_class) if last.error_class in _CLASSES else ErrorClass.UNKNOWN
        message = escape(cut(last.message or "", 500))
        text = (f"*Why: {cls.label}.* {cls.explanation}\n"
                + (f"> {message}\n" if message else "")
                + f"*Next step:* {escape(next_step(cls, item))}")
    return section(text, block_id=f"why:{item.item_id}"[:255])  # View log is in the item's overflow menu


def _problem_why(s: OrderSnapshot, item: ItemView) -> dict[str, Any] | None:
    """Why an item with no failure is alerted: the booking problem the arrival check or the front
    desk found (issues 25, 26.3), and its next step; None for an ordinary failure."""
    problem = s.problem(item.item_id)
    if problem is None:
        return None
    return section(f"*Why: {escape(problem.title)}.* {escape(cut(problem.detail, 1500))}\n"
                   f"*Next step:* {escape(problem.next_step)}", block_id=f"why:{item.item_id}"[:255])


def _attempts(s: OrderSnapshot, item: ItemView) -> dict[str, Any]:
    lines = attempt_lines(s, item, _attempt_line)
    return context(f"*Attempts ({len(item.attempts)}):*\n" + "\n".join(lines) if lines else "*Attempts:* none yet")


def playbook_block(item: ItemView) -> dict[str, Any]:
    """The manual steps of a system without a booking API, in place of the Reprocess button."""
    desc = item.system_description
    assert desc is not None
    steps = "\n".join(f"{n}. {escape(step)}" for n, step in enumerate(desc.playbook, 1))
    return section(f"*Book it by hand in {escape(desc.name)}:*\n{steps}", block_id=f"playbook:{item.item_id}"[:255])


def _move_button(s: OrderSnapshot, move: Move) -> dict[str, Any]:
    style = "primary" if move.key in (REPROCESS, MARK_COMPLETE, CatalogueMove.REBOOK) else None
    return button(move.label, move.key, _value(s.order_id, move.item_id), style)


def _move_option(s: OrderSnapshot, move: Move, named: bool = False) -> tuple[str, str]:
    label = f"{move.label} · {move.item_id}" if named and move.item_id else move.label
    return label, more_value(move.key, s.order_id, move.item_id)


def _actions(s: OrderSnapshot, shown: list[Move], block_id: str, named: bool = False) -> dict[str, Any] | None:
    """The buttons of `shown` that are visible, and an overflow menu with the rest."""
    buttons = [_move_button(s, m) for m in shown if m.visible]
    hidden = [_move_option(s, m, named) for m in shown if not m.visible]
    elements = buttons + ([overflow(hidden)] if hidden else [])
    return {"type": "actions", "block_id": block_id[:255], "elements": elements} if elements else None


def _done_line(s: OrderSnapshot, item: ItemView) -> str:
    if item.status == ItemStatus.CANCELLED:
        return f"↩️ {cancelled_line(s, item, who).replace(item.item_id, f'*{escape(item.item_id)}*', 1)}"
    return _confirmed_line(item)


def _confirmed_line(item: ItemView) -> str:
    return confirmed_line(item, who, escape, lambda ref: f"`{escape(ref)}`", lambda words: f"*{words}*")


MAX_ITEMS_SHOWN = MAX_ITEMS  # 5 blocks per failing item; keeps the message well under 50 blocks

def alert_blocks(s: OrderSnapshot, today: dt.date | None = None) -> list[dict[str, Any]]:
    """The alert message: header and urgency, guest, payment, per failing item why/attempts/buttons."""
    today = today or s.today()
    if _resolved(s):
        return resolved_blocks(s)
    arrival = s.arrival
    offered = moves(s)
    on_it = {"accessory": _move_button(s, offered[0])} if offered and offered[0].key == IM_ON_IT else {}
    blocks = [
        header(f"{_urgency_mark(arrival, today)}{_headline(s)} · {urgency(arrival, today)}"),
        section(f"{_guest(s)}\n*Order:* {escape(s.order_id)} · {escape(s.status)} · "
                f"{money(s.total_minor, s.currency)}"
                + (f" · placed {_time(s.placed_at)}" if s.placed_at else ""), **on_it),
        section(payment_line(s), block_id="payment"),
    ]
    note = status_note(s)
    if note:
        blocks.append(section(f"⚠️ {escape(note)}", block_id="status"))
    failing = s.failing_items
    shown = 0
    for item in failing[:MAX_ITEMS_SHOWN]:
        status = " · ⏳ *reprocessing now*" if item.sync_status == QueueStatus.PROCESSING else ""
        item_blocks = [divider(), section(_item_line(item) + status, block_id=f"item:{item.item_id}"[:255]),
                       _problem_why(s, item) or _why(item, s.order_id), _attempts(s, item)]
        item_blocks += [playbook_block(item)] if is_manual(item) else []
        item_actions = _actions(s, item_moves(offered, item.item_id), f"actions:{item.item_id}")
        item_blocks += [item_actions] if item_actions else []
        if len(blocks) + len(item_blocks) > MAX_MESSAGE_BLOCKS - 8:  # room for the rest of the message
            break
        blocks += item_blocks
        shown += 1
    if len(failing) > shown:
        blocks.append(section(f"…and {len(failing) - shown} more failing items: "
                              f"`/syncdesk order {escape(s.order_id)}`"))
    done = [i for i in s.items if i.status in DONE_ITEM_STATUSES]
    if done:
        lines = [_done_line(s, i) for i in done[:20]]
        if len(done) > 20:
            lines.append(f"…and {len(done) - 20} more")
        blocks += [divider(), section("\n".join(lines))]
    if can_complete(s):
        blocks.append(section("Every item is booked. *Mark complete* sets the order Complete on the platform, "
                              "which emails the guest their confirmation."))
    elif can_complete_unchecked(s):
        blocks.append(section("Every item is booked, but syncdesk cannot check this payment "
                              f"({escape(str(s.payment_detail.get('detail') or 'not Stripe'))}). Check it by hand, "
                              "then *Complete without payment check*, giving a reason."))
    order_actions = _actions(s, [m for m in order_moves(offered) if m.key != IM_ON_IT], "alert", named=True)
    if order_actions:
        blocks.append(order_actions)
    again = resumed(s)
    if again:
        blocks.append(context(f"⏰ {slack_text(again)}"))
    for note in (snooze_note(s, who), f"👤 Owner: {who(owner)}" if (owner := owner_of(s)) else None):
        if note:
            blocks.append(context(note))
    taken = next((a.acknowledged_by for a in s.alerts if a.state == AlertState.ACKNOWLEDGED and a.acknowledged_by), None)
    zone = f" · arrival day in {escape(s.timezone)}" if s.timezone != "UTC" else ""
    blocks.append(context(f"syncdesk · {escape(s.order_id)}{zone} · "
                          + (f"payment checked {_time(s.payment_checked_at)}" if s.payment_checked_at
                             else "payment not checked yet")
                          + (f" · 👤 {who(taken)} is on it" if taken else "")))
    return blocks[:MAX_MESSAGE_BLOCKS]


def _story(s: OrderSnapshot) -> list[str]:
    """Who did what, from the audit trail: the lines of a resolved summary."""
    return story(s, who, escape, lambda ref: f"`{escape(ref)}`")


def resolved_blocks(s: OrderSnapshot) -> list[dict[str, Any]]:
    """The compact summary a completed or cancelled order's alert turns into."""
    mark = "✅" if s.status in FINISHED_ORDER_STATUSES else "⚪"
    story = _story(s)[-15:] or ["no actions recorded"]
    charged = still_charged(s)
    close = CatalogueMove.CLOSE_ORDER  # offered on a Complete order: nothing more is owed
    return [
        header(f"{mark} {s.status} · {s.order_id} · {s.guest_name}"),
        *([section(f"🚨 *{escape(charged)}*", block_id="charged")] if charged else []),
        section("\n".join(story)),
        context(payment_line(s).replace("*Payment:* ", "Payment: "),
                f"{len(s.items)} item{'s' if len(s.items) != 1 else ''}"),
        *([{"type": "actions", "block_id": "order_close", "elements": [
            button(MOVE_LABELS[close], close.value, _value(s.order_id))]}] if closable(s.status) else []),
    ]


def lookup_blocks(s: OrderSnapshot) -> list[dict[str, Any]]:
    """`/syncdesk order X`'s answer: the alert, then the notes written in its thread (issue 26.4).
    A note from Slack is Slack's own mrkdwn already (mentions, escaped `&<>`); one from Teams is
    escaped here."""
    if not s.notes:
        return alert_blocks(s)
    lines = [note_line(n, who, (lambda t: t) if n.surface == "slack" else escape, _time) for n in s.notes]
    return alert_blocks(s)[:MAX_MESSAGE_BLOCKS - 2] + [divider(), section("*Notes*\n" + "\n".join(lines),
                                                                          block_id="notes_history")]


def outcome_reply(e: AuditView) -> str | None:
    """The thread reply for one job outcome or move in the audit trail, or None if it is not one."""
    return outcome(e, who, escape, lambda ref: f"`{escape(ref)}`")


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


def complete_unchecked_modal(s: OrderSnapshot, metadata: str) -> dict[str, Any]:
    """"Complete without payment check": confirm, with the reason (required, audited)."""
    detail = escape(str(s.payment_detail.get("detail") or "syncdesk cannot check this payment"))
    return {
        "type": "modal", "callback_id": COMPLETE_UNCHECKED_VIEW, "private_metadata": metadata[:3000],
        "title": _plain("Complete unchecked", MAX_MODAL_TITLE),
        "submit": _plain("Complete order", MAX_BUTTON_TEXT), "close": _plain("Cancel", MAX_BUTTON_TEXT),
        "blocks": [
            section(f"*{escape(s.order_id)}* · {escape(s.guest_name)} · {money(s.total_minor, s.currency)}\n"
                    f"syncdesk cannot check this payment: {detail}. Completing sets the order Complete on the "
                    "platform, which emails the guest their confirmation."),
            {"type": "input", "block_id": REASON_BLOCK, "label": _plain("How did you check the payment?", 2000),
             "element": {"type": "plain_text_input", "action_id": "value", "multiline": True,
                         "min_length": 5, "max_length": 500,
                         "placeholder": _plain("e.g. seen settled in the PSP dashboard, ref …", 150)}},
        ],
    }


def _existing_text(system: str, check: ExistingCheck) -> str:
    name = system_name(system)
    if check.state == "checking":
        return f"⏳ Checking {name} for an existing reservation…"
    if check.state == "found":
        return (f"⚠️ *{name} already has reservation `{escape(check.confirmation)}`* ({escape(check.status)}). "
                "Do not book again: use this number"
                + (" (it must be Confirmed in SynXis first)." if check.status not in (ItemStatus.CONFIRMED, "") else "."))
    if check.state == "absent":
        return f"✅ No reservation for this item in {name}: book it there, then enter its number below."
    return f"❓ Could not check {name}: {escape(check.detail)}. Look for the reservation by hand before booking."


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

def _row_section(row: QueueRow, link: str | None) -> dict[str, Any]:
    """One order of the queue or of `find`: linked to its alert, with a Reprocess shortcut for
    its failed items (a button for one, a menu for several)."""
    order = f"<{link}|{escape(row.order_id)}>" if link else f"`{escape(row.order_id)}`"
    facts = row_facts(row)
    text = f"{order} · " + " · ".join(escape(f) if n else f for n, f in enumerate(facts))
    extra: dict[str, Any] = {}
    if len(row.failed_items) == 1:
        extra["accessory"] = button("Reprocess", REPROCESS, _value(row.order_id, row.failed_items[0]))
    elif row.failed_items:
        extra["accessory"] = overflow([(f"Reprocess {i}", more_value("reprocess", row.order_id, i))
                                       for i in row.failed_items[:5]])
    return section(text, **extra)


def queue_blocks(rows: Sequence[QueueRow], title: str, links: dict[str, str] | None = None,
                 limit_blocks: int = MAX_MESSAGE_BLOCKS, empty: str = "No orders match.",
                 footer: str | None = None) -> list[dict[str, Any]]:
    """The order queue (or `find`'s answer), newest first, like the admin order-queue page: one
    section per order, as many as fit."""
    links = links or {}
    blocks = [header(title)]
    if not rows:
        return blocks + [section(empty)]
    room = limit_blocks - 2
    blocks += [_row_section(r, links.get(r.order_id)) for r in rows[:room]]
    more = f" · {len(rows) - room} more not shown: narrow it with a status or a day" if len(rows) > room else ""
    return blocks + [context((footer or f"{len(rows)} orders · placed · guest · order status · queue status · "
                                        "attempts · last error · alert") + more)]


def find_blocks(query: str, rows: Sequence[QueueRow], links: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """`/syncdesk find`'s answer: at most 20 orders, newest first, each linked to its alert."""
    return queue_blocks(rows, f"Find “{cut(query, 60)}”", links, empty=f"No order matches “{escape(cut(query, 200))}”.",
                        footer=f"{len(rows)} order{'s' if len(rows) != 1 else ''} found, newest first (at most 20)"
                               " · by order id, guest name, e-mail, phone (last 6+ digits), confirmation number or "
                               "payment reference")


def _option(value: str, text: str) -> dict[str, Any]:
    return {"text": _plain(text, MAX_OPTION_TEXT), "value": value}


def home_view(open_orders: Iterable[OrderSnapshot], rows: Sequence[QueueRow], links: dict[str, str],
              status: str | None = None, day: dt.date | None = None,
              today: dt.date | None = None, arrivals: Sequence[DaySummary] = ()) -> dict[str, Any]:
    """The App Home dashboard: counts, filters, the arrival check's summaries (issue 25: their
    headlines; the lines and buttons are on the summary in the property's channel), open alerts
    sorted by arrival, the queue."""
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
    if arrivals:
        shown = [f"🛬 {escape(cut(s.headline(), 300))}" for s in arrivals[:MAX_HOME_ARRIVALS]]
        more = len(arrivals) - MAX_HOME_ARRIVALS
        blocks += [section("*Arrival check*\n" + "\n".join(shown)
                           + (f"\n…and {more} more: `syncdesk arrivals` lists them" if more > 0 else "")), divider()]
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


# -- the moves' forms (issue 14) ---------------------------------------------------------------

CANCEL_REFUND_VIEW = "cancel_refund_submit"
UNDO_VIEW = "undo_manual_submit"
FINE_VIEW = "its_fine_submit"
SNOOZE_VIEW = "snooze_submit"
HAND_OVER_VIEW = "hand_over_submit"
SNOOZE_BLOCK = "snooze"
UNTIL_BLOCK = "until"
OWNER_BLOCK = "owner"


def _reason_input(label: str, placeholder: str) -> dict[str, Any]:
    return {"type": "input", "block_id": REASON_BLOCK, "label": _plain(label, 2000),
            "element": {"type": "plain_text_input", "action_id": "value", "multiline": True, "min_length": 5,
                        "max_length": 500, "placeholder": _plain(placeholder, 150)}}


def _modal(callback_id: str, title: str, submit: str, metadata: str, blocks: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "modal", "callback_id": callback_id, "private_metadata": metadata[:3000],
            "title": _plain(title, MAX_MODAL_TITLE), "submit": _plain(submit, MAX_BUTTON_TEXT),
            "close": _plain("Cancel", MAX_BUTTON_TEXT), "blocks": blocks}


def cancel_refund_modal(s: OrderSnapshot, item_id: str, metadata: str) -> dict[str, Any]:
    """Cancel and refund's confirm dialog: the item, the amount the guest gets back, the reason."""
    item = _item(s, item_id)
    return _modal(CANCEL_REFUND_VIEW, "Cancel and refund", "Cancel and refund", metadata, [
        section(f"Cancel *{escape(s.order_id)} · {escape(item_id)}* and refund the guest through the platform's "
                f"*Cancel Deliveries*, which also corrects reporting.\n{_item_line(item)}\n*Guest:* "
                f"{escape(s.guest_name)}"),
        section(f"*Refund:* {escape(refund_estimate(s, item))}", block_id="amount"),
        context("This cannot be undone. syncdesk asks Stripe afterwards and shows the refund in the alert."),
        _reason_input("Why can it not be booked?", "e.g. no availability for those dates, guest informed"),
    ])


def undo_modal(s: OrderSnapshot, item_id: str, metadata: str) -> dict[str, Any]:
    """Undo Booked manually: the reference typed, and what was wrong with it (required)."""
    item = _item(s, item_id)
    return _modal(UNDO_VIEW, "Undo Booked manually", "Undo", metadata, [
        section(f"*{escape(s.order_id)} · {escape(item_id)}* was booked manually as "
                f"`{escape(item.external_reference or '')}` by {who(item.confirmed_by or '')}. Undo puts it back to "
                "failed here and to its previous status on the platform; the reference stays in its history."),
        _reason_input("What was wrong?", "e.g. typed the reference of another booking"),
    ])


def fine_modal(s: OrderSnapshot, item_id: str, metadata: str) -> dict[str, Any]:
    """It's fine, on a booking problem: why the booking is fine as it is (required, audited)."""
    problem = s.problem(item_id)
    found = f" {escape(cut(problem.detail, 1500))}" if problem else ""
    return _modal(FINE_VIEW, "It's fine", "It's fine", metadata, [
        section(f"*{escape(s.order_id)} · {escape(item_id)}*:{found}\nSaying it is fine settles this, and the alert "
                "resolves when nothing else is owed."),
        _reason_input("Why is the booking fine?", "e.g. guest rebooked by phone, CRS number on the folio"),
    ])


def snooze_modal(s: OrderSnapshot, metadata: str, today: dt.date | None = None) -> dict[str, Any]:
    """Snooze: 1 hour, until 9:00 tomorrow, until the arrival day, or a time typed."""
    today = today or s.today()
    options = [_option("1h", "for 1 hour"), _option("tomorrow", f"until 9:00 tomorrow ({s.timezone})")]
    if s.arrival is not None and s.arrival > today:
        options.append(_option("arrival", f"until the arrival day, {_day(s.arrival)}, 9:00"))
    return _modal(SNOOZE_VIEW, "Snooze alert", "Snooze", metadata, [
        section(f"Pause the escalation of *{escape(s.order_id)}* ({escape(s.guest_name)}). The alert comes back "
                "when the time is up, or at once if the order fails again."),
        {"type": "input", "block_id": SNOOZE_BLOCK, "label": _plain("Snooze", 2000), "optional": True,
         "element": {"type": "radio_buttons", "action_id": "value", "options": options,
                     "initial_option": options[0]}},
        {"type": "input", "block_id": UNTIL_BLOCK, "label": _plain("…or until", 2000), "optional": True,
         "element": {"type": "plain_text_input", "action_id": "value", "max_length": 40,
                     "placeholder": _plain("18:00, 2h or 2026-12-01 09:00", 150)},
         "hint": _plain(f"Times are in {s.timezone}.", 2000)},
    ])


def hand_over_modal(s: OrderSnapshot, metadata: str) -> dict[str, Any]:
    """Hand over: Slack's user picker; the teammate must be on the reservations team."""
    return _modal(HAND_OVER_VIEW, "Hand over", "Hand over", metadata, [
        section(f"Give *{escape(s.order_id)}* ({escape(s.guest_name)}) to a teammate: they get a direct message "
                "with the link, the alert shows them as its owner, and escalation goes to them first."),
        {"type": "input", "block_id": OWNER_BLOCK, "label": _plain("Hand over to", 2000),
         "element": {"type": "users_select", "action_id": "value", "placeholder": _plain("A teammate", 150)}},
    ])
