"""Hand over (issue 14): give an order's alert a named owner. The message shows the owner,
the owner gets a direct message with a link to the alert, and escalation starts again from
its first step, which goes to the owner rather than the on-call person
(`workflows.oncall.escalation.notify`). Kept on the alert rows (`owner`, `owner_since`).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from workflows.core import queue, states
from workflows.core.db import transaction
from workflows.core.messages import messengers
from workflows.core.models import Alert, Order
from workflows.core.settings import Settings, get_settings
from workflows.orders import service
from workflows.orders.snapshot import load


def _alerts(session: Session, order_id: str) -> list[Alert]:
    return list(session.scalars(select(Alert).where(Alert.order_id == order_id).order_by(Alert.id)))


def person_of(actor: str) -> tuple[str, str, str]:
    """(surface, id on it, name) of an actor such as `slack:U0BEN (ben)` or `teams:<aad id> (Ben Okafor)`."""
    surface, _, rest = actor.partition(":")
    person, _, name = rest.partition(" (")
    return surface, person, name.rstrip(")") or person


def hand_over(session: Session, order: Order, owner: str, actor: str, *, now: dt.datetime) -> None:
    """Give the order's alert a named owner: shown in the message, told by a direct message
    (job `tell_owner`), and escalation starts again from its first step, which goes to them."""
    previous = next((a.owner for a in _alerts(session, order.id) if a.owner), None)
    for alert in _alerts(session, order.id):
        if alert.state == states.A_ACKNOWLEDGED:
            states.move_alert(session, alert, states.A_OPEN, actor=actor, reason="handed over")
    session.execute(update(Alert).where(Alert.order_id == order.id, Alert.state != states.A_RESOLVED)
                    .values(owner=owner, owner_since=now, last_human_action_at=now, escalation_level=0,
                            escalated_at=None).execution_options(synchronize_session=False))
    states.audit(session, actor=actor, action="alert.handed_over", order_id=order.id, to=owner, previous=previous)
    queue.add(session, "workflows.oncall.handover.tell_owner", queue.job_id("handover", order.id, owner, now.isoformat()),
              order_id=order.id, owner=owner, by=actor)
    service.refresh_alerts(session, order, f"handover:{now.isoformat()}")


def tell_owner(order_id: str, owner: str, by: str, settings: Settings | None = None) -> str:
    """Job: the direct message to the new owner, with a link to the alert."""
    settings = settings or get_settings()
    with transaction(settings.database_url) as session:
        snapshot = load(session, order_id, settings=settings)
    surface, person, _ = person_of(owner)
    if snapshot is None or not person:
        return "skipped"
    guest = f" ({snapshot.guest_name})" if snapshot.guest_name else ""
    messengers.get(surface).direct_message(
        [person], f"{person_of(by)[2]} handed {order_id}{guest} over to you: it is yours now, and escalation "
                  "comes to you first.", order_id)
    return "told"
