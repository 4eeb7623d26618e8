"""The arrival check's summary as an Adaptive Card (`workflows.arrivals.findings.DaySummary`),
the Teams twin of `bot.slack.arrivals_render`. Pure: no I/O.

Each open problem has "It's fine" (an `Action.ShowCard` asking why, required, then an
`Action.Execute` with verb `arrival_fine`); each line of a system without an API has
"Checked" (verb `arrival_checked`). Their data: {"syncdesk": verb, "day", "order_id", "item_id"},
and "reason" for It's fine. A booking listed for the day whose order is cancelled or refunded is
a line of its own (💸), without a button; a failed listing is a note ("could not list").
"""

from __future__ import annotations

from typing import Any

from bot.teams.cards import MAX_TEXT, SCHEMA, VERSION, cut, system_name, text
from workflows.arrivals.findings import DaySummary, Kind, Line

CHECKED = "arrival_checked"
FINE = "arrival_fine"
REASON = "arrival_reason"  # the It's fine input's id
MAX_LINES = 20


def _data(verb: str, summary: DaySummary, line: Line) -> dict[str, Any]:
    return {"syncdesk": verb, "day": summary.day.isoformat(), "order_id": line.order_id, "item_id": line.item_id}


def _action(title: str, verb: str, summary: DaySummary, line: Line) -> dict[str, Any]:
    return {"type": "Action.Execute", "title": title, "verb": verb, "data": _data(verb, summary, line)}


def _fine(summary: DaySummary, line: Line) -> dict[str, Any]:
    card = {"type": "AdaptiveCard", "body": [
        {"type": "Input.Text", "id": REASON, "label": "Why is it fine?", "isMultiline": True, "isRequired": True,
         "maxLength": 500, "errorMessage": "Say why, in a few words."},
    ], "actions": [_action("Record", FINE, summary, line)]}
    return {"type": "Action.ShowCard", "title": "It's fine", "card": card}


def _row(summary: DaySummary, line: Line, mark: str, action: dict[str, Any] | None) -> dict[str, Any]:
    items: list[dict[str, Any]] = [text(f"{mark} {cut(summary.line_text(line), MAX_TEXT)}")]
    if action is not None:
        items.append({"type": "ActionSet", "actions": [action]})
    return {"type": "Container", "separator": True, "items": items}


def summary_card(summary: DaySummary) -> dict[str, Any]:
    body: list[dict[str, Any]] = [
        text(f"🛬 Arrivals · {summary.when} · {summary.place}", size="Large", weight="Bolder", style="heading"),
        text(summary.headline()),
    ]
    problems = [line for line in summary.lines if line.kind.problem and not line.resolved]
    manual = list(summary.of(Kind.MANUAL))
    rows = [_row(summary, line, "⚠️", None if line.checked_by else _fine(summary, line)) for line in problems]
    rows += [_row(summary, line, "☑" if line.checked_by else "☐",
                  None if line.checked_by else _action("Checked", CHECKED, summary, line)) for line in manual]
    rows += [_row(summary, line, "💸", None) for line in summary.booked_refunded]
    body += rows[:MAX_LINES]
    notes = []
    if len(rows) > MAX_LINES:
        notes.append(f"{len(rows) - MAX_LINES} more: `syncdesk arrivals --date {summary.day}` lists every line.")
    resolved = [f"{r.order_id}/{r.item_id}" for r in summary.lines if r.resolved]
    if resolved:
        notes.append("Resolved since: " + ", ".join(resolved[:20]))
    unchecked = summary.of(Kind.UNCHECKED)
    if unchecked:
        notes.append(f"{len(unchecked)} not checked yet: "
                     f"{', '.join(sorted({system_name(u.system) for u in unchecked}))} could not be asked; "
                     "tried again later.")
    if summary.unlisted:
        notes.append(f"Could not list the day's bookings in {', '.join(summary.unlisted)}: tried again at the next "
                     "run.")
    if notes:
        body.append(text(" ".join(notes), size="Small", isSubtle=True))
    return {"type": "AdaptiveCard", "$schema": SCHEMA, "version": VERSION, "fallbackText": summary.headline(),
            "msteams": {"width": "Full"}, "body": body}
