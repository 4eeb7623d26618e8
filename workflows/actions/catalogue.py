"""The catalogue of moves: every action a person can take on an order, performed in one place
(issue 23).

`workflows.actions.moves` says what each move is (its id, label, what it asks for); this
module says which request performs it. `perform()` is the one way in: Slack (buttons, the
overflow menu, forms), Teams and the CLI only map their payload to a `Move` and `Answers`,
ask the surface's gate for a `Permission`, call `perform`, and show the `Ack`. Adding a move
is a `Spec` in `moves`, its request here, and the words of its form.
"""

from __future__ import annotations

from collections.abc import Callable

from workflows.actions import fine
from workflows.actions import requests as actions
from workflows.actions.moves import ALLOWED, REFUSAL, SPECS, Answers, Move, Permission
from workflows.core import states
from workflows.core.answers import Ack
from workflows.core.db import transaction
from workflows.core.settings import Settings
from workflows.oncall import requests as oncall

Request = Callable[[Settings, str, str | None, str, Answers], Ack]


def _complete_unchecked(s: Settings, order_id: str, item_id: str | None, actor: str, a: Answers) -> Ack:
    if len(" ".join(a.reason.split())) < actions.MIN_REASON:
        return Ack(False, "Say how you checked the payment (at least a few words).")
    return actions.request_complete(s, order_id, actor, unchecked_reason=a.reason)


def _hand_over(s: Settings, order_id: str, item_id: str | None, actor: str, a: Answers) -> Ack:
    if not a.owner:
        return Ack(False, "Choose the teammate to hand it to.")
    return oncall.hand_over(s, order_id, actor, a.owner, refusal=a.owner_refusal)


REQUESTS: dict[Move, Request] = {
    Move.IM_ON_IT: lambda s, o, i, actor, a: oncall.im_on_it(s, o, actor),
    Move.REPROCESS: lambda s, o, i, actor, a: actions.request_reprocess(s, o, i or "", actor),
    Move.BOOKED_MANUALLY: lambda s, o, i, actor, a: actions.request_booked_manually(
        s, o, i or "", actor, a.reference, a.payment_method, a.notes),
    Move.MARK_COMPLETE: lambda s, o, i, actor, a: actions.request_complete(s, o, actor),
    Move.COMPLETE_UNCHECKED: _complete_unchecked,
    Move.CANCEL_REFUND: lambda s, o, i, actor, a: actions.request_cancel_refund(s, o, i or "", actor, a.reason),
    Move.UNDO_MANUAL: lambda s, o, i, actor, a: actions.request_undo_manual(s, o, i or "", actor, a.reason),
    Move.SNOOZE: lambda s, o, i, actor, a: oncall.snooze(s, o, actor, a.choice or None, a.until or None),
    Move.HAND_OVER: _hand_over,
    Move.CLOSE_ORDER: lambda s, o, i, actor, a: actions.request_close(s, o, actor),
    # a booking problem (issues 25, 26.3): Rebook is a Reprocess of the item; It's fine settles it
    Move.REBOOK: lambda s, o, i, actor, a: actions.request_reprocess(s, o, i or "", actor),
    Move.ITS_FINE: lambda s, o, i, actor, a: fine.request_fine(s, o, i or "", actor, a.reason),
}


def refuse(settings: Settings, move: Move, order_id: str | None, item_id: str | None, actor: str,
           permission: Permission) -> Ack | None:
    """The refusal, audited, when the person may not do `move`; None when they may. `perform`
    asks it first; a surface asks it before opening a move's form."""
    if permission.allowed:
        return None
    with transaction(settings.database_url) as session:
        states.audit(session, actor=actor, action=SPECS[move].audit, order_id=order_id, item_id=item_id,
                     result="refused", reason=permission.reason)
    return Ack(False, permission.tell or REFUSAL)


def perform(settings: Settings, move: Move, order_id: str, item_id: str | None, actor: str,
            answers: Answers | None = None, *, permission: Permission = ALLOWED) -> Ack:
    """Do `move` for `actor`: the one place a person's permission is checked (and a refusal
    audited), then the move's request, which answers at once (queued, or why not)."""
    spec = SPECS[move]
    refused = refuse(settings, move, order_id, item_id, actor, permission)
    if refused is not None:
        return refused
    if move not in REQUESTS:
        return Ack(False, f"{spec.label} is shown, not performed.")
    if spec.item and not item_id:
        return Ack(False, f"{spec.label} needs an item of {order_id}.")
    return REQUESTS[move](settings, order_id, item_id, actor, answers or Answers())
