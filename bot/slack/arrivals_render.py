"""The arrival check's summary in Slack (`workflows.arrivals.findings.DaySummary`): one message
per property and day, rewritten in place as checks run and people act. Pure: no I/O.

Each open problem carries "It's fine" (a reason is asked for, and audited); each line of a
system without an API (the front desk's list) carries "Checked". A booking its system lists for
the day whose order is cancelled or refunded on the platform is a line of its own (💸), and a
system whose listing failed is said in the notes ("could not list"). Both send
`arrival_value(...)` as the button's value: "<day>|<order>|<item>".
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from bot.slack.render import MAX_MESSAGE_BLOCKS, button, context, escape, header, section, system_name, who
from workflows.arrivals.findings import DaySummary, Kind, Line

CHECKED = "arrival_checked"  # action_id: a manual system's line checked by a person
FINE = "arrival_fine"  # action_id: opens the "It's fine" form (FINE_VIEW), which asks why
FINE_VIEW = "arrival_fine_view"  # the form's callback_id; private_metadata: the button's value
FINE_REASON = "reason"  # the form's input block and action id
MAX_LINES = 20  # lines shown with a button each; the rest are counted (`syncdesk arrivals` lists them)


def arrival_value(day: dt.date, line: Line) -> str:
    return f"{day.isoformat()}|{line.order_id}|{line.item_id}"


def parse_value(value: str) -> tuple[dt.date, str, str] | None:
    """The (day, order, item) a button names; None for anything else."""
    parts = value.split("|")
    if len(parts) != 3 or not all(parts):
        return None
    try:
        return dt.date.fromisoformat(parts[0]), parts[1], parts[2]
    except ValueError:
        return None


def summary_text(summary: DaySummary) -> str:
    return summary.headline()


def _line(summary: DaySummary, line: Line) -> str:
    text = escape(summary.line_text(line))
    if line.checked_by:
        text = text.replace(escape(line.checked_by), who(line.checked_by))
    return text


def summary_blocks(summary: DaySummary) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = [header(f"🛬 Arrivals · {summary.when} · {summary.place}"),
                                    section(escape(summary.headline()), block_id="headline")]
    problems = [line for line in summary.lines if line.kind.problem and not line.resolved]
    manual = list(summary.of(Kind.MANUAL))
    shown = 0
    for line in problems:
        if shown >= MAX_LINES:
            break
        extra = {} if line.checked_by else {"accessory": button("It's fine", FINE, arrival_value(summary.day, line))}
        blocks.append(section(f"⚠️ {_line(summary, line)}", **extra))
        shown += 1
    for line in manual:
        if shown >= MAX_LINES:
            break
        extra = {} if line.checked_by else {"accessory": button("Checked", CHECKED, arrival_value(summary.day, line))}
        blocks.append(section(f"☐ {_line(summary, line)}" if not line.checked_by else f"☑ {_line(summary, line)}",
                              **extra))
        shown += 1
    refunded = list(summary.booked_refunded)
    for line in refunded:
        if shown >= MAX_LINES:
            break
        blocks.append(section(f"💸 {_line(summary, line)}"))
        shown += 1
    hidden = len(problems) + len(manual) + len(refunded) - shown
    resolved = [line for line in summary.lines if line.resolved]
    notes = []
    if hidden > 0:
        notes.append(f"{hidden} more: `syncdesk arrivals --date {summary.day}` lists every line")
    if resolved:
        notes.append("Resolved since: " + ", ".join(escape(f"{r.order_id}/{r.item_id}") for r in resolved[:20]))
    unchecked = summary.of(Kind.UNCHECKED)
    if unchecked:
        systems = ", ".join(sorted({system_name(u.system) for u in unchecked}))
        notes.append(f"{len(unchecked)} not checked yet: {escape(systems)} could not be asked; tried again later")
    if summary.unlisted:
        notes.append(f"Could not list the day's bookings in {escape(', '.join(summary.unlisted))}: "
                     "tried again at the next run")
    if notes:
        blocks.append(context(*notes))
    return blocks[:MAX_MESSAGE_BLOCKS]


def fine_modal(value: str, line_text: str) -> dict[str, Any]:
    """The "It's fine" form: why the problem needs nothing (required; audited)."""
    return {
        "type": "modal", "callback_id": FINE_VIEW, "private_metadata": value,
        "title": {"type": "plain_text", "text": "It's fine"},
        "submit": {"type": "plain_text", "text": "Record"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            section(escape(line_text)),
            {"type": "input", "block_id": FINE_REASON, "label": {"type": "plain_text", "text": "Why is it fine?"},
             "element": {"type": "plain_text_input", "action_id": FINE_REASON, "multiline": True,
                         "min_length": 3, "max_length": 500}},
        ],
    }
