"""Storm: 1,000 failures across 5 systems in 60 s, paced, into the real web app, workers and
clock, with Slack pointed at the fake Slack Web API. Measures how soon each system's outage
message appears, how soon each failure is listed (in its outage message, or as its own alert
before its outage opened), Slack's writes per channel, and whether anything is lost; and, as
the baseline in the same run, the same paced load against a bare 202 server.

    .venv/bin/python bench/storm.py [--failures 1000] [--seconds 60] [--processes 2] [--drain-timeout 60]

- The sender posts signed failures at an even pace (`--failures` over `--seconds`) over
  keep-alive connections, each for a new order, round-robin over SynXis, EMS Premier,
  ResDiary, RTP|One and Siriusware, `occurred_at` = now, mostly timeouts; it notes when each
  202 came back ("intake").
- "outage message within": from the intake of a system's 5th failure to the fake Slack
  receiving that system's outage message.
- "listed within": from a failure's intake to the first Slack write that shows it: the
  outage message whose count ("— N failures") includes it (failures count in the order
  intake committed them), or, for the few before the outage opened, its own alert.
- Slack writes per channel: posts and updates, max in any sliding second, and the sustained
  rate (writes / their span).
- "lost": recorded failures never listed by the end of the bounded wait. Must be 0.
- Baseline: the same sender and pace against `bench/baseline_app.py` (202, no work).

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
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select  # noqa: E402

from bench.harness import (  # noqa: E402
    SYSTEMS,
    PeakRss,
    free_port,
    fresh_postgres,
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
from workflows.core.db import transaction  # noqa: E402
from workflows.core.models import Alert, Incident, IntakeEvent, OrderItem  # noqa: E402
from workflows.core.signature import HEADER, sign  # noqa: E402
from workflows.systems.names import system_name  # noqa: E402

INGEST = "bench-ingest-secret"
CHANNEL = "#reservations-alerts"
WRITES = ("chat.postMessage", "chat.update")
ITEMS = {
    "synxis": ("room", {"hotel_id": 13098, "chain_id": 12723, "room_code": "LUXT", "rate_code": "BAR"}),
    "premier": ("spa", {"site_id": "SPA1", "service_code": "DT60"}),
    "resdiary": ("table", {"restaurant_id": 42}),
    "rtp": ("ticket", {"product_code": "LIFT1D"}),
    "siriusware": ("ticket", {"item_code": "RENTAL1"}),
}
MESSAGES = [("timeout", "Read timed out after 30 s")] * 3 + [("server_error", "502 Bad Gateway")]
COUNT = re.compile(r"^Possible outage: (?P<system>.+?) — (?P<count>[\d,]+) failures")


class TimedSlack(FakeSlack):
    """The fake Slack, also noting when each Web API call arrived, for which channel, with what text."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.timeline: list[tuple[float, str, str, str, str]] = []  # (time, method, channel id, ts, text or header)

    def _api(self, req: RecordedRequest, match: re.Match[str]) -> Reply:
        args = self._args(req)
        channel = self._channel(str(args.get("channel", ""))) or str(args.get("channel", ""))
        head = ((args.get("blocks") or [{}])[0].get("text") or {}).get("text", "") if args.get("blocks") else ""
        reply = super()._api(req, match)
        ts = str((reply.json or {}).get("ts") or args.get("ts") or "")
        self.timeline.append((time.time(), match.group("method"), channel, ts, f"{args.get('text', '')}\x1f{head}"))
        return reply


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


async def _send_paced(port: int, count: int, seconds: float, run: str, connections: int,
                      answered: dict[int, float] | None = None) -> dict[str, Any]:
    """Send `count` failures evenly over `seconds`; each waits for a free keep-alive connection.
    `answered[n]`: when failure n's answer came back (time.time())."""
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
        if answered is not None:
            answered[n] = time.time()
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


def baseline(args: argparse.Namespace, run: str) -> dict[str, Any]:
    """The same sender and pace against the bare 202 server."""
    port = free_port()
    server = start_process([sys.executable, "-m", "bench.baseline_app", str(port), str(args.web_workers)],
                           server_env("sqlite://", "redis://"), f"http://127.0.0.1:{port}/healthz")
    try:
        return asyncio.run(_send_paced(port, args.failures, args.seconds, f"b{run}", args.connections))
    finally:
        stop_process(server)


def listings(database_url: str, answered: dict[int, float], run: str, timeline: list[tuple[float, str, str, str, str]]
             ) -> dict[str, Any]:
    """When each failure was first listed in Slack, and each system's outage message first posted."""
    with transaction(database_url) as session:
        events = session.execute(select(IntakeEvent.id, IntakeEvent.order_id)).all()
        systems = dict(session.execute(select(OrderItem.order_id, OrderItem.system)).all())
        attached = {o for o, in session.execute(select(Alert.order_id).where(Alert.incident_id.is_not(None)))}
    rank: dict[str, int] = {}
    seen: Counter[str] = Counter()
    for _, order_id in sorted(events):
        seen[systems[order_id]] += 1
        rank[order_id] = seen[systems[order_id]]
    shows: dict[str, list[tuple[float, int]]] = {}
    posted_alone: dict[str, float] = {}
    for t, method, _, _, text in timeline:
        if method not in WRITES:
            continue
        plain, head = text.split("\x1f", 1)
        match = COUNT.match(plain)
        if match:
            shows.setdefault(match["system"], []).append((t, int(match["count"].replace(",", ""))))
        elif "booking failed · " in head:
            posted_alone.setdefault(head.split(" · ")[1], t)
    delays, unlisted = [], []
    opened: dict[str, float] = {}
    for n, done in answered.items():
        order_id, system = f"ORD-S{run}-{n:05d}", SYSTEMS[n % len(SYSTEMS)]
        name = system_name(system)
        listed = posted_alone.get(order_id)
        if order_id in attached:
            listed = min([t for t, c in shows.get(name, []) if c >= rank[order_id]] + ([listed] if listed else []),
                         default=None)
        if listed is None:
            unlisted.append(order_id)
        else:
            delays.append(max(0.0, listed - done))
        if rank.get(order_id) == 5 and shows.get(name):
            opened[name] = min(t for t, _ in shows[name]) - done
    return {"listed_within": percentiles(delays) if delays else None, "listed_max_s": round(max(delays), 2) if delays else None,
            "listed_within_10s": sum(1 for d in delays if d <= 10), "unlisted": unlisted,
            "outage_message_after_5th_failure_s": {k: round(v, 2) for k, v in sorted(opened.items())},
            "attached": len(attached), "alone": len(posted_alone)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--failures", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--processes", type=int, default=2, help="`syncdesk worker --processes`")
    parser.add_argument("--web-workers", type=int, default=2, help="uvicorn processes of `syncdesk serve`")
    parser.add_argument("--connections", type=int, default=8, help="sender keep-alive connections")
    parser.add_argument("--drain-timeout", type=float, default=60,
                        help="seconds to wait, after the last failure was sent, for every failure to be listed")
    parser.add_argument("--no-baseline", action="store_true")
    args = parser.parse_args()
    load_before = load_average()
    print(f"load average before: {load_before} ({os.cpu_count()} cores)")
    run = uuid.uuid4().hex[:6]
    base = None if args.no_baseline else baseline(args, run)
    load_storm = load_average()
    queue_name = f"bench-storm-{run}"
    answered: dict[int, float] = {}
    with contextlib.ExitStack() as stack:
        database_url = stack.enter_context(fresh_postgres())
        redis_url = stack.enter_context(redis_db())
        slack = stack.enter_context(TimedSlack(token=BOT_TOKEN))
        from syncdesk.cli import _migrate
        from workflows.core.settings import Settings

        _migrate(Settings(_env_file=None, database_url=database_url))
        env = server_env(database_url, redis_url, INGEST_SECRET=INGEST, QUEUE_NAME=queue_name,
                         SLACK_BOT_TOKEN=BOT_TOKEN, SLACK_API_URL=slack.api_url, SLACK_ALERT_CHANNEL=CHANNEL,
                         POLL_INTERVAL_SECONDS="3600", DIGEST_TIME="23:59:59", RECONCILE_TIME="23:59:59",
                         ONCALL_FILE=str(ROOT / "examples" / "oncall.yml"))  # pages go to the on-call person
        port = free_port()
        web = start_process([sys.executable, "-m", "syncdesk.cli", "serve", "--port", str(port),
                             "--workers", str(args.web_workers)], env, f"http://127.0.0.1:{port}/healthz")
        stack.callback(stop_process, web)
        workers = start_process([sys.executable, "-m", "syncdesk.cli", "worker", "--processes", str(args.processes)],
                                env, log=Path(f"/tmp/syncdesk-storm-{run}-worker.log"))
        stack.callback(stop_process, workers)
        clock = start_process([sys.executable, "-m", "syncdesk.cli", "clock", "--tick", "1"], env,
                              log=Path(f"/tmp/syncdesk-storm-{run}-clock.log"))
        stack.callback(stop_process, clock)
        rss = [stack.enter_context(PeakRss(p.pid, interval=0.2)) for p in (web, workers)]
        time.sleep(2)

        t0 = time.time()
        sent = asyncio.run(_send_paced(port, args.failures, args.seconds, run, args.connections, answered))
        with transaction(database_url) as session:
            recorded = session.scalar(select(func.count()).select_from(IntakeEvent)) or 0
        recorded_after = round(time.time() - t0, 2)
        print(f"sent {args.failures} failures in {sent['send_seconds']} s: {sent['statuses']}; {recorded} recorded")
        deadline = time.time() + args.drain_timeout
        listed = listings(database_url, answered, run, list(slack.timeline))
        while listed["unlisted"] and time.time() < deadline:
            time.sleep(2)
            listed = listings(database_url, answered, run, list(slack.timeline))
        time.sleep(6)  # a last coalesced update, so the writes' rate covers the tail
        timeline = list(slack.timeline)
        listed = listings(database_url, answered, run, timeline)
        with transaction(database_url) as session:
            incidents = [{"system": i.system, "failures": i.failure_count, "message_id": i.message_id,
                          "paged": i.paged_at is not None}
                         for i in session.scalars(select(Incident).order_by(Incident.id))]
        memory = {"web": rss[0].result, "workers": rss[1].result}

    channel_writes = [t for t, m, c, _, _ in timeline if m in WRITES and c == "C0ALERTS"]
    span = (max(channel_writes) - min(channel_writes)) if len(channel_writes) > 1 else 0.0
    sustained = (len(channel_writes) - 1) / span if span else 0.0
    gaps = sorted(b - a for a, b in zip(sorted(channel_writes), sorted(channel_writes)[1:]))
    calls = Counter(m for _, m, _, _, _ in timeline)
    lost = listed["unlisted"]
    result: dict[str, Any] = {
        "failures": args.failures, "seconds": args.seconds, "processes": args.processes,
        "web_workers": args.web_workers, "load_average_before": load_before, "load_average_before_storm": load_storm,
        "baseline_bare_202": base, "sender": sent, "recorded": recorded, "recorded_after_s": recorded_after,
        "outage_message_after_5th_failure_s": listed["outage_message_after_5th_failure_s"],
        "listed_within": listed["listed_within"], "listed_max_s": listed["listed_max_s"],
        "listed_within_10s": listed["listed_within_10s"], "lost": len(lost), "lost_orders": lost[:20],
        "attached_to_outages": listed["attached"], "posted_on_their_own": listed["alone"],
        "slack_calls": dict(calls), "channel_writes": len(channel_writes),
        "max_writes_per_channel_in_any_1s": max_per_window(channel_writes),
        "writes_per_s_sustained": round(sustained, 2), "smallest_gaps_between_writes_s": [round(g, 3) for g in gaps[:10]],
        "incidents": incidents, "peak_rss": memory,
    }
    opened = listed["outage_message_after_5th_failure_s"]
    rows = [
        ["failures sent / recorded", f"{args.failures} / {recorded}", f"statuses {sent['statuses']}"],
        ["intake latency p50 / p99 (bare 202 baseline)",
         f"{sent['intake_latency']['p50_ms']:.0f} / {sent['intake_latency']['p99_ms']:.0f} ms",
         f"{base['intake_latency']['p50_ms']:.1f} / {base['intake_latency']['p99_ms']:.1f} ms" if base else "-"],
        ["outage message after its system's 5th failure", ", ".join(f"{k} {v:.1f} s" for k, v in opened.items()),
         "target ≤ 10 s each"],
        ["failure → listed p50 / p99 / max", f"{listed['listed_within']['p50_ms'] / 1000:.1f} / "
         f"{listed['listed_within']['p99_ms'] / 1000:.1f} / {listed['listed_max_s']:.1f} s" if listed["listed_within"]
         else "-", f"{listed['listed_within_10s']} of {recorded} within 10 s (target: all)"],
        ["listed in an outage message / posted on their own", f"{listed['attached']} / {listed['alone']}", ""],
        ["lost (never listed)", str(len(lost)), "target 0"],
        ["Slack writes to the channel: max in any 1 s / sustained", f"{max_per_window(channel_writes)} / "
         f"{sustained:.2f} per s", "target ≤ 3 / ≤ 1"],
        ["Slack calls", ", ".join(f"{m} {n}" for m, n in sorted(calls.items())), ""],
        ["outage incidents", str(len(incidents)), "; ".join(f"{i['system']} {i['failures']}" for i in incidents)],
        ["peak RSS web / worker pool", f"{memory['web']['parent_peak_mb']:.0f} MB (+{memory['web']['child_peak_mb']:.0f}"
         f" per uvicorn process) / {memory['workers']['parent_peak_mb']:.0f} MB (+"
         f"{memory['workers']['child_peak_mb']:.0f} per worker)", ""],
    ]
    print_table(["storm", "value", "baseline / target"], rows)
    path = write_results("storm", result)
    print(f"results: {path.relative_to(ROOT)}")
    return 0 if not lost and recorded == args.failures else 1


if __name__ == "__main__":
    sys.exit(main())
