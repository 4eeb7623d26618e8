"""The words both chat surfaces use for an order: system names, dates, arrival urgency,
the property, the headline. Pure functions of the snapshot, shared so Slack's message and
Teams' card always say the same thing; each surface adds only its own markup.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from zoneinfo import ZoneInfo

from connectors.errors import ErrorClass
from workflows.actions.offer import (  # what an alert offers: the rules live in workflows (issue 23)
    MAX_ITEMS as MAX_ITEMS,
    MAX_VISIBLE as MAX_VISIBLE,
    Move as Move,
    can_complete as can_complete,
    can_complete_unchecked as can_complete_unchecked,
    is_manual as is_manual,
    item_moves as item_moves,
    manual_bookings as manual_bookings,
    moves as moves,
    order_moves as order_moves,
    reprocessable as reprocessable,
    resolved as resolved,
    undoable as undoable,
    unhandled as unhandled,
)
from workflows.actions.offer import (  # the moves' ids, for the renderers
    REPROCESS as REPROCESS,
    BOOKED_MANUALLY as BOOKED_MANUALLY,
    VIEW_LOG as VIEW_LOG,
    CANCEL_REFUND as CANCEL_REFUND,
    UNDO_MANUAL as UNDO_MANUAL,
    IM_ON_IT as IM_ON_IT,
    MARK_COMPLETE as MARK_COMPLETE,
    COMPLETE_UNCHECKED as COMPLETE_UNCHECKED,
    SNOOZE as SNOOZE,
    HAND_OVER as HAND_OVER,
    REVEAL_GUEST as REVEAL_GUEST,
    MESSAGE_GUEST as MESSAGE_GUEST,
)
from workflows.actions.rules import PREMIER_PAYMENT_METHODS
from workflows.core.lifecycle import OnStatus, rule_for
from workflows.core.statuses import AlertState, ItemStatus, OrderStatus, QueueStatus
from workflows.guests.reveal import Revealed
from workflows.orders.lookup import QueueRow, money
from workflows.orders.snapshot import AttemptView, AuditView, ItemView, OrderSnapshot
from workflows.systems.names import system_name

ERROR_CLASSES = {c.value for c in ErrorClass}


def cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def day(d: dt.date) -> str:
    return f"{d:%a} {d.day} {d:%b %Y}"


def time_utc(t: dt.datetime) -> str:
    return f"{t:%d %b %H:%M} UTC"


def urgency(arrival: dt.date | None, today: dt.date) -> str:
    if arrival is None:
        return "no arrival date"
    days = (arrival - today).days
    if days < 0:
        return f"arrived {-days} day{'s' if days < -1 else ''} ago"
    return {0: "arrives today", 1: "arrives tomorrow"}.get(days, f"arrives in {days} days")


def property_label(item: ItemView) -> str:
    d = item.details
    if d.get("hotel_id"):
        return f"hotel {d['hotel_id']}"
    for key in ("property_id", "venue_id", "site_id", "resort_id"):
        if d.get(key):
            return f"{key.split('_')[0]} {d[key]}"
    return "property not given"


def dates(item: ItemView) -> str:
    if item.start is None:
        return "no dates"
    if item.end is None or item.end == item.start:
        return day(item.start)
    nights = (item.end - item.start).days
    return f"{day(item.start)} → {day(item.end)} ({nights} night{'s' if nights != 1 else ''})"


def headline(s: OrderSnapshot) -> str:
    systems = sorted({system_name(i.system) for i in s.failing_items})
    if not systems:
        return f"Booking sync · {s.order_id}"
    what = " + ".join(systems) + (" booking failed" if len(s.failing_items) == 1 else " bookings failed")
    if s.problems and all(s.problem(i.item_id) for i in s.failing_items):  # no failure: a booking problem
        kinds = {str(p.kind) for p in s.problems}
        if "reported" in kinds:
            what = "Front desk: no booking"
        else:
            problem = _PROBLEM_HEADLINES.get(next(iter(kinds)), "booking problem") if len(kinds) == 1 \
                else "booking problems"
            what = f"{' + '.join(systems)} {problem} before arrival"
    return f"{what} · {s.order_id}"


# An arrival-check problem's headline, by its kind (`workflows.orders.problems.Kind`).
_PROBLEM_HEADLINES = {"missing": "booking missing", "gone": "booking cancelled", "provisional": "booking only held",
                      "differs": "booking differs from the order"}


def next_step(cls: ErrorClass, item: ItemView) -> str:
    """The error class's next step, naming who to contact about the item's system (its configured
    support contact, carried by the snapshot's system description)."""
    desc = item.system_description
    return cls.next_step_for(desc.support if desc is not None else "")


def status_note(s: OrderSnapshot) -> str | None:
    """A status syncdesk does not know is alerted, and says so; a done order kept open by a
    booking problem says why (`workflows.core.lifecycle.settled_by_status`)."""
    rule = rule_for(s.status)
    if s.problems and rule.on is OnStatus.RESOLVE:
        return (f"The platform says the order is {s.status}, but its booking is not where the guest will be met: "
                "this alert stays open until it is booked again (Rebook, Booked manually), found confirmed, or "
                "someone says it is fine.")
    if rule.known or rule.on is not OnStatus.ALERT:
        return None
    return (f"The platform says the order is “{s.status}”, a status syncdesk does not know: "
            "alerted because the money may have been taken.")


def still_charged(s: OrderSnapshot) -> str | None:
    """Cancelled but the payment is captured and not (fully) refunded: what to do about it."""
    if s.status == OrderStatus.CANCELLED and s.payment_state in ("captured", "partially_refunded"):
        return "Cancelled but still charged: refund with Cancel Deliveries on the platform."
    return None


def resumed(s: OrderSnapshot) -> str | None:
    """"acknowledged by Ana 60 min ago, still not resolved" while an expired acknowledgement
    has re-opened the alert and nobody has acted since."""
    if not any(a.state == AlertState.OPEN for a in s.alerts):
        return None
    for e in reversed(s.audit):
        if e.action == "alert.acknowledged":
            return None
        if e.action == "alert.open" and e.detail.get("reason") == "acknowledgement expired":
            return (f"acknowledged by {e.detail.get('acknowledged_by')} {e.detail.get('acknowledged_minutes')} min "
                    "ago, still not resolved")
    return None


_DONE_VERBS = {OrderStatus.COMPLETE: "completed", OrderStatus.CLOSED: "closed", OrderStatus.CANCELLED: "cancelled"}


def story(s: OrderSnapshot, who: Callable[[str], str], text: Callable[[str], str] = str,
          code: Callable[[str], str] = str) -> list[str]:
    """Who did what, from the audit trail: the lines of a resolved summary. `who` shows an
    actor, `text` escapes words and `code` marks a confirmation number, each surface its way."""
    lines = []
    for e in s.audit:
        if e.action == "item.confirmed":
            how = e.detail.get("how")
            verb = {"manual": "booked manually", "platform": "confirmed on the platform"}.get(how or "") or (
                f"reprocessed ({how})" if how else "confirmed")
            if how == "platform":
                ref = e.detail.get("confirmation")
                lines.append(f"{text(e.item_id or '')} {verb}" + (f" · {code(ref)}" if ref else "")
                             + f" · {time_utc(e.at)}")
                continue
            ref = e.detail.get("confirmation")
            lines.append(f"{text(e.item_id or '')} {verb} by {who(e.actor)}" + (f" · {code(ref)}" if ref else "")
                         + f" · {time_utc(e.at)}")
        elif e.action == "item.cancelled" and e.detail.get("how") == "cancel_delivery":
            amount = money(int(e.detail.get("refund_minor") or 0), str(e.detail.get("currency") or ""))
            lines.append(f"{text(e.item_id or '')} cancelled and refunded by {who(e.actor)}: {amount} "
                         f"({code(str(e.detail.get('refund_reference') or 'no reference'))}) · {time_utc(e.at)}")
        elif e.action == "item.in_progress" and e.detail.get("how") == "undo":
            lines.append(f"{text(e.item_id or '')} booked manually as {code(str(e.detail.get('undone_reference')))}, "
                         f"undone by {who(e.actor)}: {text(str(e.detail.get('reason') or ''))} · {time_utc(e.at)}")
        elif e.action in ("order.complete", "order.cancelled"):
            unchecked = e.detail.get("payment_unchecked")
            lines.append(f"order {e.action.split('.')[1]} by {who(e.actor)}"
                         + (f" without a payment check ({text(str(unchecked))})" if unchecked else "")
                         + f" · {time_utc(e.at)}")
        elif e.action == "order.platform_status":
            to = str(e.detail.get("to") or "")
            verb = _DONE_VERBS.get(to)
            lines.append(f"order {verb} on the platform · {time_utc(e.at)}" if verb
                         else f"order now {text(to)} on the platform · {time_utc(e.at)}")
    return lines


# -- rows of the order queue and of `find` ---------------------------------------------------

ALERT_WORDS = {AlertState.OPEN: "🔔 alert open", AlertState.ACKNOWLEDGED: "👤 alert taken",
               AlertState.RESOLVED: "✅ alert resolved"}


def error_label(error_class: str | None) -> str:
    if not error_class:
        return "-"
    return ErrorClass(error_class).label if error_class in ERROR_CLASSES else error_class


def row_facts(row: QueueRow) -> list[str]:
    """What a queue or find row says after the order id, in the order both surfaces show it."""
    facts = [time_utc(row.placed_at) if row.placed_at else "-"]
    if row.guest_name:
        facts.append(cut(row.guest_name, 80))
    facts += [row.status, f"queue {row.queue_status}", f"{row.attempts} att.", error_label(row.error_class)]
    facts.append(ALERT_WORDS.get(row.alert_state or "", "never alerted"))
    return facts


# -- what the moves leave on the alert ----------------------------------------------------------

def snooze_note(s: OrderSnapshot, who: Callable[[str], str]) -> str | None:
    """"💤 Snoozed until Tue 01 Dec 09:00 UTC by Ana": escalation paused, and by whom."""
    snoozed = next((a for a in s.alerts if a.snoozed_until is not None), None)
    if snoozed is None or snoozed.snoozed_until is None:
        return None
    until = snoozed.snoozed_until.astimezone(ZoneInfo(s.timezone))
    by = f" by {who(snoozed.snoozed_by)}" if snoozed.snoozed_by else ""
    return (f"💤 Snoozed until {until:%a %d %b %H:%M} ({s.timezone}){by}: escalation paused until then, "
            "or until it fails again")


def owner_of(s: OrderSnapshot) -> str | None:
    return next((a.owner for a in s.alerts if a.owner), None)


def refund_of(s: OrderSnapshot, item_id: str) -> AuditView | None:
    """The Cancel Deliveries that cancelled and refunded the item, if one did."""
    return next((e for e in reversed(s.audit) if e.action == "item.cancelled" and e.item_id == item_id
                 and e.detail.get("how") == "cancel_delivery"), None)


def refund_estimate(s: OrderSnapshot, item: ItemView) -> str:
    """What the confirm dialog says the guest gets back. The platform decides the amount; with
    one item to deliver it is the payment, otherwise that item's share of it."""
    paid = s.payment_detail.get("amount_minor") or s.total_minor
    others = [i for i in s.items if i.item_id != item.item_id and i.status != ItemStatus.CANCELLED]
    if not others:
        return f"{money(int(paid), s.currency)} (the whole payment)"
    return f"{item.item_id}'s share of the {money(int(paid), s.currency)} paid, as the platform works it out"


def cancelled_line(s: OrderSnapshot, item: ItemView, who: Callable[[str], str]) -> str:
    """A cancelled item on the alert, with its refund when syncdesk made it."""
    refund = refund_of(s, item.item_id)
    if refund is None:
        return f"{item.item_id} cancelled on the platform"
    amount = money(int(refund.detail.get("refund_minor") or 0), s.currency)
    ref = refund.detail.get("refund_reference") or "no reference"
    stripe = ""
    if s.payment_state in ("refunded", "partially_refunded"):
        stripe = f"; Stripe shows {money(int(s.payment_detail.get('refunded_minor') or 0), s.currency)} refunded"
    return f"{item.item_id} cancelled and refunded by {who(refund.actor)}: {amount} ({ref}){stripe}"


def outcome(e: AuditView, who: Callable[[str], str], text: Callable[[str], str] = str,
            code: Callable[[str], str] = str) -> str | None:
    """The thread reply for one job outcome or move in the audit trail, or None if it is not
    one. `who` shows an actor, `text` escapes words, `code` marks a reference: each surface its way."""
    actor, item, d = who(e.actor), text(e.item_id or ""), e.detail
    ref = code(str(d.get("confirmation") or ""))
    if e.action == "item.confirmed":
        if d.get("how") == "manual":
            pm = f", deposit on {text(str(d['payment_method']))}" if d.get("payment_method") else ""
            return f"Booked manually by {actor}: {item} confirmed, {ref}{pm}"
        verb = {"found": "already there, confirmed", "confirmed": "pending booking confirmed"}.get(
            str(d.get("how")), "booked")
        return f"Reprocessed by {actor}: {verb}, {item} {ref}"
    if e.action == "reprocess.failed":
        label = error_label(d.get("error_class")) if d.get("error_class") in ERROR_CLASSES else "failed"
        return f"Reprocessed by {actor}: {item} failed again · {label}: {text(cut(str(d.get('message') or ''), 300))}"
    name = _ACTION_NAMES.get(e.action.split(".")[0], "")
    if e.action.endswith(".refused") and name:
        return f"{name} by {actor} refused: {text(str(d.get('reason') or ''))}"
    if e.action.endswith(".failed") and name:
        return f"{name} by {actor} failed: {text(str(d.get('message') or ''))}"
    if e.action == "order.complete":
        return f"Marked complete by {actor}: the platform emails the guest their confirmation."
    if e.action == "item.cancelled" and d.get("how") == "cancel_delivery":
        amount = money(int(d.get("refund_minor") or 0), str(d.get("currency") or ""))
        return (f"Cancelled and refunded by {actor}: {item}, {amount} refunded "
                f"({code(str(d.get('refund_reference') or 'no reference'))}) · {text(str(d.get('reason') or ''))}")
    if e.action == "item.in_progress" and d.get("how") == "undo":
        return (f"Booked manually undone by {actor}: {item} is failed again ({code(str(d.get('undone_reference')))} "
                f"was wrong: {text(str(d.get('reason') or ''))})")
    if e.action == "alert.snoozed":
        until = dt.datetime.fromisoformat(str(d.get("until")))
        return f"Snoozed by {actor} until {time_utc(until)}."
    if e.action == "alert.snooze_ended":
        by = who(str(d.get("snoozed_by"))) if d.get("snoozed_by") else "someone"
        if d.get("reason") == "expired":
            return f"⏰ The snooze {by} set is over and {item or 'the order'} is still unresolved: escalation resumes."
        return f"Snooze by {by} ended: it failed again."
    if e.action == "alert.handed_over":
        return f"Handed over by {actor} to {who(str(d.get('to')))}."
    return None


_ACTION_NAMES = {"reprocess": "Reprocess", "booked_manually": "Booked manually", "complete": "Mark complete",
                 "cancel_refund": "Cancel and refund", "undo_manual": "Undo Booked manually"}


# -- the payment line -----------------------------------------------------------------------------

def payment_says(s: OrderSnapshot, text: Callable[[str], str] = str, code: Callable[[str], str] = str,
                 bold: Callable[[str], str] = str) -> tuple[str, str]:
    """The payment line (after its label) and how loud it is ("good", "warning", "attention",
    "default"): the stored Stripe check, a loud warning, or the refund syncdesk asked for."""
    d = s.payment_detail
    cur = str(d.get("currency") or s.currency)
    ref = code(s.payment_reference) if s.payment_reference else "no reference"
    amount = money(int(d.get("amount_minor") or s.total_minor), cur)
    refunded = money(int(d.get("refunded_minor") or 0), cur)
    detail = text(str(d.get("detail") or ""))
    cancelled = [i.item_id for i in s.items if refund_of(s, i.item_id) is not None]
    state = s.payment_state
    if state == "captured":
        return f"✅ {amount} captured ({ref}), no refunds", "good"
    if state == "refunded" and cancelled:
        return f"↩️ {bold(refunded + ' refunded')} ({ref}) by Cancel Deliveries of {', '.join(cancelled)}", "default"
    if state == "partially_refunded" and cancelled:
        return (f"✅ {amount} captured ({ref}), {bold(refunded + ' refunded')} by Cancel Deliveries of "
                f"{', '.join(cancelled)}", "good")
    if state == "partially_refunded":
        return (f"⚠️ {amount} captured ({ref}), {bold(refunded + ' refunded')} — check what the guest is still "
                "owed before booking", "warning")
    if state == "refunded":
        return (f"🚨 {bold('REFUNDED')} — {refunded} refunded ({ref}). Do not book; syncdesk will not reprocess or "
                "complete this order.", "attention")
    if state == "not_captured":
        return (f"🚨 {bold('NOT CAPTURED')} ({ref}) — the money was never taken. Do not book; ask the guest to pay "
                "again.", "attention")
    if state == "mismatch":
        expected = money(int(d.get("expected_minor") or s.total_minor), cur)
        received = money(int(d.get("received_minor") or 0), cur)
        return (f"🚨 {bold('AMOUNT MISMATCH')} — order {expected}, Stripe received {received} ({ref}). Do not book "
                "until resolved.", "attention")
    if state == "unknown":
        return (f"⚠️ {bold('NOT VERIFIED')} ({ref}){': ' + detail if detail else ''}. Check it by hand before telling "
                "the guest anything.", "warning")
    return f"⏳ not checked yet ({ref}, {money(s.total_minor, s.currency)})", "default"


# -- retail ----------------------------------------------------------------------------------------

def retail_headline(orders: int, ready: list[str], after_hours: int) -> str:
    """The retail reminder's headline: orders awaiting dispatch, or dispatched ones ready to complete."""
    if not orders and ready:
        return f"{ready[0]} dispatched: ready to complete" if len(ready) == 1 \
            else f"{len(ready)} retail orders dispatched: ready to complete"
    return f"{orders} retail order{'s' if orders != 1 else ''} awaiting dispatch for more than {after_hours} h"


# -- items: how a manual booking is asked for, and a booked item ---------------------------------

def payment_methods(item: ItemView) -> tuple[str, ...]:
    """The payment methods "Booked manually" asks for: the playbook's (configured), or EMS
    Premier's defaults when the system was not described; () when none is asked for."""
    desc = item.system_description
    if desc is not None and "payment_method" in desc.manual_fields:
        return desc.payment_methods or PREMIER_PAYMENT_METHODS
    if desc is None and item.system == "premier":
        return PREMIER_PAYMENT_METHODS
    return ()


def confirmed_line(item: ItemView, who: Callable[[str], str], text: Callable[[str], str] = str,
                   code: Callable[[str], str] = str, bold: Callable[[str], str] = str) -> str:
    """"✅ ITEM-1 Confirmed in SynXis 13098CU000379 by Ana · deposit on revspa"."""
    ref = f" {code(item.external_reference)}" if item.external_reference else ""
    by = f" by {who(item.confirmed_by)}" if item.confirmed_by else ""
    if item.confirmed_by == "the platform":
        by = " · confirmed on the platform"
    pm = f" · deposit on {text(item.payment_method)}" if item.payment_method else ""
    last = item.last_attempt
    warned = f"\n⚠️ {text(last.warning)}" if last is not None and last.status == QueueStatus.SUCCESS and last.warning else ""
    return f"✅ {bold(text(item.item_id))} {item.status} in {system_name(item.system)}{ref}{by}{pm}{warned}"


# -- attempts ----------------------------------------------------------------------------------------

def attempt_line(a: AttemptView, who: Callable[[str], str], text: Callable[[str], str] = str,
                 code: Callable[[str], str] = str) -> str:
    """"#2 failed 22 Nov 10:03 UTC by Ana · Timeout · 13098CU000379"."""
    what = {QueueStatus.FAILED: "failed", QueueStatus.SUCCESS: "succeeded",
            QueueStatus.PROCESSING: "running"}.get(a.status, a.status)
    cls = ""
    if a.error_class:
        cls = f" · {ErrorClass(a.error_class).label if a.error_class in ERROR_CLASSES else text(a.error_class)}"
    ref = f" · {code(a.confirmation)}" if a.confirmation else ""
    # A hold check-first found and could not confirm lapses at its deadline; a one-key finding is a warning.
    held = f" · ⏳ hold lapses {time_utc(a.hold_deadline)}" if a.hold_deadline else ""
    warned = f" · ⚠️ {text(a.warning)}" if a.warning else ""
    return (f"#{a.number} {what} {time_utc(a.finished_at or a.started_at)} by {who(a.triggered_by)}{cls}{ref}"
            f"{held}{warned}")


def attempt_lines(s: OrderSnapshot, item: ItemView, line: Callable[[AttemptView], str]) -> list[str]:
    """The last four attempts of the item, and its automatic retry (scheduled, or done)."""
    shown = item.attempts[-4:]
    lines = [line(a) for a in shown]
    if len(item.attempts) > len(shown):
        lines.insert(0, f"{len(item.attempts) - len(shown)} earlier attempts")
    retry = s.pending_retry()
    if retry is not None and retry.item_id == item.item_id:
        at = retry.detail.get("at")
        lines.append(f"🔁 automatic retry scheduled for {time_utc(dt.datetime.fromisoformat(at)) if at else 'soon'} "
                     "(once)")
    elif any(a.triggered_by.startswith("syncdesk (automatic") for a in item.attempts):
        lines.append("🔁 automatic retry done")
    return lines


def revealed(shown: Revealed | None, order_id: str) -> str:
    """The answer to "Show guest details" (issue 28), for the person alone."""
    if shown is None:
        return f"{order_id} is not known to syncdesk."
    if shown.erased:
        return f"The guest of {order_id} was erased: there are no details left to show."
    contact = " · ".join(x for x in (shown.email, shown.phone) if x) or "no e-mail or phone"
    return (f"Guest of {order_id}: {shown.name or '(no name)'} · {contact}\n"
            "Shown to you alone; syncdesk records that you looked.")
