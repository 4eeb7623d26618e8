"""The shape of Slack's interaction payloads, checked before Bolt sees them.

Bolt parses `payload` and hands it to matchers and listeners that index into it; a
request with the right signature but the wrong shape (a null `actions`, a number for
`user`) would crash them. This module owns the minimal contract of each interaction type
(api.slack.com/reference/interaction-payloads: block_actions, view_submission,
view_closed, shortcut) so such a request is a 400 naming the field, never a 500.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="allow")


class _User(_Lenient):
    id: str


class _Action(_Lenient):
    action_id: str = Field(max_length=255)
    value: str | None = Field(default=None, max_length=2000)


class _Container(_Lenient):
    type: str | None = None


class _Channel(_Lenient):
    id: str


class BlockActions(_Lenient):
    type: Literal["block_actions"]
    user: _User
    actions: list[_Action] = Field(min_length=1)
    trigger_id: str | None = None
    container: _Container | None = None
    channel: _Channel | None = None
    response_url: str | None = None


class _State(_Lenient):
    values: dict[str, dict[str, dict[str, Any]]]


class _View(_Lenient):
    callback_id: str
    private_metadata: str = ""
    state: _State | None = None


class ViewPayload(_Lenient):
    type: Literal["view_submission", "view_closed"]
    user: _User
    view: _View


SHAPES: dict[str, type[BaseModel]] = {
    "block_actions": BlockActions, "view_submission": ViewPayload, "view_closed": ViewPayload,
}


def problem(payload: Any) -> str | None:
    """Why an interaction payload cannot be handled (naming the field), or None."""
    if not isinstance(payload, dict):
        return "payload must be a JSON object"
    shape = SHAPES.get(payload.get("type")) if isinstance(payload.get("type"), str) else None
    if shape is None:
        return None  # other request kinds (events, commands, shortcuts) Bolt checks itself
    try:
        shape.model_validate(payload)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        field = ".".join(str(p) for p in first["loc"]) or "payload"
        return f"payload.{field}: {first['msg']}"
    return None
