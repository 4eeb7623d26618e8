"""The read-only questions the chat surfaces ask, answered here so that `bot/` never touches
the tables: one order's snapshot, the order queue, the open alerts, where each alert was
posted, the existing-booking lookup (check first, DESIGN §1) and the audit of a refused or
requested action. Each opens its own short transaction; none changes an order.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from connectors.errors import ConnectorError
from connectors.types import BookingStatus
from workflows.core import states
from workflows.core.db import transaction
from workflows.core.models import Alert, Order, OrderItem
from workflows.core.settings import Settings
from workflows.orders.lookup import QueueRow, order_queue
from workflows.orders.snapshot import OrderSnapshot, load
from workflows.systems.booking import booking_request
from workflows.systems.registry import connector_for


def snapshot(settings: Settings, order_id: str) -> OrderSnapshot | None:
    with transaction(settings.database_url) as session:
        return load(session, order_id, settings=settings)


def posted_alerts(settings: Settings, order_ids: list[str], surface: str) -> dict[str, tuple[str, str]]:
    """Where each order's alert was posted on `surface`: (channel or conversation, message id).
    Orders whose alert was only logged (no token) are left out."""
    if not order_ids:
        return {}
    with transaction(settings.database_url) as session:
        alerts = session.scalars(select(Alert).where(
            Alert.order_id.in_(order_ids), Alert.surface == surface, Alert.channel.is_not(None),
            Alert.message_id.is_not(None))).all()
        return {a.order_id: (a.channel or "", a.message_id or "") for a in alerts
                if a.message_id and not a.message_id.startswith("log:")}


def queue(settings: Settings, status: str | None = None, day: dt.date | None = None,
          limit: int = 200) -> list[QueueRow]:
    """The order queue, newest first, optionally one queue status and one placing day (UTC); the
    guests as CHAT_GUEST_DETAILS shows them (chat asks)."""
    since = dt.datetime.combine(day, dt.time(), dt.timezone.utc) if day else None
    with transaction(settings.database_url) as session:
        rows = order_queue(session, status=status, since=since, limit=limit,
                           guest_details=settings.chat_guest_details)
    if day:
        rows = [r for r in rows if r.placed_at and r.placed_at.date() == day]
    return rows


def open_alerts(settings: Settings, surface: str, limit: int = 100) -> list[OrderSnapshot]:
    """Snapshots of the orders whose alert on `surface` is not resolved."""
    with transaction(settings.database_url) as session:
        ids = session.scalars(select(Alert.order_id).where(
            Alert.surface == surface, Alert.state != states.A_RESOLVED).limit(limit)).all()
        snapshots = [load(session, order_id, audit_limit=20, settings=settings) for order_id in ids]
    return [s for s in snapshots if s is not None]


@dataclass(frozen=True)
class ExistingCheck:
    """Whether the item's booking system already holds its booking (check first)."""

    state: str  # "checking" | "found" | "absent" | "error"
    confirmation: str = ""
    status: str = ""
    detail: str = ""


def existing_booking(settings: Settings, order_id: str, item_id: str) -> ExistingCheck:
    """Ask the item's booking system whether it already holds the booking (DESIGN §1, check
    first): what the Booked-manually form shows before a person books by hand."""
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


def audit(settings: Settings, *, actor: str, action: str, order_id: str | None = None, item_id: str | None = None,
          result: str = "ok", **detail: Any) -> None:
    """Record one audit event in its own transaction (a refused click, a requested report)."""
    with transaction(settings.database_url) as session:
        states.audit(session, actor=actor, action=action, order_id=order_id, item_id=item_id, result=result,
                     **detail)
