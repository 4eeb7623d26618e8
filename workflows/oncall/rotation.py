"""Who is on call: a weekly rotation from a YAML file (`ONCALL_FILE`, see examples/oncall.yml)
and overrides stored in the database (`/oncall take [until]`), every change audited.

The rotation hands off once a week at a wall-clock time in its own timezone (zoneinfo), so
a 09:00 Monday hand-off stays 09:00 local across a daylight-saving change. Every instant is
compared in UTC: aware datetimes sharing a zoneinfo compare by wall time, which is wrong
across a DST change.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from workflows.core import states
from workflows.core.models import OncallOverride, utcnow
from workflows.core.settings import Settings
from workflows.oncall import calendars

UTC = dt.timezone.utc
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
MAX_OVERRIDE = dt.timedelta(days=14)
_SLACK_USER = re.compile(r"^[UW][A-Z0-9]{2,}$")


class RotationError(ValueError):
    """The rotation file is missing or wrong; the message says where."""


@dataclass(frozen=True)
class Person:
    name: str
    slack: str | None = None
    teams: str | None = None

    def id_on(self, surface: str) -> str | None:
        return {"slack": self.slack, "teams": self.teams}.get(surface)

    def known_as(self, person_id: str) -> bool:
        return person_id in (self.slack, self.teams, self.name)


@dataclass(frozen=True)
class Shift:
    person: Person
    starts_at: dt.datetime
    ends_at: dt.datetime
    source: str  # "rotation" | "calendar" | "override"
    set_by: str | None = None  # who took the override


@dataclass(frozen=True)
class Rotation:
    people: tuple[Person, ...]
    timezone: str
    handoff_weekday: int  # Monday = 0
    handoff_time: dt.time
    start: dt.date  # the rotation's first hand-off (to people[0]) is on or after this date
    # A property's own on-call from an iCal file or feed (`workflows.oncall.calendars`), by property
    calendars: tuple[tuple[str, str], ...] = ()

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def anchor(self) -> dt.date:
        return self.start + dt.timedelta(days=(self.handoff_weekday - self.start.weekday()) % 7)

    def _handoff(self, day: dt.date) -> dt.datetime:
        return dt.datetime.combine(day, self.handoff_time, self.zone).astimezone(UTC)

    def last_handoff(self, now: dt.datetime) -> tuple[dt.date, dt.datetime]:
        """The local date and UTC instant of the latest hand-off at or before `now`."""
        local = now.astimezone(self.zone)
        day = local.date() - dt.timedelta(days=(local.weekday() - self.handoff_weekday) % 7)
        if self._handoff(day) > now.astimezone(UTC):
            day -= dt.timedelta(days=7)
        return day, self._handoff(day)

    def shift_at(self, now: dt.datetime) -> Shift:
        day, starts = self.last_handoff(now)
        week = (day - self.anchor).days // 7
        person = self.people[week % len(self.people)]
        return Shift(person, starts, self._handoff(day + dt.timedelta(days=7)), "rotation")

    def person(self, person_id: str) -> Person | None:
        return next((p for p in self.people if p.known_as(person_id)), None)

    def calendar_shift(self, prop: str | None, now: dt.datetime) -> Shift | None:
        """The property's calendar's shift at `now`, if it has a calendar and an event covers it."""
        source = dict(self.calendars).get(prop or "")
        if source is None:
            return None
        found = calendars.shift_at(_source(source).text(), now, self.people, self.zone, source)
        return Shift(found.person, found.starts_at, found.ends_at, "calendar") if found else None

    def calendar_cut(self, prop: str | None, shift: Shift, t: dt.datetime) -> Shift:
        """`shift` of the weekly rotation at `t`, ended where the property's calendar next takes over."""
        source = dict(self.calendars).get(prop or "")
        if source is None or shift.source != "rotation":
            return shift
        starts = calendars.next_start(_source(source).text(), t, shift.ends_at, self.people,
                                      self.zone, source)
        return replace(shift, ends_at=starts) if starts else shift


def load_rotation(path: str | Path) -> Rotation:
    """Read a rotation file; RotationError names what is wrong."""
    file = Path(path)
    try:
        data = yaml.safe_load(file.read_text())
    except FileNotFoundError as exc:
        raise RotationError(f"ONCALL_FILE {file} does not exist") from exc
    except yaml.YAMLError as exc:
        raise RotationError(f"ONCALL_FILE {file} is not valid YAML: {exc}") from exc
    return parse_rotation(data, str(file))


def parse_rotation(data: Any, where: str = "the rotation") -> Rotation:
    if not isinstance(data, dict):
        raise RotationError(f"{where}: expected a mapping with timezone, handoff and people")
    people_in = data.get("people")
    if not isinstance(people_in, list) or not people_in:
        raise RotationError(f"{where}: 'people' must list at least one person")
    people = []
    for n, p in enumerate(people_in, 1):
        if not isinstance(p, dict) or not (p.get("slack") or p.get("teams")):
            raise RotationError(f"{where}: person {n} needs a slack or a teams id")
        people.append(Person(str(p.get("name") or p.get("slack") or p.get("teams")),
                             _opt(p.get("slack")), _opt(p.get("teams"))))
    tz = str(data.get("timezone") or "UTC")
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise RotationError(f"{where}: unknown timezone {tz!r}") from exc
    handoff = data.get("handoff") or {}
    day = str(handoff.get("weekday", "monday")).lower()
    if day not in WEEKDAYS:
        raise RotationError(f"{where}: handoff weekday must be one of {', '.join(WEEKDAYS)}")
    try:
        at = dt.time.fromisoformat(str(handoff.get("time", "09:00")))
    except ValueError as exc:
        raise RotationError(f"{where}: handoff time must be HH:MM") from exc
    start = data.get("start", "2026-01-05")
    try:
        start_day = start if isinstance(start, dt.date) else dt.date.fromisoformat(str(start))
    except ValueError as exc:
        raise RotationError(f"{where}: start must be a date (YYYY-MM-DD)") from exc
    return Rotation(tuple(people), tz, WEEKDAYS.index(day), at, start_day, _calendars(data, where))


def _calendars(data: dict[str, Any], where: str) -> tuple[tuple[str, str], ...]:
    """`properties: {PROPERTY: {calendar: FILE or URL}}`; a relative file is beside the rotation file."""
    props = data.get("properties") or {}
    if not isinstance(props, dict):
        raise RotationError(f"{where}: 'properties' must map each property to {{calendar: FILE or URL}}")
    found = []
    for prop, entry in props.items():
        source = entry.get("calendar") if isinstance(entry, dict) else None
        if not isinstance(source, str) or not source.strip():
            raise RotationError(f"{where}: properties.{prop} needs a calendar (an .ics file or an http(s) URL)")
        if not source.startswith(("http://", "https://")) and not Path(source).is_absolute():
            source = str(Path(where).parent / source) if Path(where).suffix else source
        found.append((str(prop), source))
    return tuple(found)


_sources: dict[str, calendars.CalendarSource] = {}


def _source(source: str) -> calendars.CalendarSource:
    found = _sources.get(source)
    if found is None:
        found = _sources[source] = calendars.CalendarSource(source)
    return found


def _opt(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None


@lru_cache(maxsize=4)
def _cached(path: str, mtime: float) -> Rotation:
    return load_rotation(path)


def rotation_for(settings: Settings) -> Rotation | None:
    """The configured rotation (re-read when the file changes), or None without ONCALL_FILE."""
    if not settings.oncall_file:
        return None
    path = Path(settings.oncall_file)
    try:
        mtime = path.stat().st_mtime
    except FileNotFoundError as exc:
        raise RotationError(f"ONCALL_FILE {path} does not exist") from exc
    return _cached(str(path), mtime)


# -- who is on call ----------------------------------------------------------------------

def _person(rotation: Rotation | None, person_id: str) -> Person:
    known = rotation.person(person_id) if rotation else None
    if known is not None:
        return known
    slack = person_id if _SLACK_USER.match(person_id) else None
    return Person(person_id, slack=slack, teams=None if slack else person_id)


def _overrides(session: Session, start: dt.datetime) -> list[OncallOverride]:
    return list(session.scalars(
        select(OncallOverride).where(OncallOverride.ends_at > start).order_by(OncallOverride.id)))


def _shift_at(t: dt.datetime, rotation: Rotation | None, overrides: list[OncallOverride],
              prop: str | None = None) -> Shift | None:
    active = [o for o in overrides if o.starts_at <= t < o.ends_at]
    if active:
        o = active[-1]  # the latest override wins
        return Shift(_person(rotation, o.person_id), o.starts_at, o.ends_at, "override", o.created_by)
    if rotation is None:
        return None
    shift = rotation.calendar_shift(prop, t) or rotation.calendar_cut(prop, rotation.shift_at(t), t)
    upcoming = [o.starts_at for o in overrides if t < o.starts_at < shift.ends_at]
    if upcoming:
        shift = Shift(shift.person, shift.starts_at, min(upcoming), shift.source)
    return shift


def who(session: Session, now: dt.datetime | None = None, rotation: Rotation | None = None,
        prop: str | None = None) -> tuple[Shift | None, Shift | None]:
    """(on call now, on call next) for `prop`'s alerts (its calendar, when the rotation has
    one, else the weekly rotation; an override wins everywhere); None where nobody is."""
    now = now or utcnow()
    overrides = _overrides(session, now)
    current = _shift_at(now, rotation, overrides, prop)
    if current is None:
        later = [o for o in overrides if o.starts_at > now]
        return None, (_shift_at(later[0].starts_at, rotation, overrides, prop) if later else None)
    following = _shift_at(current.ends_at, rotation, overrides, prop)
    if following is not None and following.starts_at < current.ends_at:  # the rotation resumes after an override
        following = replace(following, starts_at=current.ends_at)
    return current, following


@dataclass(frozen=True)
class PropertyOnCall:
    """Who is on call for a property with its own calendar: now and next, or why it cannot be said."""
    prop: str
    current: Shift | None
    following: Shift | None
    problem: str | None = None  # its calendar cannot be read


def by_property(session: Session, now: dt.datetime, rotation: Rotation | None) -> list[PropertyOnCall]:
    """`who` for each property the rotation gives its own calendar, in the file's order."""
    found = []
    for prop, _ in rotation.calendars if rotation else ():
        try:
            current, following = who(session, now, rotation, prop)
        except calendars.CalendarError as exc:
            found.append(PropertyOnCall(prop, None, None, str(exc)))
        else:
            found.append(PropertyOnCall(prop, current, following))
    return found


def take(session: Session, person: str, until: dt.datetime | None, actor: str, *,
         now: dt.datetime | None = None, rotation: Rotation | None = None) -> OncallOverride:
    """`/oncall take [until]`: `person` is on call from now until `until` (default: the next hand-off)."""
    now = now or utcnow()
    if until is None:
        if rotation is None:
            raise ValueError("there is no rotation to hand back to: say until when (e.g. `/oncall take 18:00`)")
        until = rotation.shift_at(now).ends_at
    if until.tzinfo is None:
        raise ValueError("until must carry a timezone")
    if until <= now:
        raise ValueError(f"{until.isoformat()} is not in the future")
    if until - now > MAX_OVERRIDE:
        raise ValueError(f"an override lasts at most {MAX_OVERRIDE.days} days; change the rotation file instead")
    override = OncallOverride(person_id=person, starts_at=now, ends_at=until, created_by=actor)
    session.add(override)
    session.flush()
    states.audit(session, actor=actor, action="oncall.take", person=person, until=until.isoformat(),
                 override_id=override.id)
    return override


def release(session: Session, person: str, actor: str, *, now: dt.datetime | None = None) -> int:
    """End `person`'s overrides now; returns how many were running or waiting."""
    now = now or utcnow()
    ended = 0
    for o in _overrides(session, now):
        if o.person_id == person:
            o.ends_at = max(o.starts_at, now)
            ended += 1
    if ended:
        states.audit(session, actor=actor, action="oncall.release", person=person, overrides=ended)
    return ended


# -- words -------------------------------------------------------------------------------

_RELATIVE = re.compile(r"^(\d+)\s*([mhd])$")


def parse_until(text: str, now: dt.datetime, zone: ZoneInfo) -> dt.datetime:
    """`18:00` (today, or tomorrow if past), `2h` / `90m` / `1d`, `2026-11-23 18:00` or
    `2026-11-23T18:00+00:00`, read in `zone` unless it says otherwise; returned in UTC."""
    text = text.strip().lower()
    relative = _RELATIVE.match(text)
    if relative:
        amount, unit = int(relative[1]), relative[2]
        units = {"m": "minutes", "h": "hours", "d": "days"}
        return now + dt.timedelta(**{units[unit]: amount})
    try:
        at = dt.time.fromisoformat(text)
    except ValueError:
        pass
    else:
        local = now.astimezone(zone)
        candidate = dt.datetime.combine(local.date(), at, zone).astimezone(UTC)
        return candidate if candidate > now else \
            dt.datetime.combine(local.date() + dt.timedelta(days=1), at, zone).astimezone(UTC)
    try:
        parsed = dt.datetime.fromisoformat(text.replace("z", "+00:00"))
    except ValueError as exc:
        raise ValueError(f"cannot read {text!r} as a time: say 18:00, 2h or 2026-11-23 18:00") from exc
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=zone)).astimezone(UTC)


def _when(t: dt.datetime, zone: ZoneInfo) -> str:
    return t.astimezone(zone).strftime("%a %d %b %H:%M")


def describe(current: Shift | None, following: Shift | None, zone: ZoneInfo | None = None) -> str:
    """What `/oncall` answers, in plain words."""
    zone = zone or ZoneInfo("UTC")
    if current is None:
        now_text = "Nobody is on call (no rotation configured and no override)."
    else:
        how = f", covering by override set by {current.set_by}" if current.source == "override" else ""
        now_text = f"On call now: {current.person.name}{how}, until {_when(current.ends_at, zone)}."
    if following is None:
        return now_text
    return f"{now_text} Next: {following.person.name} from {_when(following.starts_at, zone)}."


def _covering(shift: Shift, now: bool = False) -> str:
    if shift.source == "override":
        return f"override set by {shift.set_by}" if shift.set_by else "override"
    if shift.source == "calendar":
        return "its calendar"
    return "the weekly rotation, no calendar event now" if now else "the weekly rotation"


def lines(current: Shift | None, following: Shift | None, properties: list[PropertyOnCall],
          zone: ZoneInfo | None = None) -> list[str]:
    """What `oncall` answers on every surface, a line each: the weekly rotation (`describe`),
    then each property with its own calendar, who is on call for its alerts now and next."""
    zone = zone or ZoneInfo("UTC")
    said = [describe(current, following, zone)]
    if properties:
        said.append("Properties with their own on-call calendar:")
    for p in properties:
        if p.problem:
            said.append(f"• {p.prop}: its calendar cannot be read: {p.problem}")
            continue
        if p.current is None:
            now_text = "nobody is on call"
        else:
            now_text = (f"{p.current.person.name} ({_covering(p.current, now=True)}) "
                        f"until {_when(p.current.ends_at, zone)}")
        nxt = (f" Next: {p.following.person.name} ({_covering(p.following)}) from "
               f"{_when(p.following.starts_at, zone)}." if p.following else "")
        said.append(f"• {p.prop}: {now_text}.{nxt}")
    return said
