"""On-call from calendars (issue 26): a property's on-call can come from an iCal calendar,
a file or an `http(s)://` feed (RFC 5545), beside the weekly YAML rotation and the chat
overrides. `icalendar` reads it (icalendar.readthedocs.io) and `recurring-ical-events`
expands its recurrences (RRULE, RDATE, EXDATE, moved occurrences: pypi.org/project/recurring-ical-events).

Who an event puts on call: its SUMMARY, or an ATTENDEE's CN, naming one of the rotation's
`people` by name, Slack id or Teams id ("On call: Alice Ng" works too). An event naming
nobody known is skipped, and logged. Where no event covers the moment, the weekly rotation
decides. A feed is fetched again after ONCALL_CALENDAR_REFRESH_MINUTES; when a fetch fails,
the last copy read stays in use, and the failure is logged.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import httpx
import icalendar
import recurring_ical_events

log = logging.getLogger(__name__)

UTC = dt.timezone.utc
REFRESH_SECONDS = 900.0


class Named(Protocol):
    name: str

    def known_as(self, person_id: str) -> bool: ...


@dataclass(frozen=True)
class CalendarShift:
    person: Any  # the rotation's Person the event names
    starts_at: dt.datetime
    ends_at: dt.datetime


class CalendarError(ValueError):
    """The calendar cannot be read; the message says which and why."""


def _aware(value: dt.date | dt.datetime, zone: dt.tzinfo) -> dt.datetime:
    if not isinstance(value, dt.datetime):  # an all-day event: from local midnight
        value = dt.datetime.combine(value, dt.time(0))
    return (value if value.tzinfo else value.replace(tzinfo=zone)).astimezone(UTC)


def _who(event: Any, people: Sequence[Named]) -> Any | None:
    summary = str(event.get("SUMMARY") or "").strip()
    words = [summary, summary.split(":", 1)[-1].strip()]
    attendees = event.get("ATTENDEE") or []
    for attendee in attendees if isinstance(attendees, list) else [attendees]:
        words.append(str(getattr(attendee, "params", {}).get("CN", "")).strip())
    for word in (w for w in words if w):
        found = next((p for p in people if p.known_as(word) or p.name.lower() == word.lower()), None)
        if found is not None:
            return found
    return None


def shift_at(text: bytes, t: dt.datetime, people: Sequence[Named], zone: dt.tzinfo, where: str) -> CalendarShift | None:
    """The event of the calendar covering `t` that names a known person (the latest starting)."""
    try:
        calendar = icalendar.Calendar.from_ical(text)
    except ValueError as exc:
        raise CalendarError(f"{where} is not an iCal calendar: {exc}") from exc
    now = t.astimezone(UTC)
    shifts = []
    for event in recurring_ical_events.of(calendar).at(now):
        person = _who(event, people)
        if person is None:
            log.warning("on-call calendar %s: event %r names nobody in the rotation's people; skipped",
                        where, str(event.get("SUMMARY") or ""))
            continue
        start = _aware(event["DTSTART"].dt, zone)
        end = _aware(event["DTEND"].dt, zone) if event.get("DTEND") else start + dt.timedelta(days=1)
        if start <= now < end:
            shifts.append(CalendarShift(person, start, end))
    return max(shifts, key=lambda s: s.starts_at) if shifts else None


def next_start(text: bytes, t: dt.datetime, until: dt.datetime, people: Sequence[Named], zone: dt.tzinfo,
               where: str) -> dt.datetime | None:
    """When the calendar's first event naming a known person starts after `t` and before `until`."""
    try:
        calendar = icalendar.Calendar.from_ical(text)
    except ValueError as exc:
        raise CalendarError(f"{where} is not an iCal calendar: {exc}") from exc
    after, before = t.astimezone(UTC), until.astimezone(UTC)
    starts = [start for event in recurring_ical_events.of(calendar).between(after, before)
              if _who(event, people) is not None and after < (start := _aware(event["DTSTART"].dt, zone)) < before]
    return min(starts, default=None)


class CalendarSource:
    """A calendar file or feed, read again when the file changes or the feed's copy is old."""

    def __init__(self, source: str, refresh_seconds: float = REFRESH_SECONDS) -> None:
        self.source = source
        self.refresh_seconds = refresh_seconds
        self._text: bytes | None = None
        self._read_at = 0.0
        self._mtime: float | None = None
        self._lock = threading.Lock()

    @property
    def is_feed(self) -> bool:
        return self.source.startswith(("http://", "https://"))

    def text(self) -> bytes:
        with self._lock:
            if self.is_feed:
                if self._text is None or time.monotonic() - self._read_at > self.refresh_seconds:
                    self._fetch()
            else:
                path = Path(self.source)
                try:
                    mtime = path.stat().st_mtime
                except FileNotFoundError as exc:
                    raise CalendarError(f"on-call calendar {self.source} does not exist") from exc
                if mtime != self._mtime:
                    self._text, self._mtime = path.read_bytes(), mtime
            assert self._text is not None
            return self._text

    def _fetch(self) -> None:
        try:
            answer = httpx.get(self.source, timeout=10, follow_redirects=True)
            answer.raise_for_status()
        except httpx.HTTPError as exc:
            if self._text is None:
                raise CalendarError(f"on-call calendar {self.source} cannot be fetched: {exc}") from exc
            log.warning("on-call calendar %s cannot be fetched (%s): using the copy read before", self.source, exc)
            self._read_at = time.monotonic()  # not again at once
            return
        self._text, self._read_at = answer.content, time.monotonic()
