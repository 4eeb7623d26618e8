"""On-call from calendars (issue 26.8): a property's on-call from an iCal file or feed, its
recurrences expanded, beside the weekly rotation (which decides where no event covers the
moment) and the chat overrides (which win everywhere)."""

from __future__ import annotations

import datetime as dt
import re
import textwrap
from pathlib import Path

import pytest

from tests.fakes.http import FakeServer, RecordedRequest, Reply
from workflows.core.db import transaction
from workflows.oncall import calendars
from workflows.oncall import rotation as oncall

# Harbour Hotel's night desk: Alice every Monday 18:00-Tuesday 08:00 London time, except
# on 16 Nov; Bilal for one weekend (an ATTENDEE naming him); an event naming nobody known.
HARBOUR_ICS = textwrap.dedent("""\
    BEGIN:VCALENDAR
    VERSION:2.0
    PRODID:-//syncdesk tests//EN
    BEGIN:VEVENT
    UID:night-desk@harbour
    DTSTAMP:20261101T000000Z
    DTSTART;TZID=Europe/London:20261102T180000
    DTEND;TZID=Europe/London:20261103T080000
    RRULE:FREQ=WEEKLY;BYDAY=MO
    EXDATE;TZID=Europe/London:20261116T180000
    SUMMARY:On call: Alice
    END:VEVENT
    BEGIN:VEVENT
    UID:weekend@harbour
    DTSTAMP:20261101T000000Z
    DTSTART:20261121T090000Z
    DTEND:20261123T090000Z
    SUMMARY:Weekend cover
    ATTENDEE;CN=Bilal:mailto:bilal@example.com
    END:VEVENT
    BEGIN:VEVENT
    UID:stranger@harbour
    DTSTAMP:20261101T000000Z
    DTSTART:20261125T090000Z
    DTEND:20261125T170000Z
    SUMMARY:Somebody else
    END:VEVENT
    END:VCALENDAR
    """).replace("\n", "\r\n")

ROTATION = textwrap.dedent("""
    timezone: Europe/London
    handoff: {weekday: monday, time: "09:00"}
    start: 2026-10-05
    people:
      - {name: Alice, slack: U0ALICE}
      - {name: Bilal, slack: U0BILAL}
      - {name: Carmen, slack: U0CARMEN}
    properties:
      "13098": {calendar: harbour.ics}
""")


def utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.timezone.utc)


@pytest.fixture
def rotation(tmp_path: Path) -> oncall.Rotation:
    (tmp_path / "harbour.ics").write_text(HARBOUR_ICS)
    (tmp_path / "oncall.yml").write_text(ROTATION)
    return oncall.load_rotation(tmp_path / "oncall.yml")


def on_call(settings, rotation: oncall.Rotation, when: str, prop: str | None = "13098") -> tuple[str, str]:
    with transaction(settings.database_url) as session:
        current, _ = oncall.who(session, utc(when), rotation, prop)
    assert current is not None
    return current.person.name, current.source


def test_a_propertys_calendar_decides_where_it_has_an_event_and_the_rotation_elsewhere(settings, rotation):
    # The weekly rotation: Carmen from Mon 9 Nov 09:00, Alice from the 16th, Bilal from the 23rd.
    # Monday 9 Nov 19:00 London (UTC in November): Alice's weekly night desk at Harbour.
    assert on_call(settings, rotation, "2026-11-09T19:00:00") == ("Alice", "calendar")
    # Its recurrence excludes 16 Nov: the weekly rotation decides.
    assert on_call(settings, rotation, "2026-11-16T19:00:00") == ("Alice", "rotation")
    assert on_call(settings, rotation, "2026-11-23T19:00:00") == ("Alice", "calendar")
    # The weekend cover names Bilal as an attendee, in Alice's week.
    assert on_call(settings, rotation, "2026-11-22T12:00:00") == ("Bilal", "calendar")
    # An event naming nobody known is skipped: the rotation decides.
    assert on_call(settings, rotation, "2026-11-25T12:00:00") == ("Bilal", "rotation")
    # Another property, or none, has only the weekly rotation.
    assert on_call(settings, rotation, "2026-11-09T19:00:00", "99999") == ("Carmen", "rotation")
    assert on_call(settings, rotation, "2026-11-09T19:00:00", None) == ("Carmen", "rotation")


def test_the_next_shift_follows_the_calendars_event(settings, rotation):
    with transaction(settings.database_url) as session:
        current, following = oncall.who(session, utc("2026-11-09T19:00:00"), rotation, "13098")
    assert current is not None and following is not None
    assert current.ends_at == utc("2026-11-10T08:00:00")
    assert (following.person.name, following.starts_at) == ("Carmen", utc("2026-11-10T08:00:00"))


def test_an_override_wins_over_the_calendar(settings, rotation):
    with transaction(settings.database_url) as session:
        oncall.take(session, "U0ALICE", utc("2026-11-09T21:00:00"), "slack:U0ALICE", now=utc("2026-11-09T18:30:00"),
                    rotation=rotation)
    assert on_call(settings, rotation, "2026-11-09T19:00:00") == ("Alice", "override")


class Feed(FakeServer):
    def __init__(self) -> None:
        super().__init__()
        self.body, self.status = HARBOUR_ICS.encode(), 200
        self.route("GET", r"/harbour\.ics", self._ics)

    def _ics(self, req: RecordedRequest, _m: re.Match[str]) -> Reply:
        return Reply(self.status, body=self.body, headers={"Content-Type": "text/calendar"})


def test_a_feed_is_fetched_again_and_its_last_copy_kept_when_it_fails():
    with Feed() as feed:
        source = calendars.CalendarSource(f"{feed.url}/harbour.ics", refresh_seconds=0)
        people = oncall.parse_rotation({"people": [{"name": "Alice", "slack": "U0ALICE"}]}).people
        zone = dt.timezone.utc
        shift = calendars.shift_at(source.text(), utc("2026-11-09T19:00:00"), people, zone, "feed")
        assert shift is not None and shift.person.name == "Alice"
        feed.status = 503
        assert source.text() == HARBOUR_ICS.encode()  # the copy read before
        assert len(feed.requests_to("GET")) == 2
        broken = calendars.CalendarSource(f"{feed.url}/harbour.ics")
        with pytest.raises(calendars.CalendarError, match="cannot be fetched"):
            broken.text()


def test_a_calendar_entry_without_a_calendar_or_a_file_that_is_not_ical_is_refused(tmp_path):
    with pytest.raises(oncall.RotationError, match=r"properties\.13098 needs a calendar"):
        oncall.parse_rotation({"people": [{"name": "A", "slack": "U0A"}], "properties": {"13098": {}}})
    with pytest.raises(calendars.CalendarError, match="is not an iCal calendar"):
        calendars.shift_at(b"hello", utc("2026-11-09T19:00:00"), [], dt.timezone.utc, "x.ics")


ALWAYS_BILAL = textwrap.dedent("""\
    BEGIN:VCALENDAR
    VERSION:2.0
    PRODID:-//syncdesk tests//EN
    BEGIN:VEVENT
    UID:always@harbour
    DTSTAMP:20260101T000000Z
    DTSTART:20260101T000000Z
    DTEND:20260102T000000Z
    RRULE:FREQ=DAILY
    SUMMARY:U0BILAL
    END:VEVENT
    END:VCALENDAR
    """).replace("\n", "\r\n")


def test_an_unhandled_alert_goes_to_its_propertys_on_call(settings, tmp_path):
    from tests.conftest import logged
    from tests.workflows.oncall.test_escalation import in_days, record
    from workflows.oncall import escalation

    (tmp_path / "harbour.ics").write_text(ALWAYS_BILAL)
    (tmp_path / "oncall.yml").write_text(ROTATION)
    s = settings.model_copy(update={"oncall_file": str(tmp_path / "oncall.yml")})
    record(s, "ORD-1", in_days(10))  # the intake fixture's room is at hotel 13098
    # In Carmen's week of the weekly rotation; Harbour's calendar says Bilal.
    escalation.notify("ORD-1", escalation.LEVEL_DM, 15, settings=s, now=utc("2026-11-09T19:00:00"))
    [dm] = logged("slack").of_kind("direct")
    assert dm.person_ids == ("U0BILAL",)


def test_oncall_says_who_is_on_call_now_and_next_for_each_property_with_its_own_calendar(settings, rotation):
    def said(when: str) -> list[str]:
        with transaction(settings.database_url) as session:
            current, following = oncall.who(session, utc(when), rotation)
            properties = oncall.by_property(session, utc(when), rotation)
        return oncall.lines(current, following, properties, rotation.zone)

    # Monday 9 Nov 19:00: Carmen's week; Alice's night desk at Harbour, then Carmen's week again.
    assert said("2026-11-09T19:00:00") == [
        "On call now: Carmen, until Mon 16 Nov 09:00. Next: Alice from Mon 16 Nov 09:00.",
        "Properties with their own on-call calendar:",
        "• 13098: Alice (its calendar) until Tue 10 Nov 08:00. Next: Carmen (the weekly rotation) from Tue 10 Nov 08:00.",
    ]
    # 16 Nov is excluded: Alice by the weekly rotation until the weekend cover names Bilal.
    assert said("2026-11-16T19:00:00")[2] == (
        "• 13098: Alice (the weekly rotation, no calendar event now) until Sat 21 Nov 09:00. "
        "Next: Bilal (its calendar) from Sat 21 Nov 09:00.")
    # An override wins everywhere, Harbour too.
    with transaction(settings.database_url) as session:
        oncall.take(session, "U0BILAL", utc("2026-11-09T21:00:00"), "slack:U0BILAL", now=utc("2026-11-09T18:30:00"),
                    rotation=rotation)
    assert said("2026-11-09T19:00:00")[2] == (
        "• 13098: Bilal (override set by slack:U0BILAL) until Mon 09 Nov 21:00. "
        "Next: Alice (its calendar) from Mon 09 Nov 21:00.")


def test_oncall_names_a_propertys_calendar_it_cannot_read_and_says_the_rest(settings, rotation, tmp_path):
    (tmp_path / "harbour.ics").unlink()
    with transaction(settings.database_url) as session:
        properties = oncall.by_property(session, utc("2026-11-09T19:00:00"), rotation)
    assert oncall.lines(None, None, properties) == [
        "Nobody is on call (no rotation configured and no override).",
        "Properties with their own on-call calendar:",
        f"• 13098: its calendar cannot be read: on-call calendar {tmp_path / 'harbour.ics'} does not exist",
    ]
    # Without calendars, only the weekly rotation, as before.
    assert oncall.by_property(session, utc("2026-11-09T19:00:00"), None) == []


def harbour_on_call_now(directory: Path) -> tuple[Path, str]:
    """A rotation file (Ana Lopez and Ben Okafor, with Slack and Teams ids) whose property 13098
    has a calendar with Ben on call from an hour ago to two hours on: the file, and the line
    `oncall` gives for 13098, `{}` standing for whoever the weekly rotation has next (for the
    surfaces' end-to-end tests, which run at the real time)."""
    now = dt.datetime.now(dt.timezone.utc).replace(second=0, microsecond=0)
    start, end = now - dt.timedelta(hours=1), now + dt.timedelta(hours=2)
    (directory / "harbour.ics").write_text(textwrap.dedent(f"""\
        BEGIN:VCALENDAR
        VERSION:2.0
        PRODID:-//syncdesk tests//EN
        BEGIN:VEVENT
        UID:now@harbour
        DTSTAMP:{start:%Y%m%dT%H%M%SZ}
        DTSTART:{start:%Y%m%dT%H%M%SZ}
        DTEND:{end:%Y%m%dT%H%M%SZ}
        SUMMARY:On call: Ben Okafor
        END:VEVENT
        END:VCALENDAR
        """).replace("\n", "\r\n"))
    (directory / "oncall.yml").write_text(textwrap.dedent("""
        timezone: UTC
        people:
          - {name: Ana Lopez, slack: U0ANA, teams: "29:ana"}
          - {name: Ben Okafor, slack: U0BEN, teams: "29:ben"}
        properties:
          "13098": {calendar: harbour.ics}
    """))
    until = f"{end:%a %d %b %H:%M}"
    return directory / "oncall.yml", f"• 13098: Ben Okafor (its calendar) until {until}. Next: {{}} (the weekly " \
                                     f"rotation) from {until}."
