"""The baseline server: the same Starlette + uvicorn stack answering 202 with no work."""

from __future__ import annotations

import sys

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


async def accept(request: Request) -> Response:
    await request.body()
    return JSONResponse({"order_id": "-", "alert": "created"}, status_code=202)


async def healthz(_: Request) -> Response:
    return JSONResponse({"status": "ok"})


app = Starlette(routes=[Route("/webhooks/sync-failures", accept, methods=["POST"]), Route("/healthz", healthz)])

if __name__ == "__main__":
    workers = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    uvicorn.run("bench.baseline_app:app", host="127.0.0.1", port=int(sys.argv[1]), workers=workers,
                log_level="warning", access_log=False)
