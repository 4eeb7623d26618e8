"""`syncdesk worker --burst` with a chosen RQ worker class, for the job-overhead benchmark.

The same steps as `workflows.cli.cmd_worker` (notifiers registered, the clock started, one
queue, scheduler on), with `rq.SimpleWorker` (runs each job in the worker process itself)
instead of `rq.Worker` (forks a work horse per job).

    python -m bench.worker_runner simple|worker
"""

from __future__ import annotations

import logging
import os
import sys

from rq import SimpleWorker, Worker

from bot.setup import register_notifiers
from workflows.queue import get_queue, get_redis
from workflows.schedules import start_clock
from workflows.settings import get_settings

CLASSES = {"simple": SimpleWorker, "worker": Worker}


def main() -> int:
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "WARNING"))
    settings = get_settings()
    register_notifiers(settings)
    stop = start_clock(settings, 5.0)
    worker = CLASSES[sys.argv[1]]([get_queue(settings)], connection=get_redis(settings.redis_url))
    try:
        worker.work(with_scheduler=True, burst=True)
    finally:
        stop.set()
    return 0


if __name__ == "__main__":
    sys.exit(main())
