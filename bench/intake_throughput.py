"""Intake throughput: signed failure webhooks per second into PostgreSQL with enqueue,
against a baseline measured in the same run: the same uvicorn server answering 202 with
no work (no signature check, no parsing, no database, no Redis).

    .venv/bin/python bench/intake_throughput.py [--requests 3000] [--concurrency 32] [--preload 0 ...]

`--preload 1000 10000 100000` repeats the run with that many finished orders already in
the database, with their items, attempts, audit events, intake events, alerts and outbox
rows (`harness.preload_history`), to show the cost per request does not grow with it.

Both servers run with the same number of uvicorn worker processes (`--workers`, default 2
for this 2-core machine, as `WEB_CONCURRENCY=2 syncdesk serve` would); the
load generator sends pre-signed requests over keep-alive connections with asyncio, so
its own cost is small and identical for both servers. Prints a table and writes
bench/results/intake_throughput.json.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.harness import (  # noqa: E402
    closed_loop,
    free_port,
    fresh_postgres,
    load_average,
    preload_history,
    print_table,
    raw_post,
    redis_db,
    server_env,
    wait_http,
    write_results,
)
from workflows.core.signature import HEADER, sign  # noqa: E402

SECRET = "bench-ingest-secret"


def failure_body(n: int, run: str) -> bytes:
    order = f"B{run}-{n:07d}"
    return json.dumps({
        "event_id": f"evt-{run}-{n}", "occurred_at": "2026-11-22T09:58:00Z",
        "order": {"id": order, "status": "In Progress", "placed_at": "2026-11-22T09:57:10Z", "currency": "GBP",
                  "total_minor": 24000,
                  "guest": {"first_name": "Larry", "last_name": "Walker", "email": "larry@example.com"},
                  "payment": {"provider": "stripe", "reference": f"pi_{n}", "amount_minor": 24000},
                  "items": [{"id": "ITEM-1", "kind": "room", "system": ["synxis", "premier", "resdiary", "rtp",
                                                                        "siriusware"][n % 5],
                             "status": "In Progress", "description": "Luxury Twin", "start": "2026-12-01",
                             "end": "2026-12-02", "quantity": 1, "guests": 2, "details": {"hotel_id": 13098}}]},
        "failure": {"item_id": "ITEM-1", "message": "No Availability", "code": "no_availability"},
    }).encode()


def raw_request(port: int, body: bytes) -> bytes:
    headers = {"Content-Type": "application/json", HEADER: sign(SECRET, body)}
    return raw_post(port, "/webhooks/sync-failures", body, headers)


def measure(port: int, bodies: list[bytes], concurrency: int) -> dict[str, float]:
    elapsed, latencies, statuses = closed_loop(port, [raw_request(port, b) for b in bodies], concurrency)
    latencies.sort()
    return {
        "requests": len(latencies),
        "per_second": len(latencies) / elapsed,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
        "statuses": statuses,  # type: ignore[dict-item]
    }


def cpu_seconds(pid: int) -> float:
    """CPU time of a process and its children (uvicorn's worker processes)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for path in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = path.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(path.parent.name) == pid or int(fields[1]) == pid:
            total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def run_server(args: list[str], env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(args, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wait_http(f"http://127.0.0.1:{port}/healthz", proc)
    return proc


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--preload", type=int, nargs="*", default=[0])
    parser.add_argument("--workers", type=int, default=2, help="web processes for both servers")
    args = parser.parse_args()

    load_before = load_average()
    print(f"load average before: {load_before} ({os.cpu_count()} cores)")
    results: dict[str, object] = {"requests": args.requests, "concurrency": args.concurrency,
                                  "load_average_before": load_before, "runs": []}
    rows = []
    for preload in args.preload:
        with fresh_postgres() as database_url, redis_db() as redis_url:
            from syncdesk.cli import _migrate
            from workflows.core.settings import Settings

            _migrate(Settings(_env_file=None, database_url=database_url))
            rows_preloaded = preload_history(database_url, preload)
            run = uuid.uuid4().hex[:6]
            bodies = [failure_body(n, run) for n in range(args.requests)]

            base_port = free_port()
            baseline = run_server([sys.executable, "-m", "bench.baseline_app", str(base_port), str(args.workers)],
                                  dict(os.environ), base_port)
            try:
                cpu0 = cpu_seconds(baseline.pid)
                base = measure(base_port, bodies, args.concurrency)
                base["cpu_ms_per_request"] = (cpu_seconds(baseline.pid) - cpu0) * 1000 / base["requests"]
            finally:
                baseline.terminate()
                baseline.wait()

            port = free_port()
            env = server_env(database_url, redis_url, INGEST_SECRET=SECRET, PORT=str(port))
            server = run_server([sys.executable, "-m", "syncdesk.cli", "serve", "--port", str(port),
                                 "--workers", str(args.workers)], env, port)
            try:
                cpu0 = cpu_seconds(server.pid)
                real = measure(port, bodies, args.concurrency)
                real["cpu_ms_per_request"] = (cpu_seconds(server.pid) - cpu0) * 1000 / real["requests"]
            finally:
                server.terminate()
                server.wait()
            ratio = base["per_second"] / real["per_second"]
            results["runs"].append({"preloaded_orders": preload, "rows_preloaded": rows_preloaded, "baseline": base, "syncdesk": real,  # type: ignore[union-attr]
                                    "baseline_over_syncdesk": ratio})
            rows.append([f"{preload:,}", "bare 202 (baseline)", f"{base['per_second']:.0f}", f"{base['p50_ms']:.1f}",
                         f"{base['p99_ms']:.1f}", f"{base['cpu_ms_per_request']:.2f}", str(base["statuses"])])
            rows.append([f"{preload:,}", "syncdesk intake", f"{real['per_second']:.0f}", f"{real['p50_ms']:.1f}",
                         f"{real['p99_ms']:.1f}", f"{real['cpu_ms_per_request']:.2f}", str(real["statuses"])])
    results["peak_rss_mb_loadgen"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print_table(["orders already in DB", "server", "req/s", "p50 ms", "p99 ms", "server CPU ms/req", "statuses"],
                rows)
    for run in results["runs"]:  # type: ignore[union-attr]
        print(f"preload {run['preloaded_orders']:,}: baseline is {run['baseline_over_syncdesk']:.1f}x syncdesk "
              f"(target: syncdesk >= 300 req/s)")
    write_results("intake_throughput", results)


if __name__ == "__main__":
    main()
