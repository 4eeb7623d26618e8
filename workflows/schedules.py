"""The worker's clock: periodic work without a separate scheduler process.

Every tick drains the outbox (jobs written while Redis was away) and enqueues the poller
under a job id fixed for its time slot, so any number of workers enqueue it once per slot.
"""

from __future__ import annotations

import logging
import threading
import time

from redis.exceptions import RedisError

from workflows import queue
from workflows.settings import Settings

log = logging.getLogger(__name__)


def tick(settings: Settings, now: float | None = None) -> None:
    current = time.time() if now is None else now
    try:
        queue.dispatch(settings)
        slot = int(current // settings.poll_interval_seconds)
        queue.enqueue(settings, "workflows.jobs.poll_stuck_orders", queue.job_id("poll", slot))
    except RedisError as exc:
        log.warning("clock tick skipped, Redis unavailable: %s", exc)
    except Exception:  # outermost boundary of the clock thread: log and keep ticking
        log.exception("clock tick failed")


def start_clock(settings: Settings, interval: float = 5.0) -> threading.Event:
    """Tick every `interval` seconds in a daemon thread; set the returned event to stop."""
    stop = threading.Event()

    def run() -> None:
        while not stop.wait(interval):
            tick(settings)

    threading.Thread(target=run, name="syncdesk-clock", daemon=True).start()
    return stop
