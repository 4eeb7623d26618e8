"""The alert's own jobs: show an order's alert on a surface as the database says it is.

A change to an order asks for `refresh_alert` through the outbox (`service.refresh_alerts`),
one job per order, surface and cause; the job checks the payment live (unless it was checked
moments ago, by the Reprocess that asked for this refresh, say), renders nothing itself (the
surface's `Notifier` does, from the snapshot) and remembers where the message is. It runs
at most once per order and surface every ALERT_REFRESH_SECONDS (`workflows.core.turns`): a
burst of changes is one update of the latest state.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from workflows.core import queue, turns
from workflows.core.db import transaction
from workflows.core.models import Alert, Order, utcnow
from workflows.core.settings import Settings, get_settings
from workflows.orders import service
from workflows.orders.notify import notifiers
from workflows.orders.payment import check_payment
from workflows.orders.snapshot import load

PAYMENT_FRESH_FOR = dt.timedelta(seconds=60)  # a payment checked this recently is not asked again


def refresh_alert(order_id: str, surface: str, verify_payment: bool = True, settings: Settings | None = None) -> str:
    """Post or update the order's alert on `surface` as the database says it is.

    An alert attached to an outage and not posted before it is not posted on its own: the
    outage message lists it (issue 15); it stays tracked, and `/syncdesk order` shows it.
    """
    settings = settings or get_settings()
    with transaction(settings.database_url) as session:
        attached = session.execute(select(Alert.incident_id, Alert.message_id).where(
            Alert.order_id == order_id, Alert.surface == surface)).first()
        checked = session.scalar(select(Order.payment_checked_at).where(Order.id == order_id))
    if attached is not None and attached.incident_id is not None and attached.message_id is None:
        return "in the outage message"
    if not turns.take_turn(settings, queue.get_redis(settings.redis_url), f"syncdesk:alert:{order_id}:{surface}:shown",
                           settings.alert_refresh_seconds, "workflows.orders.jobs.refresh_alert", "refresh", order_id, surface,
                           order_id=order_id, surface=surface):
        return "coalesced"
    if verify_payment and (checked is None or utcnow() - checked > PAYMENT_FRESH_FOR):
        check_payment(settings, order_id)
    with transaction(settings.database_url) as session:
        snapshot = load(session, order_id)
        alert = session.scalar(select(Alert).where(Alert.order_id == order_id, Alert.surface == surface))
        if snapshot is None or alert is None:
            return "gone"
        current = (alert.channel, alert.message_id)
    channel, message_id = notifiers.get(surface).show(snapshot, current)
    if (channel, message_id) != current:
        with transaction(settings.database_url) as session:
            alert = session.scalar(select(Alert).where(Alert.order_id == order_id, Alert.surface == surface))
            if alert is not None:
                alert.channel, alert.message_id = channel, message_id
    return "shown"


def refresh_now(settings: Settings, order_id: str, cause: str) -> None:
    """Ask for every alert of the order to be re-rendered, and hand the jobs to RQ now."""
    with transaction(settings.database_url) as session:
        order = session.get(Order, order_id)
        if order is not None:
            service.refresh_alerts(session, order, cause)
        entries = queue.added(session)
    queue.dispatch(settings, entries)
