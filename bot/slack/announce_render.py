"""Block Kit for what the on-call workflows announce in Slack, as pure functions of their
frozen views: the outage message (`workflows.outage.views.IncidentView`) and its "Show all"
modal (`IncidentPage`, paginated with `views.update`), the daily digest (`workflows.reports.digest.Digest`), channel messages with their mention, direct messages
and the reconciliation report. No I/O here.

Mentions follow "Formatting text for app surfaces" (docs.slack.dev/messaging/formatting-message-text):
`<!here>`, `<!channel>`, `<!subteam^ID>` for a user group, `<@U…>` for a person. Limits
as in `bot.slack.render` (50 blocks, 3000-character sections, 150-character headers).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import TYPE_CHECKING, Any

from bot.slack.render import (
    MAX_MESSAGE_BLOCKS,
    MAX_SECTION_TEXT,
    button,
    context,
    cut,
    divider,
    escape,
    header,
    section,
    slack_text,
    system_name,
    who,
)
from connectors.errors import ErrorClass
from workflows.core.statuses import IncidentState

if TYPE_CHECKING:
    from workflows.outage.support import SupportDraft
    from workflows.outage.views import AffectedItem, IncidentPage, IncidentView
    from workflows.reports.digest import Digest
    from workflows.reports.reconcile import Report

REPROCESS_ALL = "reprocess_all"  # action_id of the outage message's button; value: the incident id
SHOW_ALL = "outage_show_all"  # the outage message's "Show all"; value: the incident id
SHOW_PAGE = "outage_page"  # the modal's "Previous" / "Next"; value: "<incident id>:<page>"
SHOW_ALL_VIEW = "outage_show_all_view"  # the modal's callback_id
SUPPORT = "outage_support"  # "Draft support request"; value: the incident id
SUPPORT_VIEW = "outage_support_view"  # its modal's callback_id; private_metadata: the incident id
SUPPORT_TEXT = "support_text"  # the modal's input block and action id

_SPECIAL = {"@here": "<!here>", "@channel": "<!channel>", "@everyone": "<!everyone>"}
_SUBTEAM_ID = re.compile(r"^S[A-Z0-9]{2,}$")
_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")
_CLASSES = {c.value for c in ErrorClass}


def mention(value: str | None) -> str:
    """ESCALATION_MENTION as Slack markup: "@here", a user group id "S0123" or `<!subteam^S0123|name>`."""
    if not value:
        return ""
    value = value.strip()
    if value in _SPECIAL:
        return _SPECIAL[value]
    if value.startswith("<") and value.endswith(">"):
        return value  # already Slack markup, e.g. <!subteam^S0123|reservations>
    if _SUBTEAM_ID.match(value):
        return f"<!subteam^{value}>"
    if _USER_ID.match(value):
        return f"<@{value}>"
    return escape(value)


def channel_text(text: str, mention_value: str | None = None) -> str:
    """A workflows message for the channel: escaped, led by its mention."""
    lead = mention(mention_value)
    return cut(f"{lead} {escape(text)}" if lead else escape(text), 39000)


def direct_text(text: str, link: str | None) -> str:
    """A direct message, with the link to the order's alert when there is one."""
    body = escape(text)
    return f"{body}\n<{link}|Open the alert>" if link else body


def _class_label(error_class: str) -> str:
    return ErrorClass(error_class).label if error_class in _CLASSES else error_class.replace("_", " ")


def _time(t: dt.datetime) -> str:
    return f"{t:%H:%M} UTC"


# -- the outage parent message ------------------------------------------------------------

def incident_text(incident: IncidentView) -> str:
    """The notification text (and fallback) of the outage message."""
    if incident.state == IncidentState.OPEN or incident.in_maintenance:
        return incident.summary
    return f"{incident.summary} · all clear"


_STATE_MARKS = {"failed": "❌", "rebooking": "⏳", "rebooked": "✅", "no availability": "🚫",
                "failed again": "❌", "closed": "☑️"}


def _arrival(day: dt.date | None, today: dt.date) -> str:
    if day is None:
        return "arrival unknown"
    days = (day - today).days
    when = "today" if days == 0 else "tomorrow" if days == 1 else f"{day:%a %-d %b}"
    return f"{'🔴 ' if days <= 1 else '🟠 ' if days <= 7 else ''}arriving {when}"


def affected_line(item: AffectedItem, today: dt.date) -> str:
    """One affected order: link, guest, arrival, property, state and why."""
    order = f"<{item.link}|{escape(item.order_id)}>" if item.link and "|" not in item.link and ">" not in item.link \
        else f"*{escape(item.order_id)}*"
    why = f" ({_class_label(item.error_class)})" if item.error_class and item.state != "rebooked" else ""
    where = f" · {escape(item.property)}" if item.property else ""
    return (f"{_STATE_MARKS.get(item.state, '•')} {order} {escape(cut(item.guest_name, 60))} — "
            f"{_arrival(item.arrival, today)}{where} — {escape(item.state)}{escape(why)}")


def incident_blocks(incident: IncidentView, today: dt.date | None = None) -> list[dict[str, Any]]:
    """The outage message: what, how many, why; the most urgent guests; totals by property;
    the all-clear and the recovery's progress; "Show all" and "Reprocess all N"."""
    today = today or dt.datetime.now(dt.timezone.utc).date()
    quiet = incident.state != IncidentState.OPEN and not incident.in_maintenance
    mark = "🔧" if incident.in_maintenance else "✅" if quiet else "⏸️" if incident.recovery_paused else "🚨"
    blocks: list[dict[str, Any]] = [header(f"{mark} {incident.summary}")]
    classes = " · ".join(f"{_class_label(c)} {n:,}" for c, n in incident.error_classes[:8])
    orders = len(incident.order_ids)
    span = (f"First failure {_time(incident.first_failure_at)}, last {_time(incident.last_failure_at)}"
            f" · {orders:,} order{'s' if orders != 1 else ''} affected, {incident.open_items:,} still open")
    blocks.append(section(f"*{incident.failure_count:,} failures at {escape(incident.system_name)}:* "
                          f"{escape(classes) or 'no class recorded'}\n{span}", block_id="incident"))
    if incident.urgent:
        lines = [affected_line(i, today) for i in incident.urgent]
        more = incident.open_items - len(incident.urgent)
        tail = f"\n…and {more:,} more: *Show all*" if more > 0 else ""
        blocks.append(section("*Most urgent, soonest arrival first:*\n" + cut("\n".join(lines), 2800) + tail,
                              block_id="urgent"))
    if incident.by_property:
        props = " · ".join(f"{escape(p)} {n:,}" + (f" ({o:,} open)" if o != n else "")
                           for p, n, o in incident.by_property[:12])
        blocks.append(section(f"*By property:* {props}", block_id="by_property"))
    if incident.recovery_paused:
        blocks.append(section(f"⏸️ *Recovery paused:* {escape(incident.system_name)} is failing again. "
                              "It resumes, soonest arrival first, after the next all-clear. On-call has been paged.",
                              block_id="paused"))
    elif incident.in_maintenance:  # issue 26: a maintenance window's failures, held; nobody paged
        blocks.append(section(slack_text(incident.maintenance_text), block_id="maintenance"))
    elif not quiet:
        blocks.append(section("On-call has been paged once. Failures at "
                              f"{escape(incident.system_name)} are collected here instead of one alert each; "
                              "every order stays tracked (`/syncdesk order ID` shows one with its buttons). "
                              "I'll post the all-clear when it has been quiet for a while."))
    else:
        blocks.append(section(slack_text(incident.all_clear_text), block_id="all_clear"))  # who ended a window
    if incident.reprocess_requested_by is not None:
        at = f" at {_time(incident.reprocess_requested_at)}" if incident.reprocess_requested_at else ""
        progress = f": {escape(incident.progress.text)}" if incident.progress else ""
        blocks.append(section(f"🔁 *Reprocess all* asked by {who(incident.reprocess_requested_by)}{at}{progress}",
                              block_id="progress"))
    elements: list[dict[str, Any]] = [button(f"Show all {incident.affected:,}", SHOW_ALL, str(incident.incident_id)),
                                      button("Draft support request", SUPPORT, str(incident.incident_id))]
    if incident.reprocess_all_offered:
        n = incident.still_failed
        elements.append({
            **button(f"Reprocess all {n:,}", REPROCESS_ALL, str(incident.incident_id), "primary"),
            "confirm": {
                "title": {"type": "plain_text", "text": "Reprocess all?"},
                "text": {"type": "mrkdwn", "text": cut(
                    f"Rebook each of the {n:,} still-failed {escape(incident.system_name)} items, soonest arrival "
                    f"first, at {escape(incident.system_name)}'s pace (checked first: nothing is booked twice).", 300)},
                "confirm": {"type": "plain_text", "text": "Reprocess all"},
                "deny": {"type": "plain_text", "text": "Cancel"},
            },
        })
    blocks.append({"type": "actions", "block_id": "outage_actions", "elements": elements})
    what = (f"maintenance window {incident.maintenance.window_id}" if incident.maintenance
            else f"outage {incident.incident_id}")
    blocks.append(context(f"syncdesk · {what} · opened {_time(incident.opened_at)}"))
    return blocks


def support_modal(draft: SupportDraft) -> dict[str, Any]:
    """"Draft support request": the message to the system's support, ready to edit and copy;
    "Post in the thread" puts it under the outage message."""
    to = f"For *{escape(draft.contact)}*. " if draft.contact else ""
    return {
        "type": "modal", "callback_id": SUPPORT_VIEW, "private_metadata": str(draft.incident_id),
        "title": {"type": "plain_text", "text": "Support request"},
        "submit": {"type": "plain_text", "text": "Post in the thread"},
        "close": {"type": "plain_text", "text": "Close"},
        "blocks": [
            section(f"{to}Edit it, copy it into your e-mail or the vendor's portal, or post it in the outage "
                    "message's thread. syncdesk never sends it to the vendor."),
            {"type": "input", "block_id": SUPPORT_TEXT, "label": {"type": "plain_text", "text": "Message"},
             "element": {"type": "plain_text_input", "action_id": SUPPORT_TEXT, "multiline": True,
                         "initial_value": cut(draft.text, 3000), "max_length": 3000}},
        ],
    }


def show_all_modal(shown: IncidentPage, today: dt.date | None = None) -> dict[str, Any]:
    """"Show all": every affected order with its state, open ones first by arrival, a page at a time."""
    today = today or dt.datetime.now(dt.timezone.utc).date()
    incident = shown.incident
    blocks: list[dict[str, Any]] = [
        section(f"*{escape(incident.summary)}*\n{incident.affected:,} affected, {incident.open_items:,} still open"
                + (f" · {escape(incident.progress.text)}" if incident.progress else "")),
        context("Open ones first, soonest arrival first. `/syncdesk order ID` shows an order's alert with its "
                "buttons."),
        divider(),
    ]
    blocks += _lines_to_sections([affected_line(i, today) for i in shown.items], MAX_MESSAGE_BLOCKS - 8) \
        or [section("Nothing is attached to this outage.")]
    nav = []
    if shown.has_previous:
        nav.append(button("‹ Previous", SHOW_PAGE, f"{incident.incident_id}:{shown.page - 1}"))
    if shown.has_next:
        nav.append(button("Next ›", SHOW_PAGE, f"{incident.incident_id}:{shown.page + 1}"))
    if nav:
        blocks.append({"type": "actions", "block_id": "pages", "elements": nav})
    blocks.append(context(f"Page {shown.page + 1} of {shown.pages} · outage {incident.incident_id}"))
    return {"type": "modal", "callback_id": SHOW_ALL_VIEW, "private_metadata": str(incident.incident_id),
            "title": {"type": "plain_text", "text": cut(f"Outage · {incident.system_name}", 24)},
            "close": {"type": "plain_text", "text": "Close"}, "blocks": blocks}


def parse_page(value: str) -> tuple[int, int] | None:
    """The (incident id, page) a "Previous"/"Next" button carries; None when it is not one."""
    incident, _, number = value.partition(":")
    return (int(incident), int(number)) if incident.isdigit() and number.isdigit() else None


# -- the daily digest ---------------------------------------------------------------------

def _duration(value: dt.timedelta | None) -> str:
    if value is None:
        return "-"
    minutes = int(value.total_seconds() // 60)
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{minutes} min"


def _lines_to_sections(lines: list[str], budget: int) -> list[dict[str, Any]]:
    """Lines packed into as few sections as fit (3000 characters each), at most `budget` blocks."""
    out: list[dict[str, Any]] = []
    chunk: list[str] = []
    for line in lines:
        if chunk and sum(len(x) + 1 for x in chunk) + len(line) > MAX_SECTION_TEXT - 50:
            out.append(section("\n".join(chunk)))
            chunk = []
        chunk.append(cut(line, MAX_SECTION_TEXT - 50))
    if chunk:
        out.append(section("\n".join(chunk)))
    if len(out) > budget:
        out = out[: budget - 1] + [context(f"…{len(out) - budget + 1} more sections: see `/syncdesk orders`")]
    return out


def digest_text(digest: Digest) -> str:
    return f"syncdesk digest for {digest.day:%a %d %b %Y}: {digest.total_failures} failures, " \
           f"{len(digest.open_orders)} still open"


def digest_blocks(digest: Digest) -> list[dict[str, Any]]:
    """Yesterday's failures by system and class, what is still open by arrival, time to
    resolution, recurring themes and who fixed what."""
    blocks: list[dict[str, Any]] = [header(f"📊 syncdesk digest · {digest.day:%a %d %b %Y}"),
                                    context(f"Day in {escape(digest.timezone)}")]
    if digest.channels:  # issue 14: what each alert channel covers
        blocks.append(context("Channels: " + "; ".join(f"{escape(c)} — {escape(what)}" for c, what in digest.channels)))
    if digest.failures:
        lines = []
        for system, total in digest.by_system:
            classes = ", ".join(f"{_class_label(f.error_class)} {f.count}" for f in digest.failures
                                if f.system == system)
            lines.append(f"• *{escape(system_name(system))}* {total} ({escape(classes)})")
        blocks.append(section(f"*Failures: {digest.total_failures}*\n" + "\n".join(lines), block_id="failures"))
    else:
        blocks.append(section("*Failures:* none 🎉", block_id="failures"))
    if digest.resolved:
        blocks.append(section(f"*Time to resolution:* median {_duration(digest.resolution_median)}, "
                              f"90th percentile {_duration(digest.resolution_p90)} ({digest.resolved} resolved)",
                              block_id="resolution"))
    else:
        blocks.append(section("*Time to resolution:* nothing resolved", block_id="resolution"))
    if digest.response:
        blocks.append(section("*Response times* (medians; count):\n" + "\n".join(
            f"• {escape(r.text())}" for r in digest.response[:15]), block_id="response"))
    if digest.themes:
        blocks.append(section("*Recurring:*\n" + "\n".join(
            f"• {escape(system_name(t.system))} {escape(_class_label(t.error_class).lower())} on {len(t.days)} of "
            f"the last {digest.lookback_days} days ({t.failures} failures)" for t in digest.themes[:20]),
            block_id="themes"))
    fixes = [f"• {who(actor)}: " + ", ".join(
        escape(f"{f.order_id}/{f.item_id}") + (f" (`{escape(f.reference)}`)" if f.reference else "") for f in done)
        for actor, done in digest.fixes_by_person]
    tail: list[dict[str, Any]] = []
    if fixes:
        tail = [divider(), section("*Who fixed what:*"), *_lines_to_sections(fixes, 6)]
    open_lines = []
    for o in digest.open_orders:
        arrival = f"arriving {o.arrival:%a %d %b}" if o.arrival else "arrival unknown"
        taken = f" — {who(o.acknowledged_by)} is on it" if o.acknowledged_by else ""
        open_lines.append(f"• *{escape(o.order_id)}* {escape(cut(o.guest_name, 80))} — {arrival} — "
                          f"{escape(', '.join(o.failing)) or 'awaiting completion'}{taken}")
    blocks += [divider(), section(f"*Still open: {len(digest.open_orders)}*" + (", soonest arrival first"
                                                                               if open_lines else ""))]
    budget = MAX_MESSAGE_BLOCKS - len(blocks) - len(tail)
    blocks += _lines_to_sections(open_lines, budget) if open_lines else []
    return (blocks + tail)[:MAX_MESSAGE_BLOCKS]


# -- reconciliation -----------------------------------------------------------------------

def reconcile_blocks(report: Report) -> list[dict[str, Any]]:
    """The `/syncdesk reconcile` answer: the mismatches, each with its link, and what could not be checked."""
    n = len(report.mismatches)
    head = (f"*Reconciliation:* {report.checked} order{'s' if report.checked != 1 else ''} checked, "
            f"{n} mismatch{'es' if n != 1 else ''}" + (" ✅" if not n and not report.problems else ""))
    lines = []
    for m in report.mismatches:
        where = f"{m.order_id}/{m.item_id}" if m.item_id else m.order_id
        link = f" <{m.link}|open>" if m.link and "|" not in m.link and ">" not in m.link else ""
        lines.append(f"• *{escape(m.kind.label)}:* {escape(where)} — {escape(m.detail)}{link}")
    lines += [f"⚠️ {escape(p)}" for p in report.problems]
    return [section(head)] + _lines_to_sections(lines, MAX_MESSAGE_BLOCKS - 1)
