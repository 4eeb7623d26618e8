"""The read-only lookups behind Slack's views: one order's snapshot, the order queue with
links to the alert messages, the open alerts for the Home tab, and — for the
Booked-manually modal — whether SynXis already holds the reservation (DESIGN §1, "SynXis:
check first"). Nothing here writes; every change goes through `workflows.actions.requests`.

Message links use Slack's archive URL form `https://slack.com/archives/<channel>/p<ts
without the dot>`, which the Slack client opens in the workspace.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from bot.slack.render import ExistingCheck
from connectors.errors import ConnectorError
from connectors.types import BookingStatus
from workflows.core.db import transaction
from workflows.core.models import Alert, Order, OrderItem
from workflows.core.settings import Settings
from workflows.orders.lookup import QueueRow, order_queue
from workflows.orders.snapshot import OrderSnapshot, load


def snapshot(settings: Settings, order_id: str) -> OrderSnapshot | None:
    with transaction(settings.database_url) as session:
        return load(session, order_id, settings=settings)


def alert_links(settings: Settings, order_ids: list[str]) -> dict[str, str]:
    if not order_ids:
        return {}
    with transaction(settings.database_url) as session:
        alerts = session.scalars(select(Alert).where(
            Alert.order_id.in_(order_ids), Alert.surface == "slack", Alert.channel.is_not(None),
            Alert.message_id.is_not(None))).all()
        return {a.order_id: f"https://slack.com/archives/{a.channel}/p{a.message_id.replace('.', '')}"
                for a in alerts if a.message_id and not a.message_id.startswith("log:")}


def queue(settings: Settings, status: str | None = None, day: dt.date | None = None,
          limit: int = 200) -> list[QueueRow]:
    """The order queue, newest first, optionally one queue status and one placing day (UTC)."""
    since = dt.datetime.combine(day, dt.time(), dt.timezone.utc) if day else None
    with transaction(settings.database_url) as session:
        rows = order_queue(session, status=status, since=since, limit=limit)
    if day:
        rows = [r for r in rows if r.placed_at and r.placed_at.date() == day]
    return rows


def open_alerts(settings: Settings, limit: int = 100) -> list[OrderSnapshot]:
    """Snapshots of the orders whose Slack alert is not resolved."""
    with transaction(settings.database_url) as session:
        ids = session.scalars(select(Alert.order_id).where(
            Alert.surface == "slack", Alert.state != "resolved").limit(limit)).all()
        snapshots = [load(session, order_id, audit_limit=20, settings=settings) for order_id in ids]
    return [s for s in snapshots if s is not None]


def existing_booking(settings: Settings, order_id: str, item_id: str) -> ExistingCheck:
    """Ask the item's booking system whether it already holds the reservation (check first)."""
    from workflows.actions.jobs import booking_request
    from workflows.systems.registry import connector_for

    with transaction(settings.database_url) as session:
        order = session.get(Order, order_id)
        item = session.scalar(select(OrderItem).where(OrderItem.order_id == order_id, OrderItem.item_id == item_id))
        if order is None or item is None:
            return ExistingCheck("error", detail=f"{order_id}/{item_id} is not known to syncdesk")
        request = booking_request(order, item)
    try:
        found = connector_for(request, settings).find_existing(request)
    except ConnectorError as exc:
        return ExistingCheck("error", detail=exc.message)
    if found is None or found.status is BookingStatus.ABSENT:
        return ExistingCheck("absent")
    return ExistingCheck("found", found.confirmation, found.raw_status)
