"""The retail reminder's Dispatched in Slack (`bot.slack.retail_render`): a modal asking for the
courier and tracking number, then `workflows.retail.requests.request_dispatched`. Thin: read
the click, check the person, call the workflow, ack."""

from __future__ import annotations

from typing import Any

from slack_bolt import App

from bot.slack import forms, render, retail_render
from bot.slack.moves import SlackSurface
from workflows.actions.moves import REFUSAL
from workflows.retail import requests as retail_actions


def register(app: App, surface: SlackSurface) -> None:
    @app.action(retail_render.DISPATCHED)
    def dispatched(ack: Any, body: dict[str, Any]) -> None:
        order_id, item_id = retail_render.clicked_item(body["actions"][0]["value"])
        if surface.authorize(body, "dispatched", order_id, item_id):
            surface.later(surface.client.views_open, trigger_id=body["trigger_id"],
                          view=retail_render.dispatched_modal(order_id, item_id, forms.where(body)["channel"]))
        ack()

    @app.view(retail_render.DISPATCHED_VIEW)
    def dispatched_submitted(ack: Any, body: dict[str, Any]) -> None:
        form = forms.dispatch(body)
        errors = forms.dispatch_errors(form)
        if errors or not surface.authorize(body, "dispatched", form.order_id, form.item_id):
            return ack(response_action="errors", errors=errors or {retail_render.TRACKING_BLOCK: REFUSAL})
        answer = retail_actions.request_dispatched(surface.settings, form.order_id, form.item_id,
                                                   forms.actor(body), form.courier, form.tracking)
        if not answer.accepted:
            return ack(response_action="errors", errors={retail_render.TRACKING_BLOCK: answer.message[:500]})
        ack()
        surface.later(surface.tell, body, render.slack_text(answer.message), form.channel)
