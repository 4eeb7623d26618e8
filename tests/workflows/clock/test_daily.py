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


def arrival_checks(settings: Settings) -> list[tuple[str, str]]:
    """(zone, day) of each arrival check enqueued."""
    jobs = Queue(settings.queue_name, connection=queue.get_redis(settings.redis_url)).get_jobs()
    return sorted((j.kwargs["zone"], j.kwargs["day"]) for j in jobs if j.id.startswith("arrivals"))


def test_the_arrival_check_runs_at_its_time_in_each_propertys_zone(settings, tmp_path):
    # Sydney's 06:00 on the 8th is 19:00 UTC on the 7th; London's is 06:00 UTC.
    routing = tmp_path / "connectors.yml"
    routing.write_text("synxis:\n  default: synxis\n  properties:\n"
                       "    '13098': {connector: synxis, timezone: Australia/Sydney}\n")
    s = settings.model_copy(update={"arrivals_check_at": "06:00", "arrivals_days_ahead": 1,
                                    "local_timezone": "Europe/London", "connectors_file": str(routing)})

    def utc(text: str) -> float:
        return dt.datetime.fromisoformat(text).replace(tzinfo=dt.timezone.utc).timestamp()

    london = [("Europe/London", "2026-12-07"), ("Europe/London", "2026-12-08")]  # past its 06:00 already
    enqueue_oncall_work(s, utc("2026-12-07T18:59:00"))
    assert arrival_checks(s) == london
    enqueue_oncall_work(s, utc("2026-12-07T19:00:00"))
    sydney = [("Australia/Sydney", "2026-12-08"), ("Australia/Sydney", "2026-12-09")]
    assert arrival_checks(s) == sorted(london + sydney)
    enqueue_oncall_work(s, utc("2026-12-08T06:30:00"))  # London's next morning: today and tomorrow again
    enqueue_oncall_work(s, utc("2026-12-08T12:00:00"))  # later that day, anywhere: nothing more
    assert arrival_checks(s) == sorted(london + sydney + [("Europe/London", "2026-12-08"),
                                                          ("Europe/London", "2026-12-09")])
