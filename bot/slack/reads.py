"""Slack's side of the read-only lookups (`workflows.orders.reads`): the same questions, and
each alert's message as a Slack link. Nothing here touches the tables.

Message links use Slack's archive URL form `https://slack.com/archives/<channel>/p<ts
without the dot>`, which the Slack client opens in the workspace.
"""

from __future__ import annotations

from workflows.core.settings import Settings
from workflows.orders.reads import existing_booking, queue, snapshot
from workflows.orders.reads import open_alerts as _open_alerts
from workflows.orders.reads import posted_alerts
from workflows.orders.snapshot import OrderSnapshot

__all__ = ["alert_links", "existing_booking", "open_alerts", "queue", "snapshot"]


def message_link(channel: str, ts: str) -> str:
    return f"https://slack.com/archives/{channel}/p{ts.replace('.', '')}"


def alert_links(settings: Settings, order_ids: list[str]) -> dict[str, str]:
    """Each order's Slack alert message, by order id (orders without a posted message are left out)."""
    return {order_id: message_link(*where) for order_id, where in posted_alerts(settings, order_ids, "slack").items()}


def open_alerts(settings: Settings, limit: int = 100) -> list[OrderSnapshot]:
    """Snapshots of the orders whose Slack alert is not resolved (the Home tab)."""
    return _open_alerts(settings, "slack", limit)
