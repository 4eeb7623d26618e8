"""The clock's daily jobs (`workflows.clock.schedules.enqueue_oncall_work`): the digest and the
reconciliation are enqueued once per local day after their time, never before it, and never
when their time is "off"."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from rq import Queue

from workflows.clock.schedules import enqueue_oncall_work
from workflows.core import queue
from workflows.core.settings import Settings


def at(settings: Settings, local: str) -> float:
    return dt.datetime.fromisoformat(local).replace(tzinfo=ZoneInfo(settings.local_timezone)).timestamp()


def daily_jobs(settings: Settings) -> list[str]:
    ids = Queue(settings.queue_name, connection=queue.get_redis(settings.redis_url)).get_job_ids()
    return sorted(i.split("__")[0] for i in ids if i.startswith(("digest", "reconcile")))


def test_each_daily_job_is_enqueued_once_a_day_after_its_local_time(settings):
    s = settings.model_copy(update={"digest_time": "08:00", "reconcile_time": "07:00",
                                    "local_timezone": "Australia/Sydney"})
    enqueue_oncall_work(s, at(s, "2026-12-07T06:59:00"))
    assert daily_jobs(s) == []
    enqueue_oncall_work(s, at(s, "2026-12-07T07:30:00"))
    assert daily_jobs(s) == ["reconcile"]
    enqueue_oncall_work(s, at(s, "2026-12-07T08:01:00"))
    enqueue_oncall_work(s, at(s, "2026-12-07T23:59:00"))  # later the same day: nothing more
    assert daily_jobs(s) == ["digest", "reconcile"]


def test_a_daily_job_whose_time_is_off_is_never_enqueued(settings):
    s = settings.model_copy(update={"digest_time": "off", "reconcile_time": "07:00"})
    enqueue_oncall_work(s, at(s, "2026-12-07T23:00:00"))
    assert daily_jobs(s) == ["reconcile"]
