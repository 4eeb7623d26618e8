"""The state machine: which status may follow which, for items, orders, the order queue
and alerts, and the compare-and-set that moves a row from one to the next.

Statuses follow the operations manuals (DESIGN §1): platform item/order statuses, and the
resort order-queue statuses `created → processing → success | failed`, `failed → ready`.
Every move is one conditional UPDATE (`... WHERE status IN (expected)`): of two concurrent
callers exactly one sees a row changed; the other gets `TransitionConflict`. The audit
event is written in the same transaction as the move.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from typing import Any

from sqlalchemy import Update, bindparam, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from workflows.core.lifecycle import RULES, OnStatus, rule_for
from workflows.core.models import Alert, AuditEvent, Order, OrderItem, utcnow
from workflows.core.statuses import (
    AlertState,
    IncidentState,
    ItemStatus,
    OrderStatus,
    QueueStatus,
)

# Item statuses (platform vocabulary); the names are `workflows.core.statuses`
IN_PROGRESS = ItemStatus.IN_PROGRESS
CONFIRMED = ItemStatus.CONFIRMED
CANCELLED = ItemStatus.CANCELLED
DISPATCHED = ItemStatus.DISPATCHED

# Order statuses (platform vocabulary; what syncdesk does for each: `workflows.core.lifecycle`)
BOOKED = OrderStatus.BOOKED
COMPLETE = OrderStatus.COMPLETE
CLOSED = OrderStatus.CLOSED
TEST = OrderStatus.TEST
ORDER_STATUSES = tuple(RULES)  # every status the platform's guide names (source 003)

# Order-queue (sync) statuses
Q_CREATED = QueueStatus.CREATED
Q_PROCESSING = QueueStatus.PROCESSING
Q_SUCCESS = QueueStatus.SUCCESS
Q_FAILED = QueueStatus.FAILED
Q_READY = QueueStatus.READY
# The queue statuses in the order people filter by (`/syncdesk orders failed`, the Home tab, Teams)
QUEUE_STATUSES = (Q_FAILED, Q_READY, Q_PROCESSING, Q_SUCCESS, Q_CREATED)

# Alert states
A_OPEN = AlertState.OPEN
A_ACKNOWLEDGED = AlertState.ACKNOWLEDGED
A_RESOLVED = AlertState.RESOLVED

# Outage incident states (workflows.outage): failures still arriving, or the all-clear posted
INCIDENT_OPEN = IncidentState.OPEN
INCIDENT_QUIET = IncidentState.QUIET
# A maintenance window's failures (issue 26, workflows.outage.maintenance): held while it lasts,
# nobody paged; "quiet" (the outage's all-clear and Reprocess all) once it ends.
INCIDENT_MAINTENANCE = IncidentState.MAINTENANCE
# Incidents whose alerts do not escalate one by one: the outage paged once, or nobody is paged.
INCIDENT_HOLDING = (INCIDENT_OPEN, INCIDENT_MAINTENANCE)

ITEM_TRANSITIONS: dict[str, frozenset[str]] = {
    IN_PROGRESS: frozenset({CONFIRMED, CANCELLED, DISPATCHED}),
    DISPATCHED: frozenset({CONFIRMED}),
    # "Undo Booked manually" (a wrong reference typed): back to In Progress until Mark complete
    CONFIRMED: frozenset({IN_PROGRESS}),
    CANCELLED: frozenset(),
}

# The moves syncdesk itself makes (Mark complete). The platform may set any status; syncdesk
# records what it says (`workflows.orders.service`), and after Complete it may well set Closed.
ORDER_TRANSITIONS: dict[str, frozenset[str]] = {
    IN_PROGRESS: frozenset({COMPLETE, CANCELLED}),
    BOOKED: frozenset({COMPLETE, CANCELLED}),
    COMPLETE: frozenset({CLOSED}),
    CLOSED: frozenset(),
    CANCELLED: frozenset(),
}


def order_targets(status: str) -> frozenset[str]:
    """Where syncdesk may move an order from `status`: an unknown status is alerted like
    In Progress (`workflows.core.lifecycle`), so it can be completed like one."""
    if status in ORDER_TRANSITIONS:
        return ORDER_TRANSITIONS[status]
    return ORDER_TRANSITIONS[IN_PROGRESS] if rule_for(status).on is OnStatus.ALERT else frozenset()

QUEUE_TRANSITIONS: dict[str, frozenset[str]] = {
    Q_CREATED: frozenset({Q_PROCESSING, Q_FAILED}),
    Q_PROCESSING: frozenset({Q_SUCCESS, Q_FAILED}),
    Q_FAILED: frozenset({Q_READY, Q_PROCESSING, Q_SUCCESS}),
    Q_READY: frozenset({Q_PROCESSING, Q_SUCCESS}),
    Q_SUCCESS: frozenset(),
}

ALERT_TRANSITIONS: dict[str, frozenset[str]] = {
    A_OPEN: frozenset({A_ACKNOWLEDGED, A_RESOLVED}),
    A_ACKNOWLEDGED: frozenset({A_RESOLVED, A_OPEN}),
    A_RESOLVED: frozenset({A_OPEN}),
}


class IllegalTransition(ValueError):
    """The move is not allowed from the current status; the message says why."""

    def __init__(self, message: str, current: str | None = None) -> None:
        super().__init__(message)
        self.current = current


class TransitionConflict(RuntimeError):
    """Someone else moved the row first (the compare-and-set found another status)."""

    def __init__(self, message: str, current: str | None) -> None:
        super().__init__(message)
        self.current = current


def _sources(table: dict[str, frozenset[str]], target: str) -> list[str]:
    return sorted(s for s, targets in table.items() if target in targets)


def check(table: dict[str, frozenset[str]], what: str, current: str, target: str) -> None:
    """Raise IllegalTransition unless `current → target` is in `table`."""
    if target not in table.get(current, frozenset()):
        allowed = ", ".join(sorted(table.get(current, frozenset()))) or "nothing (it is final)"
        raise IllegalTransition(
            f"{what} is {current}; it cannot become {target} (from {current} it can become {allowed})", current
        )


def audit(
    session: Session,
    *,
    actor: str,
    action: str,
    order_id: str | None = None,
    item_id: str | None = None,
    result: str = "ok",
    **detail: Any,
) -> AuditEvent:
    event = audit_event(actor=actor, action=action, order_id=order_id, item_id=item_id, result=result, **detail)
    session.add(event)
    return event


def audit_event(*, actor: str, action: str, order_id: str | None = None, item_id: str | None = None,
                result: str = "ok", **detail: Any) -> AuditEvent:
    """The event `audit` adds, not yet in a session: a hot path writes several with one INSERT
    (`workflows.core.db.insert_new`)."""
    return AuditEvent(order_id=order_id, item_id=item_id, actor=actor, action=action, result=result, detail=detail)


def _cas(session: Session, model: Any, key: Any, column: str, expected: list[str], values: dict[str, Any]) -> bool:
    statement, stamped = _cas_statement(model, column, tuple(values))
    if session.autoflush:
        session.flush()  # as the ORM does before an UPDATE: what this transaction changed goes first
    params = {"cas_key": key, "cas_expected": list(expected), **{f"cas_{name}": v for name, v in values.items()}}
    changed = session.execute(statement, params).rowcount == 1
    obj = session.identity_map.get(session.identity_key(model, key)) if changed else None
    if obj is not None:
        # The row now holds exactly `values`, and this transaction holds its lock until commit:
        # set them on the object loaded in this session instead of reading the row back (one
        # SELECT less per transition, on every click and job). Columns the update stamped
        # itself (`onupdate`) are expired and read again only if asked for.
        for name, value in values.items():
            set_committed_value(obj, name, value)
        if stamped:
            session.expire(obj, list(stamped))
    return changed


@lru_cache(maxsize=256)
def _cas_statement(model: Any, column: str, names: tuple[str, ...]) -> tuple[Update, tuple[str, ...]]:
    """`_cas`'s UPDATE for one model, status column and set of columns written, built once, its
    values given with each execution (issue 29: on a click, building the statement cost more CPU
    than running it), and the columns it stamps itself (`onupdate`). A Core statement on the table:
    the ORM's bulk-update machinery cost a third more, and `_cas` keeps the loaded object right
    itself."""
    table = model.__table__
    statement = (
        update(table)
        .where(table.primary_key.columns[0] == bindparam("cas_key"),
               table.c[column].in_(bindparam("cas_expected", expanding=True)))
        .values({name: bindparam(f"cas_{name}") for name in names})
    )
    return statement, tuple(c.key for c in table.columns if c.onupdate is not None and c.key not in names)


def move_item(
    session: Session, item: OrderItem, target: str, *, actor: str, extra: dict[str, Any] | None = None, **detail: Any
) -> None:
    """Move an item's platform status, e.g. In Progress → Confirmed."""
    current = item.status
    check(ITEM_TRANSITIONS, f"Item {item.item_id}", current, target)
    values = {"status": target, **(extra or {})}
    if not _cas(session, OrderItem, item.pk, "status", [current], values):
        session.refresh(item)
        raise TransitionConflict(f"Item {item.item_id} was changed to {item.status} by someone else", item.status)
    audit(session, actor=actor, action=f"item.{target.lower().replace(' ', '_')}", order_id=item.order_id,
          item_id=item.item_id, **{"from": current, "to": target}, **detail)


def move_sync(session: Session, item: OrderItem, target: str, *, actor: str, **detail: Any) -> str:
    """Move an item's order-queue status from any status allowed to precede `target`.

    Returns the status it had. `failed|ready → processing` is the lock a Reprocess takes.
    """
    sources = _sources(QUEUE_TRANSITIONS, target)
    current = item.sync_status or Q_CREATED
    if current not in sources:
        check(QUEUE_TRANSITIONS, f"Sync of {item.item_id}", current, target)
    if not _cas(session, OrderItem, item.pk, "sync_status", sources, {"sync_status": target}):
        session.refresh(item)
        raise TransitionConflict(f"Sync of {item.item_id} is already {item.sync_status}", item.sync_status)
    audit(session, actor=actor, action=f"sync.{target}", order_id=item.order_id, item_id=item.item_id,
          **{"from": current, "to": target}, **detail)
    return current


def move_order(session: Session, order: Order, target: str, *, actor: str, **detail: Any) -> None:
    """Move an order's status; Complete only when every non-retail item is Confirmed."""
    current = order.platform_status
    check({current: order_targets(current)}, f"Order {order.id}", current, target)
    if target == COMPLETE:
        missing = completion_blockers(order)
        if missing:
            raise IllegalTransition(f"Order {order.id} cannot be Complete: " + "; ".join(missing), current)
    if not _cas(session, Order, order.id, "platform_status", [current], {"platform_status": target}):
        session.refresh(order)
        raise TransitionConflict(f"Order {order.id} was changed to {order.platform_status} by someone else",
                                 order.platform_status)
    audit(session, actor=actor, action=f"order.{target.lower()}", order_id=order.id,
          **{"from": current, "to": target}, **detail)


def completion_blockers(order: Order) -> list[str]:
    """What stops an order from being Complete, in words; empty when nothing does. An item
    cancelled and refunded (Cancel Deliveries) is done with; an order of nothing else is not
    completed but cancelled, by the platform."""
    return blockers_of(order.items)


def blockers_of(items: Iterable[Any]) -> list[str]:
    """`completion_blockers` of any items with `item_id`, `kind` and `status` (the stored items,
    or a snapshot's: what the alert offers is decided by the same rule)."""
    items = list(items)
    blockers = []
    for item in items:
        if item.kind == "retail":
            if item.status not in (CONFIRMED, DISPATCHED, CANCELLED):
                blockers.append(f"{item.item_id} not yet dispatched")
        elif item.status not in (CONFIRMED, CANCELLED):
            blockers.append(f"{item.item_id} still {item.status}")
    if items and all(item.status == CANCELLED for item in items):
        blockers.append("every item is cancelled: the platform cancels the order")
    return blockers


def move_alert(session: Session, alert: Alert, target: str, *, actor: str, keep_escalation: bool = False,
               extra: dict[str, Any] | None = None, **detail: Any) -> None:
    """Move an alert. Resolving wins over a concurrent acknowledgement (it is compared against
    every state that may precede it, not the one read), so an "I'm on it" landing at the same
    moment as the platform's Complete never leaves the alert acknowledged (cf. grafana/oncall#3161).
    `keep_escalation` re-opens an acknowledged alert at the escalation level it had; `extra`
    columns are written by the same statement."""
    current = alert.state
    check(ALERT_TRANSITIONS, f"Alert for {alert.order_id}", current, target)
    values: dict[str, Any] = {"state": target, "updated_at": utcnow(), **(extra or {})}
    expected = [current]
    if target == A_ACKNOWLEDGED:
        values |= {"acknowledged_by": actor, "acknowledged_at": utcnow()}
    elif target == A_RESOLVED:
        values |= {"resolved_at": utcnow()}
        expected = _sources(ALERT_TRANSITIONS, A_RESOLVED)
    elif target == A_OPEN:
        values |= {"resolved_at": None, "acknowledged_by": None, "acknowledged_at": None}
        if not keep_escalation:
            values["escalation_level"] = 0
    if not _cas(session, Alert, alert.id, "state", expected, values):
        session.refresh(alert)
        raise TransitionConflict(f"Alert for {alert.order_id} is already {alert.state}", alert.state)
    audit(session, actor=actor, action=f"alert.{target}", order_id=alert.order_id,
          **{"from": current, "to": target}, **detail)
