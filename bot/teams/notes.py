"""Replies in an alert card's thread become notes in the order's history (issue 26.4).

In a Teams channel, a reply in a thread arrives as a `message` activity whose conversation id is
the channel's with `;messageid=<the thread's root message id>`, and whose `replyToId` names the
root too (learn.microsoft.com/microsoftteams/platform/bots/how-to/conversations/conversation-messages).
An edit arrives as `messageUpdate` (`channelData.eventType` `editMessage`) and a deletion as
`messageDelete` (`softDeleteMessage`), each with the message's own `id` and the person who did it
in `from` (…/conversation-messages: "Receive edit message activity", "Receive soft delete message
activity"). Teams delivers channel messages that do not @mention the bot only when the team has
granted the app `ChannelMessage.Read.Group` (resource-specific consent, teams/manifest.json).

Thin: read the activity → `workflows.orders.notes` (which keeps only replies in the thread of an
order's alert) → answer 200. A bot's message is no note; a reply that is one of syncdesk's
commands (`order ORD-10042` in the thread) is answered as a command, not kept. The same activity
delivered again records once. The text is never logged.
"""

from __future__ import annotations

import html
import re
from collections.abc import Collection
from typing import Protocol

from workflows.core.settings import Settings
from workflows.orders import notes
from workflows.orders.notes import ThreadMessage

KINDS = ("message", "messageUpdate", "messageDelete")
UNDELETE = "undeleteMessage"  # a deleted note's text is gone: its undeletion brings nothing back
_MENTION = re.compile(r"<at>(.*?)</at>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<[^>]+>")


class Activity(Protocol):
    """What `bot.teams.app.Turn` carries that a note needs."""

    kind: str
    text: str
    activity_id: str | None
    conversation_id: str | None
    user_id: str | None
    reply_to_id: str | None
    event_type: str
    bot_name: str

    @property
    def actor(self) -> str: ...


def where(turn: Activity) -> ThreadMessage | None:
    """Where the activity's message is: its channel conversation, its thread's root, its id."""
    channel, _, rest = (turn.conversation_id or "").partition(";")
    root = rest.removeprefix("messageid=") if rest.startswith("messageid=") else turn.reply_to_id
    if not channel or not root or not turn.activity_id:
        return None
    return ThreadMessage("teams", channel, root, turn.activity_id)


def text_of(turn: Activity) -> str:
    """The message as a note keeps it: the bot's @mention dropped, other mentions as `@Name`,
    markup removed."""
    def mention(m: re.Match[str]) -> str:
        return "" if m.group(1).strip() == turn.bot_name else f"@{m.group(1)}"

    return " ".join(html.unescape(_TAG.sub(" ", _MENTION.sub(mention, turn.text))).split())


def is_command(turn: Activity, commands: Collection[str]) -> bool:
    words = _MENTION.sub(" ", turn.text).split()
    return bool(words) and words[0].lower() in commands


def record(settings: Settings, turn: Activity, commands: Collection[str]) -> bool:
    """Apply the activity to the notes. True when it is done with (a note recorded, edited or
    deleted, or an edit or deletion of any message); False when the message is no reply in an
    alert's thread, or is a command: the caller answers it as before."""
    if (turn.user_id or "").startswith("28:"):  # a bot's message (Bot Framework ids of bots start 28:): never a note
        return True
    found = where(turn)
    if turn.kind == "messageDelete":
        if found is not None:
            notes.delete(settings, found, turn.actor)
        return True
    if turn.kind == "messageUpdate":
        if found is not None and turn.event_type != UNDELETE:
            notes.edit(settings, found, turn.actor, text_of(turn))
        return True
    if found is None or not turn.text.strip() or is_command(turn, commands):
        return False
    return notes.add(settings, found, turn.actor, text_of(turn)) is not None
