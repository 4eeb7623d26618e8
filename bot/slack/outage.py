"""The outage message's moves in Slack (`bot.slack.announce_render`): "Reprocess all N"
(`workflows.outage.requests.reprocess_all`), and "Show all", a modal listing every affected
order with its state, a page at a time (`views.open`, then `views.update` per page). Thin:
read the click, check the person, call the workflow, ack."""

from __future__ import annotations

from typing import Any

from slack_bolt import App

from bot.slack import announce_render, forms, render
from bot.slack.moves import SlackSurface
from workflows.outage import requests as outage
from workflows.outage.views import incident_page


def open_list(surface: SlackSurface, trigger_id: str, incident_id: int) -> None:
    """"Show all": the modal with the outage's first page (`views.open`, within the trigger's 3 s)."""
    shown = incident_page(surface.settings, incident_id, 0)
    if shown is not None:
        surface.client.views_open(trigger_id=trigger_id, view=announce_render.show_all_modal(shown))


def turn_page(surface: SlackSurface, view_id: str, view_hash: str, incident_id: int, number: int) -> None:
    """"Previous"/"Next" in the modal: the same modal at another page (`views.update`)."""
    shown = incident_page(surface.settings, incident_id, number)
    if shown is not None:
        surface.client.views_update(view_id=view_id, hash=view_hash, view=announce_render.show_all_modal(shown))


def register(app: App, surface: SlackSurface) -> None:
    @app.action(announce_render.REPROCESS_ALL)
    def reprocess_all(ack: Any, body: dict[str, Any]) -> None:
        value = str(body["actions"][0].get("value") or "")
        if value.isdigit() and surface.authorize(body, "reprocess_all"):
            result = outage.reprocess_all(surface.settings, int(value), forms.actor(body))
            surface.later(surface.tell, body, render.slack_text(result.message))
        ack()

    @app.action(announce_render.SHOW_ALL)
    def show_all(ack: Any, body: dict[str, Any]) -> None:
        value = str(body["actions"][0].get("value") or "")
        if value.isdigit() and surface.authorize(body, "outage_show_all"):
            surface.later(open_list, surface, body["trigger_id"], int(value))
        ack()

    @app.action(announce_render.SHOW_PAGE)
    def page(ack: Any, body: dict[str, Any]) -> None:
        ack()
        turn = announce_render.parse_page(str(body["actions"][0].get("value") or ""))
        view = body.get("view") or {}
        if turn is not None and view.get("id") and surface.gate.check(forms.user_id(body)).allowed:
            surface.later(turn_page, surface, view["id"], view.get("hash", ""), *turn)
