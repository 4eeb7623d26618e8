"""Adaptive Cards for syncdesk in Microsoft Teams, as pure functions of an `OrderSnapshot`:
the alert card, the resolved summary, the reply for a job's outcome, and the parsing of a
card action's data. No I/O here.

Implements the Adaptive Cards 1.5 schema (adaptivecards.io/explorer: AdaptiveCard,
TextBlock, FactSet, Container, ActionSet, Input.Text, Input.ChoiceSet, Action.Execute,
Action.ShowCard) and Teams' Universal Actions
(learn.microsoft.com/microsoftteams/platform/task-modules-and-cards/cards/universal-actions-for-adaptive-cards/work-with-universal-actions-for-adaptive-cards):
buttons are `Action.Execute` with a `verb` and `data`; a click arrives as an
`adaptiveCard/action` invoke. The same `data` is accepted from an `Action.Submit` message,
so older clients and the tests can use either. Teams caps a message at about 28 KB
(learn.microsoft.com/microsoftteams/platform/bots/how-to/format-your-bot-messages):
long texts (guest names, descriptions, raw logs) are cut here.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass
from typing import Any

from bot.wording import (
    BOOKED_MANUALLY,
    CANCEL_REFUND,
    COMPLETE_UNCHECKED,
    HAND_OVER,
    IM_ON_IT,
    MARK_COMPLETE,
    MESSAGE_GUEST,
    REPROCESS,
    REVEAL_GUEST,
    SNOOZE,
    UNDO_MANUAL,
    VIEW_LOG,
    Move,
    attempt_line,
    attempt_lines,
    can_complete,
    can_complete_unchecked,
    cancelled_line,
    confirmed_line,
    cut,
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
from bot.wording import (  # the words both surfaces share
    ERROR_CLASSES as _CLASSES,
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
    resolved as resolved,
)
from bot.wording import (
    time_utc as _time,
)
from connectors.errors import ErrorClass
from workflows.actions.moves import SPECS, closable
from workflows.actions.moves import Move as CatalogueMove
from workflows.core.statuses import (
    DONE_ITEM_STATUSES,
    FINISHED_ORDER_STATUSES,
    AlertState,
    ItemStatus,
    QueueStatus,
)
from workflows.orders.lookup import QueueRow, money, note_line
from workflows.orders.snapshot import AttemptView, AuditView, ItemView, OrderSnapshot

CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
VERSION = "1.5"

# the verbs a card's buttons carry: the moves of the catalogue that are performed (View log is
# shown in the card itself), those about an item needing its id
VERBS = tuple(m.value for m, spec in SPECS.items() if spec.performed)
ITEM_VERBS = tuple(m.value for m, spec in SPECS.items() if spec.performed and spec.item)
REASON = "reason"  # the input of "Complete without payment check"
# the inputs of the moves' forms (each id also carries the item id: one card holds every item's)
CANCEL_REASON, UNDO_REASON, SNOOZE_CHOICE, SNOOZE_UNTIL, OWNER = (
    "cancel_reason", "undo_reason", "snooze_choice", "snooze_until", "owner")
FINE_REASON = "fine_reason"  # It's fine, on a booking problem (issues 25, 26.3)
REBOOK, ITS_FINE = CatalogueMove.REBOOK.value, CatalogueMove.ITS_FINE.value

MAX_TEXT = 500
# Teams refuses messages over about 28 KB: a big order is shown with shorter logs and fewer
# items until its card fits (most cards fit at the first level).
MAX_CARD_BYTES = 26 * 1024
FIT_LEVELS = ((8, 1500), (8, 400), (5, 200), (3, 0))  # (items shown, log characters)

_ACTOR = re.compile(r"(?:teams|slack):[^ ()]+ \((?P<name>[^)]*)\)")


# -- text ---------------------------------------------------------------------------------

def who(actor: str) -> str:
    """An actor as people read it: `teams:<aad id> (Ana Lopez)` is Ana Lopez."""
    match = _ACTOR.fullmatch(actor)
    return match.group("name") if match else actor


def plain(message: str) -> str:
    """A workflows message (an `Ack`) for Teams: actors named as people read them."""
    return _ACTOR.sub(lambda m: m.group("name"), message)


def _urgency_color(arrival: dt.date | None, today: dt.date) -> str:
    if arrival is None:
        return "Default"
    days = (arrival - today).days
    return "Attention" if days <= 1 else "Warning" if days <= 7 else "Default"


def summary(s: OrderSnapshot, today: dt.date | None = None) -> str:
    """The one-line text of the alert: the notification and the fallback of the card."""
    today = today or s.today()
    if resolved(s):
        return f"{s.status} · {s.order_id} · {s.guest_name}"
    return f"{_headline(s)} · {urgency(s.arrival, today)} · {s.guest_name}"


def payment(s: OrderSnapshot) -> tuple[str, str]:
    """The payment line and its colour: the stored Stripe check, a loud warning, or the refund made."""
    said, level = payment_says(s)
    return said, {"good": "Good", "warning": "Warning", "attention": "Attention"}.get(level, "Default")


# -- elements -----------------------------------------------------------------------------

def text(value: str, **style: Any) -> dict[str, Any]:
    return {"type": "TextBlock", "text": value, "wrap": True, **style}


def facts(*pairs: tuple[str, str]) -> dict[str, Any]:
    return {"type": "FactSet", "facts": [{"title": t, "value": v} for t, v in pairs]}


def execute(title: str, verb: str, order_id: str, item_id: str | None = None, style: str | None = None,
            **extra: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"syncdesk": verb, "order_id": order_id, **extra}
    if item_id is not None:
        data["item_id"] = item_id
    action: dict[str, Any] = {"type": "Action.Execute", "title": title, "verb": verb, "data": data}
    if style:
        action["style"] = style
    return action


def input_id(name: str, item_id: str) -> str:
    """Inputs of every item live in one card, so their ids carry the item id."""
    return f"{name}__{item_id}"


# -- the alert ----------------------------------------------------------------------------

def _attempt_line(a: AttemptView) -> str:
    return attempt_line(a, who)


def _attempts(s: OrderSnapshot, item: ItemView) -> list[dict[str, Any]]:
    head = f"**Attempts ({len(item.attempts)})**" if item.attempts else "**Attempts:** none yet"
    return [text(head, spacing="Small", size="Small"),
            *(text(line, isSubtle=True, size="Small", spacing="None") for line in attempt_lines(s, item, _attempt_line))]


def _why(item: ItemView) -> list[dict[str, Any]]:
    last = next((a for a in reversed(item.attempts) if a.error_class), None)
    if last is None:
        return [text("**Why:** no failure recorded yet.")]
    cls = ErrorClass(last.error_class) if last.error_class in _CLASSES else ErrorClass.UNKNOWN
    blocks = [text(f"**Why: {cls.label}.** {cls.explanation}", color="Attention")]
    if last.message:
        blocks.append(text(cut(last.message, MAX_TEXT), isSubtle=True, spacing="Small"))
    blocks.append(text(f"**Next step:** {next_step(cls, item)}", spacing="Small"))
    return blocks


def _problem_why(s: OrderSnapshot, item: ItemView) -> list[dict[str, Any]]:
    """Why an item with no failure is alerted: the booking problem the arrival check or the front
    desk found (issues 25, 26.3), and its next step; empty for an ordinary failure."""
    problem = s.problem(item.item_id)
    if problem is None:
        return []
    return [text(f"**Why: {problem.title}.**", color="Attention"),
            text(cut(problem.detail, MAX_TEXT), isSubtle=True, spacing="Small"),
            text(f"**Next step:** {problem.next_step}", spacing="Small")]


def _playbook(item: ItemView) -> list[dict[str, Any]]:
    desc = item.system_description
    if desc is None or desc.automatic:
        return []
    steps = [text(f"{n}. {cut(step, MAX_TEXT)}", spacing="None") for n, step in enumerate(desc.playbook, 1)]
    return [text(f"**Book it by hand in {desc.name}:**", spacing="Small"), *steps]


def _booked_manually_card(s: OrderSnapshot, item: ItemView) -> dict[str, Any]:
    """The inline Booked-manually form: the confirmation number and, for EMS Premier, the
    payment method the deposit was assigned to."""
    name = system_name(item.system)
    body: list[dict[str, Any]] = [
        text(f"Record a booking you made by hand in {name} for {s.order_id} · {item.item_id}.", size="Small"),
        {"type": "Input.Text", "id": input_id("reference", item.item_id), "label": f"{name} confirmation number",
         "placeholder": "e.g. 13098CU000379", "maxLength": 64, "isRequired": True,
         "regex": r"^[A-Za-z0-9][A-Za-z0-9._/-]{2,63}$",
         "errorMessage": "3-64 letters, digits, '.', '-', '_' or '/', starting with a letter or digit"},
    ]
    methods = payment_methods(item)
    if methods:
        body.append({
            "type": "Input.ChoiceSet", "id": input_id("payment_method", item.item_id),
            "label": "Deposit payment method", "style": "expanded", "isRequired": True,
            "errorMessage": "Choose where the deposit was assigned",
            "choices": [{"title": m, "value": m} for m in methods],
        })
        body.append(text(f"An offline {name} booking's deposit must be assigned to the e-commerce payment "
                         "method, or the end-of-day accounts will not balance.", isSubtle=True, size="Small"))
    body.append({"type": "Input.Text", "id": input_id("notes", item.item_id), "label": "Notes",
                 "isMultiline": True, "maxLength": 2000})
    return {"type": "AdaptiveCard", "body": body,
            "actions": [execute("Record booking", BOOKED_MANUALLY, s.order_id, item.item_id, "positive")]}


def _log_card(item: ItemView, limit: int) -> dict[str, Any] | None:
    last = next((a for a in reversed(item.attempts) if a.raw_log or a.message), None)
    if last is None or limit <= 0:
        return None
    raw = last.raw_log or last.message or ""
    if len(raw) > limit:
        raw = raw[: limit // 2] + f"\n… {len(raw) - limit} characters omitted …\n" + raw[-limit // 2:]
    return {"type": "AdaptiveCard", "body": [
        text(_attempt_line(last), size="Small", isSubtle=True),
        text(raw, fontType="Monospace", size="Small"),
    ]}


def _show(title: str, card: dict[str, Any]) -> dict[str, Any]:
    return {"type": "Action.ShowCard", "title": title, "card": card}


def _reason_card(label: str, input_name: str, item_id: str, intro: str, submit: dict[str, Any]) -> dict[str, Any]:
    return {"type": "AdaptiveCard", "body": [
        text(intro, size="Small"),
        {"type": "Input.Text", "id": input_id(input_name, item_id), "label": label, "isMultiline": True,
         "isRequired": True, "maxLength": 500, "errorMessage": "Say why, in a few words."},
    ], "actions": [submit]}


def _cancel_card(s: OrderSnapshot, item: ItemView) -> dict[str, Any]:
    """Cancel and refund's confirm step: what is cancelled and refunded, and why (required)."""
    return _reason_card(
        "Why can it not be booked?", CANCEL_REASON, item.item_id,
        f"Cancel {item.item_id} ({cut(item.description, 120) or item.kind}) and refund "
        f"{refund_estimate(s, item)} to the guest through the platform's Cancel Deliveries, which also corrects "
        "reporting. This cannot be undone.",
        execute(f"Cancel and refund {item.item_id}", CANCEL_REFUND, s.order_id, item.item_id, "destructive"))


def _undo_card(s: OrderSnapshot, item: ItemView) -> dict[str, Any]:
    return _reason_card(
        "What was wrong?", UNDO_REASON, item.item_id,
        f"{item.item_id} goes back to failed, and back to its previous status on the platform; "
        f"{item.external_reference or 'the reference'} stays in its history.",
        execute("Undo the booking", UNDO_MANUAL, s.order_id, item.item_id, "destructive"))


def _snooze_card(s: OrderSnapshot) -> dict[str, Any]:
    choices = [{"title": "for 1 hour", "value": "1h"}, {"title": "until 9:00 tomorrow", "value": "tomorrow"}]
    if s.arrival is not None and s.arrival > s.today():
        choices.append({"title": f"until the guest's arrival day ({_day(s.arrival)})", "value": "arrival"})
    return {"type": "AdaptiveCard", "body": [
        text(f"Escalation pauses until then, or until the order fails again (times in {s.timezone}).", size="Small"),
        {"type": "Input.ChoiceSet", "id": input_id(SNOOZE_CHOICE, ""), "label": "Snooze", "style": "expanded",
         "value": "1h", "choices": choices},
        {"type": "Input.Text", "id": input_id(SNOOZE_UNTIL, ""), "label": "…or until (18:00, 2h, 2026-12-01 09:00)",
         "maxLength": 40},
    ], "actions": [execute("Snooze", SNOOZE, s.order_id)]}


def _hand_over_card(s: OrderSnapshot) -> dict[str, Any]:
    """Hand over: Teams' people picker (learn.microsoft.com/microsoftteams/platform/task-modules-and-cards/cards/people-picker)."""
    return {"type": "AdaptiveCard", "body": [
        text("They get a direct message with the link, and escalation goes to them first.", size="Small"),
        {"type": "Input.ChoiceSet", "id": input_id(OWNER, ""), "label": "Hand over to", "isRequired": True,
         "errorMessage": "Choose a teammate", "choices": [],
         "choices.data": {"type": "Data.Query", "dataset": "graph.microsoft.com/users"}},
    ], "actions": [execute("Hand over", HAND_OVER, s.order_id)]}


def _move_action(s: OrderSnapshot, move: Move, log_limit: int) -> dict[str, Any] | None:
    """A move as an action: a button, or (`mode: secondary`) an entry of the card's overflow menu."""
    item = next((i for i in s.items if i.item_id == move.item_id), None)
    action: dict[str, Any] | None
    if move.key in (REPROCESS, REBOOK):
        action = execute(move.label, move.key, s.order_id, move.item_id, "positive")
    elif move.key == ITS_FINE and item is not None:
        action = _show(move.label, _reason_card(
            "Why is the booking fine?", FINE_REASON, item.item_id,
            f"Saying it is fine settles {item.item_id}'s booking problem; the alert resolves when nothing else is owed.",
            execute("It's fine", ITS_FINE, s.order_id, item.item_id)))
    elif move.key == BOOKED_MANUALLY and item is not None:
        action = _show(move.label, _booked_manually_card(s, item))
    elif move.key == VIEW_LOG and item is not None:
        log = _log_card(item, log_limit)
        action = _show(move.label, log) if log is not None else None
    elif move.key == CANCEL_REFUND and item is not None:
        action = _show(move.label, _cancel_card(s, item))
    elif move.key == UNDO_MANUAL and item is not None:
        action = _show(f"{move.label} · {item.item_id}", _undo_card(s, item))
    elif move.key in (IM_ON_IT, MARK_COMPLETE):
        action = execute(move.label, move.key, s.order_id, style="positive" if move.key == MARK_COMPLETE else None)
    elif move.key == COMPLETE_UNCHECKED:
        action = _show(move.label, _unchecked_card(s))
    elif move.key == SNOOZE:
        action = _show(move.label, _snooze_card(s))
    elif move.key == HAND_OVER:
        action = _show(move.label, _hand_over_card(s))
    elif move.key in (REVEAL_GUEST, MESSAGE_GUEST):  # answered privately to the clicker (issues 28, 26.6)
        action = execute(move.label, move.key, s.order_id)
    else:
        action = None
    if action is not None and not move.visible:
        action["mode"] = "secondary"
    return action


def _action_set(s: OrderSnapshot, shown: list[Move], log_limit: int, **style: Any) -> list[dict[str, Any]]:
    actions = [a for m in shown if (a := _move_action(s, m, log_limit)) is not None]
    return [{"type": "ActionSet", "actions": actions, **style}] if actions else []


def _item_container(s: OrderSnapshot, item: ItemView, log_limit: int, offered: list[Move]) -> dict[str, Any]:
    party = f"{item.guests} guest{'s' if item.guests != 1 else ''}"
    qty = f"{item.quantity} × " if item.quantity != 1 else ""
    running = " · ⏳ **reprocessing now**" if item.sync_status == QueueStatus.PROCESSING else ""
    items: list[dict[str, Any]] = [
        text(f"**{item.item_id}** · {qty}{cut(item.description, 200) or item.kind}{running}", weight="Bolder"),
        text(f"{_dates(item)} · {party} · {system_name(item.system)} · {_property(item)}", spacing="None"),
        *(_problem_why(s, item) or _why(item)),
        *_attempts(s, item),
        *_playbook(item),
        *_action_set(s, item_moves(offered, item.item_id), log_limit),
    ]
    return {"type": "Container", "separator": True, "spacing": "Medium", "items": items}


def _confirmed_line(item: ItemView) -> str:
    return confirmed_line(item, who, bold=lambda words: f"**{words}**")

def card(body: list[dict[str, Any]], fallback: str) -> dict[str, Any]:
    return {"type": "AdaptiveCard", "$schema": SCHEMA, "version": VERSION, "fallbackText": fallback,
            "msteams": {"width": "Full"}, "body": body}


def alert_card(s: OrderSnapshot, today: dt.date | None = None) -> dict[str, Any]:
    """The alert: urgency, guest, payment, and per failing item why / next step / attempts / actions."""
    today = today or s.today()
    if resolved(s):
        return resolved_card(s)
    for max_items, log_limit in FIT_LEVELS:
        card = _alert_card(s, today, max_items, log_limit)
        if len(json.dumps(card).encode()) <= MAX_CARD_BYTES:
            break
    return card


def _alert_card(s: OrderSnapshot, today: dt.date, max_items: int, log_limit: int) -> dict[str, Any]:
    arrival = s.arrival
    pay, pay_color = payment(s)
    order = f"{s.order_id} · {s.status} · {money(s.total_minor, s.currency)}"
    body: list[dict[str, Any]] = [
        text(f"{_headline(s)} · {urgency(arrival, today)}", size="Large", weight="Bolder",
             color=_urgency_color(arrival, today), style="heading"),
        facts(("Guest", cut(s.guest_name or "(no name)", 200)),
              ("Contact", " · ".join(x for x in (s.guest_email, s.guest_phone) if x) or "-"),
              ("Order", order + (f" · placed {_time(s.placed_at)}" if s.placed_at else "")),
              ("Arrival", f"{_day(arrival)} ({urgency(arrival, today)})" if arrival else "no arrival date")),
        text(f"**Payment:** {pay}", color=pay_color),
    ]
    note = status_note(s)
    if note:
        body.append(text(f"⚠️ {note}", color="Warning"))
    failing = s.failing_items
    offered = moves(s)
    body += [_item_container(s, item, log_limit, offered) for item in failing[:max_items]]
    if len(failing) > max_items:
        body.append(text(f"…and {len(failing) - max_items} more failing items: send `order {s.order_id}`."))
    done = [i for i in s.items if i.status in DONE_ITEM_STATUSES]
    if done:
        body.append({"type": "Container", "separator": True, "items": [
            text(f"↩️ {cancelled_line(s, i, who)}" if i.status == ItemStatus.CANCELLED else _confirmed_line(i),
                 spacing="None") for i in done[:20]]})
    taken = next((a.acknowledged_by for a in s.alerts if a.state == AlertState.ACKNOWLEDGED and a.acknowledged_by), None)
    if taken:
        body.append(text(f"👤 {who(taken)} is on it", size="Small", separator=True))
    if can_complete(s):
        body.append(text("Every item is booked. **Mark complete** sets the order Complete on the platform, which "
                         "emails the guest their confirmation.", separator=True))
    elif can_complete_unchecked(s):
        body.append(text("Every item is booked, but syncdesk cannot check this payment "
                         f"({s.payment_detail.get('detail') or 'not Stripe'}). Check it by hand, then "
                         "**Complete without payment check**, giving a reason.", separator=True))
    body += _action_set(s, order_moves(offered), log_limit)
    again = resumed(s)
    if again:
        body.append(text(f"⏰ {again}", size="Small", color="Warning"))
    for note in (snooze_note(s, who), f"👤 Owner: {who(owner)}" if (owner := owner_of(s)) else None):
        if note:
            body.append(text(note, size="Small"))
    zone = f" · arrival day in {s.timezone}" if s.timezone != "UTC" else ""
    body.append(text(f"syncdesk · {s.order_id}{zone} · " + (f"payment checked {_time(s.payment_checked_at)}"
                                                       if s.payment_checked_at else "payment not checked yet"),
                     size="Small", isSubtle=True, separator=True))
    return card(body, summary(s, today))


def _unchecked_card(s: OrderSnapshot) -> dict[str, Any]:
    """The confirm step of "Complete without payment check": the reason is required and audited."""
    return {"type": "AdaptiveCard", "body": [
        text(f"Completing sets {s.order_id} Complete on the platform, which emails the guest their confirmation."),
        {"type": "Input.Text", "id": input_id(REASON, ""), "label": "How did you check the payment?",
         "isMultiline": True, "isRequired": True, "maxLength": 500,
         "errorMessage": "Say how you checked the payment."},
    ], "actions": [execute("Complete order", COMPLETE_UNCHECKED, s.order_id, style="destructive")]}


def _story(s: OrderSnapshot) -> list[str]:
    return story(s, who)


def resolved_card(s: OrderSnapshot) -> dict[str, Any]:
    """The compact summary a completed or cancelled order's alert turns into."""
    mark = "✅" if s.status in FINISHED_ORDER_STATUSES else "⚪"
    story = _story(s)[-15:] or ["no actions recorded"]
    pay, _ = payment(s)
    charged = still_charged(s)
    return card([
        text(f"{mark} {s.status} · {s.order_id} · {cut(s.guest_name, 200)}", size="Large", weight="Bolder",
             style="heading"),
        *([text(f"🚨 **{charged}**", color="Attention")] if charged else []),
        *(text(line, spacing="None") for line in story),
        text(f"Payment: {pay} · {len(s.items)} item{'s' if len(s.items) != 1 else ''}", size="Small",
             isSubtle=True, separator=True),
        *([{"type": "ActionSet", "actions": [execute(SPECS[CatalogueMove.CLOSE_ORDER].label, CatalogueMove.CLOSE_ORDER.value,
                                                     s.order_id)]}] if closable(s.status) else []),
    ], summary(s))


MAX_NOTES, MAX_NOTE_TEXT = 8, 300  # the newest notes, each cut


def lookup_card(s: OrderSnapshot) -> dict[str, Any]:
    """`order ORD-10042`'s answer: the alert card, then the newest notes written in its thread
    (issue 26.4), as many as keep the card under MAX_CARD_BYTES; the older ones are counted."""
    shown = alert_card(s)
    if not s.notes:
        return shown
    lines = [text(note_line(n, who, lambda words: cut(words, MAX_NOTE_TEXT), _time), spacing="None")
             for n in s.notes[-MAX_NOTES:]]

    def with_notes(kept: list[dict[str, Any]]) -> dict[str, Any]:
        older = len(s.notes) - len(kept)
        return {**shown, "body": [*shown["body"], text("**Notes**", separator=True),
                                  *([text(f"…{older} older notes: `syncdesk order {s.order_id}`", spacing="None")]
                                    if older else []), *kept]}

    while lines and len(json.dumps(with_notes(lines)).encode()) > MAX_CARD_BYTES:
        lines = lines[1:]
    return with_notes(lines)


def attachment(card: dict[str, Any]) -> dict[str, Any]:
    """A card as a Bot Framework message attachment."""
    return {"contentType": CONTENT_TYPE, "content": card}


def outcome_text(e: AuditView) -> str | None:
    """The reply for one job outcome or move in the audit trail, or None if the event is not one."""
    return outcome(e, who)


# -- what a click carries -----------------------------------------------------------------

@dataclass(frozen=True)
class CardAction:
    verb: str
    order_id: str
    item_id: str | None
    reference: str = ""
    payment_method: str | None = None
    notes: str | None = None
    reason: str = ""  # Complete without payment check, Cancel and refund, Undo Booked manually
    choice: str = ""  # Snooze: 1h | tomorrow | arrival
    until: str = ""  # Snooze: a time typed instead
    owner: str = ""  # Hand over: the teammate's Entra ID object id (the people picker's value)


def parse_action(verb: str | None, data: Any) -> CardAction | None:
    """The action a click asks for, from an Action.Execute (verb + data, inputs merged into
    data) or an Action.Submit (everything in data); None when it is not one of ours."""
    if not isinstance(data, dict):
        return None
    verb = verb or data.get("syncdesk")
    order_id, item_id = data.get("order_id"), data.get("item_id")
    if verb not in VERBS or not isinstance(order_id, str) or not order_id:
        return None
    if item_id is not None and not isinstance(item_id, str):
        return None
    if verb in ITEM_VERBS and not item_id:
        return None

    def field(name: str) -> str:
        value = data.get(input_id(name, item_id or ""))
        return value.strip() if isinstance(value, str) else ""

    def order_field(name: str) -> str:
        value = data.get(input_id(name, ""))
        return value.strip() if isinstance(value, str) else ""

    reason = {CANCEL_REFUND: field(CANCEL_REASON), UNDO_MANUAL: field(UNDO_REASON),
              ITS_FINE: field(FINE_REASON)}.get(verb, order_field(REASON))
    return CardAction(verb, order_id, item_id, reference=field("reference"),
                      payment_method=field("payment_method") or None, notes=field("notes") or None,
                      reason=reason, choice=order_field(SNOOZE_CHOICE), until=order_field(SNOOZE_UNTIL),
                      owner=order_field(OWNER))


# -- the order queue and `find` (issue 14) -----------------------------------------------------

MAX_ROWS = 30  # rows a queue card shows: each may carry Reprocess shortcuts, and a message stays under 28 KB


def queue_card(title: str, rows: list[QueueRow] | tuple[QueueRow, ...], links: dict[str, str],
               empty: str = "No orders match.", footer: str | None = None) -> dict[str, Any]:
    """The order queue (or `find`'s answer) as a card: each order linked to its alert card, with
    a Reprocess shortcut for each of its failed items."""
    body: list[dict[str, Any]] = [text(title, size="Large", weight="Bolder", style="heading")]
    if not rows:
        body.append(text(empty))
    for row in rows[:MAX_ROWS]:
        link = links.get(row.order_id)
        name = f"[{row.order_id}]({link})" if link else f"**{row.order_id}**"
        items: list[dict[str, Any]] = [text(f"{name} · " + " · ".join(row_facts(row)), spacing="None")]
        if row.failed_items:
            items.append({"type": "ActionSet", "actions": [
                execute(f"Reprocess {item_id}", REPROCESS, row.order_id, item_id) for item_id in row.failed_items[:3]]})
        body.append({"type": "Container", "separator": True, "items": items})
    more = f" · {len(rows) - MAX_ROWS} more not shown" if len(rows) > MAX_ROWS else ""
    body.append(text((footer or f"{len(rows)} orders · placed · guest · order status · queue status · attempts · "
                                "last error · alert") + more, size="Small", isSubtle=True, separator=True))
    return card(body, title)
