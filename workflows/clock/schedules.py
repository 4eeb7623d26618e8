"""The clock: the periodic work, run by one loop in one thread (`syncdesk clock`, or
`syncdesk worker --clock` between jobs), never by a thread beside a worker.

Every tick drains the outbox (jobs written while Redis was away), re-enqueues what Redis
lost (`workflows.clock.recovery`), hands back the jobs of this machine's workers that died
(`workflows.clock.abandoned`) and enqueues the poller under a job id fixed for its time
slot, so any number of clocks enqueue it once per slot; likewise the hourly retail reminder,
the escalation and outage checks, the daily digest and the daily reconciliation. Between
ticks it moves RQ's scheduled jobs whose time has come onto their queues (RQ's own
`RQScheduler`, driven here instead of in the process RQ would fork for it; its Redis lock
keeps two clocks from doing it twice).

Why not a thread: a worker that forks (RQ's work horse, its scheduler, a worker pool) copies
every lock another thread holds at that instant, held forever in the child. A clock thread
inside `PRAGMA journal_mode=WAL` or an import at the moment of a fork left a work horse
waiting on a futex for good (issue 15). So no thread of ours runs in a process that forks.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from zoneinfo import ZoneInfo

from redis.exceptions import RedisError
from rq.scheduler import RQScheduler

from workflows.clock import abandoned, recovery
from workflows.core import heartbeat, queue
from workflows.core.settings import Settings
from workflows.systems.registry import zones_in_routing

log = logging.getLogger(__name__)

# The routine the clock enqueues every few seconds or minutes: its job ids start with these,
# and the worker logs them at DEBUG (`syncdesk.logs`) so they do not drown what people need to see.
ROUTINE_JOBS = ("poll", "retail-remind", "escalation", "outage-quiet", "maintenance")
ROUTINE_FUNCTIONS = ("poll_stuck_orders", "send_retail_reminder", "check_due", "check_quiet", "check_windows")


def tick(settings: Settings, now: float | None = None) -> None:
    current = time.time() if now is None else now
    try:
        heartbeat.beat(queue.get_redis(settings.redis_url), settings.queue_name, heartbeat.CLOCK, current)
        queue.drain(settings)
        slot = int(current // settings.poll_interval_seconds)
        queue.enqueue(settings, "workflows.intake.poller.poll_stuck_orders", queue.job_id("poll", slot))
        recheck = int(current // (settings.recheck_open_minutes * 60))
        queue.enqueue(settings, "workflows.intake.poller.recheck_open_alerts", queue.job_id("recheck", recheck))
        hour = int(current // 3600)
        queue.enqueue(settings, "workflows.retail.service.send_retail_reminder", queue.job_id("retail-remind", hour))
        recovery.sweep(settings)
        enqueue_oncall_work(settings, current)
    except RedisError as exc:
        log.warning("clock tick skipped, Redis unavailable: %s", exc)
        return
    except Exception:  # outermost boundary of the clock loop: log and keep ticking
        log.exception("clock tick failed")
    try:  # after the rest: nothing above waits on it
        abandoned.sweep_local(settings)
    except Exception:  # outermost boundary again: an odd worker record must not stop the clock
        log.exception("looking for dead workers failed")


# The on-call workflows' daily jobs (issue 6): (name, function, time setting, which day it is about).
DAILY = (
    ("digest", "workflows.reports.digest.post_daily", "digest_time", -1),  # at DIGEST_TIME, about yesterday
    ("reconcile", "workflows.reports.reconcile.run_daily", "reconcile_time", 0),  # at RECONCILE_TIME, today's
    # issue 28: at GUEST_RETENTION_TIME, erase the guests of orders done GUEST_DATA_DAYS ago
    ("guest-retention", "workflows.guests.retention.run_daily", "guest_retention_time", 0),
)


def enqueue_oncall_work(settings: Settings, current: float) -> None:
    """The escalation and outage checks once per ESCALATION_CHECK_SECONDS slot (the maintenance
    windows' once per MAINTENANCE_CHECK_SECONDS slot); the digest and
    the reconciliation once per local day (LOCAL_TIMEZONE) after their time, unless it is "off".

    A Redis marker per job and day keeps the daily ones to one enqueue even after RQ has
    forgotten the finished job; the jobs themselves also refuse to run twice for a day.
    """
    slot = int(current // settings.escalation_check_seconds)
    queue.enqueue(settings, "workflows.oncall.escalation.check_due", queue.job_id("escalation", slot))
    queue.enqueue(settings, "workflows.outage.jobs.check_quiet", queue.job_id("outage-quiet", slot))
    # maintenance windows (issue 26): started, ended, their failures handed to the outage's view
    queue.enqueue(settings, "workflows.outage.maintenance.check_windows",
                  queue.job_id("maintenance", int(current // settings.maintenance_check_seconds)))
    local = dt.datetime.fromtimestamp(current, ZoneInfo(settings.local_timezone))
    for name, function, time_setting, offset in DAILY:
        at = getattr(settings, time_setting)
        if at == "off" or local.time() < dt.time.fromisoformat(at):
            continue
        day = (local.date() + dt.timedelta(days=offset)).isoformat()
        marker = f"syncdesk:daily:{settings.queue_name}:{name}:{day}"
        _once(settings, marker, function, queue.job_id(name, day), day=day)
    enqueue_arrival_checks(settings, current)


def enqueue_arrival_checks(settings: Settings, current: float) -> None:
    """The arrival check (issue 25) once a day per time zone a property is in, at
    ARRIVALS_CHECK_AT there, for that zone's today and ARRIVALS_DAYS_AHEAD more days."""
    if settings.arrivals_check_at == "off":
        return
    at = dt.time.fromisoformat(settings.arrivals_check_at)
    for zone in sorted({settings.local_timezone, *zones_in_routing(settings)}):
        local = dt.datetime.fromtimestamp(current, ZoneInfo(zone))
        if local.time() < at:
            continue
        for ahead in range(settings.arrivals_days_ahead + 1):
            day = (local.date() + dt.timedelta(days=ahead)).isoformat()
            marker = f"syncdesk:daily:{settings.queue_name}:arrivals:{zone}:{local.date()}:{day}"
            _once(settings, marker, "workflows.arrivals.check.run_daily",
                  queue.job_id("arrivals", zone, local.date(), day), day=day, zone=zone)


def _once(settings: Settings, marker: str, function: str, job_id: str, **kwargs: str) -> None:
    """Enqueue a daily job unless its Redis marker says it was enqueued already."""
    redis = queue.get_redis(settings.redis_url)
    if redis.set(marker, "1", nx=True, ex=3 * 86400):
        try:
            queue.enqueue(settings, function, job_id, **kwargs)
        except RedisError:
            redis.delete(marker)
            raise


class Clock:
    """The clock's loop: `run_due()` does whatever is due (a tick every `tick_seconds`, RQ's
    scheduled jobs every `promote_seconds`) and says how long until the next thing is."""

    def __init__(self, settings: Settings, tick_seconds: float = 5.0) -> None:
        self.settings = settings
        self.tick_seconds = tick_seconds
        self.promote_seconds = min(settings.scheduler_poll_seconds, tick_seconds)
        self._next_tick = 0.0
        self._next_promote = 0.0
        self._scheduler: RQScheduler | None = None

    def run_due(self, now: float | None = None) -> float:
        current = time.monotonic() if now is None else now
        if current >= self._next_tick:
            self._next_tick = current + self.tick_seconds
            tick(self.settings)
        if current >= self._next_promote:
            self._next_promote = current + self.promote_seconds
            self.promote()
        return max(0.0, min(self._next_tick, self._next_promote) - time.monotonic())

    def promote(self) -> int:
        """Move scheduled jobs whose time has come onto their queues; how many queues this
        clock holds RQ's scheduler lock for (another clock may hold them)."""
        try:
            if self._scheduler is None:
                self._scheduler = RQScheduler([q.name for q in queue.get_queues(self.settings)],
                                              connection=queue.get_redis(self.settings.redis_url),
                                              interval=max(1, round(self.tick_seconds)))
            scheduler = self._scheduler
            if scheduler.should_reacquire_locks:
                scheduler.acquire_locks(auto_start=False)
            elif scheduler.acquired_locks:
                scheduler.heartbeat()
            if scheduler.acquired_locks:
                scheduler.enqueue_scheduled_jobs()
            return len(scheduler.acquired_locks)
        except RedisError as exc:
            log.warning("scheduled jobs not moved, Redis unavailable: %s", exc)
            self._scheduler = None  # take the locks again once Redis is back
            return 0

    def release(self) -> None:
        """Let another clock take RQ's scheduler locks at once (on a clean stop)."""
        if self._scheduler is not None:
            try:
                self._scheduler.release_locks()
            except RedisError:
                pass  # they expire on their own

    def run(self, stopping: Callable[[], bool], *, step: float = 0.2) -> None:
        """Run until `stopping()` is true; it is looked at at least every `step` seconds."""
        try:
            while not stopping():
                wait = self.run_due()
                deadline = time.monotonic() + wait
                while not stopping() and time.monotonic() < deadline:
                    time.sleep(min(step, max(0.0, deadline - time.monotonic())))
        finally:
            self.release()
