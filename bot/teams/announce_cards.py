"""Adaptive Cards for what the on-call workflows announce in Teams, as pure functions of
their frozen views: the outage card (`workflows.outage.IncidentView`, with "Reprocess all
N" as an `Action.Execute`) and the daily digest (`workflows.digest.Digest`). No I/O here.

Same schema and conventions as `bot.teams.cards` (Adaptive Cards 1.5, Universal Actions).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from bot.teams.cards import MAX_TEXT, SCHEMA, VERSION, cut, facts, system_name, text, who
from connectors.errors import ErrorClass

if TYPE_CHECKING:
    from workflows.digest import Digest
    from workflows.outage import IncidentView

REPROCESS_ALL = "reprocess_all"  # the verb; data: {"syncdesk": "reprocess_all", "incident_id": n}
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


def incident_card(incident: IncidentView) -> dict[str, Any]:
    quiet = incident.state != "open"
    classes = " · ".join(f"{_label(c)} {n}" for c, n in incident.error_classes[:8]) or "no class recorded"
    body: list[dict[str, Any]] = [
        text(f"{'✅' if quiet else '🚨'} {incident.summary}", size="Large", weight="Bolder", style="heading",
             color="Good" if quiet else "Attention"),
        facts(("Failures", f"{incident.failure_count} at {incident.system_name}: {classes}"),
              ("When", f"first {_hm(incident.first_failure_at)}, last {_hm(incident.last_failure_at)}"),
              ("Orders", str(len(incident.order_ids)))),
        text(incident.all_clear_text if quiet else
             "On-call has been paged once; I'll post the all-clear when it has been quiet for a while."),
    ]
    if incident.reprocess_requested_by is not None:
        progress = f": {incident.progress.text}" if incident.progress else ""
        body.append(text(f"🔁 Reprocess all asked by {who(incident.reprocess_requested_by)}{progress}"))
    actions = None
    if incident.reprocess_all_offered:
        actions = [{"type": "Action.Execute", "title": f"Reprocess all {incident.still_failed}", "verb": REPROCESS_ALL,
                    "style": "positive", "data": {"syncdesk": REPROCESS_ALL, "incident_id": incident.incident_id}}]
    return _card(body, incident.summary, actions)


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
