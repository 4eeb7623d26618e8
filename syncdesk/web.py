"""The one web app: intake webhook, health checks, metrics, and the chat surfaces' endpoints.

Handlers are thin: read the body, call the owning module, answer. Slow work happens in
jobs. `/healthz` says the process is up; `/readyz` that the database and Redis answer, and
how Slack's Socket Mode connection is doing (reported, never "not ready": Slack trouble must
not take the intake webhook out of a load balancer). `/metrics` is Prometheus' text format
(`workflows.core.metrics`). Every request but `/healthz` and `/metrics` is logged in one line:
method, path, status, duration and the order id when the handler knows it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import anyio
import anyio.to_thread
import uvicorn
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.multiprocess import MultiProcessCollector
from redis.exceptions import RedisError
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from workflows.core import heartbeat, metrics, states
from workflows.core.db import DatabaseUnavailable, ping, transaction
from workflows.core.models import Alert
from workflows.core.queue import get_queues, get_redis
from workflows.core.settings import Settings, get_settings
from workflows.core.signature import HEADER
from workflows.intake import webhook as intake
from workflows.oncall import deadman
from workflows.systems import registry

INTAKE_THREADS = 6
QUIET_PATHS = frozenset({"/healthz", "/metrics"})  # probes and scrapes: logged at DEBUG only
log = logging.getLogger("syncdesk.http")


class RequestLog:
    """ASGI middleware: one log line per request (method, path, status, duration, order id).

    A handler that knows the order sets `request.state.order_id`, and one that refuses a request
    `request.state.reason`; the line carries them. With LOG_FORMAT=json the fields are keys of
    the JSON object (`syncdesk.logs`).
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        state = scope.setdefault("state", {})
        status = 500  # what the client sees if the app raises before answering

        async def send_and_note(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            path = scope["path"]
            ms = (time.perf_counter() - started) * 1000
            order_id, reason = state.get("order_id"), state.get("reason")
            level = logging.DEBUG if path in QUIET_PATHS else logging.INFO
            log.log(level, "%s %s %d %.1fms%s%s", scope["method"], path, status, ms,
                    f" order={order_id}" if order_id else "", f" reason={reason}" if reason else "",
                    extra={"method": scope["method"], "path": path, "status": status,
                           "duration_ms": round(ms, 1), "order_id": order_id, "reason": reason})


class StateCollector:
    """Gauges read when `/metrics` is scraped: open alerts (database) and queue depth (Redis)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def collect(self) -> Iterator[GaugeMetricFamily]:
        alerts = GaugeMetricFamily("syncdesk_open_alerts", "Alerts not resolved yet, by surface and state",
                                   labels=["surface", "state"])
        try:
            with transaction(self.settings.database_url) as session:
                rows = session.execute(select(Alert.surface, Alert.state, func.count()).where(
                    Alert.state != states.A_RESOLVED).group_by(Alert.surface, Alert.state)).all()
            for surface, state, count in rows:
                alerts.add_metric([surface, state], count)
            yield alerts
        except SQLAlchemyError:  # the database is down: /readyz says so; the scrape still answers
            pass
        depth = GaugeMetricFamily("syncdesk_queue_depth", "RQ jobs waiting, by queue and kind (queued, scheduled)",
                                  labels=["queue", "kind"])
        try:
            for queue in get_queues(self.settings):
                depth.add_metric([queue.name, "queued"], queue.count)
                depth.add_metric([queue.name, "scheduled"], queue.scheduled_job_registry.count)
            yield depth
        except RedisError:
            pass
        yield from self._heartbeats()

    def _heartbeats(self) -> Iterator[GaugeMetricFamily]:
        """What the dead man's switch looks at, for Prometheus' own rules (deploy/prometheus-rules.yml)."""
        try:
            redis = get_redis(self.settings.redis_url)
            now = time.time()
            ticked = heartbeat.last_beat(redis, self.settings.queue_name, heartbeat.CLOCK)
            alive = deadman.workers_alive(redis, self.settings, now)
            failures, _ = heartbeat.poller_streak(redis, self.settings.queue_name)
        except RedisError:
            return
        if ticked is not None:
            yield GaugeMetricFamily("syncdesk_clock_last_tick_timestamp_seconds",
                                    "When the clock last ticked (UNIX time)", value=ticked)
        yield GaugeMetricFamily("syncdesk_workers_alive", "Workers whose heartbeat is within HEARTBEAT_MINUTES",
                                value=alive)
        yield GaugeMetricFamily("syncdesk_poller_failures_in_a_row", "Polls of the platform that failed in a row",
                                value=failures)


class Watchdog:
    """The dead man's switch's loop in the web process (`workflows.oncall.deadman.watch`), every
    HEARTBEAT_CHECK_SECONDS in a thread of its own; the first look waits one interval, so a
    deployment starting all its processes at once is not called dead."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.started = time.time()  # silence behind this process counts from here

    def start(self) -> None:
        self.started = time.time()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="syncdesk-watchdog", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        from syncdesk.surfaces import messengers_for

        messengers = None
        while not self._stop.wait(self.settings.heartbeat_check_seconds):
            try:
                messengers = messengers or messengers_for(self.settings)
                deadman.watch(self.settings, messengers, self.started)
            except Exception:  # outermost boundary of the watchdog thread: log, look again next time
                log.exception("the dead man's switch could not look")


def metrics_text(settings: Settings) -> bytes:
    """Everything `/metrics` shows: this process's (or, in multiprocess mode, every process's)
    counters and histograms, then the state gauges."""
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
        counted = CollectorRegistry()
        MultiProcessCollector(counted)
    else:
        counted = REGISTRY
    state = CollectorRegistry(auto_describe=False)
    state.register(StateCollector(settings))  # type: ignore[arg-type]
    return generate_latest(counted) + generate_latest(state)


async def _read_capped(request: Request, limit: int) -> bytes | None:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        return None
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _intake_endpoint(settings: Settings) -> Callable[[Request], Awaitable[Response]]:
    """POST /webhooks/sync-failures: the body read up to INGEST_MAX_BYTES, then handled in a thread."""
    # A few database transactions at a time: more threads only fight over the GIL and the pool.
    intake_slots: list[anyio.CapacityLimiter] = []

    async def sync_failures(request: Request) -> Response:
        started = time.perf_counter()
        raw = await _read_capped(request, settings.ingest_max_bytes)
        if raw is None:
            answer = intake.Answer(413, {"error": f"body larger than {settings.ingest_max_bytes} bytes"})
        else:
            if not intake_slots:
                intake_slots.append(anyio.CapacityLimiter(INTAKE_THREADS))
            answer = await anyio.to_thread.run_sync(intake.handle, settings, raw, request.headers.get(HEADER),
                                                    limiter=intake_slots[0])
        metrics.INTAKE_SECONDS.labels(str(answer.status)).observe(time.perf_counter() - started)  # every status
        if answer.body.get("order_id"):
            request.state.order_id = answer.body["order_id"]
        if answer.status >= 400:  # the request log says why it was refused
            request.state.reason = answer.body.get("error")
        return JSONResponse(answer.body, status_code=answer.status)

    return sync_failures


def _readiness(settings: Settings) -> dict[str, Any]:
    checks: dict[str, Any] = {}
    try:
        ping(settings.database_url)
        checks["database"] = "ok"
    except DatabaseUnavailable as exc:
        checks["database"] = f"unavailable: {exc.__class__.__name__}"
    try:
        get_redis(settings.redis_url).ping()
        checks["redis"] = "ok"
    except Exception as exc:  # any client error means "not ready"
        checks["redis"] = f"unavailable: {exc.__class__.__name__}"
    return checks


def _health_routes(settings: Settings, watchdog: Watchdog) -> list[Route]:
    """/healthz (the process answers), /readyz (database, Redis, the processes behind) and /metrics."""
    async def healthz(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        checks = await run_in_threadpool(_readiness, settings)
        ok = all(v == "ok" for v in checks.values())
        body: dict[str, Any] = {"status": "ready" if ok else "not ready", **checks}
        if ok:  # the processes behind this one (dead man's switch): reported, intake still works
            health = await run_in_threadpool(deadman.assess, settings, watchdog.started)
            if not health.ok:
                body |= {"status": "degraded", "problems": list(health.problems)}
        socket_mode = request.app.state.socket_mode
        if socket_mode is not None:  # reported only: intake must stay in the load balancer without Slack
            body["slack_socket_mode"] = socket_mode.status()
        return JSONResponse(body, status_code=200 if ok else 503)

    async def metrics_endpoint(_: Request) -> Response:
        return Response(await run_in_threadpool(metrics_text, settings), media_type=CONTENT_TYPE_LATEST)

    return [Route("/healthz", healthz), Route("/readyz", readyz), Route("/metrics", metrics_endpoint)]


def _chat_surfaces(settings: Settings) -> tuple[list[Route], Any, Any]:
    """The routes of the configured chat surfaces, the Bolt app (or None) and Socket Mode (or None)."""
    routes: list[Route] = []
    bolt = None
    if settings.slack_signing_secret is not None:  # Slack events, commands and interactivity on one URL
        from bot.slack.app import create_bolt_app, starlette_endpoint

        bolt = create_bolt_app(settings)
        routes.append(Route("/slack/events", starlette_endpoint(bolt), methods=["POST"]))
    if settings.teams_app_id is not None:  # Bot Connector activities: card actions, lookups
        from bot.teams.app import create_endpoint

        routes.append(Route("/api/teams/messages", create_endpoint(settings), methods=["POST"]))
    socket_mode = None
    if settings.slack_app_token is not None:  # Socket Mode: Slack without a public URL
        from bot.slack.app import create_bolt_app
        from bot.slack.socket_mode import SocketMode

        bolt = bolt or create_bolt_app(settings)
        socket_mode = SocketMode(bolt, settings.secret("slack_app_token"), settings.slack_api_url)
    return routes, bolt, socket_mode


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or get_settings()
    settings.require("ingest_secret")
    registry.check(settings)  # a bad CONNECTORS_FILE stops the start, naming the entry

    watchdog = Watchdog(settings)  # the dead man's switch (workflows.oncall.deadman), started by the lifespan
    chat_routes, bolt, socket_mode = _chat_surfaces(settings)
    routes = [Route("/webhooks/sync-failures", _intake_endpoint(settings), methods=["POST"]),
              *_health_routes(settings, watchdog), *chat_routes]

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        # Connects in the background, with backoff: the web process (and intake) is up at once.
        if socket_mode is not None:
            socket_mode.start()
        watchdog.start()
        try:
            yield
        finally:
            watchdog.stop()
            if socket_mode is not None:
                await run_in_threadpool(socket_mode.stop)

    app = Starlette(routes=routes, lifespan=lifespan)
    app.add_middleware(RequestLog)
    app.state.settings = settings
    app.state.slack_bolt = bolt
    app.state.socket_mode = socket_mode
    return app


def create_worker_app() -> Starlette:
    """The app of one of `syncdesk serve --workers N`'s processes (uvicorn's factory): a new
    interpreter, so it sets up syncdesk's logging first, as `syncdesk serve` does for one
    process: one format, and no guest's e-mail or phone in any line (`syncdesk.logs`)."""
    from syncdesk.logs import configure

    settings = get_settings()
    configure(settings.log_level, settings.log_format)
    return create_app(settings)


def serves(app: Starlette, url: str) -> str:
    """What the web process serves, in one line: its URL, the intake, Slack (HTTP or Socket Mode,
    and its state), Teams and the metrics."""
    settings: Settings = app.state.settings
    socket_mode = app.state.socket_mode
    http = f"HTTP at POST {url}/slack/events"
    if socket_mode is not None:
        slack = f"Socket Mode ({socket_mode.status()['state']})" + (
            f" and {http}" if settings.slack_signing_secret is not None else "")
    elif settings.slack_signing_secret is not None:
        slack = http
    elif settings.slack_bot_token is not None:
        slack = "posting only (no SLACK_APP_TOKEN or SLACK_SIGNING_SECRET: buttons are not received)"
    else:
        slack = "off (no SLACK_BOT_TOKEN: the alerts are logged)"
    teams = f"POST {url}/api/teams/messages" if settings.teams_app_id is not None else "off (no TEAMS_APP_ID)"
    return (f"syncdesk web ready at {url}: intake POST {url}/webhooks/sync-failures; Slack {slack}; Teams {teams}; "
            f"metrics {url}/metrics; readiness {url}/readyz")


class ReadyServer(uvicorn.Server):
    """uvicorn's server of `app`, saying what it serves (`serves`) once it listens."""

    def __init__(self, app: Starlette, host: str, port: int) -> None:
        # uvicorn's own lines (an app's traceback included) go through syncdesk's handler: one
        # format, and the guest's contacts redacted (`syncdesk.logs`), not uvicorn's handlers.
        super().__init__(uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False,
                                        log_config=None))
        self.served = app

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started and self.servers and self.servers[0].sockets:
            host, port = self.servers[0].sockets[0].getsockname()[:2]
            logging.getLogger("syncdesk.web").info("%s", serves(self.served, f"http://{host}:{port}"))
