"""The state machine: legal moves, readable refusals, compare-and-set under concurrency,
and an audit event with every move."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from workflows.core import states
from workflows.core.db import transaction
from workflows.core.models import Alert, AuditEvent, Order, OrderItem


def make_order(url: str, *, items: tuple[tuple[str, str, str], ...] = (("ITEM-1", "room", "In Progress"),)) -> None:
    with transaction(url) as session:
        order = Order(id="ORD-1", platform_status="In Progress", currency="GBP", total_minor=24000)
        for item_id, kind, status in items:
            order.items.append(OrderItem(item_id=item_id, kind=kind, system="synxis" if kind != "retail" else "",
                                         status=status, sync_status="failed" if kind != "retail" else None))
        order.alerts.append(Alert(surface="slack", state="open"))
        session.add(order)


def item(session, item_id: str = "ITEM-1") -> OrderItem:  # type: ignore[no-untyped-def]
    return session.scalar(select(OrderItem).where(OrderItem.item_id == item_id))


def test_item_confirmed_writes_an_audit_event_in_the_same_transaction(settings):
    make_order(settings.database_url)
    with transaction(settings.database_url) as session:
        states.move_item(session, item(session), states.CONFIRMED, actor="U123", confirmation="13098CU000379")
    with transaction(settings.database_url) as session:
        assert item(session).status == "Confirmed"
        event = session.scalars(select(AuditEvent)).one()
        assert (event.actor, event.action, event.detail["from"], event.detail["to"]) == \
            ("U123", "item.confirmed", "In Progress", "Confirmed")


def test_a_failed_transaction_leaves_neither_the_move_nor_its_audit(settings):
    make_order(settings.database_url)
    with pytest.raises(RuntimeError), transaction(settings.database_url) as session:
        states.move_item(session, item(session), states.CONFIRMED, actor="U123")
        raise RuntimeError("crash after the move")
    with transaction(settings.database_url) as session:
        assert item(session).status == "In Progress"
        assert session.scalar(select(func.count()).select_from(AuditEvent)) == 0


def test_illegal_item_move_names_what_is_allowed(settings):
    make_order(settings.database_url, items=(("ITEM-1", "room", "Cancelled"),))
    with transaction(settings.database_url) as session, pytest.raises(states.IllegalTransition) as err:
        states.move_item(session, item(session), states.IN_PROGRESS, actor="U1")
    assert "Item ITEM-1 is Cancelled; it cannot become In Progress" in str(err.value)
    assert "it is final" in str(err.value)


def test_order_cannot_be_complete_while_an_item_is_in_progress(settings):
    make_order(settings.database_url, items=(("ITEM-1", "room", "Confirmed"), ("ITEM-2", "spa", "In Progress")))
    with transaction(settings.database_url) as session, pytest.raises(states.IllegalTransition) as err:
        states.move_order(session, session.get(Order, "ORD-1"), states.COMPLETE, actor="U1")
    assert "ITEM-2 still In Progress" in str(err.value)


def test_order_complete_ignores_dispatched_retail_but_not_undispatched(settings):
    make_order(settings.database_url, items=(("ITEM-1", "room", "Confirmed"), ("ITEM-R", "retail", "In Progress")))
    with transaction(settings.database_url) as session:
        assert states.completion_blockers(session.get(Order, "ORD-1")) == ["ITEM-R not yet dispatched"]
        states.move_item(session, item(session, "ITEM-R"), states.DISPATCHED, actor="U1")
    with transaction(settings.database_url) as session:
        states.move_order(session, session.get(Order, "ORD-1"), states.COMPLETE, actor="U1")
    with transaction(settings.database_url) as session:
        assert session.get(Order, "ORD-1").platform_status == "Complete"


def test_queue_lock_is_taken_from_failed_or_ready_only(settings):
    make_order(settings.database_url)
    with transaction(settings.database_url) as session:
        assert states.move_sync(session, item(session), states.Q_PROCESSING, actor="U1") == "failed"
    with transaction(settings.database_url) as session, pytest.raises(states.IllegalTransition):
        states.move_sync(session, item(session), states.Q_READY, actor="U2")


def test_resolved_alert_reopens_on_a_new_failure(settings):
    make_order(settings.database_url)
    with transaction(settings.database_url) as session:
        alert = session.scalars(select(Alert)).one()
        states.move_alert(session, alert, states.A_RESOLVED, actor="U1")
        states.move_alert(session, alert, states.A_OPEN, actor="platform")
        assert alert.state == "open" and alert.resolved_at is None


def _race(url: str, attempt) -> list[str]:  # type: ignore[no-untyped-def]
    """Run `attempt(session)` in two threads that both read before either writes."""
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def run() -> None:
        try:
            with transaction(url) as session:
                row = item(session)
                barrier.wait(timeout=10)
                attempt(session, row)
            outcomes.append("won")
        except states.TransitionConflict:
            outcomes.append("conflict")

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    return sorted(outcomes)


def test_two_concurrent_confirmations_of_one_item_exactly_one_wins(settings):
    make_order(settings.database_url)
    outcomes = _race(settings.database_url,
                     lambda session, row: states.move_item(session, row, states.CONFIRMED, actor="someone"))
    assert outcomes == ["conflict", "won"]
    with transaction(settings.database_url) as session:
        confirmations = session.scalars(select(AuditEvent).where(AuditEvent.action == "item.confirmed")).all()
        assert len(confirmations) == 1


def test_two_concurrent_queue_locks_exactly_one_wins(settings):
    make_order(settings.database_url)
    outcomes = _race(settings.database_url,
                     lambda session, row: states.move_sync(session, row, states.Q_PROCESSING, actor="someone"))
    assert outcomes == ["conflict", "won"]
    with transaction(settings.database_url) as session:
        assert item(session).sync_status == "processing"
