"""The worker's clock: periodic work without a separate scheduler process.

Every tick drains the outbox (jobs written while Redis was away), re-enqueues what Redis
lost (`workflows.recovery`) and enqueues the poller under a job id fixed for its time slot,
so any number of workers enqueue it once per slot; likewise the hourly retail reminder, the
escalation and outage checks, the daily digest and the daily reconciliation.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from zoneinfo import ZoneInfo

from redis.exceptions import RedisError

from workflows import queue, recovery
from workflows.settings import Settings

log = logging.getLogger(__name__)


def tick(settings: Settings, now: float | None = None) -> None:
    current = time.time() if now is None else now
    try:
        queue.dispatch(settings)
        slot = int(current // settings.poll_interval_seconds)
        queue.enqueue(settings, "workflows.jobs.poll_stuck_orders", queue.job_id("poll", slot))
        hour = int(current // 3600)
        queue.enqueue(settings, "workflows.retail.send_retail_reminder", queue.job_id("retail-remind", hour))
        recovery.sweep(settings)
        enqueue_oncall_work(settings, current)
    except RedisError as exc:
        log.warning("clock tick skipped, Redis unavailable: %s", exc)
    except Exception:  # outermost boundary of the clock thread: log and keep ticking
        log.exception("clock tick failed")


# The on-call workflows' daily jobs (issue 6): (name, function, time setting, which day it is about).
DAILY = (
    ("digest", "workflows.digest.post_daily", "digest_time", -1),  # at DIGEST_TIME, about yesterday
    ("reconcile", "workflows.reconcile.run_daily", "reconcile_time", 0),  # at RECONCILE_TIME, today's
)


def enqueue_oncall_work(settings: Settings, current: float) -> None:
    """The escalation and outage checks once per ESCALATION_CHECK_SECONDS slot; the digest and
    the reconciliation once per local day (LOCAL_TIMEZONE) after their time.

    A Redis marker per job and day keeps the daily ones to one enqueue even after RQ has
    forgotten the finished job; the jobs themselves also refuse to run twice for a day.
    """
    slot = int(current // settings.escalation_check_seconds)
    queue.enqueue(settings, "workflows.escalation.check_due", queue.job_id("escalation", slot))
    queue.enqueue(settings, "workflows.outage.check_quiet", queue.job_id("outage-quiet", slot))
    local = dt.datetime.fromtimestamp(current, ZoneInfo(settings.local_timezone))
    for name, function, time_setting, offset in DAILY:
        if local.time() < dt.time.fromisoformat(getattr(settings, time_setting)):
            continue
        day = (local.date() + dt.timedelta(days=offset)).isoformat()
        redis = queue.get_redis(settings.redis_url)
        marker = f"syncdesk:daily:{settings.queue_name}:{name}:{day}"
        if redis.set(marker, "1", nx=True, ex=3 * 86400):
            try:
                queue.enqueue(settings, function, queue.job_id(name, day), day=day)
            except RedisError:
                redis.delete(marker)
                raise


def start_clock(settings: Settings, interval: float = 5.0) -> threading.Event:
    """Tick every `interval` seconds in a daemon thread; set the returned event to stop.

    The first tick runs here, in the caller's thread: an RQ worker forks a work horse per
    job, and a fork while the clock thread is importing a module on first use (the database
    driver, say) leaves that module's import lock held forever in the horse.
    """
    stop = threading.Event()
    tick(settings)

    def run() -> None:
        while not stop.wait(interval):
            tick(settings)

    threading.Thread(target=run, name="syncdesk-clock", daemon=True).start()
    return stop
