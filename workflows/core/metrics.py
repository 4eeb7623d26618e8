"""What syncdesk counts, in Prometheus' terms (prometheus.github.io/client_python), scraped at
`GET /metrics` (`syncdesk.web`).

Counters and histograms live in the process that sees the event: the web process (intake,
acks), the worker (jobs, Slack and Teams calls). With several processes (`serve --workers N`,
web + worker on one machine) set `PROMETHEUS_MULTIPROC_DIR` to one empty directory before
they start (`scripts/run.sh` does): prometheus_client then writes each process's values to
files there and `/metrics` merges them (its "multiprocess mode"; the mode is chosen when
prometheus_client is first imported, so the variable must be in the environment, not in .env).

Job outcomes and durations are recorded by the worker around each job (`JobMetrics`, mixed
into `syncdesk.worker.SyncdeskWorker`), which runs its jobs in its own process: never inside a
forked work horse, which would leave one file set per job in that directory.

Gauges of state (open alerts, queue depth) are not kept here: `/metrics` reads them from the
database and Redis when it is scraped, so they are right whichever process changed them.
"""

from __future__ import annotations

import logging
from typing import Any

from prometheus_client import Counter, Histogram
from rq.exceptions import NoSuchJobError, StopRequested
from rq.job import Job
from rq.queue import Queue

# Latencies a person feels: Slack wants an ack within 3 s; the platform's webhook a quick 202.
_FAST = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

FAILURES_RECEIVED = Counter("syncdesk_failures_received", "Sync failures recorded at intake (webhook or poller)",
                            ["system", "error_class"])
INTAKE_SECONDS = Histogram("syncdesk_intake_seconds", "POST /webhooks/sync-failures: time to answer, by status",
                           ["status"], buckets=_FAST)
ACK_SECONDS = Histogram("syncdesk_ack_seconds", "Time to acknowledge a chat request (click, command, event)",
                        ["surface", "kind"], buckets=_FAST)
CHAT_API_ERRORS = Counter("syncdesk_chat_api_errors", "Slack/Teams Web API calls that failed, by error",
                          ["surface", "method", "error"])
CHAT_API_RATE_LIMITED = Counter("syncdesk_chat_api_rate_limited", "Slack/Teams Web API calls answered 429",
                                ["surface", "method"])
ARRIVALS_CHECKED = Counter("syncdesk_arrivals_checked", "Arriving items looked up in their booking system "
                           "by the arrival check", ["system"])
ARRIVAL_PROBLEMS = Counter("syncdesk_arrival_problems", "Problems the arrival check raised (each once), by kind",
                           ["kind", "system"])
JOBS = Counter("syncdesk_jobs", "RQ jobs run, by function and outcome (finished, failed, stopped, ...)",
               ["job", "outcome"])
JOB_SECONDS = Histogram("syncdesk_job_seconds", "RQ job run time, by function", ["job"],
                        buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0))


def job_name(job: Job) -> str:
    """The job's function without its module path: `reprocess`, `show_alert`, `poll_stuck_orders`."""
    return (job.func_name or "unknown").rsplit(".", 1)[-1]


def record_job(job: Job) -> None:
    """Count one ended job and observe its run time (call in the worker's parent process)."""
    try:
        job.refresh()  # the horse wrote the outcome and the times to Redis
    except NoSuchJobError:  # deleted at once (result_ttl=0): what this process knows will do
        pass
    status = job.get_status(refresh=False)
    JOBS.labels(job_name(job), status.value if status is not None else "unknown").inc()
    if job.started_at and job.ended_at:
        JOB_SECONDS.labels(job_name(job)).observe(max(0.0, (job.ended_at - job.started_at).total_seconds()))


class JobMetrics:
    """Mixed into an RQ worker class: records every job's outcome and run time once the job
    has ended, in the worker's own process (for a forking `Worker`, after its work horse ends:
    see the module docstring for why not in the horse)."""

    log: logging.Logger

    def execute_job(self, job: Job, queue: Queue) -> Any:
        try:
            return super().execute_job(job, queue)
        finally:
            try:
                record_job(job)
            except StopRequested:
                # RQ's SimpleWorker is idle again here, so a SIGTERM now raises StopRequested
                # (an Exception) to end its loop: swallowing it left the worker running on.
                raise
            except Exception:  # a metric must never take a worker down (job expired, Redis blip)
                self.log.debug("could not record metrics for job %s", job.id, exc_info=True)

