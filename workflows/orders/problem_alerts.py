"""The alert of a booking problem (issues 25 and 26.3): an order with no recorded failure gets
an alert when its booking is found missing in its system, and the alert resolves when the
booking is there again or a person says it is fine.

- `hold`: the item In Progress here (its order-queue status failed; the platform's item is
  left as it is until it is booked again), the order's alert opened on every surface, audited,
  and asked to show it. Rebook and Booked manually then work as on any failed item.
- `settle`: the item's problem settled — booked (Rebook, Booked manually), found confirmed by a
  recheck of its system, or said fine by a person with a reason — the item released back to
  Confirmed where the problem held it, and the order's alert resolved when the platform's
  status says nothing else is owed (`workflows.core.lifecycle.settled_by_status`: a Complete
  order's alert resolves here; an In Progress one still waits for Mark complete).

Both run inside the caller's transaction, with the change that implies them; the caller
resolves a PagerDuty page (`workflows.oncall`) when `settle` resolved the alert.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from workflows.core import states
from workflows.core.lifecycle import settled_by_status
from workflows.core.models import AuditEvent, Order, OrderItem, utcnow
from workflows.orders import problems, service
from workflows.orders.problems import Kind

HELD = "booking_problem"  # how an item moved back to In Progress by a problem is audited


class How(enum.StrEnum):
    BOOKED = "booked"  # Rebook or Booked manually confirmed it again
    FOUND = "found"  # a recheck of its system found the booking confirmed
    FINE = "fine"  # a person says it is fine, with a reason


@dataclass(frozen=True)
class Settled:
    rows: int
    resolved: bool  # the order's alert resolved: nothing else is owed


def hold(session: Session, order: Order, item: OrderItem, *, actor: str, surfaces: list[str], cause: str,
         **detail: object) -> str:
    """The problem's item held In Progress here and the order's alert open: "created" when the
    order had no alert on a surface, else "updated"."""
    if item.pk is None:
        session.flush()  # an order first stored in this transaction: its items get their keys
    if item.status == states.CONFIRMED:
        states.move_item(session, item, states.IN_PROGRESS, actor=actor, how=HELD, **detail,
                         extra={"sync_status": states.Q_FAILED})
    elif item.status == states.IN_PROGRESS and item.sync_status in (None, states.Q_CREATED, states.Q_SUCCESS):
        item.sync_status = states.Q_FAILED
    outcome = service.open_alerts(session, order, surfaces, actor=actor)
    service.refresh_alerts(session, order, cause)
    return outcome


def _held_from_confirmed(session: Session, item: OrderItem) -> bool:
    """The item was Confirmed until a problem held it (not In Progress on the platform already)."""
    events = session.scalars(select(AuditEvent).where(
        AuditEvent.order_id == item.order_id, AuditEvent.item_id == item.item_id,
        AuditEvent.action == f"item.{states.IN_PROGRESS.lower().replace(' ', '_')}")
        .order_by(AuditEvent.id.desc()).limit(5)).all()
    last = next((e for e in events if e.detail.get("how") in (HELD, "undo")), None)
    return last is not None and last.detail.get("how") == HELD


def settle(session: Session, order: Order, item_id: str, *, actor: str, how: How, reason: str = "",
           confirmation: str | None = None) -> Settled | None:
    """Settle the item's open problem (None when it has none) and resolve the order's alert when
    nothing else is owed. `confirmation`: the number booked or found."""
    rows = problems.open_rows(session, order, item_id)
    if not rows:
        return None
    item = next(i for i in order.items if i.item_id == item_id)
    now = utcnow()
    for row in rows:
        if how is How.FINE:
            row.checked_by = actor[:128]
            row.detail = f"{row.detail} (fine: {reason})"
        else:
            row.kind, row.resolved_at = Kind.CONFIRMED.value, now
            row.confirmation = confirmation or row.confirmation
            found = f" as {confirmation}" if confirmation else ""
            row.detail = (f"booked as {confirmation} by {actor}" if how is How.BOOKED
                          else f"{row.detail} — since found confirmed{found}")
    if item.status == states.IN_PROGRESS and how is not How.BOOKED and _held_from_confirmed(session, item):
        reference = confirmation or item.external_reference
        states.move_item(session, item, states.CONFIRMED, actor=actor, how=f"problem_{how.value}",
                         confirmation=reference, extra={"external_reference": reference,
                                                        "sync_status": states.Q_SUCCESS})
    states.audit(session, actor=actor, action="problem.settled", order_id=order.id, item_id=item_id, how=how.value,
                 reason=reason, confirmation=confirmation, was=[r.kind for r in rows])
    resolved = False
    if (not problems.has_open(session, order) and settled_by_status(order.platform_status)
            and any(a.state != states.A_RESOLVED for a in order.alerts)):
        why = {How.FINE: f"said fine by {actor}: {reason}", How.FOUND: "booking found confirmed",
               How.BOOKED: f"booked again by {actor}"}[how]
        service.resolve_alerts(session, order, actor=actor, reason=why)
        resolved = True
    service.refresh_alerts(session, order, f"settled:{item_id}:{how.value}:{now.isoformat()}")
    return Settled(len(rows), resolved)
