"""Outage detection and its view through the real intake (signed webhooks to the live app):
a burst for one system is one incident and one page, the failures before and after it opened
are attached and still tracked but not posted one by one, the view names the most urgent
guests and the totals by property and pages through every order, its message is refreshed
at most every few seconds, the all-clear goes out once, and Reprocess all is recorded once and
starts the recovery's lanes."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from rq import Queue
from sqlalchemy import func, select

from tests.conftest import LiveServer, post_failure
from tests.fakes.pagerduty import FakePagerDuty
from tests.workflows.oncall.test_escalation import (
    ONE_PERSON,
    ROUTING_KEY,
    Jobs,
    audits,
    in_days,
    slack,
)
from tests.workflows.intake.test_intake import SYNXIS_SET, payload
from workflows.core import states
from workflows.core.db import transaction
from workflows.core.models import (
    Alert,
    Incident,
    Order,
    OrderItem,
    OutboxEntry,
    SyncAttempt,
    utcnow,
)
from workflows.core.queue import get_redis, job_id
from workflows.core.settings import Settings
from workflows.oncall import escalation
from workflows.orders import service
from workflows.outage import jobs as outage_jobs
from workflows.outage import requests as outage_requests
from workflows.outage import views as outage_views


@pytest.fixture
def settings(settings):
    """The shared settings with SynXis credentials (`SYNXIS_SET`): its timeouts get their automatic retry."""
    return settings.model_copy(update=SYNXIS_SET)


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
    from syncdesk.web import create_app

    with LiveServer(create_app(s)) as server:
        yield server


def fail(app: LiveServer, n: int, occurred: dt.datetime, *, system: str = "synxis", code: str = "timeout",
         arrival_in: int = 20, hotel: int = 13098) -> None:
    data = payload(event_id=f"evt-{system}-{n}", order__id=f"ORD-{system}-{n:03d}",
                   order__items__0__system=system, failure__system=system, failure__code=code,
                   order__items__0__start=in_days(arrival_in).isoformat(),
                   order__items__0__end=in_days(arrival_in + 1).isoformat(),
                   order__items__0__details__hotel_id=hotel, order__guest__last_name=f"Guest{n}",
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
        shown = outage_views.view(session, incident.id)
    assert shown.summary == "Possible outage: SynXis — 7 failures in 6 minutes, mostly timeouts"
    assert len(shown.order_ids) == 7 and shown.state == "open"
    # The first four were ordinary failures and got their automatic retry; from the fifth the
    # outage holds retries back for a paced Reprocess all after the all-clear.
    assert count(s, "workflows.actions.jobs.reprocess") == 4

    for n in range(7, 30):  # the storm goes on: 30 failures for SynXis in all
        fail(app, n, utcnow().replace(microsecond=0))
    fail(app, 99, utcnow().replace(microsecond=0), system="premier")  # another system is not part of it
    [incident] = incidents(s)
    assert incident.failure_count == 30
    with transaction(s.database_url) as session:
        attached = session.scalars(select(Alert.order_id).where(Alert.incident_id == incident.id)).all()
        assert len(attached) == 30 and all(o.startswith("ORD-synxis-") for o in attached)
        assert session.scalar(select(func.count()).select_from(Alert)) == 31  # each alert still its own
    assert count(s, "workflows.outage.jobs.page_incident") == 1
    with transaction(s.database_url) as session:  # each change asks (showing it is coalesced, below)
        refreshes = set(session.scalars(select(OutboxEntry.job_id).where(
            OutboxEntry.function == "workflows.outage.jobs.refresh_incident")))
    assert len(refreshes) == 1 + 25  # opened at the 5th, then one per later failure
    # None of the 30 is posted on its own: the outage message lists them; each stays tracked.
    from workflows.orders.jobs import refresh_alert
    assert refresh_alert("ORD-synxis-029", "slack", settings=s) == "in the outage message"
    assert refresh_alert("ORD-synxis-000", "slack", settings=s) == "in the outage message"  # before it opened
    assert not [m for m in slack().of_kind("incident")]  # the outage message itself comes from its own job

    jobs = Jobs(s)
    assert jobs.run("workflows.outage.jobs.page_incident") == ["paged"]
    assert outage_jobs.page_incident(incident.id, settings=s) == "already paged"
    [dm] = slack().of_kind("direct")
    assert dm.person_ids == ("U0ALICE",) and dm.text.startswith("Possible outage: SynXis — 30 failures")
    assert [e["dedup_key"] for e in pd.of_action("trigger")] == [f"syncdesk:outage:{incident.id}"]
    jobs.run("workflows.outage.jobs.refresh_incident")
    assert {m.incident_id for m in slack().of_kind("incident")} == {incident.id}
    assert incidents(s)[0].message_id == f"log:incident:{incident.id}"

    # Its alerts do not escalate one by one while the outage is open; the other system's does.
    due = escalation.check_due(s, utcnow() + dt.timedelta(minutes=16))
    assert [e.order_id for e in due] == ["ORD-premier-099"]


def test_the_view_names_the_most_urgent_guests_totals_by_property_and_pages_through_every_order(s, app):
    start = utcnow().replace(microsecond=0) - dt.timedelta(minutes=5)
    for n in range(40):  # arrivals spread over 40 days, newest failure the soonest guest; two hotels
        fail(app, n, start + dt.timedelta(seconds=5 * n), arrival_in=40 - n, hotel=13098 if n % 4 else 13099)
    [incident] = incidents(s)
    link = "https://admin.example.com/orders/{order_id}"
    with transaction(s.database_url) as session:
        shown = outage_views.view(session, incident.id, lambda o: link.format(order_id=o))
        first = outage_views.page(session, incident.id, 0)
        last = outage_views.page(session, incident.id, 1)
        beyond = outage_views.page(session, incident.id, 7)
    assert (shown.affected, shown.open_items, len(shown.order_ids)) == (40, 40, 40)  # the 4 before it opened too
    assert [u.order_id for u in shown.urgent] == [f"ORD-synxis-{n:03d}" for n in range(39, 29, -1)]
    assert shown.urgent[0].arrival == in_days(1) and shown.urgent[0].guest_name == "Larry Guest39"
    assert shown.urgent[0].link == "https://admin.example.com/orders/ORD-synxis-039"
    assert {u.state for u in shown.urgent} == {"failed"} and shown.urgent[0].error_class == "timeout"
    assert shown.by_property == (("hotel 13098", 30, 30), ("hotel 13099", 10, 10))
    # Show all: every order once, soonest arrival first, 25 a page
    assert (first.page, first.pages, len(first.items), len(last.items)) == (0, 2, 25, 15)
    listed = [i.order_id for i in first.items + last.items]
    assert listed == [f"ORD-synxis-{n:03d}" for n in range(39, -1, -1)]
    assert beyond.page == 1 and not beyond.has_next and first.has_next and not first.has_previous


def test_the_outage_message_is_refreshed_at_most_once_per_interval(s, app):
    from rq import Queue

    now = utcnow().replace(microsecond=0)
    for n in range(5):
        fail(app, n, now - dt.timedelta(seconds=10 * (5 - n)))
    [incident] = incidents(s)
    assert outage_jobs.refresh_incident(incident.id, settings=s) == "shown"
    assert outage_jobs.refresh_incident(incident.id, settings=s) == "coalesced"  # asked again at once
    assert outage_jobs.refresh_incident(incident.id, settings=s) == "coalesced"
    q = Queue(s.queue_name, connection=get_redis(s.redis_url))
    deferred = [j for j in q.scheduled_job_registry.get_job_ids() if j.startswith("incident__")]
    assert len(deferred) == 1  # one refresh at the end of the interval, for all who asked meanwhile
    assert len(slack().of_kind("incident")) == 1


def test_teams_gets_the_same_outage_message_and_its_place_is_kept(s, app):
    from tests.conftest import logged

    now = utcnow().replace(microsecond=0)
    for n in range(5):
        fail(app, n, now - dt.timedelta(seconds=10 * (5 - n)))
    [incident] = incidents(s)
    with_teams = s.model_copy(update={"teams_conversation_id": "19:reservations@thread.tacv2"})
    assert outage_jobs.refresh_incident(incident.id, settings=with_teams) == "shown"
    assert [m.incident_id for m in logged("teams").of_kind("incident")] == [incident.id]
    assert [m.incident_id for m in slack().of_kind("incident")] == [incident.id]
    [stored] = incidents(s)
    assert (stored.message_id, stored.teams_message_id) == (f"log:incident:{incident.id}",) * 2


def test_quiet_posts_the_all_clear_once_and_reprocess_all_is_recorded_once_then_started(s, app, pd):
    now = utcnow().replace(microsecond=0)
    for n in range(10):
        fail(app, n, now - dt.timedelta(seconds=30 * (10 - n)), arrival_in=10 - n)
    [incident] = incidents(s)
    Jobs(s).run("workflows.outage.jobs.page_incident")
    last = incident.last_failure_at

    assert outage_requests.reprocess_all(s, incident.id, "U0ALICE").accepted is False  # not before the all-clear
    assert outage_jobs.check_quiet(s, last + dt.timedelta(minutes=9)) == []
    assert outage_jobs.check_quiet(s, last + dt.timedelta(minutes=10, seconds=1)) == [incident.id]
    assert outage_jobs.check_quiet(s, last + dt.timedelta(minutes=30)) == []
    jobs = Jobs(s)
    assert jobs.run("workflows.outage.jobs.announce_all_clear") == ["posted"]
    [all_clear] = slack().of_kind("channel")
    assert "All clear" in all_clear.text and "Reprocess all 10" in all_clear.text
    jobs.run("workflows.oncall.escalation.page_event")
    assert pd.alerts[f"syncdesk:outage:{incident.id}"] == "resolved"
    with transaction(s.database_url) as session:
        assert outage_views.view(session, incident.id).reprocess_all_offered

    fail(app, 50, last + dt.timedelta(minutes=11))  # after the all-clear: a failure of its own again
    with transaction(s.database_url) as session:
        assert session.scalar(select(Alert.incident_id).where(Alert.order_id == "ORD-synxis-050")) is None

    pressed = outage_requests.reprocess_all(s, incident.id, "U0ALICE")
    assert pressed.accepted, pressed.message
    assert "10 items at SynXis's pace" in pressed.message and "soonest arrival first" in pressed.message
    again = outage_requests.reprocess_all(s, incident.id, "U0BOB")
    assert not again.accepted and "U0ALICE already asked" in again.message
    assert jobs.run("workflows.outage.jobs.start_recovery") == ["recovering 10 items"]
    assert outage_jobs.start_recovery(incident.id, settings=s) == "already started"
    with transaction(s.database_url) as session:
        assert session.scalar(select(func.count()).select_from(Alert).where(
            Alert.incident_id == incident.id, Alert.state == states.A_ACKNOWLEDGED)) == 10  # a person is on it
        lanes = session.scalars(select(OutboxEntry).where(
            OutboxEntry.function == "workflows.actions.recovery.advance")).all()
        incident_now = session.get(Incident, incident.id)
    assert sorted(e.kwargs["lane"] for e in lanes) == [0, 1, 2, 3]  # SYSTEM_PACE_DEFAULT 5/4: four at once
    assert [tuple(p) for p in incident_now.reprocess_items["items"]][:3] == [
        ("ORD-synxis-009", "ITEM-1"), ("ORD-synxis-008", "ITEM-1"), ("ORD-synxis-007", "ITEM-1")]  # soonest first

    # Progress is read from the database: two rebooked, one no availability, the rest pending.
    with transaction(s.database_url) as session:
        items = {i.order_id: i for i in session.scalars(select(OrderItem))}
        for order_id in ("ORD-synxis-009", "ORD-synxis-008"):
            items[order_id].status, items[order_id].external_reference = states.CONFIRMED, "13098CU1"
        item = items["ORD-synxis-007"]
        session.add(SyncAttempt(item_pk=item.pk, order_id=item.order_id, number=len(item.attempts) + 1,
                                status=states.Q_FAILED, error_class="no_availability", triggered_by="U0ALICE",
                                started_at=last + dt.timedelta(minutes=12)))  # after the all-clear
    with transaction(s.database_url) as session:
        progress = outage_views.view(session, incident.id).progress
    assert progress.text == f"2/10 rebooked · 1 no availability · next: arrivals on {in_days(4):%-d %b}"
    assert (progress.total, progress.pending) == (10, 7)


def test_failures_spread_over_more_than_the_window_are_not_an_outage(s, app):
    now = utcnow().replace(microsecond=0)
    for n in range(6):
        fail(app, n, now - dt.timedelta(minutes=3 * (5 - n)))  # one every 3 minutes: 4 in any 10 minutes
    assert incidents(s) == []


def _resolve(s: Settings, *order_ids: str) -> None:
    """The orders were handled (Mark complete, the platform's Complete): their alerts resolve."""
    with transaction(s.database_url) as session:
        for order in session.scalars(select(Order).where(Order.id.in_(order_ids))):
            service.resolve_alerts(session, order, actor="U0ALICE", reason="handled")


def test_after_the_all_clear_an_outages_unhandled_orders_escalate_together_in_one_message_and_one_page(s, app, pd):
    now = utcnow().replace(microsecond=0)
    for n in range(12):  # guests arriving in 3 to 14 days
        fail(app, n, now - dt.timedelta(seconds=20 * (12 - n)), arrival_in=3 + n)
    fail(app, 99, now - dt.timedelta(seconds=10), system="premier")  # a failure of its own
    [incident] = incidents(s)
    jobs = Jobs(s)
    jobs.run("workflows.outage.jobs.page_incident")
    assert outage_jobs.check_quiet(s, incident.last_failure_at + dt.timedelta(minutes=10, seconds=1)) == [incident.id]
    all_clear = incidents(s)[0].all_clear_at
    jobs.run("workflows.oncall.escalation.page_event")  # the outage's page resolves with the all-clear
    key = f"syncdesk:outage:{incident.id}"
    assert pd.alerts[key] == "resolved"
    sent_before = len(slack().sent)

    # 15 minutes after the all-clear, all twelve are due at once: one direct message, not twelve.
    due = escalation.check_due(s, all_clear + dt.timedelta(minutes=15, seconds=1))
    assert sorted(e.order_id for e in due) == ["ORD-premier-099"] + [f"ORD-synxis-{n:03d}" for n in range(12)]
    assert jobs.run("workflows.oncall.escalation.notify") == ["escalation.direct_message"]  # the premier order alone
    assert jobs.run("workflows.oncall.escalation.notify_outage") == ["escalation.direct_message"]
    [own, together] = slack().sent[sent_before:]
    assert own.order_id == "ORD-premier-099"
    assert together.kind == "direct" and together.person_ids == ("U0ALICE",) and together.order_id is None
    assert re.match(r"12 orders of the SynXis outage are still unhandled after its all-clear, the oldest for \d+ "
                    r"minutes\. They are all in the outage message \(Show all\)", together.text), together.text
    soonest = together.text.split("Soonest arrivals: ")[1]
    assert soonest.startswith("ORD-synxis-000 — Larry Guest0, arriving ") and soonest.endswith("; and 7 more.")
    assert len(audits(s, "escalation.direct_message")) == 13  # each order's history still shows it

    # One of them is taken meanwhile; 15 minutes later the other eleven go to the channel together.
    with transaction(s.database_url) as session:
        escalation.acknowledge(session, "ORD-synxis-005", "U0BOB")
    escalation.check_due(s, all_clear + dt.timedelta(minutes=30, seconds=2))
    assert jobs.run("workflows.oncall.escalation.notify_outage") == ["escalation.channel"]
    [shout] = [m for m in slack().of_kind("channel") if m.text.startswith("Still unhandled: 11 orders")]
    assert shout.mention == "@here" and shout.channel == incident.channel
    assert jobs.count("workflows.oncall.escalation.page") == 1  # the premier order's own page
    assert jobs.run("workflows.oncall.escalation.page_outage") == ["paged"]
    jobs.run("workflows.oncall.escalation.page")
    triggers = [e["dedup_key"] for e in pd.of_action("trigger")]
    assert triggers == [key, key, "syncdesk:order:ORD-premier-099"]  # the outage's page, then its eleven as one
    assert "11 orders of the SynXis outage" in pd.of_action("trigger")[1]["payload"]["summary"]
    assert pd.alerts[key] == "triggered"

    # A button press on one of the eleven does not acknowledge the page the other ten stand behind;
    # the page resolves when the last of them is handled.
    paged = [f"ORD-synxis-{n:03d}" for n in range(12) if n != 5]
    with transaction(s.database_url) as session:
        escalation.acknowledge(session, paged[0], "U0BOB")
    jobs.run("workflows.oncall.escalation.page_event")
    assert pd.of_action("acknowledge") == []
    _resolve(s, *paged[:-1])
    escalation.check_due(s, all_clear + dt.timedelta(minutes=31))
    jobs.run("workflows.oncall.escalation.page_event")
    assert pd.alerts[key] == "triggered"
    _resolve(s, paged[-1])
    escalation.check_due(s, all_clear + dt.timedelta(minutes=32))
    jobs.run("workflows.oncall.escalation.page_event")
    assert pd.alerts[key] == "resolved"
    assert [e["dedup_key"] for e in pd.of_action("resolve")] == [key, key]  # the all-clear's, then this one


def test_when_reprocess_alls_acknowledgement_runs_out_its_orders_escalate_together(s, app):
    now = utcnow().replace(microsecond=0)
    for n in range(6):
        fail(app, n, now - dt.timedelta(seconds=20 * (6 - n)), arrival_in=3 + n)
    [incident] = incidents(s)
    outage_jobs.check_quiet(s, incident.last_failure_at + dt.timedelta(minutes=10, seconds=1))
    assert outage_requests.reprocess_all(s, incident.id, "U0ALICE").accepted
    jobs = Jobs(s)
    assert jobs.run("workflows.outage.jobs.start_recovery") == ["recovering 6 items"]  # their alerts acknowledged
    with transaction(s.database_url) as session:
        acked_at = max(session.scalars(select(Alert.acknowledged_at).where(Alert.incident_id == incident.id)))
    sent_before = len(slack().sent)

    escalation.check_due(s, acked_at + dt.timedelta(minutes=61))  # ACK_TIMEOUT_MINUTES 60
    assert jobs.count("workflows.oncall.escalation.notify") == 0
    assert jobs.run("workflows.oncall.escalation.notify_outage") == ["escalation.direct_message"]
    [dm] = slack().sent[sent_before:]
    assert dm.text.startswith("6 orders of the SynXis outage are still not resolved 61 minutes after U0ALICE "
                              "acknowledged them")
