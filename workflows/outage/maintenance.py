"""Maintenance windows (issue 26): a system, or one property of it, is down on purpose (a PMS's
night audit, a vendor's announced upgrade), and its failures then are expected.

- **Windows.** Set by a person (`/syncdesk maintenance SYSTEM [PROPERTY] FROM-TO "reason"`, the
  same in Teams and `syncdesk maintenance`), or recurring, from the routing file's `maintenance:`
  entries (`connectors.routing.MaintenanceRule`: e.g. 02:00-03:00 every day in the property's
  time zone). An occurrence of a recurring one becomes a row when it starts (the clock) or when
  a failure falls in it, whichever comes first: one row per rule and start, a unique fact.
- **Held.** A failure of that system (and property) that occurred inside a window not yet ended
  is recorded as usual, then held (`hold_if_covered`, in intake's transaction, called by
  `workflows.outage.detect.on_failure`): its alert joins the window's incident, an outage
  incident in the "maintenance" state. So it is not posted on its own but listed in the
  window's message (the outage message, saying the window), gets no automatic retry, does not
  count towards an outage, and escalation leaves it alone (`workflows.oncall.escalation`):
  nobody is paged or escalated while the window lasts.
- **The end.** `check_windows` (the clock, every MAINTENANCE_CHECK_SECONDS) records starts and
  ends; a person may end a window early (`end`). At the end its incident turns quiet exactly as
  an outage's does at its all-clear: the message becomes the outage's view with
  "Reprocess all N", the all-clear is posted, and what nobody takes escalates together after
  the usual delay (`workflows.oncall.escalation`, from the all-clear).
- Setting, starting, ending and each held failure are audited (`maintenance.*`).

Windows are never deleted: an ended one is the record of what was held and by whose word.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, func, or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from connectors.routing import PROPERTY_KEYS, SYSTEMS, WEEKDAYS, MaintenanceRule, RoutingError, property_in, routing_for
from workflows.core import queue, states
from workflows.core.db import insert_unless_present, transaction
from workflows.core.models import Alert, Incident, MaintenanceWindow, Order, OrderItem, SyncAttempt, utcnow
from workflows.core.settings import Settings, get_settings
from workflows.outage.refresh import request_refresh
from workflows.outage.views import place
from workflows.systems.names import SYSTEM_NAMES
from workflows.systems.registry import timezone_at

log = logging.getLogger(__name__)

ACTOR = "syncdesk (maintenance)"
UTC = dt.timezone.utc
MAX_LENGTH = dt.timedelta(days=7)  # a longer one belongs in the routing file, or is not maintenance
MAX_AHEAD = dt.timedelta(days=30)
USAGE = ("`maintenance` lists the active and upcoming windows; `maintenance SYSTEM [PROPERTY] FROM-TO \"reason\"` "
         "sets one, e.g. `maintenance pms HARBOUR 02:00-03:00 \"night audit\"` or `maintenance synxis now-2h "
         "\"Sabre upgrade\"` (times in the property's time zone; FROM: now, HH:MM or YYYY-MM-DDTHH:MM; TO: HH:MM, "
         "YYYY-MM-DDTHH:MM or a length like 90m); `maintenance end ID` ends one now.")
_MOMENT = r"(?:\d{4}-\d{2}-\d{2}T)?\d{1,2}:\d{2}"
_SPAN = re.compile(rf"^(?P<start>now|{_MOMENT})[-–—](?P<end>{_MOMENT}|\d+[mhd])$", re.IGNORECASE)
_LENGTH = re.compile(r"^(\d+)([mhd])$")
_QUOTES = "\"'“”‘’"


def _details(prop: str | None) -> dict[str, Any]:
    """Item details naming `prop` (the routing file looks a property up by any of PROPERTY_KEYS)."""
    return {PROPERTY_KEYS[0]: prop} if prop else {}


def _local(t: dt.datetime, zone: str, with_day: bool = True) -> str:
    local = t.astimezone(ZoneInfo(zone))
    return f"{local:%a %-d %b %H:%M} {local.tzname()}" if with_day else f"{local:%H:%M} {local.tzname()}"


# -- recurring windows (the routing file) -------------------------------------------------

@dataclass(frozen=True)
class Recurring:
    """One recurring window of the routing file, for its system (and property), in its zone."""

    system: str
    property: str | None
    rule: MaintenanceRule
    timezone: str

    @property
    def key(self) -> str:
        """What its rows are known by (`maintenance_windows.recurrence`)."""
        days = "" if len(self.rule.days) == 7 else " " + ",".join(WEEKDAYS[d] for d in self.rule.days)
        return f"{self.system}@{self.property or '*'} {self.rule.starts:%H:%M}-{self.rule.ends:%H:%M}{days}"[:200]

    @property
    def every(self) -> str:
        """"every day 02:00-03:00 Australia/Sydney"."""
        days = "every day" if len(self.rule.days) == 7 else "every " + ", ".join(WEEKDAYS[d].title()
                                                                                 for d in self.rule.days)
        return f"{days} {self.rule.starts:%H:%M}-{self.rule.ends:%H:%M} {self.timezone}"

    def on(self, day: dt.date) -> tuple[dt.datetime, dt.datetime]:
        """The occurrence starting on local `day`, in UTC (a wall-clock time, whatever the DST)."""
        zone = ZoneInfo(self.timezone)
        last = day + dt.timedelta(days=1) if self.rule.ends <= self.rule.starts else day
        return (dt.datetime.combine(day, self.rule.starts, zone).astimezone(UTC),
                dt.datetime.combine(last, self.rule.ends, zone).astimezone(UTC))

    def covering(self, t: dt.datetime) -> tuple[dt.datetime, dt.datetime] | None:
        """The occurrence `t` falls in, if any."""
        today = t.astimezone(ZoneInfo(self.timezone)).date()
        for day in (today - dt.timedelta(days=1), today):
            if day.weekday() in self.rule.days:
                starts, ends = self.on(day)
                if starts <= t < ends:
                    return starts, ends
        return None

    def next_after(self, t: dt.datetime) -> tuple[dt.datetime, dt.datetime] | None:
        """The first occurrence not over at `t` (the one running, else the next)."""
        today = t.astimezone(ZoneInfo(self.timezone)).date()
        for offset in range(-1, 9):
            day = today + dt.timedelta(days=offset)
            if day.weekday() in self.rule.days:
                starts, ends = self.on(day)
                if ends > t and ends > starts:  # a window a DST change swallowed is no window
                    return starts, ends
        return None


def recurring(settings: Settings) -> tuple[Recurring, ...]:
    """Every recurring window the routing file names, each in its property's (or system's) zone."""
    try:
        routing = routing_for(settings.connectors_file)
    except RoutingError:  # a bad file stops the start; `syncdesk connectors` says why
        return ()
    return tuple(Recurring(route.system, route.property, rule,
                           timezone_at(route.system, _details(route.property), settings))
                 for route in routing.routes() for rule in route.maintenance)


def _materialize(session: Session, rule: Recurring, starts: dt.datetime, ends: dt.datetime, now: dt.datetime) -> None:
    """The occurrence's row, unless it is there already (the clock and intake may race to it)."""
    insert_unless_present(session, MaintenanceWindow, dict(
        system=rule.system, property=rule.property, starts_at=starts, ends_at=ends, timezone=rule.timezone,
        reason=rule.rule.reason, recurrence=rule.key, created_by=ACTOR, created_at=now,
    ), unique=["recurrence", "starts_at"], returning=MaintenanceWindow.id)


# -- intake's hook -------------------------------------------------------------------------

def covering(session: Session, system: str, prop: str | None, occurred: dt.datetime,
             rules: Sequence[Recurring] = (), *, now: dt.datetime) -> MaintenanceWindow | None:
    """The window (locked) a failure of `system` at `prop` that occurred then falls in, if one
    has not ended: the property's own before a system-wide one."""
    for rule in rules:
        if rule.system == system and rule.property in (None, prop):
            found = rule.covering(occurred)
            if found is not None and found[1] > now:  # one already over is closed (or about to be)
                _materialize(session, rule, *found, now)
    return session.scalar(_COVERING, {"system": system, "prop": prop or None, "occurred": occurred})


# Every intake asks it (issue 29: a hot path), so it is built once; `prop` NULL matches only a
# system-wide window, as `property = NULL` is never true.
_COVERING = (
    select(MaintenanceWindow).where(
        MaintenanceWindow.system == bindparam("system"),
        or_(MaintenanceWindow.property.is_(None), MaintenanceWindow.property == bindparam("prop")),
        MaintenanceWindow.ended_at.is_(None),
        MaintenanceWindow.starts_at <= bindparam("occurred"), MaintenanceWindow.ends_at > bindparam("occurred"))
    .order_by(MaintenanceWindow.property.is_(None), MaintenanceWindow.id).limit(1)
    .with_for_update().execution_options(populate_existing=True))


def hold_if_covered(session: Session, order: Order, item: OrderItem, attempt: SyncAttempt,
                    rules: Sequence[Recurring] = (), *, now: dt.datetime) -> Incident | None:
    """In intake's transaction, after the failure and its alert were recorded: when a window
    covers it, hold it under the window's incident and return that; else None."""
    window = covering(session, item.system, property_in(item.details or {}), attempt.started_at, rules, now=now)
    if window is None:
        return None
    _record_start(session, window, ACTOR, now)
    incident = session.get(Incident, window.incident_id, with_for_update=True) if window.incident_id else None
    if incident is None:
        incident = Incident(system=window.system, state=states.INCIDENT_MAINTENANCE, open_for=None, opened_at=now,
                            first_failure_at=attempt.started_at, last_failure_at=attempt.started_at,
                            failure_count=0, error_classes={}, created_at=now, updated_at=now)
        session.add(incident)
        session.flush()
        window.incident_id = incident.id
    session.execute(update(Alert).where(Alert.order_id == order.id, Alert.incident_id.is_(None),
                                        Alert.state != states.A_RESOLVED)
                    .values(incident_id=incident.id).execution_options(synchronize_session=False))
    error_class = attempt.error_class or "unknown"
    classes = dict(incident.error_classes or {})
    classes[error_class] = classes.get(error_class, 0) + 1
    incident.error_classes = classes
    incident.failure_count += 1
    incident.first_failure_at = min(incident.first_failure_at, attempt.started_at)
    incident.last_failure_at = max(incident.last_failure_at, attempt.started_at)
    session.flush()
    states.audit(session, actor=ACTOR, action="maintenance.held", order_id=order.id, item_id=item.item_id,
                 window_id=window.id, incident_id=incident.id)
    request_refresh(session, incident.id, f"held {incident.failure_count}")
    return incident


def held_attempt() -> Any:
    """A SQL condition on `SyncAttempt`: it occurred inside the window its order's failures are
    held in. Outage detection leaves those out of a burst: planned failures are no outage."""
    return (select(Alert.id).join(MaintenanceWindow, MaintenanceWindow.incident_id == Alert.incident_id)
            .where(Alert.order_id == SyncAttempt.order_id, SyncAttempt.started_at >= MaintenanceWindow.starts_at,
                   SyncAttempt.started_at < func.coalesce(MaintenanceWindow.ended_at, MaintenanceWindow.ends_at))
            .exists())


# -- starting and ending ------------------------------------------------------------------

def _fields(window: MaintenanceWindow) -> dict[str, Any]:
    return dict(window_id=window.id, system=window.system, property=window.property,
                starts_at=window.starts_at.isoformat(), ends_at=window.ends_at.isoformat(), reason=window.reason,
                recurrence=window.recurrence)


def _record_start(session: Session, window: MaintenanceWindow, actor: str, now: dt.datetime) -> bool:
    """Record (and audit) the window's start once; False when it was recorded already."""
    won = session.execute(update(MaintenanceWindow).where(
        MaintenanceWindow.id == window.id, MaintenanceWindow.started_at.is_(None))
        .values(started_at=now).execution_options(synchronize_session=False)).rowcount
    if won:
        set_committed_value(window, "started_at", now)
        states.audit(session, actor=actor, action="maintenance.started", **_fields(window))
    return bool(won)


def _close(session: Session, window: MaintenanceWindow, at: dt.datetime, actor: str, now: dt.datetime) -> int | None:
    """End the window at `at` (its end, or now when a person ends it early), once. Its incident
    turns quiet, as an outage's at its all-clear: the message offers Reprocess all, the
    all-clear is posted, escalation counts from now. Returns how many failures it held, or
    None when it had ended already."""
    won = session.execute(update(MaintenanceWindow).where(
        MaintenanceWindow.id == window.id, MaintenanceWindow.ended_at.is_(None))
        .values(ended_at=at, ended_by=actor).execution_options(synchronize_session=False)).rowcount
    if not won:
        return None
    set_committed_value(window, "ended_at", at)
    set_committed_value(window, "ended_by", actor)
    incident = session.get(Incident, window.incident_id, with_for_update=True) if window.incident_id else None
    held = incident.failure_count if incident is not None else 0
    states.audit(session, actor=actor, action="maintenance.ended", early=at < window.ends_at,
                 started=window.started_at is not None, failures=held, **_fields(window))
    if incident is not None and incident.state == states.INCIDENT_MAINTENANCE:
        incident.state, incident.all_clear_at = states.INCIDENT_QUIET, now
        session.flush()
        request_refresh(session, incident.id, f"maintenance over {now.isoformat()}")
        queue.add(session, "workflows.outage.jobs.announce_all_clear",
                  queue.job_id("all-clear", incident.id, now.isoformat()), incident_id=incident.id)
    return held


def check_windows(settings: Settings | None = None, now: dt.datetime | None = None) -> str:
    """Job (the clock, every MAINTENANCE_CHECK_SECONDS): the recurring windows running now have
    their row, the windows whose start has come are recorded started, and those whose end has
    passed are ended, their failures handed to the outage's view and Reprocess all."""
    settings = settings or get_settings()
    now = now or utcnow()
    with transaction(settings.database_url) as session:
        for rule in recurring(settings):
            found = rule.covering(now)
            if found is not None:
                _materialize(session, rule, *found, now)
        started = sum(_record_start(session, w, ACTOR, now) for w in session.scalars(select(MaintenanceWindow).where(
            MaintenanceWindow.started_at.is_(None), MaintenanceWindow.ended_at.is_(None),
            MaintenanceWindow.starts_at <= now, MaintenanceWindow.ends_at > now)).all())
        ended = 0
        for window in session.scalars(select(MaintenanceWindow).where(
                MaintenanceWindow.ended_at.is_(None), MaintenanceWindow.ends_at <= now)
                .order_by(MaintenanceWindow.id).with_for_update()).all():
            ended += _close(session, window, window.ends_at, ACTOR, now) is not None
        entries = queue.added(session)
    _dispatch(settings, entries)
    return f"{started} started, {ended} ended"


def _dispatch(settings: Settings, entries: list[Any]) -> None:
    try:
        queue.dispatch(settings, entries)
    except Exception:  # outermost boundary: the outbox keeps the jobs for the clock's next drain
        log.exception("dispatch after a maintenance window changed failed; the outbox keeps the jobs")


# -- what a person asks (`maintenance …` in Slack, Teams and the command line) -------------

@dataclass(frozen=True)
class Answer:
    """What `maintenance …` answers: in words, and whether the team should see it (a window set
    or ended, said in the channel) or only the person asking."""

    accepted: bool
    message: str
    public: bool = False
    usage: bool = False  # the words could not be read (the command line's exit 2)


@dataclass(frozen=True)
class Request:
    """`maintenance …` read: list, set or end."""

    action: str  # "list" | "set" | "end"
    system: str = ""
    property: str | None = None
    span: str = ""
    reason: str = ""
    window_id: int = 0


def _system(word: str) -> str:
    word = word.strip().lower()
    by_name = {name.lower(): key for key, name in SYSTEM_NAMES.items()}
    if word in SYSTEMS or word in by_name:
        return by_name.get(word, word)
    raise ValueError(f"unknown system {word!r} (known: {', '.join(SYSTEMS)})")


def parse(words: Sequence[str]) -> Request:
    """The words after `maintenance`; ValueError says what is wrong (and how to say it)."""
    words = [w for w in words if w.strip()]
    if not words or words == ["list"]:
        return Request("list")
    if words[0].lower() == "end":
        if len(words) != 2 or not words[1].lstrip("#").isdigit():
            raise ValueError("say which window to end: `maintenance end ID` (`maintenance` lists them)")
        return Request("end", window_id=int(words[1].lstrip("#")))
    system = _system(words[0])
    rest = words[1:]
    prop = None
    if rest and not _SPAN.match(rest[0]):
        prop, rest = rest[0], rest[1:]
    if not rest or not _SPAN.match(rest[0]):
        raise ValueError(f"say when, as FROM-TO: e.g. 02:00-03:00, now-2h or 2026-12-01T22:00-02:00. {USAGE}")
    reason = " ".join(rest[1:]).strip().strip(_QUOTES).strip()
    if not reason:
        raise ValueError("say why, in quotes after the times, e.g. \"night audit\" (it is shown with the window)")
    return Request("set", system, prop, rest[0], reason[:500])


def _length(text: str) -> dt.timedelta | None:
    match = _LENGTH.match(text)
    if match is None:
        return None
    return dt.timedelta(**{{"m": "minutes", "h": "hours", "d": "days"}[match[2]]: int(match[1])})


def _next_time(after: dt.datetime, at: dt.time, zone: ZoneInfo) -> dt.datetime:
    """The first `at` (local wall-clock time) after `after`."""
    day = after.astimezone(zone).date()
    candidate = dt.datetime.combine(day, at, zone).astimezone(UTC)
    return candidate if candidate > after else dt.datetime.combine(day + dt.timedelta(days=1), at, zone).astimezone(UTC)


def _moment(text: str, zone: ZoneInfo) -> dt.datetime | dt.time:
    try:
        if "t" in text.lower():
            return dt.datetime.fromisoformat(text.upper()).replace(tzinfo=zone).astimezone(UTC)
        return dt.time.fromisoformat(text.zfill(5))
    except ValueError:
        raise ValueError(f"{text!r} is not a time (HH:MM) or a day and time (YYYY-MM-DDTHH:MM)") from None


def span(text: str, now: dt.datetime, zone: str) -> tuple[dt.datetime, dt.datetime]:
    """FROM-TO in `zone` as (start, end) in UTC. A time of day alone means its next occurrence
    not yet over (02:00-03:00 typed at 02:30 is the one running; typed at 04:00, tomorrow's);
    an end before its start is on the next day; TO may be a length (90m, 2h, 1d)."""
    match = _SPAN.match(text.strip())
    if match is None:
        raise ValueError(f"cannot read {text!r} as FROM-TO: say 02:00-03:00, now-2h or 2026-12-01T22:00-02:00")
    tz = ZoneInfo(zone)
    length = _length(match["end"].lower())
    end_at = None if length is not None else _moment(match["end"], tz)
    if match["start"].lower() == "now":
        start: dt.datetime | dt.time = now.replace(microsecond=0)  # platforms send failure times to the second
    else:
        start = _moment(match["start"], tz)

    def end_after(starts: dt.datetime) -> dt.datetime:
        if length is not None:
            return starts + length
        return end_at if isinstance(end_at, dt.datetime) else _next_time(starts, end_at, tz)  # type: ignore[arg-type]

    if isinstance(start, dt.datetime):
        return start, end_after(start)
    today = now.astimezone(tz).date()
    for day in (today - dt.timedelta(days=1), today, today + dt.timedelta(days=1)):
        starts = dt.datetime.combine(day, start, tz).astimezone(UTC)
        ends = end_after(starts)
        if ends > now:
            return starts, ends
    raise ValueError(f"{text!r} is over already")


def _said(window: MaintenanceWindow, now: dt.datetime, held: int = 0) -> str:
    """"#3 SynXis at 13098, now until 03:00 UTC (Tue 2 Dec): PMS upgrade · 2 failures held · set by …"."""
    where = place(window.system, window.property)
    if window.starts_at <= now:
        when = f"now until {_local(window.ends_at, window.timezone, with_day=False)} " \
               f"({window.ends_at.astimezone(ZoneInfo(window.timezone)):%a %-d %b})"
    else:
        when = f"{_local(window.starts_at, window.timezone)} to {_local(window.ends_at, window.timezone)}"
    by = "the routing file" if window.recurrence else window.created_by
    failures = f" · {held} failure{'s' if held != 1 else ''} held" if held else ""
    return f"#{window.id} {where}, {when}: {window.reason}{failures} · set by {by}"


def set_window(settings: Settings, request: Request, actor: str, *, now: dt.datetime | None = None) -> Answer:
    """`maintenance SYSTEM [PROPERTY] FROM-TO "reason"`: the window, audited; started at once
    when it has begun."""
    now = now or utcnow()
    zone = timezone_at(request.system, _details(request.property), settings)
    try:
        starts, ends = span(request.span, now, zone)
    except ValueError as exc:
        return Answer(False, f"Cannot set the maintenance window: {exc}.", usage=True)
    problem = ("it ends before it starts" if ends <= starts else "it is over already" if ends <= now
               else f"it lasts more than {MAX_LENGTH.days} days (a regular one belongs in the routing file)"
               if ends - starts > MAX_LENGTH else f"it starts more than {MAX_AHEAD.days} days from now"
               if starts - now > MAX_AHEAD else None)
    if problem:
        return Answer(False, f"Cannot set the maintenance window: {problem}.")
    with transaction(settings.database_url) as session:
        window = MaintenanceWindow(system=request.system, property=request.property, starts_at=starts, ends_at=ends,
                                   timezone=zone, reason=request.reason, created_by=actor, created_at=now)
        session.add(window)
        session.flush()
        states.audit(session, actor=actor, action="maintenance.set", **_fields(window))
        if starts <= now:
            _record_start(session, window, actor, now)
        said = _said(window, now)
    return Answer(True, f"Maintenance window set: {said}. Failures there are listed under it and nobody is paged "
                        f"or escalated; when it ends they get the outage view with Reprocess all. "
                        f"`maintenance end {window.id}` ends it early.", public=True)


def end(settings: Settings, window_id: int, actor: str, *, now: dt.datetime | None = None) -> Answer:
    """`maintenance end ID`: end the window now (one not begun yet is called off), audited."""
    now = now or utcnow()
    with transaction(settings.database_url) as session:
        window = session.get(MaintenanceWindow, window_id, with_for_update=True)
        if window is None:
            return Answer(False, f"There is no maintenance window {window_id} (`maintenance` lists them).")
        if window.ended_at is not None:
            early = " early" if window.ended_at < window.ends_at else ""
            return Answer(False, f"Maintenance window {window_id} ended{early} at "
                                 f"{_local(window.ended_at, window.timezone)} ({window.ended_by}).")
        said = _said(window, now)
        held = _close(session, window, now, actor, now)
        entries = queue.added(session)
    _dispatch(settings, entries)
    if window.starts_at > now:
        return Answer(True, f"Maintenance window called off: {said}.", public=True)
    after = (f" Its {held} failure{'s' if held != 1 else ''} now show in its message with Reprocess all, and "
             "escalate as usual if nobody takes them." if held else " Nothing failed there during it.")
    return Answer(True, f"Maintenance window ended early: {said}.{after}", public=True)


def listing(settings: Settings, *, now: dt.datetime | None = None) -> Answer:
    """`maintenance`: the windows running and to come, and the routing file's recurring ones."""
    now = now or utcnow()
    with transaction(settings.database_url) as session:
        rows = session.execute(
            select(MaintenanceWindow, Incident.failure_count)
            .outerjoin(Incident, Incident.id == MaintenanceWindow.incident_id)
            .where(MaintenanceWindow.ended_at.is_(None), MaintenanceWindow.ends_at > now)
            .order_by(MaintenanceWindow.starts_at, MaintenanceWindow.id)).all()
        lines = [f"• {_said(w, now, held or 0)}" for w, held in rows]
        listed = {(w.recurrence, w.starts_at) for w, _ in rows if w.recurrence}
    for rule in recurring(settings):
        following = rule.next_after(now)
        if following is None or (rule.key, following[0]) in listed:
            continue
        lines.append(f"• {place(rule.system, rule.property)}, {rule.every} (the routing file): {rule.rule.reason} "
                     f"· next {'now' if following[0] <= now else _local(following[0], rule.timezone)}")
    if not lines:
        return Answer(True, "No maintenance window is running or planned. " + USAGE)
    return Answer(True, "Maintenance windows, running and planned:\n" + "\n".join(lines))


def answer(settings: Settings, words: Sequence[str], actor: str, *, now: dt.datetime | None = None) -> Answer:
    """`maintenance …` from any surface: the words after `maintenance`, and who asks."""
    try:
        request = parse(words)
    except ValueError as exc:
        return Answer(False, f"{str(exc)[0].upper()}{str(exc)[1:]}", usage=True)
    if request.action == "list":
        return listing(settings, now=now)
    if request.action == "end":
        return end(settings, request.window_id, actor, now=now)
    return set_window(settings, request, actor, now=now)
