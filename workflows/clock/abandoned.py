"""Jobs whose worker died, handed back to RQ at once instead of minutes later.

RQ finds an abandoned job when its heartbeat lapses. A `SimpleWorker` runs each job in its
only thread, so that heartbeat must cover the job's whole timeout plus 60 s: a worker
SIGKILLed mid-job (the OOM killer, a lost machine) left its job untouched for about six
minutes. Two places see a death sooner:

- a worker pool sees its worker die at once (`syncdesk.worker.SyncdeskWorkerPool`);
- the clock, every tick, looks at the workers that registered from its own machine and finds
  those whose process is gone (`sweep_local`). "Its own machine" is the host name and the PID
  namespace, recorded by each worker at birth (`register`): two containers can share a host
  name (host networking) but not a PID namespace, and a process id means something only inside
  its own. Workers elsewhere are left to their own clock, or to RQ.

Either way the job goes through RQ's own abandoned-job handling (`StartedJobRegistry.cleanup`):
retried while it has retries left (every job of ours may run twice: `workflows.core.queue`),
failed otherwise.
"""

from __future__ import annotations

import logging
import os
import socket

from redis import Redis
from rq import Worker
from rq.exceptions import NoSuchJobError
from rq.executions import WORKER_EXECUTIONS_KEY_TEMPLATE
from rq.job import Job
from rq.registry import StartedJobRegistry
from rq.utils import as_text, parse_composite_key

from workflows.core import queue
from workflows.core.settings import Settings

log = logging.getLogger(__name__)


def hand_back(connection: Redis, worker_name: str) -> list[str]:
    """The jobs a dead worker was running, given to RQ's abandoned-job handling now; their ids.

    RQ 3 keeps each worker's running executions in a set (`rq/executions.py`); each one's entry
    in its queue's `StartedJobRegistry` is made due now, and the registry's `cleanup` does the
    rest as it would have later. A job that had already ended is not in the set, and `cleanup`
    skips any job that is no longer STARTED, so handing back twice does nothing the second time.
    """
    handed: list[str] = []
    for member in connection.smembers(WORKER_EXECUTIONS_KEY_TEMPLATE.format(worker_name)):
        composite = as_text(member)
        job_id, _ = parse_composite_key(composite)
        try:
            job = Job.fetch(job_id, connection=connection)
        except NoSuchJobError:
            continue
        started = StartedJobRegistry(job.origin, connection=connection)
        if connection.zadd(started.key, {composite: 0}, xx=True, ch=True):
            started.cleanup()
            handed.append(job_id)
    return handed


HOME_KEY = "syncdesk:worker-home:{}"
HOME_TTL_SECONDS = 7 * 86400


def home() -> str | None:
    """Where this process runs, as far as process ids go: host name and PID namespace (Linux)."""
    try:
        namespace = os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        return None  # no /proc: the clock cannot tell a dead worker from one elsewhere
    return f"{socket.gethostname()}/{namespace}"


def register(connection: Redis, worker_name: str) -> None:
    """A worker says where it runs, so the clock beside it can tell when it is gone."""
    where = home()
    if where is not None:
        connection.set(HOME_KEY.format(worker_name), where, ex=HOME_TTL_SECONDS)


def _gone(pid: int) -> bool:
    """The process has ended: it no longer exists, or it is a zombie its parent has not reaped."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # alive, another user's
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            state = stat.read().rsplit(b")", 1)[1].split()[0]  # the field after "(command name)"
    except (OSError, IndexError):
        return False
    return state in (b"Z", b"X")


def sweep_local(settings: Settings) -> list[str]:
    """Hand back the jobs of every worker registered from this machine whose process is gone,
    and unregister it; the ids of the jobs handed back."""
    here = home()
    if here is None:
        return []
    connection = queue.get_redis(settings.redis_url)
    handed: list[str] = []
    workers = Worker.all(connection=connection)
    homes = connection.mget([HOME_KEY.format(w.name) for w in workers]) if workers else []
    for worker, where in zip(workers, homes):
        if not worker.pid or as_text(where or b"") != here or not _gone(worker.pid):
            continue
        jobs = hand_back(connection, worker.name)
        worker.register_death()
        connection.delete(HOME_KEY.format(worker.name))
        log.warning("worker %s (pid %d) is gone%s", worker.name, worker.pid,
                    f"; its jobs were handed back to RQ: {', '.join(jobs)}" if jobs else "")
        handed += jobs
    return handed
