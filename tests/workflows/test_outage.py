"""Outage detection through the real intake (signed webhooks to the live app): a burst for
one system is one incident and one page, later failures are attached to it and still
tracked, the all-clear goes out once, and Reprocess all queues one paced Reprocess per
still-failed item with deterministic ids and reports progress from the database."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from rq import Queue
from sqlalchemy import func, select

from tests.conftest import LiveServer, post_failure
from tests.fakes.pagerduty import FakePagerDuty
from tests.workflows.test_escalation import ONE_PERSON, ROUTING_KEY, Jobs, in_days, slack
from tests.workflows.test_intake import payload
from workflows import announce, escalation, outage, states
from workflows.db import transaction
from workflows.models import Alert, Incident, OrderItem, OutboxEntry, SyncAttempt, utcnow
from workflows.queue import get_redis, job_id
from workflows.settings import Settings


@pytest.fixture(autouse=True)
def fresh_announcers() -> Iterator[None]:
    announce.reset()
    yield
    announce.reset()


@pytest.fixture
def pd() -> Iterator[FakePagerDuty]:
    with FakePagerDuty(routing_key=ROUTING_KEY) as fake:
        yield fake


@pytest.fixture
def s(settings: Settings, tmp_path: Path, pd: FakePagerDuty) -> Settings:
    rotation = tmp_path / "oncall.yml"
    rotation.write_text(ONE_PERSON)
    return settings.model_copy(update={"oncall_file": str(rotation), "pagerduty_routing_key": ROUTING_KEY,
                                       "pagerduty_events_url": pd.url})


@pytest.fixture
def app(s: Settings) -> Iterator[LiveServer]:
    from workflows.web import create_app

    with LiveServer(create_app(s)) as server:
        yield server


def fail(app: LiveServer, n: int, occurred: dt.datetime, *, system: str = "synxis", code: str = "timeout") -> None:
    data = payload(event_id=f"evt-{system}-{n}", order__id=f"ORD-{system}-{n:03d}",
                   order__items__0__system=system, failure__system=system, failure__code=code,
                   order__items__0__start=in_days(20).isoformat(), order__items__0__end=in_days(21).isoformat(),
                   occurred_at=occurred.strftime("%Y-%m-%dT%H:%M:%SZ"))
    response = post_failure(app.url, data)
    assert response.status_code == 202, response.text


def incidents(s: Settings) -> list[Incident]:
    with transaction(s.database_url) as session:
        return list(session.scalars(select(Incident).order_by(Incident.id)))


def count(s: Settings, function: str) -> int:
    return Jobs(s).count(function)


def test_a_burst_is_one_incident_one_page_and_every_alert_stays_tracked(s, app, pd):
    start = utcnow().replace(microsecond=0) - dt.timedelta(minutes=6)
    for n in range(7):  # 7 failures in 6 minutes: 5 timeouts, 2 server errors
        fail(app, n, start + dt.timedelta(minutes=n), code="server_error" if n in (1, 3) else "timeout")
    [incident] = incidents(s)
    with transaction(s.database_url) as session:
        shown = outage.view(session, incident.id)
    assert shown.summary == "Possible outage: SynXis — 7 failures in 6 minutes, mostly timeouts"
    assert len(shown.order_ids) == 7 and shown.state == "open"
    # The first four were ordinary failures and got their automatic retry; from the fifth the
    # outage holds retries back for a paced Reprocess all after the all-clear.
    assert count(s, "workflows.jobs.reprocess") == 4

    for n in range(7, 30):  # the storm goes on: 30 failures for SynXis in all
        fail(app, n, utcnow().replace(microsecond=0))
    fail(app, 99, utcnow().replace(microsecond=0), system="premier")  # another system is not part of it
    [incident] = incidents(s)
    assert incident.failure_count == 30
    with transaction(s.database_url) as session:
        attached = session.scalars(select(Alert.order_id).where(Alert.incident_id == incident.id)).all()
        assert len(attached) == 30 and all(o.startswith("ORD-synxis-") for o in attached)
        assert session.scalar(select(func.count()).select_from(Alert)) == 31  # each alert still its own
    assert count(s, "workflows.outage.page_incident") == 1
    assert count(s, "workflows.outage.refresh_incident") == 1 + 25  # opened at the 5th, then one per later failure

    jobs = Jobs(s)
    assert jobs.run("workflows.outage.page_incident") == ["paged"]
    assert outage.page_incident(incident.id, settings=s) == "already paged"
    [dm] = slack().of_kind("direct")
    assert dm.person_ids == ("U0ALICE",) and dm.text.startswith("Possible outage: SynXis — 30 failures")
    assert [e["dedup_key"] for e in pd.of_action("trigger")] == [f"syncdesk:outage:{incident.id}"]
    jobs.run("workflows.outage.refresh_incident")
    assert {m.incident_id for m in slack().of_kind("incident")} == {incident.id}
    assert incidents(s)[0].message_id == f"log:incident:{incident.id}"

    # Its alerts do not escalate one by one while the outage is open; the other system's does.
    due = escalation.check_due(s, utcnow() + dt.timedelta(minutes=16))
    assert [e.order_id for e in due] == ["ORD-premier-099"]


def test_quiet_posts_the_all_clear_once_and_reprocess_all_is_paced_and_tracked(s, app, pd):
    now = utcnow().replace(microsecond=0)
    for n in range(10):
        fail(app, n, now - dt.timedelta(seconds=30 * (10 - n)))
    [incident] = incidents(s)
    Jobs(s).run("workflows.outage.page_incident")
    last = incident.last_failure_at

    assert outage.reprocess_all(s, incident.id, "U0ALICE").accepted is False  # not before the all-clear
    assert outage.check_quiet(s, last + dt.timedelta(minutes=9)) == []
    assert outage.check_quiet(s, last + dt.timedelta(minutes=10, seconds=1)) == [incident.id]
    assert outage.check_quiet(s, last + dt.timedelta(minutes=30)) == []
    jobs = Jobs(s)
    assert jobs.run("workflows.outage.announce_all_clear") == ["posted"]
    [all_clear] = slack().of_kind("channel")
    assert "All clear" in all_clear.text and "Reprocess all 10" in all_clear.text
    jobs.run("workflows.escalation.page_event")
    assert pd.alerts[f"syncdesk:outage:{incident.id}"] == "resolved"
    with transaction(s.database_url) as session:
        assert outage.view(session, incident.id).reprocess_all_offered

    fail(app, 50, last + dt.timedelta(minutes=11))  # after the all-clear: a failure of its own again
    with transaction(s.database_url) as session:
        assert session.scalar(select(Alert.incident_id).where(Alert.order_id == "ORD-synxis-050")) is None

    with transaction(s.database_url) as session:
        numbers = {i.order_id: len(i.attempts) + 1 for i in session.scalars(
            select(OrderItem).where(OrderItem.order_id.in_([f"ORD-synxis-{n:03d}" for n in range(10)])))}
    pressed = outage.reprocess_all(s, incident.id, "U0ALICE")
    assert pressed.accepted, pressed.message
    expected = [job_id("reprocess", o, "ITEM-1", numbers[o], "outage", incident.id) for o in sorted(numbers)]
    assert list(pressed.job_ids) == expected and len(set(expected)) == 10
    with transaction(s.database_url) as session:
        entries = [e for e in session.scalars(select(OutboxEntry).where(OutboxEntry.job_id.in_(expected))
                                              .order_by(OutboxEntry.id)) if e.kwargs["actor"] == "U0ALICE"]
        assert [e.delay_seconds for e in entries] == [10 * i for i in range(10)]  # paced
        assert session.scalar(select(func.count()).select_from(Alert).where(
            Alert.incident_id == incident.id, Alert.state == states.A_ACKNOWLEDGED)) == 10  # a human acted
    from workflows import queue as outbox

    outbox.dispatch(s)  # the request handed RQ only what is due now; the clock drains the rest
    queue = Queue(s.queue_name, connection=get_redis(s.redis_url))
    queued = set(queue.job_ids) | set(queue.scheduled_job_registry.get_job_ids())
    assert set(expected) <= queued  # each item once, under its own id (not the automatic retry's)
    again = outage.reprocess_all(s, incident.id, "U0BOB")
    assert not again.accepted and "U0ALICE already asked" in again.message

    # Progress is read from the database: two rebooked, one no availability, the rest pending.
    with transaction(s.database_url) as session:
        items = {i.order_id: i for i in session.scalars(select(OrderItem))}
        for order_id in ("ORD-synxis-000", "ORD-synxis-001"):
            items[order_id].status, items[order_id].external_reference = states.CONFIRMED, "13098CU1"
        item = items["ORD-synxis-002"]
        session.add(SyncAttempt(item_pk=item.pk, order_id=item.order_id, number=numbers[item.order_id],
                                status=states.Q_FAILED, error_class="no_availability", triggered_by="U0ALICE",
                                started_at=utcnow() + dt.timedelta(seconds=1)))
    with transaction(s.database_url) as session:
        progress = outage.view(session, incident.id).progress
    assert progress.text == "2/10 rebooked, 1 no availability"
    assert (progress.total, progress.pending) == (10, 7)


def test_failures_spread_over_more_than_the_window_are_not_an_outage(s, app):
    now = utcnow().replace(microsecond=0)
    for n in range(6):
        fail(app, n, now - dt.timedelta(minutes=3 * (5 - n)))  # one every 3 minutes: 4 in any 10 minutes
    assert incidents(s) == []
