"""What Slack's request payloads carry, read into plain values: who clicked, which order and
item a button is about, what the Booked-manually form holds (and its errors, keyed by
block_id for `response_action: errors`), and the identity of a delivery for de-duplication.

Payload shapes: block_actions (docs.slack.dev/reference/interaction-payloads/block_actions-payload:
`user`, `actions[].action_ts`, `container`, `channel`, `response_url`, `trigger_id`),
view_submission (docs.slack.dev/reference/interaction-payloads/view-interactions-payload:
`view.state.values[block_id][action_id]`, `view.private_metadata`), slash commands (form
fields `command`, `text`, `user_id`, `user_name`, `trigger_id`) and Events API envelopes
(`event_id`).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from bot.slack.render import (
    NOTES_BLOCK,
    OWNER_BLOCK,
    PAYMENT_METHOD_BLOCK,
    REASON_BLOCK,
    REFERENCE_BLOCK,
    SNOOZE_BLOCK,
    UNTIL_BLOCK,
    parse_more,
    parse_value,
)
from bot.slack.retail_render import COURIER_BLOCK, TRACKING_BLOCK
from workflows.actions.rules import PREMIER_PAYMENT_METHODS, validate_manual_booking
from workflows.retail.requests import dispatch_problem


class BadPayload(ValueError):
    """A signed Slack payload that lacks what our reader needs (answered 400, never 500)."""


_R = TypeVar("_R")


def _reader(read: Callable[..., _R]) -> Callable[..., _R]:
    """Turn a reader's KeyError/TypeError/ValueError on a malformed payload into BadPayload."""
    @functools.wraps(read)
    def wrapped(*args: Any, **kwargs: Any) -> _R:
        try:
            return read(*args, **kwargs)
        except BadPayload:
            raise
        except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
            raise BadPayload(f"{read.__name__}: {exc.__class__.__name__}: {exc}") from exc
    return wrapped


@_reader
def actor(body: dict[str, Any]) -> str:
    """The audit actor for the person behind a payload: `slack:<user id> (<name>)`."""
    user = body.get("user") or {}
    user_id = user.get("id") or body.get("user_id") or "unknown"
    name = user.get("username") or user.get("name") or body.get("user_name") or ""
    return f"slack:{user_id} ({name[:60]})" if name else f"slack:{user_id}"


@_reader
def user_id(body: dict[str, Any]) -> str:
    return (body.get("user") or {}).get("id") or body.get("user_id") or ""


@_reader
def clicked(body: dict[str, Any]) -> tuple[str, str | None]:
    """The (order id, item id) carried by the clicked button."""
    return parse_value(body["actions"][0]["value"])


@_reader
def where(body: dict[str, Any]) -> dict[str, str]:
    """Where a click happened, for answering it later: channel, message ts, response_url."""
    container = body.get("container") or {}
    channel = (body.get("channel") or {}).get("id") or container.get("channel_id") or ""
    return {"channel": channel, "ts": container.get("message_ts") or "", "response_url": body.get("response_url") or ""}


def delivery_key(body: dict[str, Any]) -> str | None:
    """What stays the same when Slack delivers one event or click again, or None."""
    if body.get("type") == "event_callback" and body.get("event_id"):
        return f"event:{body['event_id']}"
    if body.get("type") == "block_actions" and body.get("actions"):
        return f"click:{user_id(body)}:{body['actions'][0].get('action_ts')}"
    if body.get("command") and body.get("trigger_id"):
        return f"command:{body['trigger_id']}"
    return None


@dataclass(frozen=True)
class ManualBooking:
    order_id: str
    item_id: str
    system: str
    reference: str
    payment_method: str | None
    notes: str | None
    channel: str
    user: str


def _value(values: dict[str, Any], block: str) -> dict[str, Any]:
    return (values.get(block) or {}).get("value") or {}


@_reader
def manual_booking(body: dict[str, Any]) -> ManualBooking:
    view = body["view"]
    meta = json.loads(view.get("private_metadata") or "{}")
    values = view["state"]["values"]
    option = _value(values, PAYMENT_METHOD_BLOCK).get("selected_option") or {}
    return ManualBooking(
        order_id=meta["order_id"], item_id=meta["item_id"], system=meta.get("system", ""),
        reference=(_value(values, REFERENCE_BLOCK).get("value") or "").strip(),
        payment_method=option.get("value"), notes=_value(values, NOTES_BLOCK).get("value"),
        channel=meta.get("channel", ""), user=user_id(body),
    )


def manual_booking_errors(form: ManualBooking, methods: tuple[str, ...] = PREMIER_PAYMENT_METHODS) -> dict[str, str]:
    """`response_action: errors` for the form, keyed by the block the problem is in; {} when valid."""
    problem = validate_manual_booking(form.system, form.reference, form.payment_method, methods)
    if problem is None:
        return {}
    reference_problem = validate_manual_booking("", form.reference, None)
    block = REFERENCE_BLOCK if reference_problem else PAYMENT_METHOD_BLOCK
    return {block: (problem[0].upper() + problem[1:])[:500]}


def modal_metadata(order_id: str, item_id: str, system: str, channel: str) -> str:
    return json.dumps({"order_id": order_id, "item_id": item_id, "system": system, "channel": channel})


@dataclass(frozen=True)
class UncheckedCompletion:
    order_id: str
    reason: str
    channel: str


@_reader
def unchecked_completion(body: dict[str, Any]) -> UncheckedCompletion:
    """The Complete-without-payment-check form (`bot.slack.render.complete_unchecked_modal`)."""
    view = body["view"]
    meta = json.loads(view.get("private_metadata") or "{}")
    reason = (_value(view["state"]["values"], REASON_BLOCK).get("value") or "").strip()
    return UncheckedCompletion(meta["order_id"], reason, meta.get("channel", ""))


def unchecked_errors(form: UncheckedCompletion) -> dict[str, str]:
    """The reason is required: it is what the audit trail keeps instead of Stripe's word."""
    if len(form.reason) < 5:
        return {REASON_BLOCK: "Say how you checked the payment (at least a few words)."}
    return {}


@dataclass(frozen=True)
class Dispatch:
    order_id: str
    item_id: str
    courier: str
    tracking: str
    channel: str


@_reader
def dispatch(body: dict[str, Any]) -> Dispatch:
    """The Dispatched form (`bot.slack.retail_render.dispatched_modal`)."""
    view = body["view"]
    meta = json.loads(view.get("private_metadata") or "{}")
    values = view["state"]["values"]
    return Dispatch(meta["order_id"], meta["item_id"], (_value(values, COURIER_BLOCK).get("value") or "").strip(),
                    (_value(values, TRACKING_BLOCK).get("value") or "").strip(), meta.get("channel", ""))


def dispatch_errors(form: Dispatch) -> dict[str, str]:
    """`response_action: errors` for the Dispatched form, keyed by block; {} when valid."""
    problem = dispatch_problem(form.courier, form.tracking)
    if problem is None:
        return {}
    return {COURIER_BLOCK if problem[0] == "courier" else TRACKING_BLOCK: problem[1]}


# -- the moves of issue 14: overflow menus and their forms ---------------------------------------

@_reader
def chosen(body: dict[str, Any]) -> tuple[str, str, str | None]:
    """The (move, order id, item id) of the overflow option a person chose."""
    return parse_more(body["actions"][0]["selected_option"]["value"])


@dataclass(frozen=True)
class MoveForm:
    """What a move's modal holds (`bot.slack.render` cancel/undo/snooze/hand-over modals)."""

    order_id: str
    item_id: str | None
    channel: str
    reason: str = ""
    choice: str | None = None  # Snooze: 1h | tomorrow | arrival
    until: str = ""  # Snooze: a time typed
    owner: str = ""  # Hand over: the Slack user id picked


@_reader
def move_form(body: dict[str, Any]) -> MoveForm:
    view = body["view"]
    meta = json.loads(view.get("private_metadata") or "{}")
    values = view["state"]["values"]
    option = _value(values, SNOOZE_BLOCK).get("selected_option") or {}
    return MoveForm(
        order_id=meta["order_id"], item_id=meta.get("item_id"), channel=meta.get("channel", ""),
        reason=" ".join((_value(values, REASON_BLOCK).get("value") or "").split()),
        choice=option.get("value"), until=(_value(values, UNTIL_BLOCK).get("value") or "").strip(),
        owner=_value(values, OWNER_BLOCK).get("selected_user") or "",
    )
