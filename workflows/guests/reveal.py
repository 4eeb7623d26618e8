"""Revealing a masked guest to one person (issue 28, `CHAT_GUEST_DETAILS=masked`): the chat
surface has checked the person may act (the move catalogue's permission) and shows the answer
to them alone (a Slack ephemeral message, a Teams private reply). Every reveal is audited —
who, which order, where — without the details shown.
"""

from __future__ import annotations

from dataclasses import dataclass

from workflows.core import states
from workflows.core.db import transaction
from workflows.core.models import Order
from workflows.core.settings import Settings


@dataclass(frozen=True)
class Revealed:
    order_id: str
    name: str
    email: str
    phone: str
    erased: bool  # nothing to reveal: the guest was erased (retention or a request)


def reveal(settings: Settings, order_id: str, actor: str, *, via: str) -> Revealed | None:
    """The order's guest in full for `actor`, audited (`guest.revealed`); None for an unknown order."""
    with transaction(settings.database_url) as session:
        order = session.get(Order, order_id)
        if order is None:
            return None
        erased = order.guest_erased_at is not None
        states.audit(session, actor=actor, action="guest.revealed", order_id=order_id, via=via,
                     result="erased" if erased else "ok")
        return Revealed(order.id, order.guest_name, order.guest_email, order.guest_phone, erased)
