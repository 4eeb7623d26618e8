"""Booking problems (issues 25 and 26.3): what the arrival check or the front desk's report
found wrong with an item's booking in its system, even on an order with no recorded failure.

A problem is an `ArrivalCheck` row (one per arrival day and item: the day is the item's
start) of a problem kind, neither resolved nor settled by a person. While one is open:
- the item is In Progress here, whatever the platform says (its Confirmed is what is in
  question), and its order-queue status is failed, so Rebook (a Reprocess) and Booked
  manually work on it as on any failed item;
- the order has an open alert, also when the platform says Complete or Closed
  (`workflows.core.lifecycle.settled_by_status`): nothing but the booking settles it.

This module is the vocabulary and the reads (the lifecycle rule asks them inside intake's and
the poller's transactions); opening and settling a problem's alert is
`workflows.orders.problem_alerts`.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from workflows.core.models import ArrivalCheck, Order


class Kind(enum.StrEnum):
    """What a look-up of an item's booking found (`workflows.arrivals.findings.judge`), or that
    the front desk reported it."""

    CONFIRMED = "confirmed"
    MISSING = "missing"
    GONE = "gone"
    PROVISIONAL = "provisional"
    DIFFERS = "differs"
    UNCHECKED = "unchecked"
    MANUAL = "manual"
    REPORTED = "reported"  # the front desk says the guest has no booking (issue 26.3)
    # A booking in the system for the day whose order is cancelled or refunded on the platform
    # (issue 25, "the other direction"): said on the summary, not an alert of its own.
    BOOKED_REFUNDED = "booked, refunded"

    @property
    def problem(self) -> bool:
        """The guest may arrive to nothing: a person must act."""
        return self in PROBLEMS


PROBLEMS = frozenset({Kind.MISSING, Kind.GONE, Kind.PROVISIONAL, Kind.DIFFERS, Kind.REPORTED})
# What Rebook (a Reprocess: check first, then confirm what is held or book anew) fixes. A
# booking on other dates is found by check-first and kept as it is: it is corrected by hand.
REBOOKABLE = frozenset({Kind.MISSING, Kind.GONE, Kind.PROVISIONAL, Kind.REPORTED})

NEXT_STEP = {
    Kind.MISSING: "Book it in the system before the guest arrives and put its number on the platform item.",
    Kind.GONE: "Find out why it is no longer booked there, then book it again and put the new number on the "
               "platform item.",
    Kind.PROVISIONAL: "Confirm it in the system before it lapses.",
    Kind.DIFFERS: "Correct the booking in the system to the order's dates and party.",
    Kind.REPORTED: "Find the guest's booking in the system, or book them now: Rebook checks first, so a booking "
                   "it finds is kept, not made twice.",
}

TITLES = {
    Kind.MISSING: "Arrival check: no booking in the system",
    Kind.GONE: "Arrival check: cancelled or released in the system",
    Kind.PROVISIONAL: "Arrival check: held, not confirmed",
    Kind.DIFFERS: "Arrival check: other dates or party in the system",
    Kind.REPORTED: "Reported by the front desk: no booking",
}


@dataclass(frozen=True)
class Problem:
    """An open booking problem of one item, as the alert shows it."""

    item_id: str
    day: dt.date
    kind: Kind
    detail: str
    confirmation: str | None
    raised_at: dt.datetime | None

    @property
    def title(self) -> str:
        return TITLES.get(self.kind, f"Arrival check: {self.kind.value}")

    @property
    def next_step(self) -> str:
        return NEXT_STEP.get(self.kind, "")

    @property
    def rebookable(self) -> bool:
        return self.kind in REBOOKABLE


def _open(order_id: str, days: Iterable[dt.date]) -> Select[tuple[ArrivalCheck]]:
    # The key starts with the day: one range per arrival day of the order, not a scan.
    return select(ArrivalCheck).where(
        ArrivalCheck.day.in_(sorted(set(days))), ArrivalCheck.order_id == order_id,
        ArrivalCheck.kind.in_([k.value for k in PROBLEMS]),
        ArrivalCheck.resolved_at.is_(None), ArrivalCheck.checked_by.is_(None))


def open_rows(session: Session, order: Order, item_id: str | None = None) -> list[ArrivalCheck]:
    """The order's open problem rows (of one item, with `item_id`), by item."""
    days = [i.start for i in order.items if i.start is not None and (item_id is None or i.item_id == item_id)]
    if not days:
        return []
    rows = session.scalars(_open(order.id, days).order_by(ArrivalCheck.item_id)).all()
    return [r for r in rows if item_id is None or r.item_id == item_id]


def open_problems(session: Session, order: Order) -> tuple[Problem, ...]:
    return tuple(Problem(r.item_id, r.day, Kind(r.kind), r.detail, r.confirmation, r.first_problem_at)
                 for r in open_rows(session, order))


def has_open(session: Session, order: Order) -> bool:
    """The order has a booking problem nobody has settled: its alert stays open (lifecycle)."""
    return bool(open_rows(session, order))


def held_items(session: Session, order: Order) -> set[str]:
    """Items held In Progress here by an open problem: the platform's Confirmed does not release them."""
    return {r.item_id for r in open_rows(session, order)}


def close(session: Session, order: Order, *, by: str, why: str, item_id: str | None = None) -> int:
    """Settle the order's open problems (one item's, with `item_id`) because nobody is expected
    any more (the platform cancelled the order or the item): `by` is recorded as who settled
    them. Returns how many. The alert follows the platform's status (`lifecycle`)."""
    rows = open_rows(session, order, item_id)
    for row in rows:
        row.checked_by = by[:128]
        row.detail = f"{row.detail} (settled: {why})"
    return len(rows)
