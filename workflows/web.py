"""The one web app: intake webhook, health checks, and the chat surfaces' endpoints.

Handlers are thin: read the body, call the owning module, answer. Slow work happens in
jobs. `/healthz` says the process is up; `/readyz` that the database and Redis answer.
"""

from __future__ import annotations

import anyio
import anyio.to_thread
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from connectors import registry
from workflows import intake
from workflows.db import DatabaseUnavailable, ping
from workflows.queue import get_redis
from workflows.settings import Settings, get_settings
from workflows.signature import HEADER

INTAKE_THREADS = 6


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


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or get_settings()
    settings.require("ingest_secret")
    registry.check(settings)  # a bad CONNECTORS_FILE stops the start, naming the entry

    # A few database transactions at a time: more threads only fight over the GIL and the pool.
    intake_slots: list[anyio.CapacityLimiter] = []

    async def sync_failures(request: Request) -> Response:
        raw = await _read_capped(request, settings.ingest_max_bytes)
        if raw is None:
            return JSONResponse({"error": f"body larger than {settings.ingest_max_bytes} bytes"}, status_code=413)
        if not intake_slots:
            intake_slots.append(anyio.CapacityLimiter(INTAKE_THREADS))
        answer = await anyio.to_thread.run_sync(intake.handle, settings, raw, request.headers.get(HEADER),
                                                limiter=intake_slots[0])
        return JSONResponse(answer.body, status_code=answer.status)

    async def healthz(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    def _readiness() -> dict[str, str]:
        checks = {}
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

    async def readyz(_: Request) -> Response:
        checks = await run_in_threadpool(_readiness)
        ok = all(v == "ok" for v in checks.values())
        return JSONResponse({"status": "ready" if ok else "not ready", **checks}, status_code=200 if ok else 503)

    routes = [
        Route("/webhooks/sync-failures", sync_failures, methods=["POST"]),
        Route("/healthz", healthz),
        Route("/readyz", readyz),
    ]
    bolt = None
    if settings.slack_signing_secret is not None:  # Slack events, commands and interactivity on one URL
        from bot.slack.app import create_bolt_app, starlette_endpoint

        bolt = create_bolt_app(settings)
        routes.append(Route("/slack/events", starlette_endpoint(bolt), methods=["POST"]))
    if settings.teams_app_id is not None:  # Bot Connector activities: card actions, lookups
        from bot.teams.app import create_endpoint

        routes.append(Route("/api/teams/messages", create_endpoint(settings), methods=["POST"]))
    app = Starlette(routes=routes)
    app.state.settings = settings
    app.state.slack_bolt = bolt
    return app
