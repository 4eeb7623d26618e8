"""The front desk's report in Slack (issue 26.3): `/syncdesk report ORDER-ID "note"`, and the
message shortcut "Report to syncdesk" (`manifest.yml`, a `message_action`) whose form comes
prefilled with the message's text and the order id found in it.

Listeners only map: the payload to an order id, a note and the person, the gate's answer, then
`workflows.arrivals.report.file` after the ack (it reads the platform and the booking system),
and its answer back to the person alone. No rule lives here.
"""

from __future__ import annotations

import json
from typing import Any

from slack_bolt import App

from bot.slack import forms, render
from bot.slack.moves import SlackSurface
from workflows.actions.moves import REFUSAL
from workflows.arrivals import report

SHORTCUT = "report_to_syncdesk"  # the message shortcut's callback_id (manifest.yml)
VIEW = "report_submit"
ORDER_BLOCK, NOTE_BLOCK = "report_order", "report_note"
USAGE = f"Usage: `/syncdesk {report.USAGE}`"


def reporting(order_id: str) -> str:
    return (f"🛎️ Reporting {render.escape(order_id)}: syncdesk fetches it from the platform and looks its booking "
            "up… the answer follows here in a moment.")


def command(surface: SlackSurface, body: dict[str, Any], rest: str) -> str:
    """`/syncdesk report ORDER-ID "note"`: what to ack with; the report itself runs after the ack."""
    order_id, note = report.parse(rest)
    if not order_id or len(note) < report.MIN_NOTE:
        return USAGE
    surface.later(_file, surface, body, order_id, note, None)
    return reporting(order_id)


def _file(surface: SlackSurface, body: dict[str, Any], order_id: str, note: str, channel: str | None) -> None:
    found = report.file(surface.settings, order_id, note, forms.actor(body), via="slack")
    if channel is None:
        surface.respond(body, render.slack_text(found.message))
    else:
        surface.tell(body, render.slack_text(found.message), channel)


def modal(order_id: str, note: str, channel: str) -> dict[str, Any]:
    """The shortcut's form: the order id (as found in the message) and the note, both editable."""
    def field(block: str, label: str, value: str, multiline: bool, limit: int) -> dict[str, Any]:
        element: dict[str, Any] = {"type": "plain_text_input", "action_id": "value", "multiline": multiline,
                                   "max_length": limit}
        if value:
            element["initial_value"] = value[:limit]
        return {"type": "input", "block_id": block, "label": {"type": "plain_text", "text": label},
                "element": element}

    return {"type": "modal", "callback_id": VIEW, "private_metadata": json.dumps({"channel": channel}),
            "title": {"type": "plain_text", "text": "Report to syncdesk"},
            "submit": {"type": "plain_text", "text": "Report"}, "close": {"type": "plain_text", "text": "Cancel"},
            "blocks": [render.section("The order gets an urgent alert, even with no failure recorded: its booking is "
                                      "looked up in its system, your note goes in the alert's thread and on-call is "
                                      "told at once."),
                       field(ORDER_BLOCK, "Order id", order_id, False, 64),
                       field(NOTE_BLOCK, "What the front desk sees", note, True, 1000)]}


def _submitted(body: dict[str, Any]) -> tuple[str, str, str]:
    view = body["view"]
    values = (view.get("state") or {}).get("values") or {}

    def value(block: str) -> str:
        return str(((values.get(block) or {}).get("value") or {}).get("value") or "").strip()

    meta = json.loads(view.get("private_metadata") or "{}")
    return value(ORDER_BLOCK), value(NOTE_BLOCK), str(meta.get("channel") or "") if isinstance(meta, dict) else ""


def register(app: App, surface: SlackSurface) -> None:
    @app.shortcut(SHORTCUT)
    def shortcut(ack: Any, body: dict[str, Any]) -> None:
        ack()
        if surface.authorize(body, "report"):
            text = str((body.get("message") or {}).get("text") or "")
            channel = str((body.get("channel") or {}).get("id") or "")
            surface.later(surface.client.views_open, trigger_id=body["trigger_id"],
                          view=modal(report.order_id_in(text) or "", text, channel))

    @app.view(VIEW)
    def submitted(ack: Any, body: dict[str, Any]) -> None:
        order_id, note, channel = _submitted(body)
        errors = {**({ORDER_BLOCK: "The order id, e.g. ORD-10042."} if not order_id else {}),
                  **({NOTE_BLOCK: "Say what the front desk sees."} if len(note) < report.MIN_NOTE else {})}
        if not errors and not surface.gate.check(forms.user_id(body)).allowed:
            surface.authorize(body, "report")  # audits the refusal
            errors = {NOTE_BLOCK: REFUSAL}
        if errors:
            return ack(response_action="errors", errors=errors)
        ack()
        surface.later(_file, surface, body, order_id, note, channel)
