"""Fixtures for the real servers: a database (SQLite file, or PostgreSQL when
TEST_DATABASE_URL points at it), Redis (a test database number, flushed per test), the web
app served by uvicorn on loopback, and a real RQ worker process.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from redis import Redis
from sqlalchemy import create_engine, text

from workflows.db import get_engine
from workflows.models import Base
from workflows.settings import Settings
from workflows.signature import HEADER, sign

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
INGEST_SECRET = "test-ingest-secret"
PG_ADMIN_URL = os.environ.get("TEST_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REDIS_BASE_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379")
CLAIM_KEY = "syncdesk:test-session"


def _migrate_url(url: str) -> None:
    from workflows.cli import _migrate

    _migrate(Settings(_env_file=None, database_url=url))


def _backend() -> str:
    return os.environ.get("TEST_DATABASE", "sqlite")


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A fresh database for the session, with the schema built by the Alembic migration."""
    if _backend() == "postgres":
        name = f"syncdesk_test_{os.getpid()}"
        admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'syncdesk.db'}"
    _migrate_url(url)
    yield url
    get_engine(url).dispose()
    if _backend() == "postgres":
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def clean_db(database_url: str) -> str:
    engine = get_engine(database_url)
    with engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(table.delete())
    return database_url


@pytest.fixture(scope="session")
def redis_db_url() -> Iterator[str]:
    """A Redis database number (1-15) claimed for this test session alone, so parallel
    sessions on one machine never flush each other's queues."""
    token = f"{socket.gethostname()}:{os.getpid()}"
    for db in range(1, 16):
        url = f"{REDIS_BASE_URL}/{db}"
        client = Redis.from_url(url)
        if client.set(CLAIM_KEY, token, nx=True, ex=2 * 3600):
            yield url
            client.flushdb()
            return
    raise RuntimeError("every Redis test database 1-15 is claimed by another test session")


@pytest.fixture
def redis_url(redis_db_url: str) -> Iterator[str]:
    client = Redis.from_url(redis_db_url)
    claim = client.get(CLAIM_KEY)
    client.flushdb()
    client.set(CLAIM_KEY, claim, ex=2 * 3600)
    yield redis_db_url


@pytest.fixture
def settings(clean_db: str, redis_url: str) -> Settings:
    return Settings(
        _env_file=None,
        database_url=clean_db,
        redis_url=redis_url,
        queue_name=f"test-{uuid.uuid4().hex[:8]}",
        ingest_secret=INGEST_SECRET,
        auto_retry_after_seconds=120,
        stuck_after_minutes=15,
    )


def settings_env(s: Settings) -> dict[str, str]:
    """The environment that makes a child process (worker, server) read the same settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(
        ("SLACK_", "SYNXIS_", "PLATFORM_", "STRIPE_", "RESDIARY_", "MEWS_", "TEAMS_", "PAGERDUTY_"))}
    for name, value in s.model_dump().items():
        if value is None:
            continue
        if hasattr(value, "get_secret_value"):
            value = value.get_secret_value()
        env[name.upper()] = str(value)
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LiveServer:
    """The real ASGI app served by uvicorn in a thread, on a loopback port."""

    def __init__(self, app: object) -> None:
        self.port = free_port()
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", access_log=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture
def live_app(settings: Settings) -> Iterator[LiveServer]:
    from workflows.web import create_app

    with LiveServer(create_app(settings)) as server:
        yield server


def load_example(name: str) -> dict:
    return json.loads((EXAMPLES / name).read_text())


def post_failure(server_url: str, payload: dict | bytes, *, secret: str = INGEST_SECRET,
                 timestamp: int | None = None, signature: str | None = None) -> httpx.Response:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    header = signature if signature is not None else sign(secret, body, timestamp)
    return httpx.post(f"{server_url}/webhooks/sync-failures", content=body,
                      headers={HEADER: header, "Content-Type": "application/json"}, timeout=10)


class WorkerProcess:
    """A real `syncdesk worker` process reading the test settings from its environment."""

    def __init__(self, settings: Settings, extra_env: dict[str, str] | None = None, burst: bool = False) -> None:
        env = settings_env(settings) | (extra_env or {})
        env["PYTHONUNBUFFERED"] = "1"
        args = [sys.executable, "-m", "workflows.cli", "worker", "--tick", "0.5"] + (["--burst"] if burst else [])
        self.proc = subprocess.Popen(args, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)

    def stop(self) -> str:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        return self.proc.stdout.read().decode(errors="replace") if self.proc.stdout else ""


@pytest.fixture
def worker_factory(settings: Settings) -> Iterator[object]:
    started: list[WorkerProcess] = []

    def start(s: Settings | None = None, **kwargs: object) -> WorkerProcess:
        w = WorkerProcess(s or settings, **kwargs)  # type: ignore[arg-type]
        started.append(w)
        return w

    yield start
    for w in started:
        output = w.stop()
        if os.environ.get("SHOW_WORKER_LOG"):
            print(output)


def wait_for(predicate, timeout: float = 45.0, interval: float = 0.1):  # type: ignore[no-untyped-def]
    """Poll until `predicate()` is truthy; return its value or fail the test."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s")
