"""Snooze and Hand over (issue 14) in the on-call workflows, with time passed in as `now`:
what a snooze may be set to, how escalation skips a snoozed order and picks it up again
where it was, and who escalation messages first once the order has an owner."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select, update

from tests.workflows.oncall.test_escalation import Jobs, audits, in_days, oncall_settings, opened_at, record, slack  # noqa: F401
from workflows.core.db import transaction
from workflows.core.models import Alert
from workflows.oncall import escalation, requests
from workflows.oncall.snooze import snooze_until

NOW = dt.datetime(2026, 11, 29, 13, 0, tzinfo=dt.timezone.utc)


@pytest.mark.parametrize("choice, custom, arrival, zone, until", [
    ("1h", None, None, "UTC", dt.datetime(2026, 11, 29, 14, 0, tzinfo=dt.timezone.utc)),
    ("tomorrow", None, None, "UTC", dt.datetime(2026, 11, 30, 9, 0, tzinfo=dt.timezone.utc)),
    ("tomorrow", None, None, "Pacific/Kiritimati", dt.datetime(2026, 11, 30, 19, 0, tzinfo=dt.timezone.utc)),
    ("arrival", None, dt.date(2026, 12, 1), "Europe/London", dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.timezone.utc)),
    (None, "2h", None, "UTC", dt.datetime(2026, 11, 29, 15, 0, tzinfo=dt.timezone.utc)),
    (None, "2026-11-30 18:30", None, "UTC", dt.datetime(2026, 11, 30, 18, 30, tzinfo=dt.timezone.utc)),
    ("arrival", None, dt.date(2026, 11, 20), "UTC", None),  # arrived already: no snooze past it
])
def test_a_snooze_ends_when_its_choice_says_in_the_guests_zone(choice, custom, arrival, zone, until):
    if until is None:
        with pytest.raises(ValueError, match="in the past"):
            snooze_until(choice, custom, now=NOW, zone=zone, arrival=arrival)
    else:
        assert snooze_until(choice, custom, now=NOW, zone=zone, arrival=arrival) == until


@pytest.mark.parametrize("choice, custom, arrival, says", [
    (None, "2020-01-01 09:00", None, "is in the past"),
    (None, "30d", None, "at most 7 days"),
    (None, "2026-12-05 09:00", dt.date(2026, 12, 1), "the guest arrives Tue 01 Dec"),
    ("arrival", None, None, "no arrival date"),
    ("forever", None, None, "choose how long"),
    (None, "teatime", None, "cannot read 'teatime' as a time"),
])
def test_a_snooze_that_cannot_be_is_refused_in_words(choice, custom, arrival, says):
    with pytest.raises(ValueError, match=says):
        snooze_until(choice, custom, now=NOW, zone="UTC", arrival=arrival)


def test_a_snoozed_acknowledged_alert_comes_back_at_its_level_and_counts_from_the_snooze_end(settings):
    s = settings
    record(s, "ORD-1", in_days(10))
    t0 = opened_at(s, "ORD-1")
    assert [e.level for e in escalation.check_due(s, t0 + dt.timedelta(minutes=16))] == [1]
    with transaction(s.database_url) as session:
        escalation.acknowledge(session, "ORD-1", "slack:U0ANA (ana)", now=t0 + dt.timedelta(minutes=17))
    assert requests.snooze(s, "ORD-1", "slack:U0ANA (ana)", "1h", now=t0 + dt.timedelta(minutes=18)).accepted
    # the acknowledgement would have expired after 60 min: the snooze holds it
    assert escalation.check_due(s, t0 + dt.timedelta(minutes=70)) == []
    ended = t0 + dt.timedelta(minutes=79)
    assert escalation.check_due(s, ended) == []  # re-raised at level 1; its next step counts from now
    with transaction(s.database_url) as session:
        alert = session.scalar(select(Alert))
        assert (alert.state, alert.escalation_level, alert.snoozed_until) == ("open", 1, None)
    assert escalation.check_due(s, ended + dt.timedelta(minutes=14)) == []
    assert [e.level for e in escalation.check_due(s, ended + dt.timedelta(minutes=16))] == [2]
    assert [e.detail["reason"] for e in audits(s, "alert.snooze_ended")] == ["expired"]


def test_a_snooze_of_a_resolved_order_is_refused_and_one_ending_after_resolution_raises_nothing(settings):
    s = settings
    record(s, "ORD-1", in_days(10))
    assert requests.snooze(s, "ORD-1", "slack:U0ANA (ana)", "1h", now=NOW).accepted
    with transaction(s.database_url) as session:
        session.execute(update(Alert).values(state="resolved"))
    assert escalation.check_due(s, NOW + dt.timedelta(hours=2)) == []
    assert audits(s, "alert.snooze_ended") == []
    refused = requests.snooze(s, "ORD-1", "slack:U0ANA (ana)", "1h", now=NOW)
    assert not refused.accepted and "no open alert" in refused.message


def test_escalation_messages_the_owner_first_then_the_channel_names_them(oncall_settings):
    s = oncall_settings
    jobs = Jobs(s)
    record(s, "ORD-1", in_days(10))
    t0 = opened_at(s, "ORD-1")
    handed = requests.hand_over(s, "ORD-1", "slack:U0ANA (ana)", "slack:U0BEN", now=t0 + dt.timedelta(minutes=1))
    assert handed.accepted and "U0BEN's now" in handed.message
    assert jobs.run("workflows.oncall.handover.tell_owner") == ["told"]
    [told] = slack().of_kind("direct")
    assert told.person_ids == ("U0BEN",) and told.order_id == "ORD-1" and "ana handed ORD-1" in told.text
    assert [e.level for e in escalation.check_due(s, t0 + dt.timedelta(minutes=17))] == [1]
    assert jobs.run("workflows.oncall.escalation.notify") == ["escalation.direct_message"]
    first = slack().of_kind("direct")[-1]
    assert first.person_ids == ("U0BEN",) and first.text.startswith("You own this alert")  # not Alice, on call
    escalation.check_due(s, t0 + dt.timedelta(minutes=33))
    jobs.run("workflows.oncall.escalation.notify")
    [channel] = slack().of_kind("channel")
    assert "U0BEN (its owner) was messaged" in channel.text
    again = requests.hand_over(s, "ORD-1", "slack:U0ANA (ana)", "slack:U0BEN")
    assert not again.accepted and "already owns" in again.message
