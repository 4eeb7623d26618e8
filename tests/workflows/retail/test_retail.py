"""Retail: one reminder listing every order awaiting dispatch too long; Dispatched records courier and
tracking, and then Mark complete is allowed."""

from __future__ import annotations

import datetime as dt
from typing import Iterator

import pytest
from sqlalchemy import select

from workflows.core import states
from workflows.core.db import transaction
from workflows.core.models import AuditEvent, Order, OrderItem, OutboxEntry, utcnow
from workflows.core.settings import Settings, install
from workflows.retail import service as retail

NOW = dt.datetime(2026, 12, 5, 12, 0, tzinfo=dt.timezone.utc)


def add_order(url: str, order_id: str, *, hours_ago: float, items: tuple[tuple[str, str, str], ...] = (
        ("ITEM-1", "retail", "In Progress"),), status: str = "In Progress") -> None:
    with transaction(url) as session:
        order = Order(id=order_id, platform_status=status, currency="GBP", total_minor=4500,
                      placed_at=NOW - dt.timedelta(hours=hours_ago), guest_first_name="Ada", guest_last_name="Lovelace")
        for item_id, kind, item_status in items:
            order.items.append(OrderItem(item_id=item_id, kind=kind, system="" if kind == "retail" else "synxis",
                                         status=item_status, description=f"{kind} {item_id}", quantity=1,
                                         sync_status=None if kind == "retail" else "success"))
        session.add(order)


def reminder(url: str, now: dt.datetime = NOW, after_hours: int = 24) -> retail.RetailReminder | None:
    with transaction(url) as session:
        return retail.overdue_retail(session, now=now, after_hours=after_hours)


def dispatch(url: str, order_id: str = "ORD-1", item_id: str = "ITEM-1", courier: str = "Royal Mail Tracked 48",
             tracking: str = "RM123456785GB") -> None:
    with transaction(url) as session:
        retail.record_dispatch(session, order_id, item_id, "U42", courier, tracking)


def test_every_overdue_retail_order_is_listed_in_one_reminder_oldest_first(settings):
    url = settings.database_url
    add_order(url, "ORD-30H", hours_ago=30)
    add_order(url, "ORD-50H", hours_ago=50, items=(("ITEM-1", "retail", "In Progress"),
                                                     ("ITEM-2", "retail", "In Progress")))
    add_order(url, "ORD-FRESH", hours_ago=2)
    add_order(url, "ORD-ROOM", hours_ago=90, items=(("ITEM-1", "room", "In Progress"),))
    add_order(url, "ORD-DONE", hours_ago=90, items=(("ITEM-1", "retail", "Dispatched"),))
    add_order(url, "ORD-CANCELLED", hours_ago=90, status="Cancelled")
    add_order(url, "ORD-TEST", hours_ago=90, status="Test")

    found = reminder(url)

    assert found is not None and found.after_hours == 24
    assert [o.order_id for o in found.orders] == ["ORD-50H", "ORD-30H"]
    assert [i.item_id for i in found.orders[0].items] == ["ITEM-1", "ITEM-2"]
    assert found.orders[0].waiting_hours == 50 and found.orders[0].guest_name == "Ada Lovelace"
    assert "2 retail order(s) awaiting dispatch for more than 24 h" in found.summary


def test_nothing_overdue_means_no_reminder(settings):
    add_order(settings.database_url, "ORD-1", hours_ago=3)

    assert reminder(settings.database_url) is None


def test_a_reminded_order_is_not_repeated_until_another_period_has_passed(settings):
    url = settings.database_url
    add_order(url, "ORD-1", hours_ago=30)
    with transaction(url) as session:
        states.audit(session, actor="syncdesk", action=retail.REMINDED, order_id="ORD-1").created_at = NOW

    assert reminder(url, now=NOW + dt.timedelta(hours=23)) is None
    later = reminder(url, now=NOW + dt.timedelta(hours=25))
    assert later is not None and [o.order_id for o in later.orders] == ["ORD-1"]


@pytest.fixture
def job_env(settings: Settings, monkeypatch) -> Iterator[Settings]:
    """The job functions read their settings from the environment, as the worker does."""
    for name in ("database_url", "redis_url", "queue_name"):
        monkeypatch.setenv(name.upper(), str(getattr(settings, name)))
    monkeypatch.setenv("RETAIL_REMIND_AFTER_HOURS", "24")
    install(None)
    yield settings
    install(None)
    retail.reminders.clear()


def test_the_reminder_job_posts_one_message_and_remembers_it(job_env):
    url = job_env.database_url
    now = utcnow()
    for order_id, hours in (("ORD-A", 40), ("ORD-B", 26)):
        add_order(url, order_id, hours_ago=(NOW - now).total_seconds() / 3600 + hours)
    posted: list[retail.RetailReminder] = []
    retail.reminders.register("slack", posted.append)

    assert retail.send_retail_reminder() == "reminded: 2 order(s)"
    assert retail.send_retail_reminder() == "no retail order overdue"

    (message,) = posted
    assert [o.order_id for o in message.orders] == ["ORD-A", "ORD-B"]
    with transaction(url) as session:
        events = session.scalars(select(AuditEvent).where(AuditEvent.action == retail.REMINDED)).all()
    assert sorted(e.order_id for e in events) == ["ORD-A", "ORD-B"]


def test_a_reminder_that_could_not_be_posted_is_not_recorded(job_env):
    add_order(job_env.database_url, "ORD-A", hours_ago=(NOW - utcnow()).total_seconds() / 3600 + 40)

    def broken(reminder: retail.RetailReminder) -> None:
        raise ConnectionError("slack is down")

    retail.reminders.register("slack", broken)
    with pytest.raises(ConnectionError):
        retail.send_retail_reminder()
    retail.reminders.clear()
    assert retail.send_retail_reminder() == "reminded: 1 order(s)"


@pytest.mark.parametrize(("courier", "tracking", "says"), [
    ("", "RM123456785GB", "the courier is required"),
    ("Royal Mail", "  ", "the tracking number is required"),
    ("", "", "the courier and the tracking number are required"),
    ("Royal Mail", "#!", "does not look like a tracking number"),
])
def test_dispatched_requires_courier_and_tracking(settings, courier, tracking, says):
    add_order(settings.database_url, "ORD-1", hours_ago=30)

    with pytest.raises(retail.DispatchRefused, match=says):
        dispatch(settings.database_url, courier=courier, tracking=tracking)
    with transaction(settings.database_url) as session:
        assert session.scalar(select(OrderItem.status)) == "In Progress"


def test_dispatched_moves_the_item_with_an_audit_and_then_mark_complete_is_allowed(settings):
    url = settings.database_url
    add_order(url, "ORD-1", hours_ago=30, items=(("ITEM-1", "room", "Confirmed"), ("ITEM-2", "retail", "In Progress")))
    with transaction(url) as session:
        assert states.completion_blockers(session.get(Order, "ORD-1")) == ["ITEM-2 not yet dispatched"]

    dispatch(url, item_id="ITEM-2")

    with transaction(url) as session:
        order = session.get(Order, "ORD-1")
        item = next(i for i in order.items if i.item_id == "ITEM-2")
        assert item.status == "Dispatched" and item.external_reference == "RM123456785GB"
        assert states.completion_blockers(order) == []
        event = session.scalars(select(AuditEvent).where(AuditEvent.action == "item.dispatched")).one()
        assert event.actor == "U42" and event.item_id == "ITEM-2"
        assert event.detail["courier"] == "Royal Mail Tracked 48" and event.detail["tracking"] == "RM123456785GB"
        states.move_order(session, order, states.COMPLETE, actor="U42")
    assert reminder(url) is None


def test_recording_the_same_dispatch_twice_changes_nothing_but_a_different_one_is_refused(settings):
    add_order(settings.database_url, "ORD-1", hours_ago=30)
    dispatch(settings.database_url)
    dispatch(settings.database_url)

    with pytest.raises(retail.DispatchRefused, match="already Dispatched"):
        dispatch(settings.database_url, tracking="OTHER-123")
    with transaction(settings.database_url) as session:
        assert len(session.scalars(select(AuditEvent).where(AuditEvent.action == "item.dispatched")).all()) == 1


def test_only_retail_items_are_dispatched(settings):
    add_order(settings.database_url, "ORD-1", hours_ago=30, items=(("ITEM-1", "room", "In Progress"),))

    with pytest.raises(retail.DispatchRefused, match="only retail items are dispatched"):
        dispatch(settings.database_url)


def test_the_dispatched_job_records_it_or_says_why_not(job_env):
    url = job_env.database_url
    add_order(url, "ORD-1", hours_ago=30)

    assert retail.dispatched("ORD-1", "ITEM-1", "U42", "", "RM1") == "refused: the courier is required"
    assert retail.dispatched("ORD-1", "ITEM-1", "U42", "DPD", "15501234567890") == \
        "dispatched: ITEM-1 via DPD (15501234567890)"

    with transaction(url) as session:
        assert session.scalar(select(OrderItem.status)) == "Dispatched"
        refused = session.scalars(select(AuditEvent).where(AuditEvent.action == "dispatch.refused")).one()
        assert refused.detail["reason"] == "the courier is required"
        assert session.scalars(select(OutboxEntry)).all() == []  # retail orders carry no alert to refresh


def test_a_retail_only_order_once_dispatched_is_offered_mark_complete(job_env):
    """Issue 13: after Dispatched, the reminder's place offers Mark complete, not only the CLI."""
    from bot.slack import render, retail_render
    from workflows.actions.requests import request_complete

    url = job_env.database_url
    add_order(url, "ORD-1", hours_ago=30, items=(("ITEM-1", "retail", "In Progress"), ("ITEM-2", "retail",
                                                                                          "In Progress")))
    posted: list[retail.RetailReminder] = []
    retail.reminders.register("slack", posted.append)

    assert retail.dispatched("ORD-1", "ITEM-1", "U42", "DPD", "15501234567890").startswith("dispatched")
    assert posted == []  # ITEM-2 still waits
    assert retail.dispatched("ORD-1", "ITEM-2", "U42", "DPD", "15501234567891").startswith("dispatched")
    [notice] = posted
    assert [o.order_id for o in notice.ready] == ["ORD-1"] and notice.orders == ()
    blocks = retail_render.reminder_blocks(notice)
    [button] = [e for b in blocks if b["type"] == "actions" for e in b["elements"]]
    assert (button["action_id"], button["value"]) == (render.MARK_COMPLETE, '["ORD-1"]')
    assert request_complete(job_env, "ORD-1", "slack:U42").accepted  # what that button asks for
