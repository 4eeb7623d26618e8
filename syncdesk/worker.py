"""The worker's and the clock's start-up (`syncdesk worker`, `syncdesk clock`).

A worker checks the routing, plugs the chat surfaces in, preloads what jobs use and runs
`SyncdeskWorker` on the actions queue first, then the rest: RQ's `SimpleWorker`, each job
in the worker process itself, so connections, tokens and clients built by one job serve the
next (a forked work horse threw them all away, bench/RESULTS.md). `--processes N` runs N of
them under RQ's `WorkerPool` (rq/worker_pool.py, docs: python-rq.org/docs/workers/), which
forks them from a parent that runs no thread and respawns one that dies.

No thread of ours runs in a process that forks (issue 15): the clock is its own process
(`syncdesk clock`, Procfile), or, with `--clock`, runs between jobs in the worker's only
thread (one-process setups and the tests). RQ's scheduler is driven by the clock too, so a
worker never forks a scheduler process either.
"""

from __future__ import annotations

import logging
import os
import signal
from types import FrameType
from typing import Any

from rq import Queue, SimpleWorker
from rq.job import Job
from rq.worker import WorkerStatus
from rq.worker_pool import WorkerData, WorkerPool

from syncdesk.surfaces import register_surfaces
from workflows.clock import abandoned
from workflows.clock.schedules import Clock
from workflows.core.metrics import JobMetrics
from workflows.core.queue import get_queues, get_redis
from workflows.core.settings import Settings, install, mask_url
from workflows.systems import registry

log = logging.getLogger(__name__)

# How often an idle pooled worker looks whether its pool is still there.
WATCH_SECONDS = 5
# How long the command channel's listening thread waits for a message at a time: the most a
# warm shutdown waits for it (see `SyncdeskWorker.subscribe`).
PUBSUB_STEP_SECONDS = 1


def preload() -> None:
    """Import what jobs use and build the shared TLS context once, before any job runs (and
    before a pool forks its workers, which inherit them)."""
    import stripe  # noqa: F401

    import workflows.actions.jobs  # noqa: F401
    import workflows.intake.poller  # noqa: F401
    import workflows.oncall.escalation  # noqa: F401
    import workflows.orders.jobs  # noqa: F401
    import workflows.outage.jobs  # noqa: F401
    import workflows.systems.clients  # noqa: F401
    from connectors.base import tls_context

    tls_context()


class SyncdeskWorker(JobMetrics, SimpleWorker):
    """RQ's SimpleWorker with job metrics (`/metrics`), registry maintenance every minute, no
    scheduler process, and optionally the clock between jobs.

    Maintenance every minute (RQ's default is ten): a job whose worker was killed is found
    abandoned and retried within minutes. Scheduled jobs are moved by the clock
    (`workflows.clock.schedules.Clock.promote`), so `work()` never starts RQ's scheduler,
    which would fork. A pooled worker (`parent_pid` set) stops when its pool is gone, so a
    pool killed with SIGKILL leaves no worker running unsupervised.
    """

    clock: Clock | None = None
    parent_pid: int | None = None
    pubsub_step_seconds: float = PUBSUB_STEP_SECONDS
    watch_seconds: float = WATCH_SECONDS
    # WORKER_MIN_WAIT_SECONDS: an idle worker blocks on Redis at least this long at a time (a job
    # wakes it at once), so a clock due sooner waits this long at most
    min_wait_seconds: float = 1.0

    def __init__(self, *args: Any, maintenance_interval: int = 60, **kwargs: Any) -> None:
        super().__init__(*args, maintenance_interval=maintenance_interval, **kwargs)

    def work(self, *args: Any, **kwargs: Any) -> bool:
        kwargs["with_scheduler"] = False
        return super().work(*args, **kwargs)

    def subscribe(self) -> None:
        """RQ's subscription to the worker's command channel (rq/worker/base.py), listening in
        steps of `PUBSUB_STEP_SECONDS` instead of RQ's 60 s. In redis-py 8.2.0
        `PubSubWorkerThread.stop()` waits for the listening thread to end, and RQ calls it on
        every warm shutdown after UNSUBSCRIBE. RQ counts on the unsubscribe reply to wake the
        thread (rq/rq#2172), but when the thread reads that reply before the stop flag is set
        it waits out another step: with 60 s steps a SIGTERM could take a minute to stop a
        worker (`tests/workflows/clock/test_no_hang.py` caught it), past a platform's grace
        period. Frappe shortens the step the same way (frappe/frappe#28957)."""
        self.log.info("Worker %s: subscribing to channel %s", self.name, self.pubsub_channel_name)
        self.pubsub = self.connection.pubsub()
        self.pubsub.subscribe(**{self.pubsub_channel_name: self.handle_payload})
        self.pubsub_thread = self.pubsub.run_in_thread(sleep_time=self.pubsub_step_seconds, daemon=True,
                                                       exception_handler=self._pubsub_exception_handler)

    def register_birth(self) -> None:
        super().register_birth()
        abandoned.register(self.connection, self.name)

    def request_stop(self, signum: int, frame: FrameType | None) -> None:
        """RQ's warm stop, with the request always remembered: an idle RQ worker only raises
        StopRequested, and code that catches every Exception at that moment (a library, a
        metric) swallows it; the loop below still sees the flag within `WATCH_SECONDS`."""
        self._stop_requested = True
        super().request_stop(signum, frame)

    def dequeue_job_and_maintain_ttl(self, timeout: int | None, max_idle_time: int | None = None
                                     ) -> tuple[Job, Queue] | None:
        """Wait for a job as RQ does, but in steps of at most `WATCH_SECONDS` (RQ's one wait
        lasts minutes), waking up to run the clock when it is due, to look for the pool and
        to see a stop request; None once a stop was asked for."""
        if timeout is None:  # burst: RQ's non-blocking dequeue
            return super().dequeue_job_and_maintain_ttl(timeout, max_idle_time)
        while not self._stop_requested:
            if self.parent_pid is not None and os.getppid() != self.parent_pid:
                log.warning("worker %s: its pool (pid %d) is gone; stopping", self.name, self.parent_pid)
                break
            wait: float = self.watch_seconds
            if self.clock is not None:
                # Busy while ticking: a SIGTERM then asks for a stop after the tick instead of
                # raising inside it (RQ raises StopRequested only in an idle worker).
                self.set_state(WorkerStatus.BUSY)
                try:
                    wait = min(wait, self.clock.run_due())
                finally:
                    self.set_state(WorkerStatus.IDLE)
            wait = max(self.min_wait_seconds, wait)  # > 0: RQ takes 0 for "forever"
            result = super().dequeue_job_and_maintain_ttl(min(timeout, wait), max_idle_time=wait)
            if result is not None:
                return result
        return None


class SyncdeskWorkerPool(WorkerPool):
    """RQ's WorkerPool of `SyncdeskWorker`s that stop when the pool is gone; with a clock,
    the pool's own loop (once a second, between its checks of the workers) runs it."""

    def __init__(self, *args: Any, clock: Clock | None = None, min_wait_seconds: float = 1.0, **kwargs: Any) -> None:
        kwargs["worker_class"] = type("PooledSyncdeskWorker", (SyncdeskWorker,), {
            "parent_pid": os.getpid(), "min_wait_seconds": min_wait_seconds})
        super().__init__(*args, **kwargs)
        self.clock = clock

    def handle_dead_worker(self, worker_data: WorkerData) -> None:
        """RQ's pool forgets a dead worker; its job would wait minutes for RQ's cleanup. Hand it
        back at once (`workflows.clock.abandoned`)."""
        super().handle_dead_worker(worker_data)
        for job_id in abandoned.hand_back(self.connection, worker_data.name):
            log.warning("worker %s (pid %d) died running job %s: handed back to RQ as abandoned",
                        worker_data.name, worker_data.pid, job_id)

    def check_workers(self, respawn: bool = True) -> None:
        super().check_workers(respawn)
        if self.clock is not None and self.status != self.Status.STOPPED:
            self.clock.run_due()


def run_worker(settings: Settings, *, burst: bool = False, processes: int = 1, clock_tick: float | None = None
               ) -> None:
    """Run `processes` workers until stopped (or, with `burst`, until the queues are empty).

    `clock_tick`: also run the clock, every that many seconds, in this process's one thread.
    """
    if processes < 1:
        raise ValueError("--processes must be at least 1")
    registry.check(settings)
    install(settings)
    register_surfaces(settings)
    preload()
    clock = Clock(settings, clock_tick) if clock_tick else None
    queues = get_queues(settings)
    log.info("syncdesk worker ready (pid %d): %s on queues %s at Redis %s%s", os.getpid(),
             f"{processes} processes" if processes > 1 else "1 process", ", ".join(q.name for q in queues),
             mask_url(settings.redis_url), f"; the clock every {clock_tick:g} s" if clock and not burst else "")
    if clock is not None and burst:
        clock.run_due()  # one tick: the outbox drained, scheduled jobs that are due moved
    if processes == 1:
        worker = SyncdeskWorker(queues, connection=get_redis(settings.redis_url))
        worker.clock = None if burst else clock
        worker.min_wait_seconds = settings.worker_min_wait_seconds
        try:
            worker.work(burst=burst)
        finally:
            if clock is not None:
                clock.release()
        return
    pool = SyncdeskWorkerPool(queues, connection=get_redis(settings.redis_url), num_workers=processes,
                              clock=None if burst else clock, min_wait_seconds=settings.worker_min_wait_seconds)
    try:
        pool.start(burst=burst, logging_level=logging.getLevelName(logging.getLogger().level))
    finally:
        if clock is not None:
            clock.release()


def run_clock(settings: Settings, tick: float = 5.0) -> None:
    """The clock as its own process: tick until SIGTERM or SIGINT."""
    stop: list[bool] = []

    def request_stop(signum: int, frame: FrameType | None) -> None:
        log.info("clock: stopping on signal %d", signum)
        stop.append(True)

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    install(settings)
    log.info("clock started (pid %d): a tick every %g s, for queues %s at Redis %s", os.getpid(), tick,
             ", ".join(q.name for q in get_queues(settings)), mask_url(settings.redis_url))
    Clock(settings, tick).run(lambda: bool(stop))
