"""Shared pieces of the benchmarks: a fresh PostgreSQL database and Redis database per
run, the environment that points a syncdesk process at them, and result output."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from redis import Redis
from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
PG_ADMIN_URL = os.environ.get("BENCH_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REDIS_BASE = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379")


@contextmanager
def fresh_postgres() -> Iterator[str]:
    name = f"syncdesk_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        from workflows.core.db import get_engine

        get_engine.cache_clear()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def redis_db(db: int = 15) -> Iterator[str]:
    url = f"{REDIS_BASE}/{db}"
    client = Redis.from_url(url)
    client.flushdb()
    try:
        yield url
    finally:
        client.flushdb()


def server_env(database_url: str, redis_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "SYNXIS_", "PLATFORM_", "STRIPE_"))}
    env.update({"DATABASE_URL": database_url, "REDIS_URL": redis_url, "LOG_LEVEL": "WARNING", **extra})
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_http(url: str, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {proc.stderr.read().decode() if proc.stderr else ''}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


def print_table(header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows)]
    line = " | ".join(h.ljust(w) for h, w in zip(header, widths))
    print(line)
    print("-+-".join("-" * w for w in widths))
    for row in rows:
        print(" | ".join(str(c).ljust(w) for c, w in zip(row, widths)))


def write_results(name: str, data: dict[str, object]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    data = {"benchmark": name, "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "commit": commit,
            "machine": f"{platform.machine()} {os.cpu_count()} cores", "load_average_after": load_average(), **data}
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(data, indent=2, default=str))
    return path


# -- machine load ----------------------------------------------------------------------------

def load_average() -> str:
    """The 1/5/15-minute load averages: other sessions' test suites share this machine."""
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


# -- processes: CPU and memory -----------------------------------------------------------------

def process_tree(pid: int) -> list[int]:
    """`pid` and every process descended from it (uvicorn workers, RQ work horses), read from
    /proc/<pid>/task/<tid>/children (cheap enough to sample every few milliseconds)."""
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        try:  # a process may exit while we look
            for children in Path(f"/proc/{current}/task").glob("*/children"):
                todo.extend(int(c) for c in children.read_text().split())
        except OSError:
            continue
    return tree


def status_kb(pid: int, field: str) -> int:
    """A `/proc/<pid>/status` memory field in kB (VmHWM: peak resident set; VmRSS: now); 0 if gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


class PeakRss:
    """Samples the peak resident memory (VmHWM) of a process tree every `interval` seconds.

    An RQ `Worker` forks a short-lived work horse per job; its VmHWM is only readable while
    it lives, so the tree is sampled often and the largest value seen per role is kept.
    """

    def __init__(self, pid: int, interval: float = 0.02) -> None:
        self.pid = pid
        self.interval = interval
        self.parent_kb = 0
        self.child_kb = 0
        self.children_seen: set[int] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> None:
        for member in process_tree(self.pid):
            kb = status_kb(member, "VmHWM")
            if member == self.pid:
                self.parent_kb = max(self.parent_kb, kb)
            else:
                self.children_seen.add(member)
                self.child_kb = max(self.child_kb, kb)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def __enter__(self) -> PeakRss:
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    @property
    def result(self) -> dict[str, float]:
        return {"parent_peak_mb": round(self.parent_kb / 1024, 1), "child_peak_mb": round(self.child_kb / 1024, 1),
                "children_seen": len(self.children_seen)}


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process tree (children that already exited not included)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for member in process_tree(pid):
        try:
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12]) + int(fields[13]) + int(fields[14])) / ticks
    return total


def start_process(args: list[str], env: dict[str, str], health_url: str | None = None,
                  log: Path | None = None) -> subprocess.Popen[bytes]:
    """A syncdesk (or baseline) process from the repository root; waits for `health_url`."""
    out = open(log, "wb") if log else subprocess.DEVNULL  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen(args, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT if log else subprocess.PIPE)
    if health_url:
        wait_http(health_url, proc)
    return proc


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 15) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            for member in reversed(process_tree(proc.pid)):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(member, signal.SIGKILL)
            proc.wait()


# -- the load generator --------------------------------------------------------------------------

def raw_post(port: int, path: str, body: bytes, headers: dict[str, str]) -> bytes:
    """One HTTP/1.1 keep-alive POST, as bytes, so sending it costs the load generator nothing."""
    head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: {len(body)}\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    return (head + "\r\n").encode() + body


async def _client(port: int, requests: list[bytes], latencies: list[float], statuses: dict[int, int]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while requests:
            req = requests.pop()
            started = time.perf_counter()
            writer.write(req)
            await writer.drain()
            status_line = await reader.readline()
            length = 0
            while True:
                line = await reader.readline()
                if line in (b"\r\n", b""):
                    break
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
            code = int(status_line.split()[1])
            statuses[code] = statuses.get(code, 0) + 1
    finally:
        writer.close()


def closed_loop(port: int, requests: list[bytes], concurrency: int) -> tuple[float, list[float], dict[int, int]]:
    """`concurrency` keep-alive clients, each sending its next request as soon as it has the
    answer to the last, until `requests` is empty; (seconds, latencies in s, statuses)."""
    todo = list(reversed(requests))
    latencies: list[float] = []
    statuses: dict[int, int] = {}

    async def run() -> float:
        started = time.perf_counter()
        await asyncio.gather(*(_client(port, todo, latencies, statuses) for _ in range(concurrency)))
        return time.perf_counter() - started

    return asyncio.run(run()), latencies, statuses


def percentiles(seconds: list[float]) -> dict[str, float]:
    ms = sorted(s * 1000 for s in seconds)
    q = statistics.quantiles(ms, n=100, method="inclusive") if len(ms) > 1 else ms * 99
    return {"p50_ms": round(q[49], 2), "p90_ms": round(q[89], 2), "p99_ms": round(q[98], 2),
            "max_ms": round(ms[-1], 2)}


# -- data already in the database ------------------------------------------------------------------

SYSTEMS = ("synxis", "premier", "resdiary", "rtp", "siriusware")
PRELOAD_PAYLOAD = json.dumps({"order": {"status": "In Progress", "currency": "GBP", "total_minor": 24000,
                                        "guest": {"first_name": "Pre", "last_name": "Loaded"}},
                              "failure": {"item_id": "ITEM-1", "message": "Read timed out after 30 s",
                                          "code": "timeout", "log": "x" * 400}})


def preload_history(database_url: str, orders: int) -> dict[str, int]:
    """`orders` finished orders of the past weeks, with what intake and the jobs leave behind:
    one item each, two attempts (failed, then success), four audit events, the intake event,
    a resolved alert and two dispatched outbox entries. Built server-side with
    `INSERT … SELECT generate_series` (seconds for 100k orders), then ANALYZEd as autovacuum would.
    """
    if orders <= 0:
        return {}
    systems = "(ARRAY['" + "','".join(SYSTEMS) + "'])[1 + i % 5]"
    statements = [
        f"""INSERT INTO orders (id, platform_status, placed_at, currency, total_minor, guest_first_name,
              guest_last_name, guest_email, guest_phone, payment_provider, payment_reference,
              payment_amount_minor, payment_state, created_at, updated_at)
            SELECT 'PRE-' || lpad(i::text, 8, '0'), 'Complete', now() - i * interval '20 seconds', 'GBP', 24000,
              'Guest', 'Number' || i, 'guest' || i || '@example.com', '+44 555' || i, 'stripe', 'pi_pre' || i, 24000,
              'paid', now() - i * interval '20 seconds', now() - i * interval '20 seconds'
            FROM generate_series(1, {orders}) AS i""",
        f"""INSERT INTO order_items (order_id, item_id, kind, system, description, status, sync_status, start, "end",
              quantity, guests, details, external_reference, confirmed_by, confirmed_at)
            SELECT 'PRE-' || lpad(i::text, 8, '0'), 'ITEM-1', 'room', {systems}, 'Luxury Twin, BAR, 1 night',
              'Confirmed', 'success', current_date - (i / 4000), current_date - (i / 4000) + 1, 1, 2,
              '{{"hotel_id": 13098, "chain_id": 12723}}'::json, 'PRE' || i, 'slack:U0ANA (ana)',
              now() - i * interval '20 seconds'
            FROM generate_series(1, {orders}) AS i""",
        """INSERT INTO sync_attempts (item_pk, order_id, number, status, error_class, message, raw_log, triggered_by,
              job_id, confirmation, started_at, finished_at)
            SELECT pk, order_id, n, CASE n WHEN 1 THEN 'failed' ELSE 'success' END,
              CASE n WHEN 1 THEN 'timeout' END, CASE n WHEN 1 THEN 'Read timed out after 30 s' END,
              CASE n WHEN 1 THEN repeat('x', 400) END, CASE n WHEN 1 THEN 'platform' ELSE 'slack:U0ANA (ana)' END,
              'reprocess__' || order_id, CASE n WHEN 2 THEN 'PRE' || pk END,
              confirmed_at - interval '5 minutes' + n * interval '1 minute',
              confirmed_at - interval '5 minutes' + n * interval '1 minute'
            FROM order_items, generate_series(1, 2) AS n WHERE order_id LIKE 'PRE-%'""",
        """INSERT INTO audit_events (order_id, item_id, actor, action, result, detail, created_at)
            SELECT order_id, item_id, a.actor, a.action, 'ok', '{"attempt": 1}'::json,
              confirmed_at - interval '5 minutes' + a.n * interval '30 seconds'
            FROM order_items, (VALUES (1, 'platform', 'intake.failure'), (2, 'platform', 'alert.created'),
              (3, 'slack:U0ANA (ana)', 'click.reprocess'), (4, 'slack:U0ANA (ana)', 'item.confirmed')) AS a(n, actor, action)
            WHERE order_id LIKE 'PRE-%'""",
        f"""INSERT INTO intake_events (event_id, order_id, source, payload, received_at)
            SELECT 'evt-pre-' || i, 'PRE-' || lpad(i::text, 8, '0'), 'webhook', '{PRELOAD_PAYLOAD}'::json,
              now() - i * interval '20 seconds'
            FROM generate_series(1, {orders}) AS i""",
        """INSERT INTO alerts (order_id, surface, channel, message_id, state, escalation_level, resolved_at,
              created_at, updated_at)
            SELECT id, 'slack', 'C0ALERTS', '1700000000.' || lpad(substr(id, 5), 6, '0'), 'resolved', 0,
              updated_at, created_at, updated_at
            FROM orders WHERE id LIKE 'PRE-%'""",
        """INSERT INTO outbox (function, kwargs, job_id, delay_seconds, created_at, dispatched_at)
            SELECT f, json_build_object('order_id', id, 'surface', 'slack'), f || '__' || id, 0, created_at, created_at
            FROM orders, unnest(ARRAY['workflows.actions.jobs.refresh_alert', 'workflows.actions.jobs.reprocess']) AS f
            WHERE id LIKE 'PRE-%'""",
    ]
    engine = create_engine(database_url)
    try:
        with engine.begin() as conn:
            for statement in statements:
                conn.execute(text(statement))
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("ANALYZE"))
            counts = {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one() for t in
                      ("orders", "order_items", "sync_attempts", "audit_events", "intake_events", "alerts", "outbox")}
    finally:
        engine.dispose()
    return counts
