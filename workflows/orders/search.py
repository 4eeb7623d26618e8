"""`find`: orders by order id, guest name, e-mail, phone, external confirmation number or payment
reference (issues 14, 27), for `/syncdesk find`, `syncdesk find` and Teams' `find`.

Every order keeps its search terms in `order_search` (`reindex`, called by whoever changes
what they are made of): the guest's full name and last name, e-mail, payment reference and
every confirmation number the order's items have had (an undone one too: it stays in the
history), lower-cased; and the phone's digits reversed behind a `#`, so a prefix of the
reversed digits is a suffix of the number ("5551234567" finds "+44 5551234567"). A query is
a prefix: one or two btree ranges on `order_search.term`, and one on the order id's primary
key (as typed and upper-cased: "ord-100" finds ORD-10042), never a scan of `orders`
(`bench/find_plan.py` prints the PostgreSQL plan at 100,000 orders).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import and_, delete, func, or_, select
from sqlalchemy.orm import Session, selectinload

from workflows.core import states
from workflows.core.db import transaction
from workflows.core.models import Order, OrderItem, OrderSearch, SyncAttempt
from workflows.core.settings import Settings
from workflows.orders import masking
from workflows.orders.lookup import QueueRow, queue_rows

MIN_CHARS = 2
MAX_CHARS = 200
LIMIT = 20
MIN_PHONE_DIGITS = 6
_PHONE = re.compile(r"^[+\d\s().-]+$")


class BadQuery(ValueError):
    """The text cannot be searched for; the message says why, in words."""


def normalise(text: str | None) -> str:
    """Lower-cased, one space between words; "" for nothing (a new order's unset columns are None
    until flushed, e.g. the payment reference of an order without a payment)."""
    return " ".join((text or "").lower().split())


def phone_term(text: str) -> str | None:
    """`#` and the reversed digits of a phone number, or None when `text` is not one."""
    if not _PHONE.match(text.strip() or "x"):
        return None
    # "+44 (0)20 …": the bracketed trunk zero is not dialled after a country code
    digits = re.sub(r"\D", "", text.replace("(0)", ""))
    return "#" + digits[::-1] if len(digits) >= MIN_PHONE_DIGITS else None


def phone_note(text: str) -> str | None:
    """What to say when `text` looks like the end of a phone number but is too short to match one."""
    if not _PHONE.match(text.strip() or "x"):
        return None
    digits = re.sub(r"\D", "", text.replace("(0)", ""))
    if 0 < len(digits) < MIN_PHONE_DIGITS:
        return (f"a phone number is matched by its last {MIN_PHONE_DIGITS} digits or more "
                f"({text.strip()!r} has {len(digits)})")
    return None


def terms(order: Order, references: Iterable[str]) -> set[str]:
    """What the order is found by (see the module docstring)."""
    words = {normalise(f"{order.guest_first_name} {order.guest_last_name}"), normalise(order.guest_last_name),
             normalise(order.guest_email), normalise(order.payment_reference),
             *(normalise(r) for r in references)}
    phone = phone_term(order.guest_phone) if order.guest_phone else None
    if phone:
        words.add(phone)
    return {w[:200] for w in words if w}


def reindex(session: Session, order: Order, *, new: bool = False) -> None:
    """Rewrite the order's search terms from what is stored now (inside the caller's transaction).

    `new`: the order was created in this transaction, so it has no terms and no attempts stored
    yet and its items are all in memory: three queries spared on intake's most common path.
    """
    if new:
        # Nothing to read, so nothing to flush yet: the order's rows go out together at the
        # transaction's next query or its commit (fewer, batched INSERTs on intake's hot path).
        references = {item.external_reference for item in order.items if item.external_reference}
        have: set[str] = set()
    else:
        session.flush()  # what this transaction changed is what is read back below
        references = set(session.scalars(select(OrderItem.external_reference).where(
            OrderItem.order_id == order.id, OrderItem.external_reference.is_not(None))))
        references |= set(session.scalars(select(SyncAttempt.confirmation).where(
            SyncAttempt.order_id == order.id, SyncAttempt.confirmation.is_not(None))))
        have = set(session.scalars(select(OrderSearch.term).where(OrderSearch.order_id == order.id)))
    wanted = terms(order, (r for r in references if r))
    if have - wanted:
        session.execute(delete(OrderSearch).where(OrderSearch.order_id == order.id,
                                                  OrderSearch.term.in_(have - wanted)))
    session.add_all(OrderSearch(order_id=order.id, term=t) for t in sorted(wanted - have))


def add_reference(session: Session, order_id: str, reference: str) -> None:
    """A confirmation number the order has now: one more term, unless it has it already
    (inside the caller's transaction). What `reindex` would do after a booking, in one read
    instead of four: a confirmation only ever adds a term (an undone one stays findable)."""
    term = normalise(reference)[:200]
    if term and session.scalar(select(OrderSearch.id).where(OrderSearch.order_id == order_id,
                                                            OrderSearch.term == term).limit(1)) is None:
        session.add(OrderSearch(order_id=order_id, term=term))


def problem(text: str) -> str | None:
    """Why `text` cannot be searched for, or None."""
    query = normalise(text or "")
    if len(query) < MIN_CHARS:
        return (f"Say what to find (at least {MIN_CHARS} characters): a guest's name, e-mail or phone, "
                "a confirmation number or a payment reference.")
    if len(query) > MAX_CHARS:
        return f"That is {len(query):,} characters; find looks for at most {MAX_CHARS}."
    return None


def _range(prefix: str) -> tuple[str, str]:
    """[prefix, next) in code-point order: every term that starts with `prefix`."""
    return prefix, prefix[:-1] + chr(ord(prefix[-1]) + 1)


def find(session: Session, text: str, *, limit: int = LIMIT, guest_details: str = masking.FULL
         ) -> list[QueueRow]:
    """At most `limit` orders whose terms start with `text`, newest first, the guests shown as
    `guest_details` says. BadQuery when the text is empty or too long."""
    why = problem(text)
    if why:
        raise BadQuery(why)
    query = normalise(text)
    ranges = [_range(query)] + ([_range(p)] if (p := phone_term(text)) else [])
    # The id's range is for its index; the exact prefix test, for collations that order by more than code points.
    ids = sorted({text.strip(), text.strip().upper()})
    matching = select(OrderSearch.order_id).where(
        or_(*(and_(OrderSearch.term >= low, OrderSearch.term < high) for low, high in ranges))).union(
        select(Order.id).where(or_(*(and_(Order.id >= _range(v)[0], Order.id < _range(v)[1],
                                          func.substr(Order.id, 1, len(v)) == v) for v in ids))))
    orders = session.scalars(
        select(Order).options(selectinload(Order.items)).where(Order.id.in_(matching))
        .order_by(Order.placed_at.desc().nulls_last(), Order.id).limit(limit)).all()
    return queue_rows(session, list(orders), guest_details)


@dataclass(frozen=True)
class Found:
    """`find`'s answer: the rows, or why the text could not be searched for."""

    query: str
    rows: tuple[QueueRow, ...] = ()
    problem: str | None = None
    note: str | None = None  # e.g. a phone number too short to match (`phone_note`)


def find_orders(settings: Settings, text: str, actor: str, *, via: str) -> Found:
    """What a person asked `find` (Slack, Teams, the CLI): the rows, or the refusal in words,
    audited (`find.refused`) and nothing else written. Chat shows the guests as CHAT_GUEST_DETAILS
    says; the CLI in full."""
    how = masking.FULL if via == "cli" else settings.chat_guest_details
    with transaction(settings.database_url) as session:
        try:
            return Found(normalise(text), tuple(find(session, text, guest_details=how)), note=phone_note(text))
        except BadQuery as exc:
            states.audit(session, actor=actor, action="find.refused", result="refused", reason=str(exc),
                         length=len(text or ""), via=via)
            return Found(normalise(text or "")[:MAX_CHARS], problem=str(exc))
