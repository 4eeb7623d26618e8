"""A worker that cannot hang (issue 15): jobs run in the worker's own process, the clock runs
in its own process or between jobs, never as a thread beside a fork, and workers started and
stopped while the clock ticks all do their job and stop within a bound.

The hang this guards against: RQ forked a work horse while the worker's clock thread held a
lock (SQLite's `PRAGMA journal_mode=WAL`), and the horse waited on it forever.

Why 40 cycles with the clocks ticking every 10 ms catch it (issue 22): the hang needs a fork
(a work horse, a pool's worker) at an instant when another thread of the forking process holds
a lock. What decides whether a run finds it is how many forks land inside a clock tick, not how
many workers start: with a tick every 10 ms the clock is inside a tick (database, Redis, imports)
most of the time, where at 50 ms it was idle most of it, so each fork meets a held lock several
times as often and 40 cycles make at least as many such meetings as 200 did. Every mode that
forks (the pools, and a worker whose clock ticks beside its jobs) is in the rotation.
`NO_HANG_CYCLES=200` runs the long version.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from rq import Queue
from rq.job import Job, JobStatus

from tests.conftest import WorkerProcess, wait_for
from workflows.clock.schedules import Clock
from workflows.core import queue
from workflows.core.settings import Settings

pytestmark = pytest.mark.slow  # started first (tests/conftest.py)

CYCLES = int(os.environ.get("NO_HANG_CYCLES", "40"))
TICK = "0.01"
MODES = (
    ["worker"],
    ["worker", "--processes", "2"],
    ["worker", "--clock", "--tick", TICK],
    ["worker", "--processes", "2", "--clock", "--tick", TICK],
)


def finished(settings: Settings, job_id: str) -> object:
    job = Job.fetch(job_id, connection=queue.get_redis(settings.redis_url))
    status = job.get_status(refresh=True)
    assert status != JobStatus.FAILED, job.latest_result()
    return job.return_value() if status == JobStatus.FINISHED else None


def stacks(worker: WorkerProcess) -> str:
    """Every thread's stack of a stuck worker and of its children (`syncdesk` prints them on
    SIGUSR1), from the end of its output."""
    for pid in [worker.proc.pid, *_children(worker.proc.pid)]:
        try:
            os.kill(pid, signal.SIGUSR1)
        except ProcessLookupError:
            pass
    time.sleep(1)
    with open(worker.log.name, "rb") as f:
        return f.read().decode(errors="replace")[-6000:]


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(p) for p in f.read().split()]
    except FileNotFoundError:
        return []


def test_a_job_runs_in_the_worker_process_itself(settings, worker_factory):
    worker = worker_factory(settings, args=["worker"])
    queue.enqueue(settings, "os.getpid", "whose-pid")
    assert wait_for(lambda: finished(settings, "whose-pid"), timeout=60) == worker.proc.pid  # no work horse


def test_a_pool_runs_its_jobs_in_its_workers_and_stops_with_them(settings, worker_factory):
    pool = worker_factory(settings, args=["worker", "--processes", "2"])
    for n in range(6):
        queue.enqueue(settings, "os.getpid", f"pid-{n}")
    pids = {wait_for(lambda n=n: finished(settings, f"pid-{n}"), timeout=60) for n in range(6)}
    assert pool.proc.pid not in pids and 1 <= len(pids) <= 2  # the pool's workers ran them, not the pool
    pool.proc.terminate()
    assert pool.proc.wait(timeout=20) == 0
    for pid in pids:  # its workers went with it
        assert wait_for(lambda pid=pid: not os.path.exists(f"/proc/{pid}") or _zombie(pid), timeout=10)


def _zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def test_the_clock_moves_scheduled_jobs_when_they_are_due(settings):
    # Due in 3 s (RQ keeps whole seconds): a first tick on a loaded machine can take a second.
    asked = time.time()
    queue.enqueue(settings, "os.getpid", "later", delay_seconds=3)
    q = Queue(settings.queue_name, connection=queue.get_redis(settings.redis_url))
    clock = Clock(settings, tick_seconds=60)
    clock.run_due()
    assert time.time() < asked + 2, "the tick took longer than the delay: nothing is shown"
    assert "later" not in q.get_job_ids() and "later" in q.scheduled_job_registry.get_job_ids()
    wait_for(lambda: clock.promote() and "later" in q.get_job_ids(), timeout=10, interval=0.05)
    assert time.time() >= asked + 2  # not before it was due (to RQ's whole second)
    clock.release()


def test_the_clock_process_stops_promptly_on_sigterm(settings):
    clock = WorkerProcess(settings, args=["clock", "--tick", "0.1"])
    wait_for(lambda: b"clock started" in open(clock.log.name, "rb").read(), timeout=30, interval=0.05)
    assert clock.proc.poll() is None
    started = time.monotonic()
    clock.proc.terminate()
    assert clock.proc.wait(timeout=5) == 0 and time.monotonic() - started < 3
    clock.stop()


@pytest.mark.timeout(480)
def test_workers_started_and_stopped_many_times_while_the_clock_ticks_never_hang(settings):
    """Each worker takes a job that uses the database while a separate clock (ticking every
    10 ms: outbox, recovery sweep, checks) and, in half the runs, the worker's own clock
    work on the same database; then SIGTERM must stop it within 15 s. Four at a time."""
    clock = WorkerProcess(settings, args=["clock", "--tick", TICK])

    def cycle(n: int) -> tuple[int, str | None]:
        job_id = f"no-hang-{n}"
        own = settings.model_copy(update={"queue_name": f"{settings.queue_name}-{n}"})  # its job, no one else's
        queue.enqueue(own, "workflows.outage.jobs.check_quiet", job_id)
        worker = WorkerProcess(own, args=MODES[n % len(MODES)])
        try:
            deadline = time.monotonic() + 90
            while finished(own, job_id) is None:
                if time.monotonic() > deadline:
                    return n, f"job not done in 90 s by {MODES[n % len(MODES)]}"
                if worker.proc.poll() is not None:
                    return n, f"worker exited {worker.proc.returncode} before its job"
                time.sleep(0.05)
            started = time.monotonic()
            worker.proc.terminate()
            try:
                worker.proc.wait(timeout=WorkerProcess.STOP_SECONDS)
            except Exception:
                return n, (f"{MODES[n % len(MODES)]} did not stop within {WorkerProcess.STOP_SECONDS} s of SIGTERM; "
                           f"where it was:\n{stacks(worker)}")
            if worker.proc.returncode != 0:
                return n, f"{MODES[n % len(MODES)]} exited {worker.proc.returncode}"
            return n, None if time.monotonic() - started < WorkerProcess.STOP_SECONDS else "slow stop"
        finally:
            output = worker.stop(timeout=1)
            if os.environ.get("SHOW_WORKER_LOG"):
                print(output)

    began = dt.datetime.now()
    try:
        with ThreadPoolExecutor(max_workers=4) as pool:
            outcomes = list(pool.map(cycle, range(CYCLES)))
        assert clock.proc.poll() is None, "the clock died during the run"
    finally:
        clock.stop()
    problems = [(n, p) for n, p in outcomes if p]
    if problems:  # pytest.fail, not assert: an assertion's message is cut short, and the stacks are the point
        pytest.fail(f"{len(problems)} of {CYCLES} cycles went wrong; the first three:\n\n"
                    + "\n\n".join(f"cycle {n}: {p}" for n, p in problems[:3]), pytrace=False)
    print(f"{CYCLES} workers started, did their job and stopped in {(dt.datetime.now() - began).total_seconds():.0f} s")
