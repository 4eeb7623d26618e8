"""The arrival summary's buttons in Slack (`bot.slack.arrivals_render`): "Checked" on a line
of a system without an API, and "It's fine" on a problem, which opens a form asking why.
Thin: each reads the click, checks the person, and calls `workflows.arrivals.check.mark_checked`,
which records and audits it and rewrites the summary."""

from __future__ import annotations

from typing import Any

from slack_bolt import App

from bot.slack import arrivals_render, forms, render
from bot.slack.moves import SlackSurface
from workflows.actions.moves import REFUSAL
from workflows.arrivals.check import mark_checked

GONE = "That arrival line is no longer on the summary: run `syncdesk arrivals` again."


def register(app: App, surface: SlackSurface) -> None:
    @app.action(arrivals_render.CHECKED)
    def checked(ack: Any, body: dict[str, Any]) -> None:
        ack()
        line = arrivals_render.parse_value(str(body["actions"][0].get("value") or ""))
        if line is None:
            surface.later(surface.tell, body, GONE)
        elif surface.authorize(body, "arrival_checked", line[1], line[2]):  # refusals audited and told
            surface.later(_mark, surface, body, *line, None)

    @app.action(arrivals_render.FINE)
    def fine(ack: Any, body: dict[str, Any]) -> None:
        ack()
        value = str(body["actions"][0].get("value") or "")
        line = arrivals_render.parse_value(value)
        if line is None:
            surface.later(surface.tell, body, GONE)
            return
        if not surface.authorize(body, "arrival_fine", line[1], line[2]):
            return
        text = next((b["text"]["text"] for b in (body.get("message") or {}).get("blocks", [])
                     if (b.get("accessory") or {}).get("value") == value), value)
        surface.later(surface.client.views_open, trigger_id=body["trigger_id"],
                      view=arrivals_render.fine_modal(value, text))

    @app.view(arrivals_render.FINE_VIEW)
    def fine_submitted(ack: Any, body: dict[str, Any]) -> None:
        line = arrivals_render.parse_value(str(body["view"].get("private_metadata") or ""))
        reason = str(((body["view"]["state"]["values"].get(arrivals_render.FINE_REASON) or {})
                      .get(arrivals_render.FINE_REASON) or {}).get("value") or "").strip()
        if line is None:
            return ack(response_action="errors", errors={arrivals_render.FINE_REASON: GONE})
        if not surface.authorize(body, "arrival_fine", line[1], line[2]):
            return ack(response_action="errors", errors={arrivals_render.FINE_REASON: REFUSAL})
        if len(reason) < 3:
            return ack(response_action="errors", errors={arrivals_render.FINE_REASON: "Say why, in a few words."})
        ack()
        surface.later(_mark, surface, body, *line, reason)


def _mark(surface: SlackSurface, body: dict[str, Any], day: Any, order_id: str, item_id: str,
          reason: str | None) -> None:
    try:
        mark_checked(surface.settings, day, order_id, item_id, forms.actor(body), reason)
    except (LookupError, ValueError) as exc:
        surface.tell(body, render.slack_text(str(exc)))
