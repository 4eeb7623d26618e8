"""How fast a Slack click is acknowledged: syncdesk's Reprocess handler (verify signature,
skip redeliveries, authorize against the cached user group, enqueue on Redis, audit in the
database, ack) against a bare Bolt app that only verifies and acks, in the same run, over
the same loopback HTTP stack (uvicorn + Starlette + Bolt in the threadpool).

Slack gives 3 s to acknowledge (docs.slack.dev/interactivity/handling-user-interaction,
"Acknowledgment response"); DESIGN §4 aims under 100 ms at p99.

    .venv/bin/python bench/ack_latency.py [--clicks 300] [--postgres]

Clicks go over one keep-alive HTTP connection per app, so the numbers are the server's,
not the client's TLS/connection setup. Results land in bench/results/ack_latency.json.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.harness import fresh_postgres, print_table, redis_db, write_results  # noqa: E402
from slack_bolt import App  # noqa: E402
from starlette.applications import Starlette  # noqa: E402
from starlette.routing import Route  # noqa: E402

from bot.slack.app import starlette_endpoint  # noqa: E402
from bot.slack.notifier import web_client  # noqa: E402
from tests.bot.conftest import ANA, BOT_TOKEN, RESERVATIONS, SIGNING_SECRET, click, failure, signature  # noqa: E402
from tests.conftest import LiveServer, post_failure  # noqa: E402
from tests.fakes.slack import FakeSlack  # noqa: E402
from workflows.cli import _migrate  # noqa: E402
from workflows.settings import Settings  # noqa: E402
from workflows.web import create_app  # noqa: E402


def bare_app(settings: Settings) -> Starlette:
    """The baseline: Bolt verifying the signature and acking, nothing else."""
    bolt = App(client=web_client(settings), signing_secret=SIGNING_SECRET, token_verification_enabled=False,
               process_before_response=True)

    @bolt.action("reprocess")
    def only_ack(ack: Any) -> None:
        ack()

    return Starlette(routes=[Route("/slack/events", starlette_endpoint(bolt), methods=["POST"])])


def measure(server: LiveServer, payloads: list[dict[str, Any]]) -> list[float]:
    """Milliseconds from sending each signed click to having its 200 (first one is warm-up)."""
    timings = []
    with httpx.Client(base_url=server.url, timeout=10) as client:
        for n, payload in enumerate(payloads):
            body = urlencode({"payload": json.dumps(payload)})
            ts = str(int(time.time()))
            headers = {"Content-Type": "application/x-www-form-urlencoded", "X-Slack-Request-Timestamp": ts,
                       "X-Slack-Signature": signature(body, ts)}
            started = time.perf_counter()
            response = client.post("/slack/events", content=body, headers=headers)
            elapsed = (time.perf_counter() - started) * 1000
            assert response.status_code == 200, response.text
            if n:  # the first request authorizes (auth.test) and fills the membership cache
                timings.append(elapsed)
    return timings


def percentiles(ms: list[float]) -> dict[str, float]:
    q = statistics.quantiles(ms, n=100)
    return {"p50_ms": round(q[49], 2), "p90_ms": round(q[89], 2), "p99_ms": round(q[98], 2),
            "max_ms": round(max(ms), 2)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clicks", type=int, default=300)
    parser.add_argument("--postgres", action="store_true", help="PostgreSQL instead of an SQLite file")
    args = parser.parse_args()
    with contextlib.ExitStack() as stack:
        tmp = stack.enter_context(tempfile.TemporaryDirectory())
        database_url = stack.enter_context(fresh_postgres()) if args.postgres else f"sqlite:///{tmp}/bench.db"
        redis_url = stack.enter_context(redis_db())
        slack = stack.enter_context(FakeSlack(token=BOT_TOKEN, usergroups={RESERVATIONS: [ANA["id"]]}))
        settings = Settings(_env_file=None, database_url=database_url, redis_url=redis_url,
                            queue_name=f"bench-{uuid.uuid4().hex[:8]}", ingest_secret="bench",
                            slack_bot_token=BOT_TOKEN, slack_signing_secret=SIGNING_SECRET,
                            slack_api_url=slack.api_url, slack_allowed_usergroup=RESERVATIONS)
        _migrate(settings)
        syncdesk = stack.enter_context(LiveServer(create_app(settings)))
        bare = stack.enter_context(LiveServer(bare_app(settings)))
        orders = [f"ORD-B{n:05d}" for n in range(args.clicks + 1)]
        for n, order_id in enumerate(orders):
            response = post_failure(syncdesk.url, failure(event_id=f"evt_bench_{n}", order__id=order_id),
                                    secret="bench")
            assert response.status_code == 202, response.text
        ours = measure(syncdesk, [click("reprocess", o, "ITEM-1", response_url=slack.response_url()) for o in orders])
        baseline = measure(bare, [click("reprocess", o, "ITEM-1") for o in orders])
        time.sleep(0.5)  # let the ephemeral answers arrive
        queued = sum(1 for h in slack.hooks if h.get("text") == "Reprocess queued.")
    results = {"bare Bolt app (verify + ack)": percentiles(baseline), "syncdesk Reprocess": percentiles(ours)}
    print_table(["handler", "clicks", "p50 ms", "p90 ms", "p99 ms", "max ms"],
                [[name, str(len(ours)), *(f"{v:.1f}" for v in r.values())] for name, r in results.items()])
    overhead = results["syncdesk Reprocess"]["p99_ms"] - results["bare Bolt app (verify + ack)"]["p99_ms"]
    print(f"\np99 cost of skip-redelivery + authorize + enqueue + audit over the bare ack: {overhead:.1f} ms; "
          f"{queued} of {len(orders)} clicks were answered 'Reprocess queued.'; target p99 < 100 ms")
    path = write_results("ack_latency", {"clicks": len(ours), "database": "postgresql" if args.postgres else "sqlite",
                                         "results": results, "queued": queued})
    print(f"results: {path.relative_to(ROOT)}")
    return 0 if results["syncdesk Reprocess"]["p99_ms"] < 100 else 1


if __name__ == "__main__":
    sys.exit(main())
