"""The clock hands back the jobs of this machine's dead workers, and only theirs: a live worker,
and a worker that registered from another machine (or another PID namespace), are left alone.
The end-to-end case (a worker SIGKILLed mid-booking) is in tests/syncdesk/test_worker_pool.py."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from rq import SimpleWorker, Worker

from workflows.clock import abandoned
from workflows.core import queue
from workflows.core.settings import Settings


def registered(settings: Settings, name: str, pid: int, home: str | None) -> SimpleWorker:
    worker = SimpleWorker([queue.get_queue(settings)], connection=queue.get_redis(settings.redis_url), name=name)
    worker.pid = pid
    worker.register_birth()
    if home is not None:
        queue.get_redis(settings.redis_url).set(abandoned.HOME_KEY.format(name), home)
    return worker


def test_only_a_dead_worker_of_this_machine_is_unregistered(settings):
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()
    here = abandoned.home()
    assert here is not None
    registered(settings, "live-here", os.getpid(), here)  # this test's own process
    registered(settings, "dead-elsewhere", ended.pid, "another-host/4026531836")
    registered(settings, "dead-here", ended.pid, here)

    abandoned.sweep_local(settings)
    names = {w.name for w in Worker.all(connection=queue.get_redis(settings.redis_url))}
    assert {"live-here", "dead-elsewhere"} <= names and "dead-here" not in names


def test_a_zombie_counts_as_gone_and_a_live_process_does_not():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        for _ in range(100):  # ended but not reaped: a zombie
            if abandoned._gone(child.pid):
                break
            time.sleep(0.05)
        assert abandoned._gone(child.pid)
    finally:
        child.wait()
    assert abandoned._gone(child.pid)  # reaped: no such process
    assert not abandoned._gone(os.getpid())
