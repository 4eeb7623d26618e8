"""The moves a person can make on an order, as data (issue 23): each move's id, its label, what
it is about (the order or one item), what its form asks for and whether it needs a reason.

The ids are what every surface carries (Slack action_id / overflow value, Teams verb, the
CLI's subcommand with '-' for '_'). No I/O and no database here: renderers read it too.
`workflows.actions.catalogue` performs the moves.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from workflows.core.statuses import OrderStatus


class Move(StrEnum):
    IM_ON_IT = "im_on_it"
    REPROCESS = "reprocess"
    BOOKED_MANUALLY = "booked_manually"
    MARK_COMPLETE = "mark_complete"
    COMPLETE_UNCHECKED = "complete_unchecked"
    CANCEL_REFUND = "cancel_refund"
    UNDO_MANUAL = "undo_manual"
    SNOOZE = "snooze"
    HAND_OVER = "hand_over"
    CLOSE_ORDER = "close_order"
    VIEW_LOG = "view_log"  # shows the raw log: read-only, nothing is performed
    REVEAL_GUEST = "reveal_guest"  # CHAT_GUEST_DETAILS=masked: the guest, to the person alone (issue 28)
    MESSAGE_GUEST = "message_guest"  # a message for the guest, drafted for the person to send (issue 26.6)
    # A booking problem (issues 25, 26.3: the arrival check or the front desk found it missing)
    REBOOK = "rebook"  # a Reprocess of the item: check first, then confirm the hold or book anew
    ITS_FINE = "its_fine"  # the booking is fine as it is: settles the problem, with a reason


@dataclass(frozen=True)
class Answers:
    """What a move's form (or the CLI's arguments) said. Only the fields the move asks for are read."""

    reference: str = ""
    payment_method: str | None = None
    notes: str | None = None
    reason: str = ""
    choice: str = ""  # Snooze: one of the offered choices
    until: str = ""  # Snooze: a time typed
    owner: str = ""  # Hand over: the teammate, as the surface names people ("slack:U0BEN")
    owner_refusal: str | None = None  # Hand over: why the surface's gate refuses the teammate


@dataclass(frozen=True)
class Permission:
    """A surface gate's answer about one person: may they act, and if not, why (audited) and
    what to tell them instead of the usual refusal (a setting is missing)."""

    allowed: bool
    reason: str = ""
    tell: str = ""


ALLOWED = Permission(True)
REFUSAL = "🚫 Sorry, you are not on the reservations team, so syncdesk cannot do that for you."


@dataclass(frozen=True)
class Spec:
    move: Move
    label: str
    item: bool  # about one item (its id is required), else about the order
    asks: tuple[str, ...] = ()  # the `Answers` fields its form asks for
    reason_required: bool = False
    performed: bool = True  # False: shown only (View log)
    audit_as: Move | None = None  # the move its click is audited as, when not itself

    @property
    def audit(self) -> str:
        """The audit verb of a click on it: `click.<move>`."""
        return f"click.{(self.audit_as or self.move).value}"


SPECS: dict[Move, Spec] = {s.move: s for s in (
    Spec(Move.IM_ON_IT, "I'm on it", item=False),
    Spec(Move.REPROCESS, "Reprocess", item=True),
    Spec(Move.BOOKED_MANUALLY, "Booked manually", item=True, asks=("reference", "payment_method", "notes")),
    Spec(Move.MARK_COMPLETE, "Mark complete", item=False),
    Spec(Move.COMPLETE_UNCHECKED, "Complete without payment check", item=False, asks=("reason",),
         reason_required=True, audit_as=Move.MARK_COMPLETE),
    Spec(Move.CANCEL_REFUND, "Cancel and refund", item=True, asks=("reason",), reason_required=True),
    Spec(Move.UNDO_MANUAL, "Undo Booked manually", item=True, asks=("reason",), reason_required=True),
    Spec(Move.SNOOZE, "Snooze", item=False, asks=("choice", "until")),
    Spec(Move.HAND_OVER, "Hand over", item=False, asks=("owner",)),
    Spec(Move.CLOSE_ORDER, "Close order", item=False),
    Spec(Move.VIEW_LOG, "View log", item=True, performed=False),
    Spec(Move.REVEAL_GUEST, "Show guest details", item=False, performed=False),
    Spec(Move.MESSAGE_GUEST, "Message guest", item=False, performed=False),
    Spec(Move.REBOOK, "Rebook", item=True, audit_as=Move.REPROCESS),
    Spec(Move.ITS_FINE, "It's fine", item=True, asks=("reason",), reason_required=True),
)}

LABELS: dict[str, str] = {move.value: spec.label for move, spec in SPECS.items()}


def closable(status: str) -> bool:
    """Close order is offered on a Complete order (source 003: Closed once nothing more is owed)."""
    return status == OrderStatus.COMPLETE
