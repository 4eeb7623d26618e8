"""Recovering work that Redis lost.

The outbox makes sure a job reaches Redis; it cannot make Redis keep it. When Redis
restarts without persistence (or fails over to a replica that was behind) queued and
scheduled jobs vanish. The database still knows what should have happened, so the clock
asks it: an open alert that was never shown gets its refresh again, and an automatic retry
that never ran is enqueued again. Job ids are per time slot, so a sweep enqueues each at
most once a slot, and the jobs themselves are idempotent.
"""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import select

from workflows.core import queue, states
from workflows.core.db import transaction
from workflows.core.models import Alert, AuditEvent, OrderItem, SyncAttempt, utcnow
from workflows.core.settings import Settings
from workflows.orders.service import AUTO_ACTOR

log = logging.getLogger(__name__)

# Longer than a healthy queue takes to post an alert or run a due retry.
GRACE = dt.timedelta(seconds=60)


def _slot(now: dt.datetime) -> int:
    return int(now.timestamp() // GRACE.total_seconds())


def unshown_alerts(settings: Settings, now: dt.datetime) -> list[tuple[str, str]]:
    """(order id, surface) of open alerts created before the grace period and never shown; an
    alert attached to an outage is shown by the outage message instead."""
    with transaction(settings.database_url) as session:
        rows = session.execute(
            select(Alert.order_id, Alert.surface).where(
                Alert.state != states.A_RESOLVED, Alert.message_id.is_(None), Alert.incident_id.is_(None),
                Alert.created_at < now - GRACE
            ).limit(500)
        ).all()
    return [(order_id, surface) for order_id, surface in rows]


def overdue_retries(settings: Settings, now: dt.datetime) -> list[tuple[str, str, int]]:
    """(order, item, attempt number) of automatic retries due before the grace period that
    no later attempt has used, on items still failed."""
    overdue = []
    with transaction(settings.database_url) as session:
        events = session.scalars(
            select(AuditEvent).join(
                OrderItem, (OrderItem.order_id == AuditEvent.order_id) & (OrderItem.item_id == AuditEvent.item_id)
            ).where(AuditEvent.action == "retry.scheduled", OrderItem.sync_status == states.Q_FAILED,
                    OrderItem.status == states.IN_PROGRESS)
        ).all()
        for event in events:
            if dt.datetime.fromisoformat(event.detail["at"]) > now - GRACE:
                continue
            after = int(event.detail.get("after_attempt", 0))
            later = session.scalar(select(SyncAttempt.id).join(OrderItem).where(
                OrderItem.order_id == event.order_id, OrderItem.item_id == event.item_id,
                SyncAttempt.number > after).limit(1))
            if later is None:
                overdue.append((event.order_id or "", event.item_id or "", after + 1))
    return overdue


def sweep(settings: Settings, now: dt.datetime | None = None) -> int:
    """Re-enqueue what Redis lost; returns how many jobs were enqueued."""
    now = now or utcnow()
    slot = _slot(now)
    enqueued = 0
    for order_id, surface in unshown_alerts(settings, now):
        enqueued += queue.enqueue(settings, "workflows.orders.jobs.refresh_alert",
                                  queue.job_id("sweep-refresh", order_id, surface, slot),
                                  order_id=order_id, surface=surface)
    for order_id, item_id, number in overdue_retries(settings, now):
        enqueued += queue.enqueue(settings, "workflows.actions.jobs.reprocess",
                                  queue.job_id("sweep-reprocess", order_id, item_id, number, slot),
                                  order_id=order_id, item_id=item_id, actor=AUTO_ACTOR, attempt=number)
    if enqueued:
        log.warning("recovered %d jobs that Redis no longer had", enqueued)
    return enqueued
