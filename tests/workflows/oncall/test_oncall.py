"""Who is on call: the weekly rotation from its YAML file across a DST change and a week
wrap, and `/oncall take [until]` overrides stored in the database."""

from __future__ import annotations

import datetime as dt
import textwrap
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from tests.conftest import EXAMPLES, settings_env
from tests.syncdesk.test_cli import syncdesk
from workflows.core.db import transaction
from workflows.core.models import AuditEvent
from workflows.oncall import rotation as oncall

LONDON = ZoneInfo("Europe/London")
ROTATION = textwrap.dedent("""
    timezone: Europe/London
    handoff: {weekday: monday, time: "09:00"}
    start: 2026-10-05
    people:
      - {name: Alice, slack: U0ALICE, teams: "29:alice"}
      - {name: Bilal, slack: U0BILAL}
      - {name: Carmen, slack: U0CARMEN}
""")


def utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.timezone.utc)


@pytest.fixture
def rotation_file(tmp_path: Path) -> Path:
    path = tmp_path / "oncall.yml"
    path.write_text(ROTATION)
    return path


@pytest.fixture
def rotation(rotation_file: Path) -> oncall.Rotation:
    return oncall.load_rotation(rotation_file)


def test_hand_off_is_at_nine_local_time_on_both_sides_of_the_autumn_clock_change(rotation):
    # Monday 19 Oct 2026 is BST (UTC+1): 09:00 local is 08:00 UTC.
    assert rotation.shift_at(utc("2026-10-19T07:59:00")).person.name == "Bilal"
    assert rotation.shift_at(utc("2026-10-19T08:00:00")).person.name == "Carmen"
    # Clocks go back on Sunday 25 Oct; Monday 26 Oct 09:00 GMT is 09:00 UTC, not 08:00.
    carmen = rotation.shift_at(utc("2026-10-26T08:30:00"))
    assert carmen.person.name == "Carmen"
    assert (carmen.starts_at, carmen.ends_at) == (utc("2026-10-19T08:00:00"), utc("2026-10-26T09:00:00"))
    assert carmen.ends_at - carmen.starts_at == dt.timedelta(days=7, hours=1)  # the week with the extra hour


def test_rotation_wraps_to_the_first_person_after_the_last_week(rotation):
    assert rotation.shift_at(utc("2026-10-26T09:00:00")).person.name == "Alice"  # week 4 = week 1
    assert rotation.shift_at(utc("2026-11-02T09:00:00")).person.name == "Bilal"
    assert rotation.shift_at(utc("2026-10-05T07:00:00")).person.name == "Carmen"  # the week before the start


def test_the_example_rotation_file_loads():
    example = oncall.load_rotation(EXAMPLES / "oncall.yml")
    assert [p.name for p in example.people] == ["Alice Ng", "Bilal Khan", "Carmen Ruiz"]
    assert example.people[0].id_on("teams") == "29:1aliceAADobjectid"


def test_a_rotation_without_people_is_refused_naming_the_problem(tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text("timezone: Europe/London\npeople: []\n")
    with pytest.raises(oncall.RotationError, match="people"):
        oncall.load_rotation(bad)


def test_override_wins_then_expires_and_is_audited(settings, rotation):
    now = utc("2026-11-09T10:00:00")  # Monday of Carmen's week (the sixth since 5 Oct: index 5 % 3 = 2)
    until = oncall.parse_until("18:00", now, LONDON)
    assert until == utc("2026-11-09T18:00:00")
    with transaction(settings.database_url) as session:
        current, following = oncall.who(session, now, rotation)
        assert (current.person.name, current.source) == ("Carmen", "rotation")
        oncall.take(session, "U0BILAL", until, "U0BILAL", now=now, rotation=rotation)
    with transaction(settings.database_url) as session:
        current, following = oncall.who(session, utc("2026-11-09T12:00:00"), rotation)
        assert (current.person.name, current.source, current.ends_at) == ("Bilal", "override", until)
        assert (following.person.name, following.starts_at) == ("Carmen", until)
        after, _ = oncall.who(session, utc("2026-11-09T18:00:00"), rotation)
        assert (after.person.name, after.source) == ("Carmen", "rotation")
        event = session.scalar(select(AuditEvent).where(AuditEvent.action == "oncall.take"))
        assert (event.actor, event.detail["person"]) == ("U0BILAL", "U0BILAL")


def test_take_without_until_lasts_until_the_next_hand_off(settings, rotation):
    now = utc("2026-11-11T15:00:00")
    with transaction(settings.database_url) as session:
        override = oncall.take(session, "U0ALICE", None, "U0ALICE", now=now, rotation=rotation)
        assert override.ends_at == utc("2026-11-16T09:00:00")
        current, following = oncall.who(session, now, rotation)
        assert current.person.name == "Alice" and following.person.name == "Alice"  # her week is next


def test_override_by_someone_outside_the_rotation_and_release(settings, rotation):
    now = utc("2026-11-09T10:00:00")
    with transaction(settings.database_url) as session:
        oncall.take(session, "U0DANA", now + dt.timedelta(hours=2), "U0DANA", now=now, rotation=rotation)
        current, _ = oncall.who(session, now, rotation)
        assert (current.person.name, current.person.id_on("slack")) == ("U0DANA", "U0DANA")
        assert oncall.release(session, "U0DANA", "U0DANA", now=now + dt.timedelta(minutes=30)) == 1
        current, _ = oncall.who(session, now + dt.timedelta(minutes=31), rotation)
        assert current.person.name == "Carmen"


def test_take_refuses_a_time_in_the_past_or_without_a_rotation(settings):
    now = utc("2026-11-23T10:00:00")
    with transaction(settings.database_url) as session:
        with pytest.raises(ValueError, match="not in the future"):
            oncall.take(session, "U0X", now - dt.timedelta(minutes=1), "U0X", now=now)
        with pytest.raises(ValueError, match="until when"):
            oncall.take(session, "U0X", None, "U0X", now=now)


def test_parse_until_understands_clock_times_durations_and_dates():
    now = utc("2026-11-23T19:00:00")
    assert oncall.parse_until("18:00", now, LONDON) == utc("2026-11-24T18:00:00")  # past today: tomorrow
    assert oncall.parse_until("2h", now, LONDON) == utc("2026-11-23T21:00:00")
    assert oncall.parse_until("2026-11-25 08:30", now, LONDON) == utc("2026-11-25T08:30:00")
    with pytest.raises(ValueError, match="cannot read"):
        oncall.parse_until("teatime", now, LONDON)


def test_cli_take_then_show(settings, rotation_file):
    env = settings_env(settings) | {"ONCALL_FILE": str(rotation_file)}
    taken = syncdesk(env, "oncall", "take", "U0BILAL", "2h", "--actor", "cli:test")
    assert taken.returncode == 0, taken.stderr
    assert "On call now: Bilal, covering by override set by cli:test" in taken.stdout
    shown = syncdesk(env, "oncall")
    assert shown.returncode == 0 and "On call now: Bilal" in shown.stdout and "Next:" in shown.stdout
