"""Reading orders back: the order queue (like the admin order-queue page) and one order's
story in plain text, for the CLI and for lookups in chat.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, selectinload

from workflows.core.models import Alert, Order, OrderItem, SyncAttempt
from workflows.core.statuses import ItemStatus
from workflows.orders import masking
from workflows.orders.snapshot import NoteView, OrderSnapshot

QUEUE_RANK = {"processing": 5, "failed": 4, "ready": 3, "created": 2, "success": 1}


@dataclass(frozen=True)
class QueueRow:
    order_id: str
    placed_at: dt.datetime | None
    status: str
    queue_status: str
    attempts: int
    error_class: str | None
    guest_name: str = ""
    failed_items: tuple[str, ...] = ()  # items a Reprocess shortcut may retry (failed, not manual-only)
    alert_state: str | None = None  # the order's alert: open | acknowledged | resolved, None if never alerted


def order_queue(session: Session, *, status: str | None = None, since: dt.datetime | None = None,
                limit: int = 200, guest_details: str = masking.FULL) -> list[QueueRow]:
    """Orders newest first with their worst queue status, attempt count and last error; the
    guest's name as `guest_details` shows it (chat: CHAT_GUEST_DETAILS; the CLI: in full)."""
    query = (select(Order).options(selectinload(Order.items))
             .order_by(Order.placed_at.desc().nulls_last(), Order.id).limit(limit))
    if since is not None:
        query = query.where(Order.placed_at >= since)
    if status:
        query = query.where(or_(
            Order.platform_status == status,
            Order.id.in_(select(OrderItem.order_id).where(OrderItem.sync_status == status)),
        ))
    return queue_rows(session, list(session.scalars(query).all()), guest_details)


_ALERT_RANK = {"open": 3, "acknowledged": 2, "resolved": 1}


def queue_rows(session: Session, orders: list[Order], guest_details: str = masking.FULL) -> list[QueueRow]:
    """The queue row of each order, in the order given: four queries for the whole page, not
    some per order."""
    ids = [o.id for o in orders]
    counts: dict[str, int] = {}
    last_error: dict[str, str] = {}
    alert_state: dict[str, str] = {}
    if ids:
        counts = dict(session.execute(
            select(SyncAttempt.order_id, func.count()).where(SyncAttempt.order_id.in_(ids))
            .group_by(SyncAttempt.order_id)).all())
        latest = (select(func.max(SyncAttempt.id)).where(SyncAttempt.order_id.in_(ids),
                                                        SyncAttempt.error_class.is_not(None))
                  .group_by(SyncAttempt.order_id))
        last_error = dict(session.execute(
            select(SyncAttempt.order_id, SyncAttempt.error_class).where(SyncAttempt.id.in_(latest))).all())
        for order_id, state in session.execute(select(Alert.order_id, Alert.state).where(Alert.order_id.in_(ids))):
            if _ALERT_RANK.get(state, 0) > _ALERT_RANK.get(alert_state.get(order_id, ""), 0):
                alert_state[order_id] = state
    rows = []
    for order in orders:
        queue_states = [i.sync_status for i in order.items if i.sync_status]
        worst = max(queue_states, key=lambda s: QUEUE_RANK.get(s, 0)) if queue_states else "-"
        failed = tuple(i.item_id for i in order.items if i.kind != "retail" and i.status == ItemStatus.IN_PROGRESS
                       and i.sync_status in ("failed", "ready"))
        rows.append(QueueRow(order.id, order.placed_at, order.platform_status, worst, counts.get(order.id, 0),
                             last_error.get(order.id),
                             masking.guest_name(order.guest_first_name, order.guest_last_name, guest_details),
                             failed, alert_state.get(order.id)))
    return rows


def money(minor: int, currency: str) -> str:
    """£240.00 for (24000, "GBP"); Stripe spells currencies in lower case ("gbp"), the platform
    in upper case, and both read the same."""
    symbols = {"GBP": "£", "EUR": "€", "USD": "$"}
    amount = f"{minor / 100:,.2f}"
    currency = currency.upper()
    return f"{symbols[currency]}{amount}" if currency in symbols else f"{amount} {currency}"


def describe(s: OrderSnapshot) -> str:
    """One order as text: guest, items, payment, attempts and audit trail."""
    lines = [
        f"Order {s.order_id} · {s.status} · {money(s.total_minor, s.currency)}",
        f"Guest: {s.guest_name or '-'}  {s.guest_email}  {s.guest_phone}".rstrip(),
        f"Payment: {s.payment_provider or '-'} {s.payment_reference or ''} · "
        f"{(s.payment_state or 'not checked').replace('_', ' ')}",
        "",
        "Items:",
    ]
    for i in s.items:
        dates = f"{i.start} → {i.end}" if i.start else ""
        lines.append(f"  {i.item_id} [{i.kind}/{i.system or '-'}] {i.description} {dates} · {i.status}"
                     f" · queue {i.sync_status or '-'}" + (f" · ref {i.external_reference}" if i.external_reference else ""))
        for a in i.attempts:
            lines.append(f"    attempt {a.number} {a.status} by {a.triggered_by} at {a.started_at:%Y-%m-%d %H:%M}"
                         + (f" · {a.error_class}: {a.message}" if a.error_class else "")
                         + (f" · {a.confirmation}" if a.confirmation else ""))
    if s.notes:  # issue 26.4: the replies in the alert's thread
        lines += ["", "Notes:"] + [f"  {note_line(n)}" for n in s.notes]
    lines += ["", "Audit trail:"]
    for e in s.audit:
        lines.append(f"  {e.at:%Y-%m-%d %H:%M:%S} {e.actor} {e.action} {e.result}"
                     + (f" [{e.item_id}]" if e.item_id else ""))
    return "\n".join(lines)


def _stamp(at: dt.datetime) -> str:
    return f"{at:%Y-%m-%d %H:%M:%S}"


def note_line(n: NoteView, who: Callable[[str], str] = str, text: Callable[[str], str] = str,
              when: Callable[[dt.datetime], str] = _stamp) -> str:
    """One note (issue 26.4) as a line: when, who wrote it and what it says now; an edit says
    when (and by whom, if not its author), a deletion leaves only that it was deleted. `who`,
    `text` and `when` show an actor, escape words and show a time, each surface its way."""
    if n.deleted_at is not None:
        by = f" by {who(n.deleted_by)}" if n.deleted_by else ""
        return f"{when(n.at)} {who(n.author)}: (note deleted {when(n.deleted_at)}{by})"
    edited = ""
    if n.edited_at is not None:
        by = f" by {who(n.edited_by)}" if n.edited_by and n.edited_by != n.author else ""
        edited = f" (edited {when(n.edited_at)}{by})"
    return f"{when(n.at)} {who(n.author)}: {text(n.text)}{edited}"
