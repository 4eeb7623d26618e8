"""Storm: 1,000 failures across 5 systems in 60 s, paced, into the real web app and
worker(s), with Slack pointed at the fake Slack Web API. Measures how long until every
failure is recorded, Slack calls per channel per second, whether any alert is lost, and
what the outage grouping made of it.

    .venv/bin/python bench/storm.py [--failures 1000] [--seconds 60] [--workers 1] [--drain-timeout 120]

- The sender posts signed failures at an even pace (`--failures` over `--seconds`) over
  keep-alive connections, each for a new order, round-robin over SynXis, EMS Premier,
  ResDiary, RTP|One and Siriusware, `occurred_at` = now, mostly timeouts.
- "recorded": intake events in the database (intake answers 202 only after its commit).
- "shown": the order's Slack alert has a message id (alerts.message_id), i.e. the
  `refresh_alert` job posted it. The benchmark waits for every alert to be shown, at most
  `--drain-timeout` seconds after the last failure was sent.
- "lost": recorded failures whose alert is not shown AND has no job left that would show
  it (queued, scheduled, running, or in the outbox). Must be 0. Alerts still waiting for
  their turn at the end of a bounded run are "still queued", with the rate they drained at
  and the time the rest would take.
- Slack calls per channel per second: max over sliding 1-s windows of the fake Slack's
  recorded `chat.postMessage` (and all writes) per channel, channel names and ids merged.

Results: bench/results/storm.json.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import contextlib
import datetime as dt
import json
import os
import re
import sys
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rq import Queue  # noqa: E402
from rq.job import Job  # noqa: E402
from rq.registry import FinishedJobRegistry, ScheduledJobRegistry, StartedJobRegistry  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from bench.harness import (  # noqa: E402
    PeakRss,
    SYSTEMS,
    fresh_postgres,
    free_port,
    load_average,
    percentiles,
    print_table,
    redis_db,
    server_env,
    start_process,
    stop_process,
    write_results,
)
from tests.bot.conftest import BOT_TOKEN  # noqa: E402
from tests.fakes.http import RecordedRequest, Reply  # noqa: E402
from tests.fakes.slack import FakeSlack  # noqa: E402
from workflows import queue  # noqa: E402
from workflows.db import transaction  # noqa: E402
from workflows.models import Alert, Incident, IntakeEvent, OutboxEntry  # noqa: E402
from workflows.signature import HEADER, sign  # noqa: E402

INGEST = "bench-ingest-secret"
CHANNEL = "#reservations-alerts"
WRITES = ("chat.postMessage", "chat.update", "chat.postEphemeral")
ITEMS = {
    "synxis": ("room", {"hotel_id": 13098, "chain_id": 12723, "room_code": "LUXT", "rate_code": "BAR"}),
    "premier": ("spa", {"site_id": "SPA1", "service_code": "DT60"}),
    "resdiary": ("table", {"restaurant_id": 42}),
    "rtp": ("ticket", {"product_code": "LIFT1D"}),
    "siriusware": ("ticket", {"item_code": "RENTAL1"}),
}
MESSAGES = [("timeout", "Read timed out after 30 s")] * 3 + [("server_error", "502 Bad Gateway")]


class TimedSlack(FakeSlack):
    """The fake Slack, also noting when each Web API call arrived and for which channel."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.timeline: list[tuple[float, str, str, bool]] = []  # (time, method, channel id, in a thread)

    def _api(self, req: RecordedRequest, match: re.Match[str]) -> Reply:
        args = self._args(req)
        channel = self._channel(str(args.get("channel", ""))) or str(args.get("channel", ""))
        self.timeline.append((time.time(), match.group("method"), channel, bool(args.get("thread_ts"))))
        return super()._api(req, match)


def failure_body(n: int, run: str) -> bytes:
    system = SYSTEMS[n % len(SYSTEMS)]
    kind, details = ITEMS[system]
    code, message = MESSAGES[n % len(MESSAGES)]
    now = dt.datetime.now(dt.timezone.utc).isoformat()
    return json.dumps({
        "event_id": f"evt-storm-{run}-{n}", "occurred_at": now,
        "order": {"id": f"ORD-S{run}-{n:05d}", "status": "In Progress", "placed_at": now, "currency": "GBP",
                  "total_minor": 24000,
                  "guest": {"first_name": "Storm", "last_name": f"Guest{n}", "email": f"g{n}@example.com"},
                  "payment": {"provider": "stripe", "reference": f"pi_storm_{n}", "amount_minor": 24000},
                  "items": [{"id": "ITEM-1", "kind": kind, "system": system, "status": "In Progress",
                             "description": f"{kind} at {system}", "start": dt.date.today().isoformat(),
                             "end": dt.date.today().isoformat(), "quantity": 1, "guests": 2, "details": details}]},
        "failure": {"item_id": "ITEM-1", "system": system, "message": message, "code": code, "log": "storm"},
    }).encode()


async def _send_paced(port: int, count: int, seconds: float, run: str, connections: int) -> dict[str, Any]:
    """Send `count` failures evenly over `seconds`; each waits for a free keep-alive connection."""
    pool: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()
    for _ in range(connections):
        pool.put_nowait(await asyncio.open_connection("127.0.0.1", port))
    statuses: Counter[int] = Counter()
    latencies: list[float] = []
    lateness: list[float] = []
    interval = seconds / count
    started = time.perf_counter()

    async def one(n: int) -> None:
        body = failure_body(n, run)
        head = (f"POST /webhooks/sync-failures HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n{HEADER}: {sign(INGEST, body)}\r\n\r\n").encode()
        reader, writer = await pool.get()
        sent = time.perf_counter()
        lateness.append(sent - started - n * interval)
        writer.write(head + body)
        await writer.drain()
        status = int((await reader.readline()).split()[1])
        length = 0
        while (line := await reader.readline()) not in (b"\r\n", b""):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        await reader.readexactly(length)
        latencies.append(time.perf_counter() - sent)
        statuses[status] += 1
        pool.put_nowait((reader, writer))

    tasks = []
    for n in range(count):
        delay = started + n * interval - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(n)))
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - started
    while not pool.empty():
        pool.get_nowait()[1].close()
    return {"sent": count, "send_seconds": round(elapsed, 2), "statuses": dict(statuses),
            "intake_latency": percentiles(latencies), "max_send_lateness_ms": round(max(lateness) * 1000, 1)}


def max_per_window(times: list[float], window: float = 1.0) -> int:
    """The most events inside any `window`-second interval (sliding)."""
    times = sorted(times)
    return max((bisect.bisect_left(times, t + window) - i for i, t in enumerate(times)), default=0)


def pending_refresh_orders(redis_url: str, queue_name: str) -> set[str]:
    """Orders with a `refresh_alert` job still to run: queued, scheduled or running."""
    redis = queue.get_redis(redis_url)
    q = Queue(queue_name, connection=redis)
    ids = set(q.get_job_ids()) | set(ScheduledJobRegistry(queue=q).get_job_ids()) \
        | set(StartedJobRegistry(queue=q).get_job_ids())
    return {str(j.kwargs.get("order_id")) for j in Job.fetch_many(list(ids), connection=redis)
            if j is not None and j.func_name == "workflows.jobs.refresh_alert"}


def alert_state(database_url: str) -> tuple[int, list[str], int]:
    """(recorded failures, orders whose Slack alert is not shown yet, outbox entries not dispatched)."""
    with transaction(database_url) as session:
        recorded = session.scalar(select(func.count()).select_from(IntakeEvent)) or 0
        unshown = list(session.scalars(select(Alert.order_id).where(Alert.surface == "slack",
                                                                    Alert.message_id.is_(None))))
        outbox = session.scalar(select(func.count()).select_from(OutboxEntry)
                                .where(OutboxEntry.dispatched_at.is_(None))) or 0
    return recorded, unshown, outbox


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--failures", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--workers", type=int, default=1, help="`syncdesk worker` processes")
    parser.add_argument("--web-workers", type=int, default=2, help="uvicorn processes of `syncdesk serve`")
    parser.add_argument("--connections", type=int, default=8, help="sender keep-alive connections")
    parser.add_argument("--drain-timeout", type=float, default=120,
                        help="seconds to wait, after the last failure was sent, for every alert to be shown")
    args = parser.parse_args()
    load_before = load_average()
    print(f"load average before: {load_before} ({os.cpu_count()} cores)")
    run = uuid.uuid4().hex[:6]
    queue_name = f"bench-storm-{run}"
    with contextlib.ExitStack() as stack:
        database_url = stack.enter_context(fresh_postgres())
        redis_url = stack.enter_context(redis_db())
        slack = stack.enter_context(TimedSlack(token=BOT_TOKEN))
        from workflows.cli import _migrate
        from workflows.settings import Settings

        _migrate(Settings(_env_file=None, database_url=database_url))
        env = server_env(database_url, redis_url, INGEST_SECRET=INGEST, QUEUE_NAME=queue_name,
                         SLACK_BOT_TOKEN=BOT_TOKEN, SLACK_API_URL=slack.api_url, SLACK_ALERT_CHANNEL=CHANNEL,
                         POLL_INTERVAL_SECONDS="3600", DIGEST_TIME="23:59:59", RECONCILE_TIME="23:59:59")
        port = free_port()
        web = start_process([sys.executable, "-m", "workflows.cli", "serve", "--port", str(port),
                             "--workers", str(args.web_workers)], env, f"http://127.0.0.1:{port}/healthz")
        stack.callback(stop_process, web)
        workers = []
        for n in range(args.workers):
            workers.append(start_process([sys.executable, "-m", "workflows.cli", "worker", "--tick", "1"], env,
                                         log=Path(f"/tmp/syncdesk-storm-{run}-worker{n}.log")))
            stack.callback(stop_process, workers[-1])
        rss = [stack.enter_context(PeakRss(p.pid, interval=0.05)) for p in (web, *workers)]

        t0 = time.time()
        backlog: list[tuple[float, int]] = []
        stop_sampling = threading.Event()

        def sample() -> None:
            while not stop_sampling.wait(1.0):
                backlog.append((round(time.time() - t0, 1), len(alert_state(database_url)[1])))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        sent = asyncio.run(_send_paced(port, args.failures, args.seconds, run, args.connections))
        sent_at = time.time()
        recorded, unshown, outbox = alert_state(database_url)
        recorded_after = round(time.time() - t0, 2)
        print(f"sent {args.failures} failures in {sent['send_seconds']} s: {sent['statuses']}; "
              f"{recorded} recorded {recorded_after} s after the first was sent; "
              f"{len(unshown)} alerts not yet shown")
        deadline = sent_at + args.drain_timeout
        while unshown and time.time() < deadline:
            time.sleep(1.0)
            recorded, unshown, outbox = alert_state(database_url)
        all_shown_at = None if unshown else round(time.time() - t0, 1)
        stop_sampling.set()
        sampler.join()
        pending = pending_refresh_orders(redis_url, queue_name)
        lost = [o for o in unshown if o not in pending] if not outbox else []
        still_queued = len(unshown) - len(lost)

        timeline = list(slack.timeline)
        posts = [t for t, m, c, _ in timeline if m == "chat.postMessage"]
        per_channel_posts = {c: max_per_window([t for t, m, ch, _ in timeline if m == "chat.postMessage" and ch == c])
                             for c in {c for _, m, c, _ in timeline if m == "chat.postMessage"}}
        per_channel_writes = {c: max_per_window([t for t, m, ch, _ in timeline if m in WRITES and ch == c])
                              for c in {c for _, m, c, _ in timeline if m in WRITES}}
        calls = Counter(m for _, m, _, _ in timeline)
        thread_replies = sum(1 for _, m, _, threaded in timeline if m == "chat.postMessage" and threaded)
        shown = recorded - len(unshown)
        drain_window = (max(posts) - min(posts)) if len(posts) > 1 else 0.0
        drain_rate = shown / drain_window if drain_window else 0.0

        with transaction(database_url) as session:
            incidents = [{"system": i.system, "failures": i.failure_count, "state": i.state,
                          "message_id": i.message_id, "paged": i.paged_at is not None}
                         for i in session.scalars(select(Incident).order_by(Incident.id))]
            grouped = session.scalar(select(func.count()).select_from(Alert).where(Alert.incident_id.is_not(None)))
        redis = queue.get_redis(redis_url)
        finished = [j for j in Job.fetch_many(FinishedJobRegistry(queue=Queue(queue_name, connection=redis))
                                              .get_job_ids(), connection=redis) if j]
        refresh_waits = [(j.ended_at - j.enqueued_at).total_seconds() for j in finished
                         if j.func_name == "workflows.jobs.refresh_alert" and j.enqueued_at and j.ended_at]
        memory = {"web": rss[0].result, **{f"worker{n}": r.result for n, r in enumerate(rss[1:])}}

    result = {
        "failures": args.failures, "seconds": args.seconds, "workers": args.workers, "web_workers": args.web_workers,
        "load_average_before": load_before, "sender": sent,
        "recorded": recorded, "recorded_after_s": recorded_after,
        "alerts_shown": shown, "all_shown_after_s": all_shown_at, "drain_timeout_s": args.drain_timeout,
        "alerts_lost": len(lost), "alerts_still_queued": still_queued, "outbox_pending": outbox,
        "slack_calls": dict(calls), "slack_thread_replies": thread_replies,
        "max_posts_per_channel_per_s": per_channel_posts, "max_writes_per_channel_per_s": per_channel_writes,
        "alert_posts_per_s_sustained": round(drain_rate, 2),
        "projected_drain_s": round(still_queued / drain_rate, 0) if drain_rate and still_queued else 0,
        "failure_to_alert_shown_s": percentiles(refresh_waits) if refresh_waits else None,
        "incidents": incidents, "alerts_grouped_under_incidents": grouped, "peak_rss": memory,
        "backlog_unshown_over_time": backlog[:: max(1, len(backlog) // 60)],
    }
    rows = [
        ["failures sent / recorded", f"{args.failures} / {recorded}", f"all 202: {sent['statuses']}"],
        ["time until every failure recorded", f"{recorded_after:.1f} s", f"send window {args.seconds:.0f} s"],
        ["intake latency under the storm p50 / p99", f"{sent['intake_latency']['p50_ms']:.0f} / "
         f"{sent['intake_latency']['p99_ms']:.0f} ms", ""],
        ["alerts shown in Slack", f"{shown} of {recorded}",
         f"all shown {all_shown_at} s after start" if all_shown_at else f"bound: {args.drain_timeout:.0f} s after sending"],
        ["alerts lost", str(len(lost)), "target 0"],
        ["alerts still queued at the end", str(still_queued),
         f"~{result['projected_drain_s']:.0f} s more at {drain_rate:.2f}/s" if still_queued else ""],
        ["Slack chat.postMessage per channel, max in any 1 s", ", ".join(f"{c}: {v}" for c, v in per_channel_posts.items()),
         "Slack allows ~1/s per channel"],
        ["Slack writes per channel, max in any 1 s", ", ".join(f"{c}: {v}" for c, v in per_channel_writes.items()),
         "postMessage + update + ephemeral"],
        ["Slack calls", ", ".join(f"{m} {n}" for m, n in calls.most_common()), f"{thread_replies} thread replies"],
        ["failure → alert posted (refresh_alert enqueued → done) p50 / p99 / max",
         " / ".join(f"{result['failure_to_alert_shown_s'][k] / 1000:.0f}" for k in ("p50_ms", "p99_ms", "max_ms")) + " s"
         if refresh_waits else "-", ""],
        ["outage incidents (parent messages)", str(len(incidents)),
         "; ".join(f"{i['system']} {i['failures']} failures, message {i['message_id']}" for i in incidents)],
        ["alerts grouped under an incident", f"{grouped} of {recorded}", ""],
        ["peak RSS web / worker", f"{memory['web']['parent_peak_mb']:.0f} MB (+{memory['web']['child_peak_mb']:.0f} MB per "
         f"uvicorn process) / {memory['worker0']['parent_peak_mb']:.0f} MB (horse {memory['worker0']['child_peak_mb']:.0f} MB)",
         ""],
    ]
    print_table(["storm", "value", "note"], rows)
    path = write_results("storm", result)
    print(f"results: {path.relative_to(ROOT)}")
    return 0 if not lost and recorded == args.failures else 1


if __name__ == "__main__":
    sys.exit(main())
