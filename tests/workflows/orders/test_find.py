"""`find` (issue 14): orders by guest name, e-mail, phone, confirmation number or payment
reference, at most 20, newest first, through an index on `order_search.term` — never a
scan of the orders; bad input is refused with words, and only the refusal is written."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import func, select, text

from tests.workflows.intake.test_intake import payload
from workflows.core.db import transaction
from workflows.core.models import AuditEvent, OrderSearch
from workflows.core.settings import Settings
from workflows.orders import search


def record(settings: Settings, order_id: str, n: int, **changes: object) -> None:
    from workflows.intake import webhook
    from workflows.orders.payloads import parse_sync_failure

    placed = dt.datetime(2026, 11, 1, 9, tzinfo=dt.timezone.utc) + dt.timedelta(hours=n)
    data = payload(event_id=f"evt-find-{order_id}-{n}", order__id=order_id,
                   order__placed_at=placed.isoformat(), **changes)
    webhook.record(settings, parse_sync_failure(json.dumps(data).encode()), "webhook")


def found(settings: Settings, words: str) -> list[str]:
    with transaction(settings.database_url) as session:
        return [r.order_id for r in search.find(session, words)]


def test_an_order_is_found_by_name_email_phone_confirmation_and_payment_reference(settings):
    record(settings, "ORD-A", 1, order__guest__first_name="Larry", order__guest__last_name="Walker",
           order__guest__email="Larry.Walker@Example.com", order__guest__phone="+44 (0)555 123-4567",
           order__payment__reference="pi_3QaaaWalker", order__items__0__external_reference=None)
    record(settings, "ORD-B", 2, order__guest__first_name="Priya", order__guest__last_name="Raman",
           order__guest__email="priya@example.com", order__guest__phone="+1 212 555 0100",
           order__payment__reference="pi_3QbbbRaman", order__items__0__status="Confirmed",
           order__items__0__external_reference="13098CU000412")
    assert found(settings, "walker") == ["ORD-A"]  # last name
    assert found(settings, "  LARRY   wal ") == ["ORD-A"]  # full name, any case and spacing, a prefix
    assert found(settings, "larry.walker@example.com") == ["ORD-A"]
    assert found(settings, "5551234567") == ["ORD-A"]  # the phone's last digits, however it was written
    assert found(settings, "+44 555 123 4567") == ["ORD-A"]
    assert found(settings, "13098cu000412") == ["ORD-B"]  # a confirmation number, any case
    assert found(settings, "pi_3Qbbb") == ["ORD-B"]
    assert found(settings, "pi_3Q") == ["ORD-B", "ORD-A"]  # newest first
    assert found(settings, "nobody") == []
    assert found(settings, "example.com") == []  # a prefix, not a substring: an index range, not a scan


def test_an_order_id_prefix_finds_its_orders_in_any_case(settings):
    """Issue 27: `find ORD-100` found nothing: order ids were not searched."""
    for n, order_id in enumerate(("ORD-10042", "ORD-10043", "ORD-20001")):
        record(settings, order_id, n, order__guest__last_name="Walker")
    assert found(settings, "ORD-100") == ["ORD-10043", "ORD-10042"]  # newest first
    assert found(settings, "ord-1004") == ["ORD-10043", "ORD-10042"]
    assert found(settings, "ORD-10042") == ["ORD-10042"]
    assert found(settings, "ORD-3") == []


def test_a_phone_number_too_short_to_match_says_the_minimum(settings):
    record(settings, "ORD-A", 1, order__guest__phone="+44 555 123 4567")
    short = search.find_orders(settings, "4567", "cli:ana", via="cli")
    assert short.rows == () and short.problem is None
    assert short.note == "a phone number is matched by its last 6 digits or more ('4567' has 4)"
    enough = search.find_orders(settings, "234567", "cli:ana", via="cli")
    assert [r.order_id for r in enough.rows] == ["ORD-A"] and enough.note is None
    assert search.find_orders(settings, "walker", "cli:ana", via="cli").note is None


def test_at_most_twenty_newest_first(settings):
    for n in range(25):
        record(settings, f"ORD-{n:02d}", n, order__guest__last_name="Walker")
    rows = found(settings, "walker")
    assert rows == [f"ORD-{n:02d}" for n in range(24, 4, -1)]


def test_terms_follow_the_order_when_the_platform_changes_it(settings):
    record(settings, "ORD-A", 1, order__guest__last_name="Walker")
    record(settings, "ORD-A", 2, order__guest__last_name="Walker-Smith")
    assert found(settings, "walker-s") == ["ORD-A"]
    with transaction(settings.database_url) as session:
        terms = set(session.scalars(select(OrderSearch.term).where(OrderSearch.order_id == "ORD-A")))
    assert "walker" not in terms and "larry walker-smith" in terms


@pytest.mark.parametrize("words, says", [("", "Say what to find"), ("   ", "Say what to find"),
                                         ("a", "at least 2 characters"), ("x" * 5000, "5,000 characters")])
def test_empty_or_huge_text_is_refused_in_words_and_only_the_refusal_is_written(settings, words, says):
    record(settings, "ORD-A", 1)
    with transaction(settings.database_url) as session:
        before = session.scalar(select(func.count()).select_from(AuditEvent))
    answer = search.find_orders(settings, words, "slack:U0ANA (ana)", via="slack")
    assert answer.rows == () and says in (answer.problem or "")
    with transaction(settings.database_url) as session:
        events = session.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()
    assert len(events) == before + 1
    assert (events[-1].action, events[-1].result, events[-1].detail["length"]) == ("find.refused", "refused", len(words))


def test_the_query_is_answered_from_the_term_index(settings):
    """The range on `order_search.term` is one the index answers on either backend (on
    PostgreSQL thanks to the term's "C" collation; bench/find_plan.py shows it at 100k orders)."""
    record(settings, "ORD-A", 1)
    from sqlalchemy.dialects import postgresql, sqlite

    with transaction(settings.database_url) as session:
        dialect = session.bind.dialect.name
        query = select(OrderSearch.order_id).where(OrderSearch.term >= "walk", OrderSearch.term < "wall")
        compiled = query.compile(dialect=postgresql.dialect() if dialect == "postgresql" else sqlite.dialect(),
                                 compile_kwargs={"literal_binds": True})
        if dialect == "postgresql":
            session.execute(text("SET LOCAL enable_seqscan = off"))
            plan = "\n".join(session.scalars(text(f"EXPLAIN {compiled}")))
        else:
            plan = "\n".join(str(row[-1]) for row in session.execute(text(f"EXPLAIN QUERY PLAN {compiled}")))
    assert "ix_order_search_term" in plan, plan
