"""The ack-latency baseline server: a bare Bolt app that verifies Slack's signature and
acks a `reprocess` click, nothing else, on the same stack as syncdesk's `/slack/events`
(uvicorn → Starlette → `bot.slack.app.starlette_endpoint`, Bolt in the threadpool, the
same Web API client settings). It reads SLACK_SIGNING_SECRET, SLACK_BOT_TOKEN and
SLACK_API_URL from the environment, like `syncdesk serve`.

    python -m bench.bare_bolt_app PORT [WORKERS]
"""

from __future__ import annotations

import sys
from typing import Any

import uvicorn
from slack_bolt import App
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.slack.app import starlette_endpoint
from bot.slack.notifier import web_client
from workflows.core.settings import Settings


async def healthz(_: Request) -> Response:
    return JSONResponse({"status": "ok"})


def bare_bolt(settings: Settings) -> App:
    """The baseline itself: verify the signature, ack a `reprocess` click, nothing else."""
    bolt = App(client=web_client(settings), signing_secret=settings.secret("slack_signing_secret"),
               token_verification_enabled=False, process_before_response=True)

    @bolt.action("reprocess")
    def only_ack(ack: Any) -> None:
        ack()

    return bolt


def create_app() -> Starlette:
    bolt = bare_bolt(Settings())
    return Starlette(routes=[Route("/slack/events", starlette_endpoint(bolt), methods=["POST"]),
                             Route("/healthz", healthz)])


if __name__ == "__main__":
    uvicorn.run("bench.bare_bolt_app:create_app", factory=True, host="127.0.0.1", port=int(sys.argv[1]),
                workers=int(sys.argv[2]) if len(sys.argv) > 2 else 1, log_level="warning", access_log=False)
