"""Block Kit for what the on-call workflows announce in Slack, as pure functions of their
frozen views: the outage parent message (`workflows.outage.IncidentView`), the daily
digest (`workflows.digest.Digest`), channel messages with their mention, direct messages
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
    MAX_MESSAGE_BLOCKS, MAX_SECTION_TEXT, button, context, cut, divider, escape, header, section, system_name, who,
)
from connectors.errors import ErrorClass

if TYPE_CHECKING:
    from workflows.digest import Digest
    from workflows.outage import IncidentView
    from workflows.reconcile import Report

REPROCESS_ALL = "reprocess_all"  # action_id of the outage message's button; value: the incident id

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
    if incident.state == "open":
        return incident.summary
    return f"{incident.summary} · all clear"


def incident_blocks(incident: IncidentView) -> list[dict[str, Any]]:
    """The outage parent message: what, how many, why; the all-clear, progress and "Reprocess all N"."""
    quiet = incident.state != "open"
    mark = "✅" if quiet else "🚨"
    blocks: list[dict[str, Any]] = [header(f"{mark} {incident.summary}")]
    classes = " · ".join(f"{_class_label(c)} {n}" for c, n in incident.error_classes[:8])
    orders = len(incident.order_ids)
    span = (f"First failure {_time(incident.first_failure_at)}, last {_time(incident.last_failure_at)}"
            f" · {orders} order{'s' if orders != 1 else ''} affected")
    blocks.append(section(f"*{incident.failure_count} failures at {escape(incident.system_name)}:* "
                          f"{escape(classes) or 'no class recorded'}\n{span}", block_id="incident"))
    if not quiet:
        blocks.append(section("On-call has been paged once. Further alerts for "
                              f"{escape(incident.system_name)} go into this thread, each with its own buttons. "
                              "I'll post the all-clear when it has been quiet for a while."))
    else:
        blocks.append(section(escape(incident.all_clear_text), block_id="all_clear"))
    if incident.reprocess_requested_by is not None:
        at = f" at {_time(incident.reprocess_requested_at)}" if incident.reprocess_requested_at else ""
        progress = f": {escape(incident.progress.text)}" if incident.progress else ""
        blocks.append(section(f"🔁 *Reprocess all* asked by {who(incident.reprocess_requested_by)}{at}{progress}",
                              block_id="progress"))
    if incident.reprocess_all_offered:
        n = incident.still_failed
        blocks.append({"type": "actions", "block_id": "reprocess_all", "elements": [{
            **button(f"Reprocess all {n}", REPROCESS_ALL, str(incident.incident_id), "primary"),
            "confirm": {
                "title": {"type": "plain_text", "text": "Reprocess all?"},
                "text": {"type": "mrkdwn", "text": cut(
                    f"Queue one check-first Reprocess for each of the {n} still-failed "
                    f"{escape(incident.system_name)} items, paced so the system is not hammered.", 300)},
                "confirm": {"type": "plain_text", "text": "Reprocess all"},
                "deny": {"type": "plain_text", "text": "Cancel"},
            },
        }]})
    blocks.append(context(f"syncdesk · outage {incident.incident_id} · opened {_time(incident.opened_at)}"))
    return blocks


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
