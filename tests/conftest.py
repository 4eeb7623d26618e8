"""Fixtures for the real servers: a database (SQLite file, or PostgreSQL when
TEST_DATABASE_URL points at it), Redis (a test database number, flushed per test), the web
app served by uvicorn on loopback, and a real RQ worker process.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import chdir, redirect_stderr, redirect_stdout
from io import StringIO
from pathlib import Path

import httpx
import pytest
import uvicorn
from redis import Redis
from rq.timeouts import TimerDeathPenalty
from sqlalchemy import create_engine, text

from bot.log import LogAnnouncer
from syncdesk.surfaces import register_log_surface, register_surfaces, unplug_all
from syncdesk.worker import SyncdeskWorker
from workflows.clock.schedules import Clock
from workflows.core.db import get_engine
from workflows.core.messages import messengers
from workflows.core.models import Base
from workflows.core.queue import get_queues, get_redis
from workflows.core.settings import Settings, install, installed
from workflows.systems import registry
from workflows.core.signature import HEADER, sign

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
INGEST_SECRET = "test-ingest-secret"
PG_ADMIN_URL = os.environ.get("TEST_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REDIS_BASE_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379")
CLAIM_KEY = "syncdesk:test-session"


def _migrate_url(url: str) -> None:
    from syncdesk.cli import _migrate

    _migrate(Settings(_env_file=None, database_url=url))


def _backend() -> str:
    return os.environ.get("TEST_DATABASE", "sqlite")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The tests marked slow first, so that with several test processes (pytest-xdist) the long
    ones are not left for the end while the others idle. The PostgreSQL pass runs only the tests
    that use the database (the `database_url` fixture, directly or through `settings`,
    `clean_db`…): the others ran in the SQLite pass already, and would run the same code again
    (issue 22)."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)  # stable: the rest keep their order
    if _backend() != "postgres":
        return
    uses = {item.nodeid: "database_url" in getattr(item, "fixturenames", ()) for item in items}
    deselected = [item for item in items if not uses[item.nodeid]]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = [item for item in items if uses[item.nodeid]]


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


@pytest.fixture(autouse=True)
def log_surfaces() -> Iterator[None]:
    """Every test starts with the logging stand-ins plugged in for Slack and Teams, as a
    process with no chat tokens would have them (`syncdesk.surfaces`)."""
    unplug_all()
    for surface in ("slack", "teams"):
        register_log_surface(surface)
    yield
    unplug_all()


def logged(surface: str = "slack") -> LogAnnouncer:
    """What the logging stand-in for `surface` would have sent."""
    announcer = messengers.get(surface)
    assert isinstance(announcer, LogAnnouncer)
    return announcer


# Production waits at test pace (issue 22): a test about a pace sets its own and checks the ratio.
FAST_WAITS = {
    "alert_refresh_seconds": 0.05,
    "outage_refresh_seconds": 0.05,
    "chat_pace_seconds": 0.05,
    "scheduler_poll_seconds": 0.05,
    "worker_min_wait_seconds": 0.02,
    "cli_wait_report_seconds": 1.0,
    # A worker's clock would post them at its first tick, before the test's own messages; the
    # tests of the daily jobs set a time.
    "digest_time": "off",
    "reconcile_time": "off",
    "arrivals_check_at": "off",
    "guest_retention_time": "off",
}


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
        **FAST_WAITS,
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


def run_cli(env: dict[str, str], *args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    """`syncdesk ARGS` as an operator runs it, with the environment `env`, in this process:
    the command's own code, settings read from `env` and stdout/stderr captured, without
    paying a new interpreter's imports (about 2 s) per command. Commands whose process is
    the subject (serve, worker start-up) are still run as subprocesses by their tests."""
    from syncdesk.cli import main

    saved_env, saved_settings = dict(os.environ), installed()
    out, err = StringIO(), StringIO()
    os.environ.clear()
    os.environ.update(env)
    install(None)
    try:
        with chdir(cwd), redirect_stdout(out), redirect_stderr(err):
            try:
                code = main(list(args), own_process=False)
            except SystemExit as exit_:  # argparse: --help, --version, usage errors
                code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 2)
    finally:
        os.environ.clear()
        os.environ.update(saved_env)
        install(saved_settings)
    return subprocess.CompletedProcess(["syncdesk", *args], code, out.getvalue(), err.getvalue())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _QuickStop(uvicorn.Server):
    """uvicorn's server as `syncdesk serve` runs it, except that it stops in milliseconds.

    uvicorn looks at `should_exit` every 100 ms and then waits a fixed 100 ms for open
    connections to notice the shutdown: about 0.17 s per test that serves the app, hundreds
    of times a pass (issue 22). Here the loop looks every 10 ms, and the shutdown waits for
    exactly what uvicorn waits for (connections closed, tasks done, then the app's lifespan
    shutdown), polling every 5 ms, for at most its graceful timeout. `syncdesk serve`'s own
    stop is tested on the real process (tests/syncdesk).
    """

    async def main_loop(self) -> None:
        counter = 0
        while not await self.on_tick(counter):  # on_tick refreshes the Date header every 10th tick
            counter = (counter + 1) % 864000
            await asyncio.sleep(0.01)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for server in self.servers:
            server.close()
        for connection in list(self.server_state.connections):
            connection.shutdown()
        deadline = time.monotonic() + (self.config.timeout_graceful_shutdown or 10)
        while (self.server_state.connections or self.server_state.tasks) and time.monotonic() < deadline:
            await asyncio.sleep(0.005)
        for server in self.servers:
            await server.wait_closed()
        await self.lifespan.shutdown()


class LiveServer:
    """The real ASGI app served by uvicorn in a thread, on a loopback port."""

    def __init__(self, app: object) -> None:
        self.port = free_port()
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", access_log=False)
        self.server = _QuickStop(config)
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
    from syncdesk.web import create_app

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
    """A real `syncdesk worker --clock` process reading the test settings from its environment.

    It runs in its own session (process group), so `stop()` can take down whatever it left
    behind, and writes its output to a file, so reading it never waits on a pipe an orphaned
    child still holds open.
    """

    STOP_SECONDS = 15.0

    def __init__(self, settings: Settings, extra_env: dict[str, str] | None = None, burst: bool = False,
                 args: list[str] | None = None) -> None:
        env = settings_env(settings) | (extra_env or {})
        env["PYTHONUNBUFFERED"] = "1"
        command = args if args is not None else ["worker", "--clock", "--tick", "0.5"] + (["--burst"] if burst else [])
        self.log = tempfile.NamedTemporaryFile(prefix="syncdesk-worker-", suffix=".log", delete=False)
        self.proc = subprocess.Popen([sys.executable, "-m", "syncdesk.cli", *command], env=env, cwd=ROOT,
                                     stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        self.output: str | None = None

    def stop(self, timeout: float | None = None) -> str:
        """SIGTERM (a warm stop), then SIGKILL the whole process group if it has not stopped
        within `timeout` seconds; returns the output. Never waits longer than about that."""
        if self.output is not None:
            return self.output
        timeout = self.STOP_SECONDS if timeout is None else timeout
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)  # anything of the group still running (orphans too)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        self.log.close()
        try:
            with open(self.log.name, "rb") as f:
                self.output = f.read().decode(errors="replace")
        finally:
            os.unlink(self.log.name)
        return self.output

    @property
    def stopped_cleanly(self) -> bool:
        return self.proc.returncode == 0


class ThreadedWorker(SyncdeskWorker):
    """syncdesk's worker as `syncdesk worker --clock` runs it, in a thread: signals reach only a
    main thread, so a stop is asked for by `InProcessWorker.stop` and a job's time limit is RQ's
    timer-thread one (`TimerDeathPenalty`, what RQ uses where SIGALRM is not available)."""

    pubsub_step_seconds = 0.05
    watch_seconds = 0.05  # how soon a stop request is seen while idle
    death_penalty_class = TimerDeathPenalty

    def _install_signal_handlers(self) -> None:
        pass


class InProcessWorker:
    """A worker and a clock, each in a thread of the test process (issue 22): the same
    `SyncdeskWorker` and `Clock` as `syncdesk worker` and `syncdesk clock` (the Procfile's two
    processes), started as `syncdesk.worker.run_worker` starts them, against the real Redis and
    database, without a process's 3-4 s of imports and stop. The clock has its own thread, as
    it has its own process: a job never holds it up. For tests whose subject is the jobs, not
    the process; those about the process use `WorkerProcess`."""

    def __init__(self, settings: Settings, tick: float = 0.05) -> None:
        registry.check(settings)
        install(settings)
        register_surfaces(settings)
        self.worker = ThreadedWorker(get_queues(settings), connection=get_redis(settings.redis_url))
        self.clock = Clock(settings, tick)
        self.stopping = threading.Event()
        self.failure: BaseException | None = None
        self.threads = [threading.Thread(target=self._work, name="in-process-worker", daemon=True),
                        threading.Thread(target=self._tick, name="in-process-clock", daemon=True)]
        for thread in self.threads:
            thread.start()

    def _work(self) -> None:
        try:
            self.worker.work()  # no logging_level: RQ leaves the test process's logging as it is
        except BaseException as exc:  # the test's thread reports it at stop
            self.failure = exc

    def _tick(self) -> None:
        try:
            self.clock.run(self.stopping.is_set, step=0.01)
        except BaseException as exc:
            self.failure = exc

    def stop(self, timeout: float = 10.0) -> str:
        """Ask for a warm stop and wait for it; raises what the worker's loop died of, if anything."""
        self.stopping.set()
        self.worker._stop_requested = True
        for thread in self.threads:
            thread.join(timeout)
            if thread.is_alive():
                raise AssertionError(f"the in-process {thread.name} did not stop within {timeout} s")
        if self.failure is not None:
            raise AssertionError("the in-process worker's loop failed") from self.failure
        return ""


@pytest.fixture
def worker_factory(settings: Settings) -> Iterator[object]:
    """Start a worker: in the test process by default (`InProcessWorker`); a real `syncdesk`
    process when `args` names its command or `process=True` (tests about the process)."""
    started: list[WorkerProcess | InProcessWorker] = []

    def start(s: Settings | None = None, *, process: bool = False, **kwargs: object) -> WorkerProcess | InProcessWorker:
        if process or kwargs:
            w: WorkerProcess | InProcessWorker = WorkerProcess(s or settings, **kwargs)  # type: ignore[arg-type]
        else:
            w = InProcessWorker(s or settings)
        started.append(w)
        return w

    yield start
    try:
        for w in started:
            output = w.stop()
            if os.environ.get("SHOW_WORKER_LOG"):
                print(output)
    finally:
        install(None)


def wait_for(predicate, timeout: float = 45.0, interval: float = 0.05):  # type: ignore[no-untyped-def]
    """Poll until `predicate()` is truthy; return its value or fail the test."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s")
