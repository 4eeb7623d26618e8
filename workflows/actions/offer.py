"""What an alert offers now (issue 23): which moves, in which order, which as buttons (at
most five visible, the rest in the overflow menu: "too many buttons", grafana/oncall#4165), and
whether the order can be completed. Pure rules over the order's snapshot, computed from the
same states the moves' requests check (`workflows.core.states`), so a surface never restates
them: the renderers draw what `moves(snapshot)` says.
"""

from __future__ import annotations

from dataclasses import dataclass

from workflows.actions.moves import LABELS
from workflows.actions.moves import Move as CatalogueMove
from workflows.core import states
from workflows.core.lifecycle import rule_for, settled_by_status
from workflows.core.statuses import AlertState, ItemStatus, QueueStatus
from workflows.orders.snapshot import AuditView, ItemView, OrderSnapshot

REPROCESS = CatalogueMove.REPROCESS.value
BOOKED_MANUALLY = CatalogueMove.BOOKED_MANUALLY.value
VIEW_LOG = CatalogueMove.VIEW_LOG.value
CANCEL_REFUND = CatalogueMove.CANCEL_REFUND.value
UNDO_MANUAL = CatalogueMove.UNDO_MANUAL.value
IM_ON_IT = CatalogueMove.IM_ON_IT.value
MARK_COMPLETE = CatalogueMove.MARK_COMPLETE.value
COMPLETE_UNCHECKED = CatalogueMove.COMPLETE_UNCHECKED.value
SNOOZE = CatalogueMove.SNOOZE.value
HAND_OVER = CatalogueMove.HAND_OVER.value
REVEAL_GUEST = CatalogueMove.REVEAL_GUEST.value
MESSAGE_GUEST = CatalogueMove.MESSAGE_GUEST.value
REBOOK = CatalogueMove.REBOOK.value
ITS_FINE = CatalogueMove.ITS_FINE.value


def is_manual(item: ItemView) -> bool:
    """The item's system is booked by hand (a playbook, or no connector): no Reprocess for it."""
    return item.system_description is not None and not item.system_description.automatic


def resolved(s: OrderSnapshot) -> bool:
    """Nothing is left to book: the platform says the order is done (or was never placed/paid),
    and no booking problem keeps it open (a Complete order whose booking is missing: lifecycle)."""
    return settled_by_status(s.status, booking_problem=bool(s.problems))


def can_complete_unchecked(s: OrderSnapshot) -> bool:
    """"Complete without payment check" is offered when every item is booked but syncdesk cannot
    check this payment at all (not Stripe, or no STRIPE_API_KEY); never for a known refund."""
    return (not resolved(s) and bool(s.items) and s.payment_state == "unknown"
            and s.payment_detail.get("checkable") is False
            and all(i.status == states.CONFIRMED or (i.kind == "retail" and i.status == states.DISPATCHED)
                    for i in s.items))


MAX_VISIBLE = 5
MAX_ITEMS = 8  # failing items an alert shows in full (the rest: `order ORD-…`)


@dataclass(frozen=True)
class Move:
    key: str
    item_id: str | None = None
    visible: bool = False  # a button; otherwise an entry of the overflow menu

    @property
    def label(self) -> str:
        return LABELS[self.key]


def unhandled(s: OrderSnapshot) -> bool:
    """An alert nobody has taken yet: "I'm on it" stops its escalation."""
    return any(a.state == AlertState.OPEN for a in s.alerts)


def can_complete(s: OrderSnapshot) -> bool:
    """Mark complete is offered when nothing would refuse it: every item booked, dispatched or
    cancelled and refunded (not all of them cancelled), and a payment syncdesk can check
    (otherwise "Complete without payment check" is)."""
    if resolved(s) or not s.items or can_complete_unchecked(s):
        return False
    return not states.blockers_of(s.items)  # what Mark complete's request checks too


def reprocessable(item: ItemView) -> bool:
    return item.sync_status != QueueStatus.PROCESSING and not is_manual(item)


def manual_bookings(s: OrderSnapshot) -> dict[str, AuditView]:
    """The confirmation events of items a person booked by hand, by item: what Undo may revert."""
    last: dict[str, AuditView] = {}
    for e in s.audit:
        if e.action == "item.confirmed" and e.item_id:
            last[e.item_id] = e
    return {i: e for i, e in last.items() if e.detail.get("how") == "manual"}


def undoable(s: OrderSnapshot) -> list[ItemView]:
    """Items whose manual booking may be undone: Confirmed by hand, until Mark complete."""
    if rule_for(s.status).on.done:
        return []
    manual = manual_bookings(s)
    return [i for i in s.items if i.status == ItemStatus.CONFIRMED and i.item_id in manual]


def moves(s: OrderSnapshot) -> list[Move]:
    """Every move the alert offers, in the order they are drawn, the first five that matter
    most visible: "I'm on it", completing, each item's main move, then Booked manually."""
    if resolved(s):
        return []
    out: list[Move] = []
    budget = [MAX_VISIBLE]

    def add(key: str, item_id: str | None = None, button: bool = True) -> None:
        visible = button and budget[0] > 0
        budget[0] -= visible
        out.append(Move(key, item_id, visible))

    if unhandled(s):
        add(IM_ON_IT)
    if can_complete(s):
        add(MARK_COMPLETE)
    elif can_complete_unchecked(s):
        add(COMPLETE_UNCHECKED)
    failing = s.failing_items[:MAX_ITEMS]
    mains = {item.item_id: _main_move(s, item) for item in failing}
    for item in failing:
        add(mains[item.item_id], item.item_id)
    for item in failing:
        if mains[item.item_id] != BOOKED_MANUALLY:
            add(BOOKED_MANUALLY, item.item_id)
    for item in failing:
        if s.problem(item.item_id) is not None:
            add(ITS_FINE, item.item_id)  # a booking problem: the person's word, with a reason, settles it
    for item in failing:
        if any(a.raw_log or a.message for a in item.attempts):
            add(VIEW_LOG, item.item_id, button=False)
        if item.sync_status != QueueStatus.PROCESSING and not (s.problem(item.item_id) and rule_for(s.status).on.done):
            add(CANCEL_REFUND, item.item_id, button=False)
    if s.guest_masked:
        add(REVEAL_GUEST, button=False)
    add(MESSAGE_GUEST, button=False)
    add(SNOOZE, button=False)
    add(HAND_OVER, button=False)
    for item in undoable(s):
        add(UNDO_MANUAL, item.item_id, button=False)
    return out


def _main_move(s: OrderSnapshot, item: ItemView) -> str:
    """An item's first move: Reprocess; Rebook for a booking problem Rebook fixes (a booking on
    other dates is corrected by hand); Booked manually where syncdesk cannot book."""
    if not reprocessable(item):
        return BOOKED_MANUALLY
    problem = s.problem(item.item_id)
    if problem is None:
        return REPROCESS
    return REBOOK if problem.rebookable else BOOKED_MANUALLY


def item_moves(all_moves: list[Move], item_id: str) -> list[Move]:
    return [m for m in all_moves if m.item_id == item_id and m.key != UNDO_MANUAL]


def order_moves(all_moves: list[Move]) -> list[Move]:
    """The moves about the whole order (Undo is about a booked item, shown with the order's)."""
    return [m for m in all_moves if m.item_id is None or m.key == UNDO_MANUAL]
