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

from connectors.errors import ErrorClass
from workflows.actions import PREMIER_PAYMENT_METHODS
from workflows.lookup import money
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

CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
VERSION = "1.5"

# the verbs the handler in `bot.teams.app` dispatches on
REPROCESS = "reprocess"
BOOKED_MANUALLY = "booked_manually"
MARK_COMPLETE = "mark_complete"
IM_ON_IT = "im_on_it"
VERBS = (REPROCESS, BOOKED_MANUALLY, MARK_COMPLETE, IM_ON_IT)

MAX_TEXT = 500
# Teams refuses messages over about 28 KB: a big order is shown with shorter logs and fewer
# items until its card fits (most cards fit at the first level).
MAX_CARD_BYTES = 26 * 1024
FIT_LEVELS = ((8, 1500), (8, 400), (5, 200), (3, 0))  # (items shown, log characters)

RESOLVED_STATUSES = ("Complete", "Cancelled", "Closed")
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


def resolved(s: OrderSnapshot) -> bool:
    return s.status in RESOLVED_STATUSES


def summary(s: OrderSnapshot, today: dt.date | None = None) -> str:
    """The one-line text of the alert: the notification and the fallback of the card."""
    today = today or dt.datetime.now(dt.timezone.utc).date()
    if resolved(s):
        return f"{s.status} · {s.order_id} · {s.guest_name}"
    return f"{_headline(s)} · {urgency(s.arrival, today)} · {s.guest_name}"


def payment(s: OrderSnapshot) -> tuple[str, str]:
    """The payment line and its colour: the stored Stripe check, or a loud warning."""
    d = s.payment_detail
    cur = d.get("currency") or s.currency
    ref = s.payment_reference or "no reference"
    amount = money(int(d.get("amount_minor") or s.total_minor), cur)
    refunded = money(int(d.get("refunded_minor") or 0), cur)
    detail = str(d.get("detail") or "")
    state = s.payment_state
    if state == "captured":
        return f"✅ {amount} captured ({ref}), no refunds", "Good"
    if state == "partially_refunded":
        return (f"⚠️ {amount} captured ({ref}), {refunded} refunded — check what the guest is still owed "
                "before booking", "Warning")
    if state == "refunded":
        return (f"🚨 REFUNDED — {refunded} refunded ({ref}). Do not book; syncdesk will not reprocess or "
                "complete this order.", "Attention")
    if state == "not_captured":
        return f"🚨 NOT CAPTURED ({ref}) — the money was never taken. Do not book; ask the guest to pay again.", \
            "Attention"
    if state == "mismatch":
        expected = money(int(d.get("expected_minor") or s.total_minor), cur)
        received = money(int(d.get("received_minor") or 0), cur)
        return (f"🚨 AMOUNT MISMATCH — order {expected}, Stripe received {received} ({ref}). "
                "Do not book until resolved.", "Attention")
    if state == "unknown":
        return (f"⚠️ NOT VERIFIED ({ref}){': ' + detail if detail else ''}. Check it by hand before telling "
                "the guest anything.", "Warning")
    return f"⏳ not checked yet ({ref}, {money(s.total_minor, s.currency)})", "Default"


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
    what = {"failed": "failed", "success": "succeeded", "processing": "running"}.get(a.status, a.status)
    cls = ""
    if a.error_class:
        cls = f" · {ErrorClass(a.error_class).label if a.error_class in _CLASSES else a.error_class}"
    ref = f" · {a.confirmation}" if a.confirmation else ""
    return f"#{a.number} {what} {_time(a.finished_at or a.started_at)} by {who(a.triggered_by)}{cls}{ref}"


def _attempts(s: OrderSnapshot, item: ItemView) -> list[dict[str, Any]]:
    shown = item.attempts[-4:]
    lines = [_attempt_line(a) for a in shown]
    if len(item.attempts) > len(shown):
        lines.insert(0, f"{len(item.attempts) - len(shown)} earlier attempts")
    retry = s.pending_retry()
    if retry is not None and retry.item_id == item.item_id:
        at = retry.detail.get("at")
        lines.append(f"🔁 automatic retry scheduled for {_time(dt.datetime.fromisoformat(at)) if at else 'soon'} (once)")
    elif any(a.triggered_by.startswith("syncdesk (automatic") for a in item.attempts):
        lines.append("🔁 automatic retry done")
    head = f"**Attempts ({len(item.attempts)})**" if item.attempts else "**Attempts:** none yet"
    return [text(head, spacing="Small", size="Small"),
            *(text(line, isSubtle=True, size="Small", spacing="None") for line in lines)]


def _why(item: ItemView) -> list[dict[str, Any]]:
    last = next((a for a in reversed(item.attempts) if a.error_class), None)
    if last is None:
        return [text("**Why:** no failure recorded yet.")]
    cls = ErrorClass(last.error_class) if last.error_class in _CLASSES else ErrorClass.UNKNOWN
    blocks = [text(f"**Why: {cls.label}.** {cls.explanation}", color="Attention")]
    if last.message:
        blocks.append(text(cut(last.message, MAX_TEXT), isSubtle=True, spacing="Small"))
    blocks.append(text(f"**Next step:** {cls.next_step}", spacing="Small"))
    return blocks


def payment_methods(item: ItemView) -> tuple[str, ...]:
    """The payment methods "Booked manually" asks for: the playbook's (configured), or EMS
    Premier's defaults when the system was not described; () when none is asked for."""
    desc = item.system_description
    if desc is not None and "payment_method" in desc.manual_fields:
        return desc.payment_methods or PREMIER_PAYMENT_METHODS
    if desc is None and item.system == "premier":
        return PREMIER_PAYMENT_METHODS
    return ()


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


def _item_actions(s: OrderSnapshot, item: ItemView, log_limit: int) -> dict[str, Any]:
    actions: list[dict[str, Any]] = []
    if item.sync_status != "processing" and not is_manual(item):
        actions.append(execute("Reprocess", REPROCESS, s.order_id, item.item_id, "positive"))
    actions.append({"type": "Action.ShowCard", "title": "Booked manually", "card": _booked_manually_card(s, item)})
    log = _log_card(item, log_limit)
    if log is not None:
        actions.append({"type": "Action.ShowCard", "title": "View log", "card": log})
    return {"type": "ActionSet", "actions": actions}


def _item_container(s: OrderSnapshot, item: ItemView, log_limit: int) -> dict[str, Any]:
    party = f"{item.guests} guest{'s' if item.guests != 1 else ''}"
    qty = f"{item.quantity} × " if item.quantity != 1 else ""
    running = " · ⏳ **reprocessing now**" if item.sync_status == "processing" else ""
    items: list[dict[str, Any]] = [
        text(f"**{item.item_id}** · {qty}{cut(item.description, 200) or item.kind}{running}", weight="Bolder"),
        text(f"{_dates(item)} · {party} · {system_name(item.system)} · {_property(item)}", spacing="None"),
        *_why(item),
        *_attempts(s, item),
        *_playbook(item),
        _item_actions(s, item, log_limit),
    ]
    return {"type": "Container", "separator": True, "spacing": "Medium", "items": items}


def can_complete(s: OrderSnapshot) -> bool:
    """Mark complete is offered when nothing would refuse it: every item booked or dispatched."""
    if resolved(s) or not s.items:
        return False
    return all(i.status == "Confirmed" or (i.kind == "retail" and i.status == "Dispatched") for i in s.items)


def _confirmed_line(item: ItemView) -> str:
    ref = f" {item.external_reference}" if item.external_reference else ""
    by = f" by {who(item.confirmed_by)}" if item.confirmed_by else ""
    pm = f" · deposit on {item.payment_method}" if item.payment_method else ""
    return f"✅ **{item.item_id}** {item.status} in {system_name(item.system)}{ref}{by}{pm}"


def _card(body: list[dict[str, Any]], fallback: str) -> dict[str, Any]:
    return {"type": "AdaptiveCard", "$schema": SCHEMA, "version": VERSION, "fallbackText": fallback,
            "msteams": {"width": "Full"}, "body": body}


def alert_card(s: OrderSnapshot, today: dt.date | None = None) -> dict[str, Any]:
    """The alert: urgency, guest, payment, and per failing item why / next step / attempts / actions."""
    today = today or dt.datetime.now(dt.timezone.utc).date()
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
    failing = s.failing_items
    body += [_item_container(s, item, log_limit) for item in failing[:max_items]]
    if len(failing) > max_items:
        body.append(text(f"…and {len(failing) - max_items} more failing items: send `order {s.order_id}`."))
    done = [i for i in s.items if i.status in ("Confirmed", "Dispatched")]
    if done:
        body.append({"type": "Container", "separator": True, "items": [
            text(_confirmed_line(i), spacing="None") for i in done[:20]]})
    taken = next((a.acknowledged_by for a in s.alerts if a.state == "acknowledged" and a.acknowledged_by), None)
    if taken:
        body.append(text(f"👤 {who(taken)} is on it", size="Small", separator=True))
    elif any(a.state == "open" for a in s.alerts):
        body.append({"type": "ActionSet", "actions": [execute("I'm on it", IM_ON_IT, s.order_id)]})
    if can_complete(s):
        body.append(text("Every item is booked. **Mark complete** sets the order Complete on the platform, which "
                         "emails the guest their confirmation.", separator=True))
        body.append({"type": "ActionSet", "actions": [execute("Mark complete", MARK_COMPLETE, s.order_id,
                                                              style="positive")]})
    body.append(text(f"syncdesk · {s.order_id} · " + (f"payment checked {_time(s.payment_checked_at)}"
                                                       if s.payment_checked_at else "payment not checked yet"),
                     size="Small", isSubtle=True, separator=True))
    return _card(body, summary(s, today))


def _story(s: OrderSnapshot) -> list[str]:
    return story(s, who)


def resolved_card(s: OrderSnapshot) -> dict[str, Any]:
    """The compact summary a completed or cancelled order's alert turns into."""
    mark = "✅" if s.status == "Complete" else "⚪"
    story = _story(s)[-15:] or ["no actions recorded"]
    pay, _ = payment(s)
    return _card([
        text(f"{mark} {s.status} · {s.order_id} · {cut(s.guest_name, 200)}", size="Large", weight="Bolder",
             style="heading"),
        *(text(line, spacing="None") for line in story),
        text(f"Payment: {pay} · {len(s.items)} item{'s' if len(s.items) != 1 else ''}", size="Small",
             isSubtle=True, separator=True),
    ], summary(s))


def attachment(card: dict[str, Any]) -> dict[str, Any]:
    """A card as a Bot Framework message attachment."""
    return {"contentType": CONTENT_TYPE, "content": card}


_ACTION_NAMES = {"reprocess": "Reprocess", "booked_manually": "Booked manually", "complete": "Mark complete"}


def outcome_text(e: AuditView) -> str | None:
    """The reply for one job outcome in the audit trail, or None if the event is not one."""
    actor, item, d = who(e.actor), e.item_id or "", e.detail
    if e.action == "item.confirmed":
        ref = str(d.get("confirmation") or "")
        if d.get("how") == "manual":
            pm = f", deposit on {d['payment_method']}" if d.get("payment_method") else ""
            return f"Booked manually by {actor}: {item} confirmed, {ref}{pm}"
        verb = {"found": "already there, confirmed", "confirmed": "pending booking confirmed"}.get(
            str(d.get("how")), "booked")
        return f"Reprocessed by {actor}: {verb}, {item} {ref}"
    if e.action == "reprocess.failed":
        cls = d.get("error_class")
        label = ErrorClass(cls).label if cls in _CLASSES else "failed"
        return f"Reprocessed by {actor}: {item} failed again · {label}: {cut(str(d.get('message') or ''), 300)}"
    if e.action in ("reprocess.refused", "booked_manually.refused", "complete.refused"):
        return f"{_ACTION_NAMES[e.action.split('.')[0]]} by {actor} refused: {d.get('reason') or ''}"
    if e.action in ("booked_manually.failed", "complete.failed"):
        return f"{_ACTION_NAMES[e.action.split('.')[0]]} by {actor} failed: {d.get('message') or ''}"
    if e.action == "order.complete":
        return f"Marked complete by {actor}: the platform emails the guest their confirmation."
    return None


# -- what a click carries -----------------------------------------------------------------

@dataclass(frozen=True)
class CardAction:
    verb: str
    order_id: str
    item_id: str | None
    reference: str = ""
    payment_method: str | None = None
    notes: str | None = None


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
    if verb in (REPROCESS, BOOKED_MANUALLY) and not item_id:
        return None

    def field(name: str) -> str:
        value = data.get(input_id(name, item_id or ""))
        return value.strip() if isinstance(value, str) else ""

    return CardAction(verb, order_id, item_id, reference=field("reference"),
                      payment_method=field("payment_method") or None, notes=field("notes") or None)
