"""The rules a person's request and its job both check: who holds an item's Reprocess lock,
when that lock is stale, what a manual booking must carry, and when Cancel and refund and
Undo Booked manually are refused.

The request checks them to answer the click at once; the job checks them again, because
the world may have changed between the click and the job.
"""

from __future__ import annotations

import datetime as dt
import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from workflows.core import queue, states
from workflows.core.models import AuditEvent, OrderItem, SyncAttempt, utcnow
from workflows.orders import service
from workflows.orders.lookup import money

# A lock older than this belongs to a job that died without RQ noticing; take it over.
STALE_LOCK = dt.timedelta(seconds=queue.JOB_TIMEOUT_SECONDS + 60)
REFERENCE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{2,63}$")
PREMIER_PAYMENT_METHODS = ("onejourney", "ecommerce", "revspa")


def lock_holder(session: Session, item: OrderItem) -> SyncAttempt | None:
    """The attempt holding the item's `processing` lock, if any."""
    return session.scalar(select(SyncAttempt).where(
        SyncAttempt.item_pk == item.pk, SyncAttempt.status == states.Q_PROCESSING
    ).order_by(SyncAttempt.number.desc()))


def lock_is_stale(holder: SyncAttempt | None) -> bool:
    """A `processing` lock with no attempt, or older than any job may run, belongs to no one."""
    return holder is None or utcnow() - holder.started_at > STALE_LOCK


def validate_manual_booking(system: str, reference: str, payment_method: str | None,
                            methods: tuple[str, ...] = PREMIER_PAYMENT_METHODS) -> str | None:
    """Why a manual booking cannot be recorded, or None when it can."""
    ref = (reference or "").strip()
    if not ref:
        return "the external confirmation number is required"
    if not REFERENCE.match(ref):
        return (f"{ref!r} does not look like a confirmation number (3-64 letters, digits, '.', '-', '_' or '/', "
                "starting with a letter or digit)")
    if system == "premier" and payment_method and payment_method not in methods:
        return (f"{payment_method!r} is not an EMS Premier payment method: name the one the deposit was assigned "
                f"to ({' / '.join(methods)})")
    if system == "premier" and payment_method not in methods:
        return ("EMS Premier needs the payment method the deposit was assigned to "
                f"({' / '.join(methods)}), or the end-of-day accounts will not balance")
    return None


def reprocessing_holder(session: Session, item: OrderItem) -> str | None:
    """Who holds the item's Reprocess lock now; None when no one does or the lock is stale
    (a job that died unnoticed: the next Reprocess takes it over)."""
    if item.sync_status != states.Q_PROCESSING:
        return None
    holder = lock_holder(session, item)
    return None if holder is None or lock_is_stale(holder) else holder.triggered_by


def refunded_by(session: Session, order_id: str, item_id: str) -> AuditEvent | None:
    """The Cancel Deliveries that cancelled and refunded the item, if one did."""
    return session.scalar(select(AuditEvent).where(
        AuditEvent.order_id == order_id, AuditEvent.item_id == item_id, AuditEvent.action == "item.cancelled",
    ).order_by(AuditEvent.id.desc()).limit(1))


def cancel_refusal(session: Session, item: OrderItem) -> str | None:
    """Why Cancel and refund may not be done for the item now, or None. Checked by the
    request and again by the job."""
    if item.kind == "retail":
        return f"{item.item_id} is a retail item: cancel it on the platform"
    if item.status == states.CONFIRMED:
        return (f"{item.item_id} is Confirmed ({item.external_reference or 'booked'}): it was delivered, so "
                "Cancel Deliveries is not offered for it")
    if item.status == states.CANCELLED:
        event = refunded_by(session, item.order_id, item.item_id)
        if event is not None and event.detail.get("how") == "cancel_delivery":
            amount = money(int(event.detail.get("refund_minor") or 0), item.order.currency)
            return (f"{item.item_id} was already cancelled and refunded ({amount}, "
                    f"{event.detail.get('refund_reference') or 'no reference'}) by {event.actor} at "
                    f"{event.created_at:%H:%M} UTC: it is not refunded twice")
        return f"{item.item_id} is already Cancelled on the platform"
    done = service.done_elsewhere(session, item.order)
    if done:
        return f"{done}: nothing left to cancel"
    holder = reprocessing_holder(session, item)
    if holder:
        return f"{holder} is reprocessing {item.item_id} right now; wait for its outcome"
    return None


def manual_booking(session: Session, item: OrderItem) -> AuditEvent | None:
    """The event that confirmed the item, when a person recorded it by hand (Booked manually)."""
    event = session.scalar(select(AuditEvent).where(
        AuditEvent.order_id == item.order_id, AuditEvent.item_id == item.item_id,
        AuditEvent.action == "item.confirmed").order_by(AuditEvent.id.desc()).limit(1))
    return event if event is not None and event.detail.get("how") == "manual" else None


def undo_refusal(session: Session, item: OrderItem) -> str | None:
    """Why the item's manual booking may not be undone now, or None."""
    if item.order.platform_status in (states.COMPLETE, states.CLOSED):
        done = service.done_elsewhere(session, item.order) or f"{item.order_id} is {item.order.platform_status}"
        return f"{done}: undo is allowed until Mark complete; correct the booking on the platform now"
    if item.status != states.CONFIRMED:
        return f"{item.item_id} is {item.status}: there is no booking to undo"
    if manual_booking(session, item) is None:
        return (f"{item.item_id} was not booked manually ({item.external_reference or 'no reference'}): only a "
                "reference typed by hand can be undone")
    return None
