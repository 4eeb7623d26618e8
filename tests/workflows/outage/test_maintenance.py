"""Maintenance windows (issue 26.1), through the real intake (`workflows.intake.webhook.record`)
and the clock's check, time passed in as `now`: a failure inside a window is recorded, listed
under it and held, not posted on its own and never escalated or paged, nor counted towards an
outage; when the window ends (early by a person, or at its end by the clock) its failures get
the outage's view with Reprocess all and escalate together only after the usual delay. A
recurring night audit from the routing file, 02:00-03:00 in its property's zone."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from connectors.routing import RoutingError
from connectors.routing import parse as parse_routing
from tests.fakes.pagerduty import FakePagerDuty
from tests.workflows.intake.test_intake import SYNXIS_SET, payload
from tests.workflows.oncall.test_escalation import ONE_PERSON, ROUTING_KEY, Jobs, audits, in_days, slack
from workflows.core import states
from workflows.core.db import transaction
from workflows.core.models import Alert, Incident, MaintenanceWindow, utcnow
from workflows.core.settings import Settings
from workflows.intake import webhook as intake
from workflows.oncall import escalation
from workflows.orders.jobs import refresh_alert
from workflows.orders.payloads import parse_sync_failure
from workflows.outage import maintenance
from workflows.outage import requests as outage_requests
from workflows.outage import views as outage_views

UTC = dt.timezone.utc
SYDNEY = "Australia/Sydney"
NIGHT_AUDIT = f"""pms:
  properties:
    HARBOUR:
      timezone: "{SYDNEY}"
      maintenance:
        - {{from: "02:00", to: "03:00", reason: "night audit"}}
"""


@pytest.fixture
def pd() -> Iterator[FakePagerDuty]:
    with FakePagerDuty(routing_key=ROUTING_KEY) as fake:
        yield fake


@pytest.fixture
def s(settings: Settings, tmp_path: Path, pd: FakePagerDuty) -> Settings:
    """On call: Alice; PagerDuty configured; SynXis credentials (a timeout would get its retry)."""
    rotation = tmp_path / "oncall.yml"
    rotation.write_text(ONE_PERSON)
    return settings.model_copy(update={**SYNXIS_SET, "oncall_file": str(rotation),
                                       "pagerduty_routing_key": ROUTING_KEY, "pagerduty_events_url": pd.url})


def fail(s: Settings, n: int, *, hotel: str = "13098", system: str = "synxis",
         occurred: dt.datetime | None = None) -> str:
    order_id = f"ORD-{system}-{hotel}-{n:02d}"
    data = payload(event_id=f"evt-{order_id}", order__id=order_id, order__items__0__system=system,
                   failure__system=system, failure__code="timeout", failure__message="Read timed out after 30 s",
                   order__items__0__start=in_days(1).isoformat(), order__items__0__end=in_days(2).isoformat(),
                   order__items__0__details__hotel_id=hotel, order__guest__last_name=f"Guest{n}",
                   occurred_at=(occurred or utcnow()).strftime("%Y-%m-%dT%H:%M:%SZ"))
    intake.record(s, parse_sync_failure(json.dumps(data).encode()), "webhook")
    return order_id


def windows(s: Settings) -> list[MaintenanceWindow]:
    with transaction(s.database_url) as session:
        return list(session.scalars(select(MaintenanceWindow).order_by(MaintenanceWindow.id)))


def incident_of(s: Settings, order_id: str) -> Incident | None:
    with transaction(s.database_url) as session:
        incident_id = session.scalar(select(Alert.incident_id).where(Alert.order_id == order_id))
        return session.get(Incident, incident_id) if incident_id else None


def test_a_failure_in_a_window_is_held_under_it_and_nobody_is_paged_until_it_ends_early(s, pd):
    jobs = Jobs(s)
    said = maintenance.answer(s, ["synxis", "13098", "now-2h", "“Sabre", "upgrade”"], "slack:U0ANA (ana)")
    [window] = windows(s)
    assert said.accepted and said.public and said.message.startswith(
        f"Maintenance window set: #{window.id} SynXis at 13098, now until "), said.message
    assert window.reason == "Sabre upgrade" and window.started_at is not None
    t0 = utcnow()
    # Six SynXis timeouts at 13098 inside the window: more than an outage's five, yet no outage,
    # no page, no retry; and one at another hotel, which is not in the window.
    held = [fail(s, n) for n in range(6)]
    other = fail(s, 1, hotel="13099")
    incident = incident_of(s, held[0])
    assert incident is not None and incident.state == states.INCIDENT_MAINTENANCE and incident.failure_count == 6
    assert {incident_of(s, o).id for o in held} == {incident.id} and incident_of(s, other) is None
    assert windows(s)[0].incident_id == incident.id
    assert jobs.count("workflows.outage.jobs.page_incident") == 0
    assert jobs.count("workflows.actions.jobs.reprocess") == 1  # the other hotel's automatic retry alone
    assert [refresh_alert(o, "slack", settings=s) for o in held[:2]] == ["in the outage message"] * 2
    assert len(audits(s, "maintenance.held")) == 6

    # Listed under the window: its message, and `maintenance`.
    jobs.run("workflows.outage.jobs.refresh_incident")
    shown = slack().of_kind("incident")[-1]
    assert shown.text.startswith("Maintenance: SynXis at 13098 until ") and "(Sabre upgrade) — 6 failures held, " \
                                                                         "nobody paged" in shown.text
    with transaction(s.database_url) as session:
        view = outage_views.view(session, incident.id)
    assert view.in_maintenance and not view.reprocess_all_offered and set(view.order_ids) == set(held)
    listed = maintenance.answer(s, [], "cli:ops").message
    assert f"#{window.id} SynXis at 13098, now until" in listed and "6 failures held" in listed
    refused = outage_requests.reprocess_all(s, incident.id, "slack:U0ANA (ana)")
    assert not refused.accepted and "maintenance window" in refused.message

    # Escalation: the other hotel's alert is messaged after 5 minutes (its guest arrives
    # tomorrow), the held ones never while the window lasts, however long.
    for minutes in (6, 30, 90):
        due = escalation.check_due(s, t0 + dt.timedelta(minutes=minutes))
        assert all(e.order_id == other for e in due), due
    jobs.run("workflows.oncall.escalation.notify")
    jobs.run("workflows.oncall.escalation.page")
    assert all(m.order_id == other for m in slack().of_kind("direct"))
    assert {e["payload"]["custom_details"].get("order_id") for e in pd.of_action("trigger")} <= {other}

    # Ended early by a person: audited; the failures get the outage's view with Reprocess all.
    ended_at = t0 + dt.timedelta(minutes=100)
    said = maintenance.answer(s, ["end", str(window.id)], "teams:ben (Ben Okafor)", now=ended_at)
    assert said.accepted and said.public and "ended early" in said.message and "6 failures" in said.message
    [event] = audits(s, "maintenance.ended")
    assert event.actor == "teams:ben (Ben Okafor)" and event.detail["early"] is True and event.detail["failures"] == 6
    assert not maintenance.answer(s, ["end", str(window.id)], "teams:ben (Ben Okafor)").accepted  # once
    with transaction(s.database_url) as session:
        view = outage_views.view(session, incident.id)
    assert view.state == states.INCIDENT_QUIET and view.reprocess_all_offered and view.still_failed == 6
    assert view.summary.startswith("Maintenance over: SynXis at 13098 (Sabre upgrade) — 6 failures")
    assert view.all_clear_text.endswith("early, by teams:ben (Ben Okafor). 6 still failed — Reprocess all 6 from the "
                                        "outage message.")
    jobs.run("workflows.outage.jobs.announce_all_clear")
    assert any(m.text.startswith("Maintenance over: SynXis at 13098") for m in slack().of_kind("channel"))

    # Nobody presses Reprocess all: 15 minutes after the end they escalate together, once.
    assert escalation.check_due(s, ended_at + dt.timedelta(minutes=4)) == []
    due = escalation.check_due(s, ended_at + dt.timedelta(minutes=5, seconds=1))
    assert sorted(e.order_id for e in due) == sorted(held)
    assert jobs.run("workflows.oncall.escalation.notify_outage") == ["escalation.direct_message"]
    together = slack().of_kind("direct")[-1]
    assert together.text.startswith("6 orders of the SynXis maintenance window are still unhandled")


def test_the_clock_ends_a_window_at_its_end_and_a_window_with_nothing_held_ends_quietly(s):
    now = utcnow().replace(microsecond=0)
    assert maintenance.answer(s, ["synxis", "now-30m", "SynXis release"], "cli:ops", now=now).accepted
    assert maintenance.answer(s, ["pms", "now-30m", "PMS patch"], "cli:ops", now=now).accepted
    fail(s, 1, hotel="77")  # a system-wide window holds every property's failures
    assert maintenance.check_windows(s, now + dt.timedelta(minutes=29)) == "0 started, 0 ended"
    assert maintenance.check_windows(s, now + dt.timedelta(minutes=30)) == "0 started, 2 ended"
    assert maintenance.check_windows(s, now + dt.timedelta(minutes=31)) == "0 started, 0 ended"  # once
    ended = audits(s, "maintenance.ended")
    assert [(e.actor, e.detail["early"], e.detail["failures"]) for e in ended] == [
        (maintenance.ACTOR, False, 1), (maintenance.ACTOR, False, 0)]
    incident = incident_of(s, "ORD-synxis-77-01")
    assert incident.state == states.INCIDENT_QUIET and incident.all_clear_at == now + dt.timedelta(minutes=30)
    with transaction(s.database_url) as session:
        assert outage_views.view(session, incident.id).reprocess_all_offered
    assert Jobs(s).count("workflows.outage.jobs.announce_all_clear") == 1  # only where something was held
    # After its end a failure is an ordinary one again.
    fail(s, 2, hotel="77", occurred=now + dt.timedelta(minutes=31))
    assert incident_of(s, "ORD-synxis-77-02") is None


def test_a_window_set_ahead_is_listed_started_by_the_clock_and_can_be_called_off(s):
    now = dt.datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    said = maintenance.answer(s, ["resdiary", "TheGrillRoom", "22:00-02:00", "EPOS", "upgrade"], "cli:ops", now=now)
    assert said.accepted, said.message
    [window] = windows(s)
    assert (window.starts_at, window.ends_at, window.started_at) == (
        dt.datetime(2026, 12, 1, 22, tzinfo=UTC), dt.datetime(2026, 12, 2, 2, tzinfo=UTC), None)
    assert f"#{window.id} ResDiary at TheGrillRoom, Tue 1 Dec 22:00 UTC to Wed 2 Dec 02:00 UTC: EPOS upgrade" in \
        maintenance.listing(s, now=now).message
    assert maintenance.check_windows(s, dt.datetime(2026, 12, 1, 22, 0, 5, tzinfo=UTC)) == "1 started, 0 ended"
    assert [e.actor for e in audits(s, "maintenance.started")] == [maintenance.ACTOR]
    # Another one, called off before it starts.
    assert maintenance.answer(s, ["synxis", "23:00-23:30", "x"], "cli:ops", now=now).accepted
    later = windows(s)[-1].id
    said = maintenance.answer(s, ["end", str(later)], "cli:ops", now=now)
    assert said.accepted and said.message.startswith(f"Maintenance window called off: #{later}")
    assert f"#{later}" not in maintenance.listing(s, now=now).message


def test_a_recurring_night_audit_holds_failures_in_the_propertys_zone(s, tmp_path):
    """The routing file's night audit, 02:00-03:00 in Sydney: its occurrence is found in Sydney's
    time (AEDT in December, 15:00-16:00 UTC the day before), started and ended by the clock and
    audited; a failure of the property in tonight's occurrence is held, one of another property
    or outside it is not."""
    routing = tmp_path / "routing.yml"
    routing.write_text(NIGHT_AUDIT)
    s = s.model_copy(update={"connectors_file": str(routing)})
    [rule] = maintenance.recurring(s)
    assert (rule.system, rule.property, rule.timezone, rule.rule.reason) == ("pms", "HARBOUR", SYDNEY, "night audit")
    before = dt.datetime(2026, 12, 1, 14, 0, tzinfo=UTC)  # 01:00 in Sydney, 2 December
    assert "PMS at HARBOUR, every day 02:00-03:00 Australia/Sydney (the routing file): night audit · next Wed 2 Dec " \
           "02:00 AEDT" in maintenance.listing(s, now=before).message
    assert rule.covering(dt.datetime(2026, 12, 1, 15, 30, tzinfo=UTC)) == (
        dt.datetime(2026, 12, 1, 15, tzinfo=UTC), dt.datetime(2026, 12, 1, 16, tzinfo=UTC))
    assert rule.covering(dt.datetime(2026, 7, 1, 16, 30, tzinfo=UTC)) == (  # AEST in July: 16:00-17:00 UTC
        dt.datetime(2026, 7, 1, 16, tzinfo=UTC), dt.datetime(2026, 7, 1, 17, tzinfo=UTC))
    assert rule.covering(dt.datetime(2026, 12, 1, 16, 0, tzinfo=UTC)) is None  # 03:00: over

    assert maintenance.check_windows(s, dt.datetime(2026, 12, 1, 15, 0, 10, tzinfo=UTC)) == "1 started, 0 ended"
    assert maintenance.check_windows(s, dt.datetime(2026, 12, 1, 15, 0, 40, tzinfo=UTC)) == "0 started, 0 ended"
    [window] = windows(s)
    assert window.recurrence == rule.key and window.reason == "night audit" and window.timezone == SYDNEY
    assert f"#{window.id} PMS at HARBOUR, now until 03:00 AEDT (Wed 2 Dec): night audit" in \
        maintenance.listing(s, now=dt.datetime(2026, 12, 1, 15, 30, tzinfo=UTC)).message
    assert maintenance.check_windows(s, dt.datetime(2026, 12, 1, 16, 0, 10, tzinfo=UTC)) == "0 started, 1 ended"
    [started], [ended] = audits(s, "maintenance.started"), audits(s, "maintenance.ended")
    assert started.detail["recurrence"] == ended.detail["recurrence"] == rule.key and ended.detail["early"] is False


def test_a_recurring_window_running_now_holds_a_failure_reported_through_intake(s, tmp_path):
    """The same rule, its hour put around now in Sydney (the clock cannot be 02:00 on demand):
    intake finds tonight's occurrence itself, before the clock has, and holds the failure."""
    local = utcnow().astimezone(ZoneInfo(SYDNEY))
    starts, ends = (local - dt.timedelta(minutes=5)).strftime("%H:%M"), (local + dt.timedelta(minutes=55)).strftime("%H:%M")
    routing = tmp_path / "routing.yml"
    routing.write_text(NIGHT_AUDIT.replace('"02:00"', f'"{starts}"').replace('"03:00"', f'"{ends}"'))
    s = s.model_copy(update={"connectors_file": str(routing)})
    t0 = utcnow()
    held = fail(s, 1, system="pms", hotel="HARBOUR")
    elsewhere = fail(s, 2, system="pms", hotel="SEASIDE")
    incident = incident_of(s, held)
    assert incident is not None and incident.state == states.INCIDENT_MAINTENANCE and incident_of(s, elsewhere) is None
    [window] = windows(s)
    assert window.recurrence and window.started_at is not None and window.incident_id == incident.id
    assert window.timezone == SYDNEY and window.created_by == maintenance.ACTOR
    due = {e.order_id for e in escalation.check_due(s, t0 + dt.timedelta(minutes=20))}
    assert elsewhere in due and held not in due


def test_reading_windows_and_their_mistakes():
    now = dt.datetime(2026, 12, 1, 14, 0, tzinfo=UTC)  # 01:00 on 2 December in Sydney
    assert maintenance.span("02:00-03:00", now, SYDNEY) == (dt.datetime(2026, 12, 1, 15, tzinfo=UTC),
                                                             dt.datetime(2026, 12, 1, 16, tzinfo=UTC))
    assert maintenance.span("00:30-01:30", now, SYDNEY)[0] == dt.datetime(2026, 12, 1, 13, 30, tzinfo=UTC)  # running
    assert maintenance.span("00:00-00:30", now, SYDNEY)[0] == dt.datetime(2026, 12, 2, 13, tzinfo=UTC)  # tomorrow's
    assert maintenance.span("23:30-00:30", now, "UTC") == (dt.datetime(2026, 12, 1, 23, 30, tzinfo=UTC),
                                                           dt.datetime(2026, 12, 2, 0, 30, tzinfo=UTC))
    assert maintenance.span("now-90m", now, "UTC") == (now, now + dt.timedelta(minutes=90))
    assert maintenance.span("2026-12-05T22:00-2026-12-06T01:00", now, "UTC")[1] == dt.datetime(2026, 12, 6, 1,
                                                                                                 tzinfo=UTC)
    for words, problem in ((["nosuch", "now-1h", "x"], "unknown system"), (["pms", "HARBOUR", "soon", "x"], "FROM-TO"),
                           (["pms", "now-1h"], "say why"), (["end"], "which window")):
        with pytest.raises(ValueError, match=problem):
            maintenance.parse(words)
    with pytest.raises(ValueError, match="not a time"):
        maintenance.span("25:00-26:00", now, "UTC")
    with pytest.raises(RoutingError, match=r"HARBOUR\.maintenance\[0\]\.to: expected a local time"):
        parse_routing({"pms": {"properties": {"HARBOUR": {"maintenance": [{"from": "02:00", "to": "3pm"}]}}}}, "f")
    with pytest.raises(RoutingError, match="days"):
        parse_routing({"pms": {"default": {"maintenance": [{"from": "02:00", "to": "03:00", "days": ["funday"]}]}}}, "f")
    rule = parse_routing({"pms": {"default": {"maintenance": [{"from": 120, "to": "03:00", "days": ["Sunday"]}]}}},
                         "f").defaults["pms"].maintenance[0]
    assert (rule.starts, rule.days) == (dt.time(2), (6,))  # YAML's unquoted 02:00 is 120


def test_setting_refuses_what_cannot_be_a_window(settings):
    now = dt.datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    for words, problem in ((["synxis", "now-8d", "x"], "more than 7 days"),
                           (["synxis", "2026-11-30T10:00-11:00", "x"], "over already"),
                           (["synxis", "2027-03-01T10:00-11:00", "x"], "more than 30 days from now")):
        said = maintenance.answer(settings, words, "cli:ops", now=now)
        assert not said.accepted and problem in said.message, said.message
    assert maintenance.answer(settings, ["end", "42"], "cli:ops").message.startswith("There is no maintenance window 42")
    assert maintenance.answer(settings, ["synxis"], "cli:ops").usage
    assert maintenance.answer(settings, [], "cli:ops").message.startswith("No maintenance window is running or planned")
