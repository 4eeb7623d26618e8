"""The alert's moves in Slack (issue 23): every entry of the catalogue
(`workflows.actions.moves`) is a button whose action_id is the move and an option of the
overflow menus (MORE, the option's value names the move); a move that asks for something
opens its form first, and the form's submission performs it.

Listeners only map: the payload to a move, its answers and the person's permission, then
`catalogue.perform`, then the answer back to the person. No rule lives here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from slack_bolt import App
from slack_sdk import WebClient

from bot.slack import forms, reads, render
from bot.slack.auth import UsergroupGate
from workflows.actions.catalogue import perform, refuse
from workflows.actions.moves import SPECS, Answers, Move, Permission
from workflows.core.settings import Settings
from workflows.systems.registry import premier_payment_methods


class SlackSurface(Protocol):
    """What the listeners of `bot/slack/` use of `bot.slack.app.SlackSurface`."""

    settings: Settings
    client: WebClient
    gate: UsergroupGate

    def later(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None: ...
    def authorize(self, body: dict[str, Any], action: str, order_id: str | None = None,
                  item_id: str | None = None) -> bool: ...
    def tell(self, body: dict[str, Any], text: str, channel: str | None = None) -> None: ...
    def open_booked_manually(self, trigger_id: str, order_id: str, item_id: str, channel: str) -> None: ...
    def open_complete_unchecked(self, trigger_id: str, order_id: str, channel: str) -> None: ...
    def open_log(self, trigger_id: str, order_id: str, item_id: str) -> None: ...
    def reveal_guest(self, body: dict[str, Any], order_id: str) -> None: ...
    def message_guest(self, body: dict[str, Any], order_id: str) -> None: ...
    def respond(self, body: dict[str, Any], text: str, blocks: list[dict[str, Any]] | None = None) -> None: ...


def permission(surface: SlackSurface, body: dict[str, Any]) -> Permission:
    """The usergroup gate's answer about the person who clicked or submitted."""
    return surface.gate.check(forms.user_id(body))


# -- opening a move's form ---------------------------------------------------------------------

Opener = Callable[[SlackSurface, str, str, str | None, str], None]


def _open_moves_form(build: Callable[..., dict[str, Any]]) -> Opener:
    def opener(surface: SlackSurface, trigger_id: str, order_id: str, item_id: str | None, channel: str) -> None:
        snap = reads.snapshot(surface.settings, order_id)
        if snap is None or (item_id is not None and not any(i.item_id == item_id for i in snap.items)):
            return
        meta = json.dumps({"order_id": order_id, "item_id": item_id, "channel": channel})
        surface.client.views_open(trigger_id=trigger_id, view=build(snap, item_id, meta))
    return opener


FORMS: dict[Move, Opener] = {
    Move.BOOKED_MANUALLY: lambda s, trigger, o, i, channel: s.open_booked_manually(trigger, o, i or "", channel),
    Move.COMPLETE_UNCHECKED: lambda s, trigger, o, i, channel: s.open_complete_unchecked(trigger, o, channel),
    Move.VIEW_LOG: lambda s, trigger, o, i, channel: s.open_log(trigger, o, i or ""),
    Move.CANCEL_REFUND: _open_moves_form(lambda snap, i, meta: render.cancel_refund_modal(snap, i or "", meta)),
    Move.UNDO_MANUAL: _open_moves_form(lambda snap, i, meta: render.undo_modal(snap, i or "", meta)),
    Move.ITS_FINE: _open_moves_form(lambda snap, i, meta: render.fine_modal(snap, i or "", meta)),
    Move.SNOOZE: _open_moves_form(lambda snap, i, meta: render.snooze_modal(snap, meta)),
    Move.HAND_OVER: _open_moves_form(lambda snap, i, meta: render.hand_over_modal(snap, meta)),
}


# moves answered to the person alone (issue 28: the masked guest, in an ephemeral message)
PRIVATE: dict[Move, Callable[[SlackSurface, dict[str, Any], str], None]] = {
    Move.REVEAL_GUEST: lambda s, body, o: s.reveal_guest(body, o),
    Move.MESSAGE_GUEST: lambda s, body, o: s.message_guest(body, o),
}


def choose(surface: SlackSurface, body: dict[str, Any], move: Move, order_id: str, item_id: str | None) -> None:
    """A move chosen by a button or an overflow option: open its form, or perform it now."""
    actor, allowed = forms.actor(body), permission(surface, body)
    if move in FORMS or move in PRIVATE:
        refused = refuse(surface.settings, move, order_id, item_id, actor, allowed)
        if refused is not None:
            surface.later(surface.tell, body, refused.message)
        elif move in PRIVATE:
            surface.later(PRIVATE[move], surface, body, order_id)
        else:
            surface.later(FORMS[move], surface, body["trigger_id"], order_id, item_id, forms.where(body)["channel"])
        return
    answer = perform(surface.settings, move, order_id, item_id, actor, permission=allowed)
    surface.later(surface.tell, body, render.slack_text(answer.message))


# -- a form's submission -----------------------------------------------------------------------

@dataclass(frozen=True)
class Submitted:
    """What a move's form said: where, the answers, and the form's own input errors."""

    order_id: str
    item_id: str | None
    channel: str
    answers: Answers
    errors: dict[str, str]


def _manual_booking(surface: SlackSurface, body: dict[str, Any]) -> Submitted:
    form = forms.manual_booking(body)
    return Submitted(form.order_id, form.item_id, form.channel,
                     Answers(reference=form.reference, payment_method=form.payment_method, notes=form.notes),
                     forms.manual_booking_errors(form, premier_payment_methods(surface.settings)))


def _unchecked(surface: SlackSurface, body: dict[str, Any]) -> Submitted:
    form = forms.unchecked_completion(body)
    return Submitted(form.order_id, None, form.channel, Answers(reason=form.reason), forms.unchecked_errors(form))


def _moves_form(surface: SlackSurface, body: dict[str, Any]) -> Submitted:
    form = forms.move_form(body)
    owner_refusal = None
    if form.owner:  # Hand over: the teammate must be on the reservations team too
        decision = surface.gate.check(form.owner)
        owner_refusal = None if decision.allowed else decision.reason
    answers = Answers(reason=form.reason, choice=form.choice or "", until=form.until,
                      owner=f"slack:{form.owner}" if form.owner else "", owner_refusal=owner_refusal)
    return Submitted(form.order_id, form.item_id, form.channel, answers, {})


# callback_id of the form's view → (its move, how to read it, the block an error is shown under)
SUBMISSIONS: dict[str, tuple[Move, Callable[[SlackSurface, dict[str, Any]], Submitted], str]] = {
    render.BOOKED_MANUALLY_VIEW: (Move.BOOKED_MANUALLY, _manual_booking, render.REFERENCE_BLOCK),
    render.COMPLETE_UNCHECKED_VIEW: (Move.COMPLETE_UNCHECKED, _unchecked, render.REASON_BLOCK),
    render.CANCEL_REFUND_VIEW: (Move.CANCEL_REFUND, _moves_form, render.REASON_BLOCK),
    render.UNDO_VIEW: (Move.UNDO_MANUAL, _moves_form, render.REASON_BLOCK),
    render.FINE_VIEW: (Move.ITS_FINE, _moves_form, render.REASON_BLOCK),
    render.SNOOZE_VIEW: (Move.SNOOZE, _moves_form, render.UNTIL_BLOCK),
    render.HAND_OVER_VIEW: (Move.HAND_OVER, _moves_form, render.OWNER_BLOCK),
}


def register(app: App, surface: SlackSurface) -> None:
    """A listener for each move's button, one for the overflow menus, one for each form."""

    def clicked(ack: Any, body: dict[str, Any]) -> None:
        order_id, item_id = forms.clicked(body)
        choose(surface, body, Move(body["actions"][0]["action_id"]), order_id, item_id)
        ack()

    # One listener for every move's button, not one each: Bolt matches a click against each
    # listener in turn, and that matching was half of its CPU for a click (issue 29).
    app.action(re.compile("^(" + "|".join(re.escape(move.value) for move in SPECS) + ")$"))(clicked)

    @app.action(render.MORE)
    def more(ack: Any, body: dict[str, Any]) -> None:
        chosen, order_id, item_id = forms.chosen(body)
        if chosen in SPECS:
            choose(surface, body, Move(chosen), order_id, item_id)
        ack()

    def submitted(move: Move, read: Callable[[SlackSurface, dict[str, Any]], Submitted],
                  block: str) -> Callable[..., None]:
        def listener(ack: Any, body: dict[str, Any]) -> None:
            form = read(surface, body)
            if form.errors:
                return ack(response_action="errors", errors=form.errors)
            answer = perform(surface.settings, move, form.order_id, form.item_id, forms.actor(body), form.answers,
                             permission=permission(surface, body))
            if not answer.accepted:
                return ack(response_action="errors", errors={block: render.slack_text(answer.message)[:500]})
            ack()
            surface.later(surface.tell, body, render.slack_text(answer.message), form.channel)
        return listener

    for callback_id, (move, read, block) in SUBMISSIONS.items():
        app.view(callback_id)(submitted(move, read, block))
