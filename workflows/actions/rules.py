"""The rules a person's request and its job both check: who holds an item's Reprocess lock,
when that lock is stale, and what a manual booking must carry.

The request checks them to answer the click at once; the job checks them again, because
the world may have changed between the click and the job.
"""

from __future__ import annotations

import datetime as dt
import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from workflows.core import queue, states
from workflows.core.models import OrderItem, SyncAttempt, utcnow

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
    if system == "premier" and payment_method not in methods:
        return ("EMS Premier needs the payment method the deposit was assigned to "
                f"({' / '.join(methods)}), or the end-of-day accounts will not balance")
    return None
