"""Replies in an alert's thread become notes in the order's history (issue 26.4).

Slack sends syncdesk every message of the channels it is in once the app subscribes to the
`message.channels` and `message.groups` bot events (manifest.yml; docs.slack.dev/reference/events/message).
A reply in a thread carries `thread_ts`, its root message's `ts`; an edit comes as the subtype
`message_changed`, with the message as it is now in `message` and as it was in
`previous_message`; a deletion as `message_deleted`, with `deleted_ts` and `previous_message`,
and without who deleted it (docs.slack.dev/reference/events/message/message_changed,
…/message_deleted).

Thin: read the event → `workflows.orders.notes` (which keeps only replies in the thread of an
order's alert) → ack. Messages of bots (syncdesk's own replies and updates among them) and
root messages are no notes. A redelivered event (`X-Slack-Retry-Num`, the same `event_id`) is
skipped before it gets here (`bot.slack.app`), and a reply seen again is recorded once. The
text is never logged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from slack_bolt import App

from workflows.core.settings import Settings
from workflows.orders import notes
from workflows.orders.notes import ThreadMessage

# The subtypes of a message a person writes (a plain message has none): `thread_broadcast` is
# a reply also sent to the channel, `file_share` one with a file.
WRITTEN = (None, "thread_broadcast", "file_share")


@dataclass(frozen=True)
class Change:
    """What a `message` event does to the notes: "add", "edit" or "delete" the reply at `where`."""

    kind: str
    where: ThreadMessage
    actor: str | None = None
    text: str = ""
    author: str | None = None


def _reply(channel: Any, message: dict[str, Any]) -> ThreadMessage | None:
    """Where a person's reply in a thread is, or None (a root message, a bot's, not a reply)."""
    thread, ts = message.get("thread_ts"), message.get("ts")
    if message.get("bot_id") or not (isinstance(thread, str) and isinstance(ts, str) and isinstance(channel, str)):
        return None
    return ThreadMessage("slack", channel, thread, ts) if thread != ts else None


def change(event: dict[str, Any]) -> Change | None:
    """The change to the notes `event` asks for, or None."""
    subtype, channel = event.get("subtype"), event.get("channel")
    if subtype in WRITTEN and (where := _reply(channel, event)) and event.get("user"):
        return Change("add", where, f"slack:{event['user']}", str(event.get("text") or ""))
    if subtype == "message_changed":
        now, before = event.get("message") or {}, event.get("previous_message") or {}
        where = _reply(channel, now) if isinstance(now, dict) else None
        if where is None or not now.get("user") or now.get("text") == before.get("text"):
            return None  # not a person's reply, or a change that is not the text (a link preview)
        edited = (now.get("edited") or {}).get("user") or now["user"]
        return Change("edit", where, f"slack:{edited}", str(now.get("text") or ""), f"slack:{now['user']}")
    if subtype == "message_deleted":
        before = event.get("previous_message") or {}
        where = _reply(channel, {**before, "ts": event.get("deleted_ts")}) if isinstance(before, dict) else None
        return Change("delete", where) if where is not None else None
    return None


def record(settings: Settings, event: dict[str, Any]) -> str | None:
    """Apply `event` to the notes: the order it concerned, or None."""
    found = change(event)
    if found is None:
        return None
    if found.kind == "add":
        return notes.add(settings, found.where, found.actor or "slack:unknown", found.text)
    if found.kind == "edit":
        return notes.edit(settings, found.where, found.actor or "slack:unknown", found.text, found.author)
    return notes.delete(settings, found.where, None)  # Slack does not say who deleted it


def register(app: App, settings: Settings) -> None:
    @app.event("message")
    def thread_message(ack: Any, event: dict[str, Any]) -> None:
        record(settings, event)
        ack()
