"""The names of every status syncdesk stores, as `StrEnum`s: one spelling each, importable
from anywhere (this module imports nothing of ours, so the chat surfaces and renderers may
use it without reaching the tables).

A member *is* its string (`ItemStatus.CONFIRMED == "Confirmed"`), so rows, payloads and
JSON keep the platform's and the manuals' words. Which status may follow which is
`workflows.core.states`; what syncdesk does for each order status is `workflows.core.lifecycle`.
"""

from __future__ import annotations

from enum import StrEnum


class ItemStatus(StrEnum):
    """An order item's status (platform vocabulary, source 003)."""

    IN_PROGRESS = "In Progress"
    CONFIRMED = "Confirmed"
    CANCELLED = "Cancelled"
    DISPATCHED = "Dispatched"


class OrderStatus(StrEnum):
    """The order statuses syncdesk itself moves to or names; the platform may send others
    (every one its guide names is in `lifecycle.RULES`)."""

    IN_PROGRESS = "In Progress"
    BOOKED = "Booked"
    COMPLETE = "Complete"
    CLOSED = "Closed"
    CANCELLED = "Cancelled"
    TEST = "Test"


class QueueStatus(StrEnum):
    """The order queue's sync status (the resort manuals: created → processing → success |
    failed, failed → ready)."""

    CREATED = "created"
    PROCESSING = "processing"
    SUCCESS = "success"
    FAILED = "failed"
    READY = "ready"


class AlertState(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class IncidentState(StrEnum):
    """An outage incident: failures still arriving, the all-clear posted, or a maintenance
    window holding its system's failures (`workflows.outage.maintenance`)."""

    OPEN = "open"
    QUIET = "quiet"
    MAINTENANCE = "maintenance"


# The item statuses an alert lists as done (booked, handed over, or cancelled and refunded)
DONE_ITEM_STATUSES = frozenset({ItemStatus.CONFIRMED, ItemStatus.DISPATCHED, ItemStatus.CANCELLED})
# The order statuses an alert shows as finished
FINISHED_ORDER_STATUSES = frozenset({OrderStatus.COMPLETE, OrderStatus.CLOSED})
