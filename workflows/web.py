"""The one web app: intake webhook, health checks, and the chat surfaces' endpoints.

Handlers are thin: read the body, call the owning module, answer. Slow work happens in
jobs. `/healthz` says the process is up; `/readyz` that the database and Redis answer.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from workflows import intake
from workflows.db import DatabaseUnavailable, ping
from workflows.queue import get_redis
from workflows.settings import Settings, get_settings
from workflows.signature import HEADER


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

    async def sync_failures(request: Request) -> Response:
        raw = await _read_capped(request, settings.ingest_max_bytes)
        if raw is None:
            return JSONResponse({"error": f"body larger than {settings.ingest_max_bytes} bytes"}, status_code=413)
        answer = await run_in_threadpool(intake.handle, settings, raw, request.headers.get(HEADER))
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
    app = Starlette(routes=routes)
    app.state.settings = settings
    return app
