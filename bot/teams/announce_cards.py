"""Adaptive Cards for what the on-call workflows announce in Teams, as pure functions of
their frozen views: the outage card (`workflows.outage.views.IncidentView`, the same view as
Slack's message: counts, most urgent guests, totals by property, progress; "Reprocess all N"
as an `Action.Execute`, "Show all" as an `Action.Submit` answered with a list card a page at
a time, `IncidentPage`) and the daily digest (`workflows.reports.digest.Digest`), with its chart
(issue 26.7) as an `Image` whose url is a `data:image/png;base64,…` URI: the Image element takes
a data URI from Adaptive Cards 1.2 (adaptivecards.io/explorer/Image.html), and Teams leaves
base64 images out of a bot message's size limit (learn.microsoft.com/microsoftteams/platform/
bots/how-to/format-your-bot-messages). No I/O here.

Same schema and conventions as `bot.teams.cards` (Adaptive Cards 1.5, Universal Actions).
"""

from __future__ import annotations

import base64
import datetime as dt
from typing import TYPE_CHECKING, Any

from bot.teams.cards import (
    MAX_TEXT,
    SCHEMA,
    VERSION,
    cut,
    facts,
    plain,
    system_name,
    text,
    who,
)
from connectors.errors import ErrorClass
from workflows.core.statuses import IncidentState

if TYPE_CHECKING:
    from workflows.outage.support import SupportDraft
    from workflows.outage.views import AffectedItem, IncidentPage, IncidentView
    from workflows.reports.digest import Digest

REPROCESS_ALL = "reprocess_all"  # the verb; data: {"syncdesk": "reprocess_all", "incident_id": n}
SHOW_ALL = "outage_show_all"  # Action.Submit data: {"syncdesk": "outage_show_all", "incident_id": n, "page": p}
SUPPORT = "outage_support"  # Action.Submit data: {"syncdesk": "outage_support", "incident_id": n}: the draft card
SUPPORT_POST = "outage_support_post"  # the draft card's Action.Execute: post the (edited) text in the thread
SUPPORT_TEXT = "support_text"  # the draft card's input
MAX_LINES = 40
_CLASSES = {c.value for c in ErrorClass}


def _label(error_class: str) -> str:
    return ErrorClass(error_class).label if error_class in _CLASSES else error_class.replace("_", " ")


def _card(body: list[dict[str, Any]], fallback: str, actions: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    card: dict[str, Any] = {"type": "AdaptiveCard", "$schema": SCHEMA, "version": VERSION, "fallbackText": fallback,
                            "msteams": {"width": "Full"}, "body": body}
    if actions:
        card["actions"] = actions
    return card


def _hm(t: dt.datetime) -> str:
    return f"{t:%H:%M} UTC"


def _arrival(day: dt.date | None, today: dt.date) -> str:
    if day is None:
        return "arrival unknown"
    days = (day - today).days
    return "arriving " + ("today" if days == 0 else "tomorrow" if days == 1 else f"{day:%a %-d %b}")


def affected_line(item: AffectedItem, today: dt.date) -> str:
    order = f"[{item.order_id}]({item.link})" if item.link and ")" not in item.link else f"**{item.order_id}**"
    why = f" ({_label(item.error_class)})" if item.error_class and item.state != "rebooked" else ""
    where = f" · {item.property}" if item.property else ""
    return f"- {order} {cut(item.guest_name, 60)} — {_arrival(item.arrival, today)}{where} — {item.state}{why}"


def _show_all(incident_id: int, page: int, title: str) -> dict[str, Any]:
    return {"type": "Action.Submit", "title": title,
            "data": {"syncdesk": SHOW_ALL, "incident_id": incident_id, "page": page}}


def incident_card(incident: IncidentView, today: dt.date | None = None) -> dict[str, Any]:
    today = today or dt.datetime.now(dt.timezone.utc).date()
    quiet = incident.state != IncidentState.OPEN and not incident.in_maintenance
    classes = " · ".join(f"{_label(c)} {n:,}" for c, n in incident.error_classes[:8]) or "no class recorded"
    body: list[dict[str, Any]] = [
        text(f"{'🔧' if incident.in_maintenance else '✅' if quiet else '⏸️' if incident.recovery_paused else '🚨'} "
             f"{incident.summary}", size="Large",
             weight="Bolder", style="heading",
             color="Good" if quiet else "Warning" if incident.in_maintenance else "Attention"),
        facts(("Failures", f"{incident.failure_count:,} at {incident.system_name}: {classes}"),
              ("When", f"first {_hm(incident.first_failure_at)}, last {_hm(incident.last_failure_at)}"),
              ("Orders", f"{len(incident.order_ids):,} affected, {incident.open_items:,} still open")),
    ]
    if incident.urgent:
        more = incident.open_items - len(incident.urgent)
        body += [text("**Most urgent, soonest arrival first**", separator=True),
                 text("\n".join(affected_line(i, today) for i in incident.urgent)
                      + (f"\n\n…and {more:,} more: Show all" if more > 0 else ""))]
    if incident.by_property:
        body.append(text("**By property:** " + " · ".join(
            f"{p} {n:,}" + (f" ({o:,} open)" if o != n else "") for p, n, o in incident.by_property[:12])))
    if incident.recovery_paused:
        body.append(text(f"⏸️ Recovery paused: {incident.system_name} is failing again. It resumes, soonest "
                         "arrival first, after the next all-clear. On-call has been paged."))
    elif incident.in_maintenance:  # issue 26: a maintenance window's failures, held; nobody paged
        body.append(text(plain(incident.maintenance_text)))
    else:
        body.append(text(plain(incident.all_clear_text) if quiet else
                         "On-call has been paged once. Failures are collected here instead of one alert each; "
                         "every order stays tracked (send **order ID** for one). I'll post the all-clear when it "
                         "has been quiet for a while."))
    if incident.reprocess_requested_by is not None:
        progress = f": {incident.progress.text}" if incident.progress else ""
        body.append(text(f"🔁 Reprocess all asked by {who(incident.reprocess_requested_by)}{progress}"))
    actions = [_show_all(incident.incident_id, 0, f"Show all {incident.affected:,}"),
               {"type": "Action.Submit", "title": "Draft support request",
                "data": {"syncdesk": SUPPORT, "incident_id": incident.incident_id}}]
    if incident.reprocess_all_offered:
        actions.append({"type": "Action.Execute", "title": f"Reprocess all {incident.still_failed:,}",
                        "verb": REPROCESS_ALL, "style": "positive",
                        "data": {"syncdesk": REPROCESS_ALL, "incident_id": incident.incident_id}})
    return _card(body, incident.summary, actions)


def outage_list_card(shown: IncidentPage, today: dt.date | None = None) -> dict[str, Any]:
    """"Show all": one page of every affected order with its state, open ones first by arrival."""
    today = today or dt.datetime.now(dt.timezone.utc).date()
    incident = shown.incident
    body: list[dict[str, Any]] = [
        text(incident.summary, weight="Bolder", wrap=True),
        text(f"{incident.affected:,} affected, {incident.open_items:,} still open"
             + (f" · {incident.progress.text}" if incident.progress else "")
             + f" · page {shown.page + 1} of {shown.pages}", isSubtle=True),
        text("\n".join(affected_line(i, today) for i in shown.items) or "Nothing is attached to this outage."),
    ]
    actions = []
    if shown.has_previous:
        actions.append(_show_all(incident.incident_id, shown.page - 1, "‹ Previous"))
    if shown.has_next:
        actions.append(_show_all(incident.incident_id, shown.page + 1, "Next ›"))
    return _card(body, f"{incident.summary}: page {shown.page + 1} of {shown.pages}", actions or None)


def support_card(draft: SupportDraft) -> dict[str, Any]:
    """"Draft support request": the message to the system's support, editable, with "Post in the
    thread" (syncdesk never sends it to the vendor)."""
    body = [
        text(f"Support request to {draft.contact}" if draft.contact else "Support request", weight="Bolder"),
        text("Edit it, copy it into your e-mail or the vendor's portal, or post it in this thread.", isSubtle=True),
        {"type": "Input.Text", "id": SUPPORT_TEXT, "isMultiline": True, "value": cut(draft.text, 5000),
         "maxLength": 5000, "label": "Message"},
    ]
    post = {"type": "Action.Execute", "title": "Post in the thread", "verb": SUPPORT_POST,
            "data": {"syncdesk": SUPPORT_POST, "incident_id": draft.incident_id}}
    return _card(body, draft.subject, [post])


def parse_support(data: Any) -> int | None:
    """The incident a "Draft support request" submit names; None when it is not one."""
    if isinstance(data, dict) and data.get("syncdesk") == SUPPORT and isinstance(data.get("incident_id"), int):
        return data["incident_id"]
    return None


def parse_show_all(data: Any) -> tuple[int, int] | None:
    """The (incident id, page) a "Show all" submit carries; None when it is not one."""
    if not isinstance(data, dict) or data.get("syncdesk") != SHOW_ALL:
        return None
    incident, number = data.get("incident_id"), data.get("page", 0)
    if isinstance(incident, int) and isinstance(number, int) and number >= 0:
        return incident, number
    return None


def _duration(value: dt.timedelta | None) -> str:
    if value is None:
        return "-"
    minutes = int(value.total_seconds() // 60)
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{minutes} min"


def digest_card(digest: Digest) -> dict[str, Any]:
    failures = "none" if not digest.failures else f"{digest.total_failures} — " + "; ".join(
        f"{system_name(system)} {total} (" + ", ".join(
            f"{_label(f.error_class)} {f.count}" for f in digest.failures if f.system == system) + ")"
        for system, total in digest.by_system)
    resolution = (f"median {_duration(digest.resolution_median)}, 90th percentile {_duration(digest.resolution_p90)} "
                  f"({digest.resolved} resolved)" if digest.resolved else "nothing resolved")
    body: list[dict[str, Any]] = [
        text(f"📊 syncdesk digest · {digest.day:%a %d %b %Y}", size="Large", weight="Bolder", style="heading"),
        facts(("Failures", cut(failures, MAX_TEXT)), ("Time to resolution", resolution),
              ("Still open", str(len(digest.open_orders)))),
    ]
    if digest.chart is not None:  # issue 26.7: failures per day by system over 14 days
        body.append({"type": "Image", "url": "data:image/png;base64," + base64.b64encode(digest.chart.png).decode(),
                     "altText": digest.chart.alt_text, "size": "Stretch"})
    if digest.response:  # issue 26: time to first action and to resolution, against last week
        body.append(text("**Response times** (medians; count): " + "; ".join(r.text() for r in digest.response[:15])))
    if digest.channels:  # issue 14: what each alert conversation covers
        body.append(text("Channels: " + "; ".join(f"{c} — {what}" for c, what in digest.channels), size="Small"))
    lines = []
    for o in digest.open_orders[:MAX_LINES]:
        arrival = f"arriving {o.arrival:%a %d %b}" if o.arrival else "arrival unknown"
        taken = f" — {who(o.acknowledged_by)} is on it" if o.acknowledged_by else ""
        lines.append(f"- {o.order_id} {cut(o.guest_name, 80)} — {arrival} — "
                     f"{', '.join(o.failing) or 'awaiting completion'}{taken}")
    if len(digest.open_orders) > MAX_LINES:
        lines.append(f"- …and {len(digest.open_orders) - MAX_LINES} more")
    if lines:
        body += [text("**Still open, soonest arrival first**", separator=True), text("\n".join(lines))]
    if digest.themes:
        body.append(text("**Recurring:** " + "; ".join(
            f"{system_name(t.system)} {_label(t.error_class).lower()} on {len(t.days)} of the last "
            f"{digest.lookback_days} days" for t in digest.themes[:10])))
    if digest.fixes:
        body.append(text("**Who fixed what:** " + cut("; ".join(
            f"{who(actor)}: " + ", ".join(f"{f.order_id}/{f.item_id}" for f in fixes)
            for actor, fixes in digest.fixes_by_person), 2000)))
    return _card(body, f"syncdesk digest for {digest.day:%a %d %b %Y}")
