"""The outage message's "Draft support request" in Slack (`bot.slack.announce_render`): the
draft from `workflows.outage.support` in a modal to edit and copy, and "Post in the thread"
to put it under the outage message. Thin: read the click, check the person, call the workflow."""

from __future__ import annotations

from typing import Any

from slack_bolt import App

from bot.slack import announce_render, forms, render
from bot.slack.moves import SlackSurface
from workflows.orders import reads
from workflows.outage.support import draft


def register(app: App, surface: SlackSurface) -> None:
    @app.action(announce_render.SUPPORT)
    def support(ack: Any, body: dict[str, Any]) -> None:
        value = str(body["actions"][0].get("value") or "")
        if value.isdigit() and surface.authorize(body, "outage_support"):
            surface.later(_open, surface, body["trigger_id"], int(value))
        ack()

    @app.view(announce_render.SUPPORT_VIEW)
    def post(ack: Any, body: dict[str, Any]) -> None:
        incident = str(body["view"].get("private_metadata") or "")
        text = str(((body["view"]["state"]["values"].get(announce_render.SUPPORT_TEXT) or {})
                    .get(announce_render.SUPPORT_TEXT) or {}).get("value") or "").strip()
        if not incident.isdigit() or not surface.authorize(body, "outage_support"):
            return ack(response_action="errors", errors={announce_render.SUPPORT_TEXT: "Not allowed."})
        if not text:
            return ack(response_action="errors", errors={announce_render.SUPPORT_TEXT: "The message is empty."})
        ack()
        surface.later(_post, surface, body, int(incident), text)


def _open(surface: SlackSurface, trigger_id: str, incident_id: int) -> None:
    found = draft(surface.settings, incident_id)
    if found is not None:
        surface.client.views_open(trigger_id=trigger_id, view=announce_render.support_modal(found))


def _post(surface: SlackSurface, body: dict[str, Any], incident_id: int, text: str) -> None:
    found = draft(surface.settings, incident_id)
    channel, ts = found.where if found is not None else (None, None)
    if not channel or not ts or ts.startswith("log:"):
        surface.tell(body, "The outage message is not in Slack, so there is no thread to post in: copy the text.")
        return
    surface.client.chat_postMessage(channel=channel, thread_ts=ts, text=render.escape(text), unfurl_links=False)
    reads.audit(surface.settings, actor=forms.actor(body), action="outage.support_posted", incident_id=incident_id)
