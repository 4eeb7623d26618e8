"""The audit export: every audit event, oldest first, of some orders or all, from a moment on;
what `syncdesk audit` writes as CSV for a review or a spreadsheet (issue 26.4).

Each event is who (`actor`), what (`action`, `result`), when, about which order and item, and its
detail as stored. The notes people wrote in an alert's thread are among them: `note.added` with
the note's text as it reads now (edited, or gone once deleted), and `note.edited` /
`note.deleted` saying who changed it and when (`workflows.orders.notes`). The texts are as
erasure left them (`workflows.guests.erasure` scrubs the guest from every detail).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from workflows.core.db import transaction
from workflows.core.models import AuditEvent
from workflows.core.settings import Settings

BATCH = 500  # rows fetched at a time: an export of the whole trail never holds it all in memory


@dataclass(frozen=True)
class AuditRow:
    at: dt.datetime
    order_id: str | None
    item_id: str | None
    actor: str
    action: str
    result: str
    detail: dict[str, Any]


def export(settings: Settings, order_ids: Sequence[str] = (), since: dt.datetime | None = None) -> Iterator[AuditRow]:
    """The audit events, oldest first: only `order_ids`' when given, only from `since` when given."""
    query = select(AuditEvent).order_by(AuditEvent.id)
    if order_ids:
        query = query.where(AuditEvent.order_id.in_(list(order_ids)))
    if since is not None:
        query = query.where(AuditEvent.created_at >= since)
    with transaction(settings.database_url) as session:
        for e in session.scalars(query.execution_options(yield_per=BATCH)):
            yield AuditRow(e.created_at, e.order_id, e.item_id, e.actor, e.action, e.result, dict(e.detail or {}))
