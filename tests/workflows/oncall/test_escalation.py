"""Escalation: an unhandled alert messages on-call after the delay (sooner when the guest
arrives within a day) and goes to the channel and PagerDuty after the second; a button press
stops it; concurrent checks escalate once; a restarted worker still escalates on time.
Time is passed in as `now`, never slept, except in the real-worker test."""

from __future__ import annotations

import datetime as dt
import importlib
import json
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.log import LogAnnouncer
from tests.conftest import logged, wait_for
from tests.fakes.pagerduty import FakePagerDuty
from tests.workflows.intake.test_intake import payload
from workflows.core.db import transaction
from workflows.core.models import Alert, AuditEvent, Order, OrderItem, OutboxEntry, SyncAttempt
from workflows.core.settings import Settings
from workflows.intake import webhook as intake
from workflows.oncall import escalation
from workflows.orders import service
from workflows.orders.payloads import parse_sync_failure

ROUTING_KEY = "R" * 32
ONE_PERSON = 'timezone: Europe/London\nhandoff: {weekday: monday, time: "09:00"}\npeople:\n  - {name: Alice, slack: U0ALICE}\n'


class Jobs:
    """Runs the jobs the code under test wrote to the outbox, in-process, each once."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.ran: set[int] = set()

    def run(self, function: str, **extra: object) -> list[object]:
        with transaction(self.settings.database_url) as session:
            entries = session.scalars(select(OutboxEntry).where(OutboxEntry.function == function)
                                      .order_by(OutboxEntry.id)).all()
        module, name = function.rsplit(".", 1)
        target = getattr(importlib.import_module(module), name)
        results = []
        for entry in entries:
            if entry.id not in self.ran:
                self.ran.add(entry.id)
                results.append(target(**entry.kwargs, settings=self.settings, **extra))
        return results

    def count(self, function: str) -> int:
        with transaction(self.settings.database_url) as session:
            return session.scalar(select(func.count()).where(OutboxEntry.function == function)) or 0


@pytest.fixture
def oncall_settings(settings: Settings, tmp_path: Path) -> Settings:
    rotation = tmp_path / "oncall.yml"
    rotation.write_text(ONE_PERSON)
    return settings.model_copy(update={"oncall_file": str(rotation)})


def record(settings: Settings, order_id: str, arrival: dt.date, *, event: str | None = None,
           system: str = "synxis", occurred: dt.datetime | None = None) -> service.IntakeOutcome:
    data = payload(event_id=event or f"evt-{order_id}", order__id=order_id,
                   order__items__0__start=arrival.isoformat(),
                   order__items__0__end=(arrival + dt.timedelta(days=1)).isoformat(),
                   order__items__0__system=system, failure__system=system)
    if occurred is not None:
        data["occurred_at"] = occurred.strftime("%Y-%m-%dT%H:%M:%SZ")
    return intake.record(settings, parse_sync_failure(json.dumps(data).encode()), "webhook")


def opened_at(settings: Settings, order_id: str) -> dt.datetime:
    with transaction(settings.database_url) as session:
        return session.scalar(select(Alert.created_at).where(Alert.order_id == order_id))


def audits(settings: Settings, action: str) -> list[AuditEvent]:
    with transaction(settings.database_url) as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


def in_days(days: int) -> dt.date:
    return dt.datetime.now(dt.timezone.utc).date() + dt.timedelta(days=days)


def slack() -> LogAnnouncer:
    return logged("slack")


def test_unhandled_alert_messages_on_call_after_15_minutes_then_the_channel(oncall_settings):
    s = oncall_settings
    jobs = Jobs(s)
    record(s, "ORD-1", in_days(10))
    t0 = opened_at(s, "ORD-1")

    assert escalation.check_due(s, t0 + dt.timedelta(minutes=14)) == []
    first = escalation.check_due(s, t0 + dt.timedelta(minutes=15, seconds=1))
    assert [(e.order_id, e.level) for e in first] == [("ORD-1", 1)]
    assert jobs.run("workflows.oncall.escalation.notify") == ["escalation.direct_message"]
    [dm] = slack().of_kind("direct")
    assert dm.person_ids == ("U0ALICE",) and dm.order_id == "ORD-1"
    assert "ORD-1 — Larry Walker" in dm.text and "15 minutes" in dm.text

    assert escalation.check_due(s, t0 + dt.timedelta(minutes=29)) == []  # 15 more minutes after the DM
    second = escalation.check_due(s, t0 + dt.timedelta(minutes=31))
    assert [(e.order_id, e.level) for e in second] == [("ORD-1", 2)]
    assert jobs.run("workflows.oncall.escalation.notify") == ["escalation.channel"]
    [shout] = slack().of_kind("channel")
    assert shout.mention == "@here" and "Still unhandled" in shout.text
    assert jobs.count("workflows.oncall.escalation.page") == 0  # no PAGERDUTY_ROUTING_KEY: no page
    assert escalation.check_due(s, t0 + dt.timedelta(hours=3)) == []  # nothing beyond level 2
    assert len(slack().sent) == 2


def test_a_guest_arriving_tomorrow_escalates_after_5_minutes(oncall_settings):
    s = oncall_settings
    record(s, "ORD-SOON", in_days(1))
    record(s, "ORD-LATER", in_days(3), event="evt-later")
    t0 = max(opened_at(s, "ORD-SOON"), opened_at(s, "ORD-LATER"))
    assert escalation.check_due(s, t0 + dt.timedelta(minutes=4)) == []
    due = escalation.check_due(s, t0 + dt.timedelta(minutes=5, seconds=1))
    assert [(e.order_id, e.level) for e in due] == [("ORD-SOON", 1)]


def test_a_button_press_acknowledges_and_stops_the_escalation(oncall_settings):
    s = oncall_settings
    record(s, "ORD-1", in_days(10))
    record(s, "ORD-2", in_days(10), event="evt-2")
    t0 = opened_at(s, "ORD-2")
    assert len(escalation.check_due(s, t0 + dt.timedelta(minutes=16))) == 2
    with transaction(s.database_url) as session:
        assert escalation.acknowledge(session, "ORD-1", "U0ALICE", now=t0 + dt.timedelta(minutes=3))
    with transaction(s.database_url) as session:
        assert not escalation.acknowledge(session, "ORD-1", "U0BOB")  # already stopped; still recorded
        alert = session.scalar(select(Alert).where(Alert.order_id == "ORD-1"))
        assert (alert.state, alert.acknowledged_by) == ("acknowledged", "U0ALICE")
    later = escalation.check_due(s, t0 + dt.timedelta(hours=1))
    assert [(e.order_id, e.level) for e in later] == [("ORD-2", 2)]  # only the unhandled one goes on
    assert Jobs(s).run("workflows.oncall.escalation.notify") == ["skipped", "escalation.direct_message",
                                                           "escalation.channel"]  # ORD-1's DM was stopped


def test_two_concurrent_checks_escalate_once(oncall_settings):
    s = oncall_settings
    record(s, "ORD-1", in_days(10))
    when = opened_at(s, "ORD-1") + dt.timedelta(minutes=16)
    barrier = threading.Barrier(4)
    results: list[list[escalation.Escalation]] = []

    def check() -> None:
        barrier.wait()
        results.append(escalation.check_due(s, when))

    threads = [threading.Thread(target=check) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sum(len(r) for r in results) == 1
    assert Jobs(s).count("workflows.oncall.escalation.notify") == 1
    assert len(audits(s, "escalation.due")) == 1


def test_pagerduty_is_triggered_per_order_acknowledged_and_resolved_when_the_order_completes(oncall_settings):
    with FakePagerDuty(routing_key=ROUTING_KEY) as pd:
        s = oncall_settings.model_copy(update={"pagerduty_routing_key": ROUTING_KEY,
                                               "pagerduty_events_url": pd.url})
        jobs = Jobs(s)
        record(s, "ORD-1", in_days(1))
        t0 = opened_at(s, "ORD-1")
        escalation.check_due(s, t0 + dt.timedelta(minutes=6))
        escalation.check_due(s, t0 + dt.timedelta(minutes=22))
        assert jobs.run("workflows.oncall.escalation.page") == ["paged"]
        [trigger] = pd.of_action("trigger")
        assert trigger["dedup_key"] == "syncdesk:order:ORD-1"
        assert trigger["payload"]["severity"] == "critical"  # arriving tomorrow
        assert trigger["payload"]["source"] == "syncdesk" and "ORD-1" in trigger["payload"]["summary"]

        with transaction(s.database_url) as session:  # a person presses a button
            escalation.acknowledge(session, "ORD-1", "U0ALICE")
        jobs.run("workflows.oncall.escalation.page_event")
        assert pd.alerts["syncdesk:order:ORD-1"] == "acknowledged"

        with transaction(s.database_url) as session:  # Mark complete resolves the alerts
            order = session.get(Order, "ORD-1")
            service.resolve_alerts(session, order, actor="U0ALICE", reason="order complete")
        escalation.check_due(s)
        escalation.check_due(s)  # a second check does not ask again
        assert jobs.run("workflows.oncall.escalation.page_event") == ["resolve"]
        assert [e["dedup_key"] for e in pd.of_action("resolve")] == ["syncdesk:order:ORD-1"]
        assert pd.alerts["syncdesk:order:ORD-1"] == "resolved"


def test_pagerduty_client_maps_a_refused_event(settings):
    from connectors.errors import AuthFailure
    from workflows.systems.clients import pagerduty

    with FakePagerDuty(routing_key=ROUTING_KEY) as pd:
        s = settings.model_copy(update={"pagerduty_routing_key": "wrong", "pagerduty_events_url": pd.url})
        with pagerduty(s) as client, pytest.raises(AuthFailure, match="Invalid routing key"):
            client.trigger("k", "summary")
        pd.fail_with_status(503, times=1)
        s = s.model_copy(update={"pagerduty_routing_key": ROUTING_KEY})
        with pagerduty(s) as client:
            assert client.trigger("k", "summary").dedup_key == "k"  # a 5xx is retried: events are idempotent


def test_a_restarted_worker_still_escalates_on_time(oncall_settings, worker_factory):
    s = oncall_settings.model_copy(update={"escalation_dm_after_minutes": 0.05, "escalation_check_seconds": 1})
    first = worker_factory(s)
    record(s, "ORD-1", in_days(10))
    time.sleep(1)
    first.stop()  # the timer is database state: nothing is lost with the worker
    started = time.monotonic()
    worker_factory(s)
    wait_for(lambda: audits(s, "escalation.direct_message"), timeout=60)  # due 3 s after the failure
    assert time.monotonic() - started < 60
    [dm] = audits(s, "escalation.direct_message")
    assert (dm.order_id, dm.detail["to"]) == ("ORD-1", "Alice")


def failed_with_hold(settings: Settings, order_id: str, deadline: dt.datetime | None) -> None:
    """The item's Reprocess found a hold it could not confirm, lapsing at `deadline` (as the job records it)."""
    with transaction(settings.database_url) as session:
        item = session.scalar(select(OrderItem).where(OrderItem.order_id == order_id))
        session.add(SyncAttempt(item_pk=item.pk, order_id=order_id, number=service.next_attempt_number(session, item),
                                status="failed", error_class="needs_review", triggered_by="ana",
                                message="SynXis reservation is Booked", hold_deadline=deadline))


def test_a_hold_that_lapses_within_a_day_escalates_like_a_guest_arriving_tomorrow(oncall_settings):
    # Issue 24.8: a Booked/OnHold reservation lapses by itself; its deadline, not the arrival, is what is near.
    s = oncall_settings
    record(s, "ORD-HELD", in_days(40))
    record(s, "ORD-HELD-LATER", in_days(40), event="evt-held-later")
    record(s, "ORD-RETRIED", in_days(40), event="evt-retried")
    t0 = max(opened_at(s, o) for o in ("ORD-HELD", "ORD-HELD-LATER", "ORD-RETRIED"))
    failed_with_hold(s, "ORD-HELD", t0 + dt.timedelta(hours=3))
    failed_with_hold(s, "ORD-HELD-LATER", t0 + dt.timedelta(days=5))
    failed_with_hold(s, "ORD-RETRIED", t0 + dt.timedelta(hours=3))
    failed_with_hold(s, "ORD-RETRIED", None)  # a later attempt found no hold: it no longer counts

    assert escalation.check_due(s, t0 + dt.timedelta(minutes=4)) == []
    due = escalation.check_due(s, t0 + dt.timedelta(minutes=5, seconds=1))
    assert [(e.order_id, e.level) for e in due] == [("ORD-HELD", 1)]
