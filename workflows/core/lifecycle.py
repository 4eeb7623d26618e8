"""What syncdesk does for each platform order status: the one table that decides.

From the platform's order-status guide (`shared/sources/003_22fa8a4d390b6948.txt`, DESIGN
§1 and §3.2):

- **alert** — paid and contracted, items not all delivered: `In Progress`, and `Booked`,
  "the main order status … it indicates that the order is in progress";
- **never** — not placed or not paid: `In cart`, `Reopened` (back in the cart for the
  customer to pay), `Request` (not reserved, awaiting a manager), `Draft`, `Offer`, `Test`
  ("never reserved … not reflected in any reporting") and the system's `Dropped`
  (abandoned cart, expired draft). Intake answers 202 with the reason and records nothing
  that can escalate; an alert already open is resolved (nothing is owed any more);
- **resolve** — done: `Complete`, `Closed` ("no more contractual obligations"): the open
  alert is resolved, its escalation and page with it;
- **cancelled** — resolve too; if the money was already taken, the refund goes through the
  platform's *Cancel Deliveries*, so the message and the reconciliation watch the payment;
- any other status is **alerted**, naming it: money may have been taken.

One exception (issues 25 and 26.3, `settled_by_status`): a **booking problem** — the arrival
check or the front desk found the item's booking missing, cancelled there, only held, or on
other dates (`workflows.orders.problems`) — is not settled by `Complete` or `Closed`. The
platform's Complete is exactly what is in question, so the alert stays open until the booking
is confirmed by a recheck of its system, booked again (Rebook, Booked manually) or a person
says it is fine. `Cancelled` and the never statuses still settle it: nobody is expected.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class OnStatus(enum.Enum):
    ALERT = "alert"
    NEVER = "never"
    RESOLVE = "resolve"
    CANCELLED = "cancelled"

    @property
    def done(self) -> bool:
        """Nothing is left to book for an order in this status: its alert is resolved."""
        return self is not OnStatus.ALERT


@dataclass(frozen=True)
class StatusRule:
    status: str
    on: OnStatus
    why: str  # in words, for intake's answer and the message
    known: bool = True


RULES: dict[str, StatusRule] = {rule.status: rule for rule in (
    StatusRule("In Progress", OnStatus.ALERT, "paid, and not every item is booked yet"),
    StatusRule("Booked", OnStatus.ALERT, "placed and contracted (the platform's main in-progress status)"),
    StatusRule("In cart", OnStatus.NEVER, "still in the guest's cart: not placed, nothing paid"),
    StatusRule("Reopened", OnStatus.NEVER, "put back in the cart for the guest to pay: nothing paid yet"),
    StatusRule("Request", OnStatus.NEVER, "a booking request a manager has not accepted: nothing paid"),
    StatusRule("Draft", OnStatus.NEVER, "a draft in Admin: not placed"),
    StatusRule("Offer", OnStatus.NEVER, "an offer awaiting the customer: not placed"),
    StatusRule("Dropped", OnStatus.NEVER, "dropped by the platform (abandoned cart or expired draft)"),
    StatusRule("Test", OnStatus.NEVER, "a test order: never reserved, never reported"),
    StatusRule("Complete", OnStatus.RESOLVE, "completed on the platform"),
    StatusRule("Closed", OnStatus.RESOLVE, "closed on the platform: no obligations left"),
    StatusRule("Cancelled", OnStatus.CANCELLED, "cancelled on the platform"),
)}
ALERTING = tuple(s for s, rule in RULES.items() if rule.on is OnStatus.ALERT)


def settled_by_status(status: str, *, booking_problem: bool = False) -> bool:
    """Whether the platform's `status` settles an order's alert. A done status does (Complete,
    Closed, Cancelled, never placed or paid), except that Complete and Closed do not settle an
    open booking problem: the guest would still arrive to nothing."""
    on = rule_for(status).on
    if on is OnStatus.RESOLVE and booking_problem:
        return False
    return on.done


def rule_for(status: str) -> StatusRule:
    """The rule for `status`; an unknown status is alerted, saying so."""
    rule = RULES.get(status)
    if rule is not None:
        return rule
    return StatusRule(status, OnStatus.ALERT, f"status {status!r} is not one syncdesk knows: alerted, "
                                              "because the money may have been taken", known=False)
