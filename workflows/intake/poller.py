"""The poller: what the platform knows that no webhook told us.

- `poll_stuck_orders` (every `POLL_INTERVAL_SECONDS`): orders in an alerting status (In
  Progress, Booked) not updated for `STUCK_AFTER_MINUTES` that no intake event covered (a
  lost webhook) are recorded as failures, as the webhook would have; a retail-only order is
  recorded too (it awaits dispatch, not a sync: `workflows.retail`).
- `recheck_open_alerts` (every `RECHECK_OPEN_MINUTES`): each order with an open alert is
  read again from the platform, least recently checked first, at most `RECHECK_BATCH` per
  run; one completed, closed or cancelled there has its alert resolved (and its page), an
  item confirmed there by someone else is shown as confirmed "on the platform". An order
  Complete there whose booking was found missing (issue 25, `workflows.orders.problems`) keeps
  its alert: its booking is looked up again in its system (`workflows.arrivals.check.recheck`),
  and found confirmed it resolves.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from sqlalchemy import select

from workflows.core import heartbeat, queue, states
from workflows.core.lifecycle import ALERTING
from workflows.core.db import transaction
from workflows.core.models import Alert, Order, OrderItem, utcnow
from workflows.core.settings import Settings, get_settings
from connectors.errors import ConnectorError
from workflows.intake import webhook
from workflows.oncall import escalation
from workflows.orders import service
from workflows.orders.payloads import PayloadError, SyncFailure, parse_platform_order, poller_failures
from workflows.systems.clients import platform_client

log = logging.getLogger(__name__)


def poll_stuck_orders(settings: Settings | None = None) -> int:
    """Job: record orders stuck in an alerting status that no intake event covered (a lost webhook)."""
    settings = settings or get_settings()
    if not settings.platform_api_url:
        return 0
    before = utcnow() - dt.timedelta(minutes=settings.stuck_after_minutes)
    recorded = 0
    redis = queue.get_redis(settings.redis_url)
    try:
        with platform_client(settings) as platform:
            stuck = [order for status in ALERTING for order in platform.list_stuck(before, status)]
    except ConnectorError as exc:  # counted for the dead man's switch (e.g. the platform's key revoked)
        heartbeat.poller_result(redis, settings.queue_name, f"{exc.error_class.label}: {exc.message}")
        raise
    heartbeat.poller_result(redis, settings.queue_name, None)
    for data in stuck:
        try:
            failures = poller_failures(data, before)
        except PayloadError as exc:
            log.warning("poller skipped an unreadable platform order: %s", exc)
            continue
        for failure in failures:
            recorded += _record_if_uncovered(settings, failure)
    return recorded


def _record_if_uncovered(settings: Settings, failure: SyncFailure) -> int:
    with transaction(settings.database_url) as session:
        covered = session.scalar(select(OrderItem).where(
            OrderItem.order_id == failure.order.id, OrderItem.item_id == failure.failure.item_id))
        if covered is not None and covered.sync_status != states.Q_CREATED:
            return 0  # an intake event already covers it
    outcome = webhook.record(settings, failure, "poller")
    return 0 if outcome.duplicate else 1


def recheck_open_alerts(settings: Settings | None = None) -> int:
    """Job: read every order with an open alert again from the platform (least recently
    checked first, a bounded batch); returns how many it resolved or updated."""
    settings = settings or get_settings()
    if not settings.platform_api_url:
        return 0
    with transaction(settings.database_url) as session:
        open_orders = select(Alert.order_id).where(Alert.state != states.A_RESOLVED)
        order_ids = list(session.scalars(
            select(Order.id).where(Order.id.in_(open_orders))
            .order_by(Order.platform_checked_at.asc().nulls_first(), Order.id).limit(settings.recheck_batch)))
    changed = 0
    with platform_client(settings) as platform:
        for order_id in order_ids:
            try:
                data = parse_platform_order(platform.get_order(order_id))
            except (ConnectorError, PayloadError) as exc:  # one unreadable order must not stop the rest
                log.warning("re-check of %s skipped: %s", order_id, exc)
                continue
            changed += _apply(settings, data)
    return changed


def _apply(settings: Settings, data: Any) -> int:
    with transaction(settings.database_url) as session:
        order, change = service.apply_platform_order(session, data, actor=service.POLLER_ACTOR)
        order.platform_checked_at = utcnow()
        if change.resolved:
            escalation.request_resolve(session, order.id)  # and its page, if it was paged
        if change.kept:  # Complete, but its booking is missing: the platform's word does not settle it
            queue.add(session, "workflows.arrivals.check.recheck",
                      queue.job_id("booking-recheck", order.id, utcnow().isoformat()),
                      order_id=order.id)
        entries = queue.added(session)
    try:
        queue.dispatch(settings, entries)
    except Exception:  # outermost boundary: the outbox keeps the jobs for the clock's next drain
        log.exception("dispatch after a re-check failed; the outbox keeps the jobs")
    return int(change.resolved or bool(change.confirmed))
