"""The daily digest (issue 6): yesterday's failures by system and error class, what is still
open sorted by the guest's arrival, time to resolution (median and 90th percentile),
recurring themes (the same class at the same system on several days) and who fixed what.

`build` reads the database into a frozen `Digest`, with the failures per day by system of the
14 days ending on its day (`failures_per_day`, issue 26.7), which `post_daily` has drawn as a
chart (`workflows.reports.chart`; DIGEST_CHART, the optional charts extra); the chat layer
renders it on every surface (`DigestBoard.show_digest`), `Digest.render_text` is the
plain-text form. Days are local days in `LOCAL_TIMEZONE`. Percentiles use the nearest-rank
method: the p-th percentile of n sorted values is the ⌈p·n/100⌉-th, so every figure is one
of the real durations.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import math
import statistics
from collections import defaultdict
from dataclasses import dataclass
from typing import Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from connectors.errors import ErrorClass
from connectors.routing import property_in
from workflows.core import states
from workflows.core.db import transaction
from workflows.core.models import (
    Alert,
    AuditEvent,
    Order,
    OrderItem,
    SyncAttempt,
    utcnow,
)
from workflows.core.ports import Port
from workflows.core.settings import Settings, get_settings
from workflows.orders import masking
from workflows.orders.service import INTAKE_ACTORS
from workflows.reports import chart as charts
from workflows.systems.names import system_name
from workflows.systems.registry import coverage

ACTOR = "syncdesk (digest)"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FailureCount:
    system: str
    error_class: str
    count: int


@dataclass(frozen=True)
class OpenOrder:
    order_id: str
    guest_name: str
    arrival: dt.date | None
    failing: tuple[str, ...]  # "synxis: timeout" per failing item
    opened_at: dt.datetime
    acknowledged_by: str | None


@dataclass(frozen=True)
class Theme:
    system: str
    error_class: str
    days: tuple[dt.date, ...]
    failures: int


@dataclass(frozen=True)
class Fix:
    actor: str
    order_id: str
    item_id: str
    system: str
    reference: str | None


@dataclass(frozen=True)
class ResponseTimes:
    """How fast people answered one system's alerts at one property on the day, and on the same
    weekday a week before: time to the first human action (MTTA: "I'm on it", a button, a
    command) and to resolution (MTTR), medians."""

    system: str
    property: str  # "" when the items name none
    acted: int  # alerts opened on the day that a person acted on
    mtta: dt.timedelta | None
    resolved: int  # alerts resolved on the day
    mttr: dt.timedelta | None
    mtta_last_week: dt.timedelta | None = None
    mttr_last_week: dt.timedelta | None = None

    @property
    def place(self) -> str:
        return system_name(self.system) + (f" at {self.property}" if self.property else "")

    def text(self) -> str:
        def vs(now: dt.timedelta | None, before: dt.timedelta | None) -> str:
            return _duration(now) + (f" (last week {_duration(before)})" if before is not None else "")
        return (f"{self.place}: first action {vs(self.mtta, self.mtta_last_week)} ({self.acted}), "
                f"resolution {vs(self.mttr, self.mttr_last_week)} ({self.resolved})")


@dataclass(frozen=True)
class Digest:
    day: dt.date
    timezone: str
    failures: tuple[FailureCount, ...]  # by system, then most frequent class first
    open_orders: tuple[OpenOrder, ...]  # soonest arrival first; unknown arrival last
    resolved: int
    resolution_median: dt.timedelta | None
    resolution_p90: dt.timedelta | None
    themes: tuple[Theme, ...]
    fixes: tuple[Fix, ...]
    lookback_days: int = 7
    # What each channel covers (issue 14: alerts go to a channel per system and/or property)
    channels: tuple[tuple[str, str], ...] = ()
    # Time to first human action and to resolution, by system and property, against last week (issue 26)
    response: tuple[ResponseTimes, ...] = ()
    # Failures per day by system over the 14 days ending on `day`, and their chart when drawn (issue 26.7)
    history: charts.FailureHistory | None = None
    chart: charts.Chart | None = None

    @property
    def total_failures(self) -> int:
        return sum(f.count for f in self.failures)

    @property
    def by_system(self) -> tuple[tuple[str, int], ...]:
        totals: dict[str, int] = defaultdict(int)
        for f in self.failures:
            totals[f.system] += f.count
        return tuple(sorted(totals.items(), key=lambda kv: (-kv[1], kv[0])))

    @property
    def fixes_by_person(self) -> tuple[tuple[str, tuple[Fix, ...]], ...]:
        people: dict[str, list[Fix]] = defaultdict(list)
        for fix in self.fixes:
            people[fix.actor].append(fix)
        return tuple(sorted(((a, tuple(f)) for a, f in people.items()), key=lambda kv: (-len(kv[1]), kv[0])))

    def render_text(self) -> str:
        lines = [f"syncdesk digest for {self.day:%a %d %b %Y} ({self.timezone})"]
        if self.failures:
            parts = []
            for system, total in self.by_system:
                classes = ", ".join(f"{_label(f.error_class)} {f.count}" for f in self.failures if f.system == system)
                parts.append(f"{system_name(system)} {total} ({classes})")
            lines.append(f"Failures: {self.total_failures} — " + "; ".join(parts))
        else:
            lines.append("Failures: none")
        if self.resolved:
            lines.append(f"Time to resolution: median {_duration(self.resolution_median)}, "
                         f"90th percentile {_duration(self.resolution_p90)} ({self.resolved} resolved)")
        else:
            lines.append("Time to resolution: nothing resolved")
        if self.response:
            lines.append("Response times (medians; count): " + "; ".join(r.text() for r in self.response))
        if self.channels:
            lines.append("Channels: " + "; ".join(f"{c} — {what}" for c, what in self.channels))
        lines.append(f"Still open ({len(self.open_orders)}), soonest arrival first:" if self.open_orders
                     else "Still open: nothing")
        for o in self.open_orders:
            arrival = f"arriving {o.arrival:%a %d %b}" if o.arrival else "arrival unknown"
            who = f" — {o.acknowledged_by} is on it" if o.acknowledged_by else ""
            lines.append(f"  • {o.order_id} {o.guest_name} — {arrival} — {', '.join(o.failing) or 'awaiting completion'}{who}")
        for t in self.themes:
            lines.append(f"Recurring: {system_name(t.system)} {_label(t.error_class).lower()} on {len(t.days)} "
                         f"of the last {self.lookback_days} days ({t.failures} failures)")
        if self.fixes:
            lines.append("Who fixed what:")
            for actor, fixes in self.fixes_by_person:
                done = ", ".join(f"{f.order_id}/{f.item_id}" + (f" ({f.reference})" if f.reference else "")
                                 for f in fixes)
                lines.append(f"  • {actor}: {done}")
        return "\n".join(lines)


def _label(error_class: str) -> str:
    try:
        return ErrorClass(error_class).label
    except ValueError:
        return error_class


def _duration(value: dt.timedelta | None) -> str:
    if value is None:
        return "-"
    minutes = round(value.total_seconds() / 60)
    return f"{minutes} min" if minutes < 60 else f"{minutes // 60} h {minutes % 60} min"


def percentile(values: list[dt.timedelta], pct: float) -> dt.timedelta | None:
    """Nearest-rank percentile: the ⌈pct·n/100⌉-th smallest value."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(1, math.ceil(pct * len(ordered) / 100)) - 1]


def median(values: list[dt.timedelta]) -> dt.timedelta | None:
    if not values:
        return None
    return dt.timedelta(seconds=statistics.median(v.total_seconds() for v in values))


def day_bounds(day: dt.date, zone: ZoneInfo) -> tuple[dt.datetime, dt.datetime]:
    """The UTC instants a local day starts and ends (23 or 25 hours across a DST change)."""
    start = dt.datetime.combine(day, dt.time(0), zone).astimezone(dt.timezone.utc)
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), zone).astimezone(dt.timezone.utc)
    return start, end


def _intake_failures(session: Session, start: dt.datetime, end: dt.datetime) -> list[tuple[str, str, dt.datetime]]:
    return [(system, error_class or "unknown", at) for system, error_class, at in session.execute(
        select(OrderItem.system, SyncAttempt.error_class, SyncAttempt.started_at)
        .join(OrderItem, OrderItem.pk == SyncAttempt.item_pk)
        .where(SyncAttempt.triggered_by.in_(INTAKE_ACTORS), SyncAttempt.status == states.Q_FAILED,
               SyncAttempt.started_at >= start, SyncAttempt.started_at < end)
    ).all()]


def failures_per_day(session: Session, day: dt.date, zone: ZoneInfo, days: int = charts.DAYS) -> charts.FailureHistory:
    """The failures intake reported on each local day of the `days` ending on `day`, by system
    (the digest's "Failures" of each day): a day without any is a 0."""
    first = day - dt.timedelta(days=days - 1)
    start, _ = day_bounds(first, zone)
    _, end = day_bounds(day, zone)
    counts: dict[str, list[int]] = defaultdict(lambda: [0] * days)
    for system, _, at in _intake_failures(session, start, end):
        counts[system][(at.astimezone(zone).date() - first).days] += 1
    rows = sorted(counts.items(), key=lambda kv: (-sum(kv[1]), kv[0]))
    return charts.FailureHistory(tuple(first + dt.timedelta(days=i) for i in range(days)),
                                 tuple((system, tuple(row)) for system, row in rows), zone.key)


def _open_orders(session: Session, guest_details: str) -> list[OpenOrder]:
    alerts = session.scalars(select(Alert).where(Alert.state != states.A_RESOLVED).order_by(Alert.id)).all()
    first: dict[str, Alert] = {}
    for a in alerts:
        first.setdefault(a.order_id, a)
    result = []
    for order_id, alert in first.items():
        order = session.get(Order, order_id)
        if order is None:
            continue
        failing, starts = [], []
        for item in order.items:
            if item.kind == "retail" or item.status != states.IN_PROGRESS:
                continue
            last = session.scalar(select(SyncAttempt).where(SyncAttempt.item_pk == item.pk)
                                  .order_by(SyncAttempt.number.desc()))
            failing.append(f"{system_name(item.system)}: "
                           f"{_label(last.error_class) if last and last.error_class else 'failed'}")
            if item.start is not None:
                starts.append(item.start)
        name = masking.guest_name(order.guest_first_name, order.guest_last_name, guest_details)
        result.append(OpenOrder(order_id, name, min(starts) if starts else None, tuple(failing),
                                alert.created_at, alert.acknowledged_by))
    return sorted(result, key=lambda o: (o.arrival is None, o.arrival or dt.date.max, o.order_id))


def _resolution_times(session: Session, start: dt.datetime, end: dt.datetime) -> list[dt.timedelta]:
    """From the alert's (re)opening to its resolution, one per order resolved during the day."""
    alerts = session.scalars(select(Alert).where(Alert.resolved_at >= start, Alert.resolved_at < end)
                             .order_by(Alert.id)).all()
    first: dict[str, Alert] = {}
    for a in alerts:
        first.setdefault(a.order_id, a)
    times = []
    for alert in first.values():
        assert alert.resolved_at is not None
        times.append(alert.resolved_at - _opened(session, alert, alert.resolved_at))
    return times


HUMANS = ("slack:", "teams:", "cli:")  # actors that are people (bot.slack.forms.actor, Teams, the CLI)


def _place(order: Order) -> tuple[str, str]:
    """(system, property) of an order's alert: its first bookable item's."""
    item = next((i for i in order.items if i.kind != "retail"), None)
    if item is None:
        return "", ""
    return item.system or "", property_in(item.details or {}) or ""


def _opened(session: Session, alert: Alert, before: dt.datetime) -> dt.datetime:
    """When the alert last (re)opened before `before`."""
    reopened = session.scalar(select(AuditEvent.created_at).where(
        AuditEvent.order_id == alert.order_id, AuditEvent.action == "alert.open",
        AuditEvent.created_at <= before).order_by(AuditEvent.created_at.desc()))
    return max(alert.created_at, reopened) if reopened else alert.created_at


def _first_human_action(session: Session, order_id: str, after: dt.datetime) -> dt.datetime | None:
    actions = session.execute(select(AuditEvent.created_at, AuditEvent.actor).where(
        AuditEvent.order_id == order_id, AuditEvent.created_at >= after).order_by(AuditEvent.created_at)).all()
    return next((at for at, actor in actions if actor.startswith(HUMANS)), None)


def _response_times(session: Session, start: dt.datetime, end: dt.datetime) -> dict[tuple[str, str], tuple[
        list[dt.timedelta], list[dt.timedelta]]]:
    """(times to first human action, times to resolution) by (system, property): first actions
    on alerts opened in [start, end), resolutions in [start, end); one alert per order."""
    by_place: dict[tuple[str, str], tuple[list[dt.timedelta], list[dt.timedelta]]] = defaultdict(lambda: ([], []))
    opened = session.scalars(select(Alert).where(Alert.created_at >= start, Alert.created_at < end)
                             .order_by(Alert.id)).all()
    for alert in {a.order_id: a for a in reversed(opened)}.values():
        order = session.get(Order, alert.order_id)
        acted = _first_human_action(session, alert.order_id, alert.created_at)
        candidates = [t for t in (acted, alert.acknowledged_at) if t is not None]
        if order is not None and candidates:
            by_place[_place(order)][0].append(min(candidates) - alert.created_at)
    resolved = session.scalars(select(Alert).where(Alert.resolved_at >= start, Alert.resolved_at < end)
                               .order_by(Alert.id)).all()
    for alert in {a.order_id: a for a in reversed(resolved)}.values():
        order = session.get(Order, alert.order_id)
        assert alert.resolved_at is not None
        if order is not None:
            by_place[_place(order)][1].append(alert.resolved_at - _opened(session, alert, alert.resolved_at))
    return by_place


def response(session: Session, day: dt.date, zone: ZoneInfo) -> tuple[ResponseTimes, ...]:
    """MTTA and MTTR of `day` by system and property, beside the same weekday a week before."""
    now = _response_times(session, *day_bounds(day, zone))
    before = _response_times(session, *day_bounds(day - dt.timedelta(days=7), zone))
    rows = []
    for place in sorted(set(now) | set(before)):
        acted, resolved = now.get(place, ([], []))
        acted_before, resolved_before = before.get(place, ([], []))
        rows.append(ResponseTimes(place[0], place[1], len(acted), median(acted), len(resolved), median(resolved),
                                  median(acted_before), median(resolved_before)))
    return tuple(rows)


def _fixes(session: Session, start: dt.datetime, end: dt.datetime) -> list[Fix]:
    items = session.scalars(select(OrderItem).where(
        OrderItem.confirmed_at >= start, OrderItem.confirmed_at < end, OrderItem.confirmed_by.is_not(None))
        .order_by(OrderItem.confirmed_at)).all()
    return [Fix(i.confirmed_by or "", i.order_id, i.item_id, i.system, i.external_reference) for i in items]


def build(session: Session, day: dt.date, *, timezone: str = "UTC", theme_days: int = 3,
          lookback_days: int = 7, guest_details: str = masking.FULL) -> Digest:
    """The digest of local `day` in `timezone`, its open orders' guests as `guest_details` shows them."""
    zone = ZoneInfo(timezone)
    start, end = day_bounds(day, zone)
    counts: dict[tuple[str, str], int] = defaultdict(int)
    for system, error_class, _ in _intake_failures(session, start, end):
        counts[(system, error_class)] += 1
    failures = tuple(FailureCount(s, c, n) for (s, c), n in
                     sorted(counts.items(), key=lambda kv: (kv[0][0], -kv[1], kv[0][1])))

    history_start, _ = day_bounds(day - dt.timedelta(days=lookback_days - 1), zone)
    seen: dict[tuple[str, str], set[dt.date]] = defaultdict(set)
    totals: dict[tuple[str, str], int] = defaultdict(int)
    for system, error_class, at in _intake_failures(session, history_start, end):
        seen[(system, error_class)].add(at.astimezone(zone).date())
        totals[(system, error_class)] += 1
    themes = tuple(Theme(s, c, tuple(sorted(days)), totals[(s, c)])
                   for (s, c), days in sorted(seen.items(), key=lambda kv: (-len(kv[1]), kv[0]))
                   if len(days) >= theme_days)

    times = _resolution_times(session, start, end)
    return Digest(day, timezone, failures, tuple(_open_orders(session, guest_details)), len(times), median(times),
                  percentile(times, 90), themes, tuple(_fixes(session, start, end)), lookback_days,
                  response=response(session, day, zone), history=failures_per_day(session, day, zone))


class DigestBoard(Protocol):
    def show_digest(self, digest: Digest) -> None:
        """Post the daily digest (to DIGEST_CHANNEL, else the alert channel), and its chart when
        `digest.chart` holds one."""
        ...


boards: Port[DigestBoard] = Port("digest board")


def yesterday(now: dt.datetime, timezone: str) -> dt.date:
    return now.astimezone(ZoneInfo(timezone)).date() - dt.timedelta(days=1)


def with_chart(digest: Digest, settings: Settings) -> Digest:
    """The digest with the chart of its 14 days drawn (DIGEST_CHART=on), or as it is: "off",
    or matplotlib missing (said once in the log, per digest)."""
    if settings.digest_chart == "off" or digest.history is None:
        return digest
    try:
        return dataclasses.replace(digest, chart=charts.render(digest.history))
    except charts.ChartsUnavailable as exc:
        log.warning("digest for %s: %s", digest.day, exc)
        return digest


def post_daily(day: str | None = None, settings: Settings | None = None, now: dt.datetime | None = None) -> str:
    """Job (the clock enqueues it once a day at DIGEST_TIME): post the digest of `day`
    (default: yesterday) on every surface, once each — a run again for the same day posts it
    only where it is not posted yet (a surface that failed), else does nothing."""
    settings = settings or get_settings()
    now = now or utcnow()
    which = dt.date.fromisoformat(day) if day else yesterday(now, settings.local_timezone)
    with transaction(settings.database_url) as session:
        posted = session.scalars(select(AuditEvent).where(AuditEvent.action == "digest.posted")
                                 .order_by(AuditEvent.id.desc()).limit(60)).all()
        # before issue 26.7 the digest went to Slack alone, and its audit named no surface
        done = {e.detail.get("surface", "slack") for e in posted if e.detail.get("day") == which.isoformat()}
        todo = [surface for surface in boards.surfaces() or ["slack"] if surface not in done]
        if not todo:
            return "already posted"
        digest = build(session, which, timezone=settings.local_timezone, theme_days=settings.digest_theme_days,
                       lookback_days=settings.digest_lookback_days, guest_details=settings.chat_guest_details)
    digest = with_chart(digest, settings)
    for surface in todo:
        boards.get(surface).show_digest(dataclasses.replace(digest, channels=tuple(coverage(settings, surface))))
        with transaction(settings.database_url) as session:
            states.audit(session, actor=ACTOR, action="digest.posted", day=which.isoformat(), surface=surface,
                         failures=digest.total_failures, still_open=len(digest.open_orders),
                         chart=digest.chart is not None)
    return "posted"
