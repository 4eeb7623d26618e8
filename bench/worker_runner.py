"""`syncdesk worker --burst` with another RQ worker class, for the job-overhead benchmark.

The same steps as `syncdesk.worker.run_worker` (notifiers registered, jobs preloaded, one
clock tick, one queue), with `rq.Worker` (forks a work horse per job: what `syncdesk worker`
ran before issue 15) or the bare `rq.SimpleWorker`.

    python -m bench.worker_runner fork|simple
"""

from __future__ import annotations

import logging
import os
import sys

from rq import SimpleWorker, Worker

from syncdesk.surfaces import register_surfaces
from syncdesk.worker import preload
from workflows.clock.schedules import Clock
from workflows.core.queue import get_queue, get_redis
from workflows.core.settings import get_settings

CLASSES = {"simple": SimpleWorker, "fork": Worker}


def main() -> int:
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "WARNING"))
    settings = get_settings()
    register_surfaces(settings)
    preload()
    Clock(settings, 5.0).run_due()
    worker = CLASSES[sys.argv[1]]([get_queue(settings)], connection=get_redis(settings.redis_url))
    worker.work(burst=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
