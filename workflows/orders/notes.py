"""Notes in an order's history (issue 26.4): what people write in the thread of an order's
alert, in Slack or Teams, kept with the order's audit trail, where `syncdesk order`,
`/syncdesk order` and the audit export read it.

Only a reply in the thread of a message syncdesk posted for an order counts: the thread's root
must be the order's alert on that surface (the `alerts` row's channel and message id, where the
notifiers record each alert they post). A root message itself, or a message in any other thread,
is no note. The surfaces leave out their bot's own messages before they ask.

A note is one `note.added` audit event by its author. Its detail holds:
- `note`: the reply's identity on its surface (`slack:C0ALERTS:1700000000.000200`), which an
  edit or a deletion names;
- `surface` and `text`: what it says now. The text is guest data: erasure scrubs it as it
  scrubs every audit detail (`workflows.guests.erasure`), a masked snapshot shows it scrubbed,
  and it is never logged;
- after an edit, `edited_at` and `edited_by`: the text is the edited one;
- after a deletion, `deleted_at` and `deleted_by` (None when the surface does not say, as
  Slack does not): the text is gone, that there was a note and whose stays.

Each edit and deletion is also an audit event of its own (`note.edited`, `note.deleted`, naming
the note, never its text), so the trail says who changed it and when.

The same reply delivered twice (a surface's retry, the same Teams activity again) records once:
a note is looked up by its identity before it is added, under the alert's row lock.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from workflows.core import states
from workflows.core.db import transaction
from workflows.core.models import Alert, AuditEvent, utcnow
from workflows.core.settings import Settings

log = logging.getLogger(__name__)

ADDED = "note.added"
EDITED = "note.edited"
DELETED = "note.deleted"
MAX_TEXT = 4000  # a Slack message may be 40,000 characters; a note in the history need not be


@dataclass(frozen=True)
class ThreadMessage:
    """Where a message is: its surface, its channel (a Slack channel id, a Teams conversation id
    without `;messageid=`), the root message of its thread and its own id."""

    surface: str
    channel: str
    thread: str
    message: str

    @property
    def note_id(self) -> str:
        return f"{self.surface}:{self.channel}:{self.message}"


def add(settings: Settings, where: ThreadMessage, author: str, text: str) -> str | None:
    """Record `text` by `author` as a note of the order whose alert is the root of `where`'s
    thread. The order's id when the thread is an alert's (recorded now, or before: a delivery
    seen again changes nothing), else None."""
    text = text.strip()[:MAX_TEXT]
    if where.thread == where.message:
        return None
    with transaction(settings.database_url) as session:
        order_id = _order_of_thread(session, where)
        if order_id is None or not text or _note(session, order_id, where.note_id) is not None:
            return order_id
        states.audit(session, actor=author, action=ADDED, order_id=order_id, note=where.note_id,
                     surface=where.surface, text=text)
    log.info("note added to %s from %s", order_id, where.surface)
    return order_id


def edit(settings: Settings, where: ThreadMessage, editor: str, text: str, author: str | None = None) -> str | None:
    """The note at `where` now says `text`, edited by `editor`. A reply whose note is not known
    yet (the edit arrived first) is recorded as it is now, edited. The order's id when the
    thread is an alert's, else None."""
    text = text.strip()[:MAX_TEXT]
    if where.thread == where.message:
        return None
    with transaction(settings.database_url) as session:
        order_id = _order_of_thread(session, where)
        if order_id is None or not text:
            return order_id
        now = utcnow().isoformat()
        note = _note(session, order_id, where.note_id)
        if note is None:
            states.audit(session, actor=author or editor, action=ADDED, order_id=order_id, note=where.note_id,
                         surface=where.surface, text=text, edited_at=now, edited_by=editor)
        elif note.detail.get("deleted_at") or note.detail.get("text") == text:
            return order_id  # a deleted note stays deleted; an unchanged text (a link preview) is no edit
        else:
            note.detail = {**note.detail, "text": text, "edited_at": now, "edited_by": editor}
        states.audit(session, actor=editor, action=EDITED, order_id=order_id, note=where.note_id)
    log.info("note edited on %s from %s", order_id, where.surface)
    return order_id


def delete(settings: Settings, where: ThreadMessage, by: str | None) -> str | None:
    """The note at `where` was deleted (by `by`, when the surface says): its text goes, the
    note's place in the history stays. The order's id when the thread is an alert's, else None."""
    with transaction(settings.database_url) as session:
        order_id = _order_of_thread(session, where)
        if order_id is None:
            return None
        note = _note(session, order_id, where.note_id)
        if note is None or note.detail.get("deleted_at"):
            return order_id
        detail = {k: v for k, v in note.detail.items() if k not in ("edited_at", "edited_by")}
        note.detail = {**detail, "text": "", "deleted_at": utcnow().isoformat(), "deleted_by": by}
        states.audit(session, actor=by or f"{where.surface}:unknown", action=DELETED, order_id=order_id,
                     note=where.note_id)
    log.info("note deleted on %s from %s", order_id, where.surface)
    return order_id


def _order_of_thread(session: Session, where: ThreadMessage) -> str | None:
    """The order whose alert on `where.surface` is the thread's root message (its row locked, so
    two deliveries of one reply take turns), or None."""
    return session.scalar(select(Alert.order_id).where(
        Alert.surface == where.surface, Alert.channel == where.channel, Alert.message_id == where.thread,
    ).with_for_update())


def _note(session: Session, order_id: str, note_id: str) -> AuditEvent | None:
    """The order's note with that identity (an order has few; they are found by its own index)."""
    added = session.scalars(select(AuditEvent).where(AuditEvent.order_id == order_id, AuditEvent.action == ADDED))
    return next((e for e in added if (e.detail or {}).get("note") == note_id), None)
