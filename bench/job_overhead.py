"""Job overhead: Reprocess jobs per second through one RQ worker against zero-latency local
servers (FakeSynxis, FakePlatform, FakeStripe on loopback), against bare RQ no-op jobs
through the same worker class on the same Redis, in the same run; peak RSS of the web
and worker processes.

    .venv/bin/python bench/job_overhead.py [--jobs 100] [--classes syncdesk fork] [--preload 0 ...]

- The orders are recorded through the real web app's intake (`syncdesk serve`, one
  process), whose peak RSS is read while it works.
- **syncdesk**: the real `python -m syncdesk.cli worker --burst` (`SyncdeskWorker`, an
  rq.SimpleWorker: each job in the worker process, connections and clients kept).
  **fork**: `bench/worker_runner.py fork`, the same setup with rq.Worker (one forked work
  horse per job, what `syncdesk worker` ran before issue 15), for reference.
- SynXis' pace is set far above what the zero-latency fake needs (SYSTEM_PACE), so the
  number is the job's own cost, not the pace.
- Each class runs `--jobs` no-op jobs (`bench/noop_job.py`) and then `--jobs` Reprocess
  jobs, each on a fresh queue, enqueued before the worker starts. Jobs per second is
  jobs / (last job ended − first job started), from RQ's own timestamps; a Reprocess
  run includes the `refresh_alert` job each Reprocess asks for (the alert re-render).
  Slack is not configured (the alert goes to the log), so Slack's pacing is not in it.
- Peak RSS: VmHWM of the worker process and, sampled every 20 ms, of its work horses.
- `--preload N ...` repeats the whole run with N finished orders (items, attempts, audit
  events, intake events, alerts, outbox) already in the database.

Results: bench/results/job_overhead.json.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rq import Queue  # noqa: E402
from rq.job import Job  # noqa: E402
from rq.registry import FailedJobRegistry, FinishedJobRegistry  # noqa: E402
from sqlalchemy import func, select, update  # noqa: E402

from bench.harness import (  # noqa: E402
    PeakRss,
    closed_loop,
    free_port,
    fresh_postgres,
    load_average,
    preload_history,
    print_table,
    raw_post,
    redis_db,
    server_env,
    start_process,
    stop_process,
    write_results,
)
from tests.bot.conftest import failure  # noqa: E402
from tests.fakes import FakePlatform, FakeStripe, FakeSynxis  # noqa: E402
from workflows.core import queue  # noqa: E402
from workflows.core.db import transaction  # noqa: E402
from workflows.core.models import Alert, OrderItem  # noqa: E402
from workflows.core.settings import Settings  # noqa: E402
from workflows.core.signature import HEADER, sign  # noqa: E402

INGEST = "bench-ingest-secret"
PLATFORM_KEY = "platform-key"
STRIPE_KEY = "sk_test_fake"
CLOCK_JOBS = ("workflows.intake.poller.poll_stuck_orders", "workflows.oncall.escalation.check_due", "workflows.outage.jobs.check_quiet",
              "workflows.reports.digest.post_daily", "workflows.reports.reconcile.run_daily")
LABELS = {"syncdesk": "SyncdeskWorker (no fork): `syncdesk worker`", "fork": "rq.Worker (fork per job)"}


def record_orders(port: int, orders: list[str], run: str, synxis: FakeSynxis, platform: FakePlatform,
                  stripe: FakeStripe) -> None:
    """Each order paid on Stripe, known to the platform, and recorded as failed through intake."""
    requests = []
    for n, order_id in enumerate(orders):
        intent = stripe.add_payment_intent(amount=24000, currency="gbp", intent_id=f"pi_{order_id}")
        # Each order its own guest, as in life: with one guest for all, every check-first search
        # by guest and arrival would page through all the bookings made before it.
        data = failure(event_id=f"evt-{order_id}", order__id=order_id, order__payment__reference=intent,
                       order__guest__last_name=f"Guest{n}", order__guest__email=f"guest{n}-{run}@example.com")
        platform.seed(data["order"], updated_at=dt.datetime.now(dt.timezone.utc).isoformat())
        body = json.dumps(data).encode()
        requests.append(raw_post(port, "/webhooks/sync-failures", body,
                                 {"Content-Type": "application/json", HEADER: sign(INGEST, body)}))
    _, _, statuses = closed_loop(port, requests, 8)
    assert statuses == {202: len(orders)}, statuses


def timings(settings: Settings) -> dict[str, Any]:
    """From RQ's records of the finished jobs: span, rate and mean run time per function."""
    redis = queue.get_redis(settings.redis_url)
    q = Queue(settings.queue_name, connection=redis)
    jobs = [j for j in Job.fetch_many(FinishedJobRegistry(queue=q).get_job_ids(), connection=redis) if j]
    work = [j for j in jobs if j.func_name not in CLOCK_JOBS]
    by_function: dict[str, list[float]] = {}
    for j in work:
        by_function.setdefault(j.func_name, []).append((j.ended_at - j.started_at).total_seconds())
    span = (max(j.ended_at for j in work) - min(j.started_at for j in work)).total_seconds() if work else 0.0
    return {"span_s": round(span, 3), "finished": {f: len(d) for f, d in by_function.items()},
            "mean_run_ms": {f: round(sum(d) * 1000 / len(d), 2) for f, d in by_function.items()},
            "failed": FailedJobRegistry(queue=q).count, "clock_jobs": len(jobs) - len(work)}


def run_worker(kind: str, env: dict[str, str], settings: Settings, log: Path, timeout: float,
               processes: int = 1) -> dict[str, Any]:
    args = [sys.executable, "-m", "syncdesk.cli", "worker", "--burst", "--processes", str(processes)] \
        if kind == "syncdesk" else [sys.executable, "-m", "bench.worker_runner", kind]
    started = time.perf_counter()
    proc = start_process(args, env | {"QUEUE_NAME": settings.queue_name}, log=log)
    with PeakRss(proc.pid) as rss:
        try:
            proc.wait(timeout=timeout)
        except Exception:
            stop_process(proc)
            raise RuntimeError(f"worker did not finish within {timeout} s; see {log}") from None
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"worker exited {proc.returncode}: {log.read_text()[-2000:]}")
    return {"wall_s": round(wall, 2), **rss.result, **timings(settings)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=100, help="jobs per run (no-op and Reprocess)")
    parser.add_argument("--classes", nargs="+", choices=["syncdesk", "fork"], default=["syncdesk", "fork"])
    parser.add_argument("--preload", type=int, nargs="+", default=[0], help="finished orders already in the DB")
    parser.add_argument("--timeout", type=float, default=240, help="seconds one worker run may take")
    parser.add_argument("--processes", type=int, default=1, help="`syncdesk worker --processes` (syncdesk class)")
    args = parser.parse_args()
    load_before = load_average()
    print(f"load average before: {load_before} ({os.cpu_count()} cores)")
    runs, rows = [], []
    logs = Path(tempfile.mkdtemp(prefix="syncdesk-bench-"))
    for preload in args.preload:
        with contextlib.ExitStack() as stack:
            database_url = stack.enter_context(fresh_postgres())
            redis_url = stack.enter_context(redis_db())
            synxis = stack.enter_context(FakeSynxis(stall_seconds=30))
            platform = stack.enter_context(FakePlatform(api_key=PLATFORM_KEY))
            stripe = stack.enter_context(FakeStripe(api_key=STRIPE_KEY))
            from syncdesk.cli import _migrate

            _migrate(Settings(_env_file=None, database_url=database_url))
            counts = preload_history(database_url, preload)
            run = uuid.uuid4().hex[:6]
            env = server_env(
                database_url, redis_url, INGEST_SECRET=INGEST, AUTO_RETRY_AFTER_SECONDS="3600",
                POLL_INTERVAL_SECONDS="3600", DIGEST_TIME="23:59:59", RECONCILE_TIME="23:59:59",  # no daily jobs
                SYNXIS_API_URL=synxis.url, SYNXIS_TOKEN_URL=synxis.token_url,
                SYNXIS_CLIENT_ID=synxis.client_id, SYNXIS_CLIENT_SECRET=synxis.client_secret,
                PLATFORM_API_URL=platform.url, PLATFORM_API_KEY=PLATFORM_KEY, STRIPE_API_KEY=STRIPE_KEY,
                STRIPE_API_BASE=stripe.url, SYSTEM_PACE="synxis=10000/64")
            settings = Settings(_env_file=None, database_url=database_url, redis_url=redis_url)

            port = free_port()
            seed_queue = f"bench-seed-{run}"
            web = start_process([sys.executable, "-m", "syncdesk.cli", "serve", "--port", str(port), "--workers", "1"],
                                env | {"QUEUE_NAME": seed_queue}, f"http://127.0.0.1:{port}/healthz")
            stack.callback(stop_process, web)
            orders = {kind: [f"ORD-J{run}-{kind[0]}{n:05d}" for n in range(args.jobs)] for kind in args.classes}
            with PeakRss(web.pid) as web_rss:
                for batch in orders.values():
                    record_orders(port, batch, run, synxis, platform, stripe)
            stop_process(web)
            # Intake's alert jobs are not measured: drop them and mark the alerts shown, as they would be
            # (else the clock's recovery sweep re-enqueues them in the middle of a run).
            Queue(seed_queue, connection=queue.get_redis(redis_url)).empty()
            with transaction(database_url) as session:
                session.execute(update(Alert).where(Alert.message_id.is_(None))
                                .values(channel="log", message_id="log:" + Alert.order_id))
            result: dict[str, Any] = {"preloaded_orders": preload, "rows_preloaded": counts,
                                      "web_peak_rss_mb": web_rss.result["parent_peak_mb"], "classes": {}}
            for kind in args.classes:
                noop = settings.model_copy(update={"queue_name": f"bench-noop-{kind}-{run}"})
                for n in range(args.jobs):
                    queue.enqueue(noop, "bench.noop_job.noop", f"noop-{kind}-{run}-{n}")
                base = run_worker(kind, env, noop, logs / f"noop-{kind}-{run}.log", args.timeout, args.processes)

                real = settings.model_copy(update={"queue_name": f"bench-reprocess-{kind}-{run}"})
                for order_id in orders[kind]:
                    queue.enqueue(real, "workflows.actions.jobs.reprocess", queue.job_id("reprocess", order_id, "ITEM-1"),
                                  order_id=order_id, item_id="ITEM-1", actor="bench")
                posts_before = len(synxis.requests_to("POST", "/v1/api/reservation"))
                ours = run_worker(kind, env, real, logs / f"reprocess-{kind}-{run}.log", args.timeout, args.processes)
                with transaction(database_url) as session:
                    confirmed = session.scalar(select(func.count()).select_from(OrderItem).where(
                        OrderItem.order_id.in_(orders[kind]), OrderItem.status == "Confirmed"))
                ours["items_confirmed"] = confirmed
                ours["synxis_creates"] = len(synxis.requests_to("POST", "/v1/api/reservation")) - posts_before
                base["per_second"] = round(args.jobs / base["span_s"], 1)
                ours["per_second"] = round(args.jobs / ours["span_s"], 1)
                ratio = round(base["per_second"] / ours["per_second"], 1)
                result["classes"][kind] = {"noop": base, "reprocess": ours, "noop_over_reprocess": ratio}
                for name, r in (("no-op job (baseline)", base), ("Reprocess (+ its alert refresh)", ours)):
                    mean = r["mean_run_ms"].get("workflows.actions.jobs.reprocess", r["mean_run_ms"].get("bench.noop_job.noop"))
                    refresh = r["mean_run_ms"].get("workflows.orders.jobs.refresh_alert")
                    rows.append([f"{preload:,}", LABELS[kind], name, f"{r['per_second']:.1f}", f"{mean:.1f}",
                                 f"{refresh:.1f}" if refresh else "-", f"{r['parent_peak_mb']:.0f}",
                                 f"{r['child_peak_mb']:.0f}" if r["children_seen"] else "-",
                                 str(r.get("items_confirmed", "-")), str(r["failed"]),
                                 f"{ratio:.1f}x" if "Reprocess" in name else ""])
            runs.append(result)
            print(f"preload {preload:,}: web (intake, 1 process) peak RSS {result['web_peak_rss_mb']:.0f} MB")
    print_table(["orders in DB", "worker class", "job", "jobs/s", "mean run ms", "refresh_alert ms",
                 "worker peak MB", "children peak MB", "confirmed", "failed", "slowdown"], rows)
    print("\njobs/s = jobs / (last ended - first started), RQ's timestamps; 'mean run ms' is one job's own "
          "run time (a forked horse's imports included); slowdown = no-op jobs/s over Reprocess jobs/s")
    name = "job_overhead" if args.processes == 1 else f"job_overhead_{args.processes}_processes"
    path = write_results(name, {"jobs": args.jobs, "processes": args.processes, "load_average_before": load_before,
                                "runs": runs, "worker_logs": str(logs)})
    print(f"results: {path.relative_to(ROOT)}; worker logs in {logs}")
    ok = all(c["reprocess"]["items_confirmed"] == args.jobs and c["reprocess"]["failed"] == 0
             for r in runs for c in r["classes"].values())
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
