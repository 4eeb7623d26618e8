"""CPU per request on the two hot paths, measured in one process, without HTTP or a load
generator in the way (issue 17): where `ack_latency.py` and `intake_throughput.py` measure
the whole server under load, this one isolates syncdesk's own work, so a change of a
millisecond shows through the noise of a shared 2-core machine.

    .venv/bin/python bench/hot_path_cpu.py [--requests 300] [--rounds 3]

- **Slack click**: `bolt.dispatch` of a signed Reprocess `block_actions` for a different
  recorded order each time (verify, skip redeliveries, authorize, read, enqueue, audit,
  acknowledge the alert, mark the item ready, ack, and the "Reprocess queued." follow-up
  after the ack), against the bare Bolt app that verifies and acks (`bench/bare_bolt_app.py`,
  `ack_latency.py`'s baseline) in the same run. `request_reprocess` alone (no Slack) is shown too.
- **Intake**: `workflows.intake.webhook.handle` of a signed failure for a new order (the
  failure committed, its alert and jobs in the outbox), against verifying the signature and
  parsing the JSON of the same bodies.
- CPU is `time.process_time()` of this process (every thread: the follow-up pool too). The
  fake Slack runs in a child process, so its work is not counted. PostgreSQL and Redis
  are the local servers (their CPU is not counted either: see `intake_throughput.py` for
  the whole machine). Each figure is the best of `--rounds` rounds (the least disturbed).

Before the rounds, one more request of each path counts its SQL statements (psycopg cursor
executes, an executemany being one) and Redis round trips (packed sends, a pipeline being one):
numbers that do not move with the machine's load, unlike its CPU.

With `--profile`, one more round runs under cProfile (timed by `time.process_time`, so it
counts CPU, not waits) and the CPU of each path is split by whose code spent it: syncdesk's
own, the SQLAlchemy ORM, SQLAlchemy Core, psycopg, redis-py and RQ, Bolt and slack-sdk,
pydantic, and the rest (the standard library and C calls). That is the "where does the gap
come from" of issue 17; profiling slows every call, so the shares are the number to read, not
the milliseconds.

Results: bench/results/hot_path_cpu.json.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import json
import multiprocessing
import pstats
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from slack_bolt.request import BoltRequest  # noqa: E402

from bench import floor  # noqa: E402
from bench.bare_bolt_app import bare_bolt  # noqa: E402
from bench.harness import fresh_postgres, load_average, print_table, redis_db, write_results  # noqa: E402
from tests.bot.conftest import ANA, BOT_TOKEN, RESERVATIONS, SIGNING_SECRET, click, failure, signature  # noqa: E402
from tests.fakes.slack import FakeSlack  # noqa: E402

INGEST = "bench-ingest-secret"


def _serve_fake_slack(conn: Any) -> None:
    with FakeSlack(token=BOT_TOKEN, usergroups={RESERVATIONS: [ANA["id"]]}) as slack:
        conn.send((slack.api_url, slack.response_url()))
        conn.recv()  # until the parent is done


@contextlib.contextmanager
def fake_slack_process() -> Iterator[tuple[str, str]]:
    """The fake Slack in its own process: (Web API url, a response_url)."""
    parent, child = multiprocessing.Pipe()
    proc = multiprocessing.get_context("fork").Process(target=_serve_fake_slack, args=(child,), daemon=True)
    proc.start()
    try:
        yield parent.recv()
    finally:
        parent.send("done")
        proc.join(timeout=10)


@contextlib.contextmanager
def round_trips() -> Iterator[dict[str, int]]:
    """SQL statements (psycopg cursor executes; an executemany is one) and Redis round trips
    (packed sends; a pipeline is one) made inside, by syncdesk and the floor alike."""
    import psycopg
    from redis.connection import AbstractConnection

    counts = {"sql": 0, "redis": 0}
    kinds = {(psycopg.Cursor, "execute"): "sql", (psycopg.Cursor, "executemany"): "sql",
             (AbstractConnection, "send_packed_command"): "redis"}
    saved = {(owner, name): getattr(owner, name) for owner, name in kinds}

    def counting(original: Callable[..., Any], what: str) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            counts[what] += 1
            return original(*args, **kwargs)
        return wrapper

    for (owner, name), what in kinds.items():
        setattr(owner, name, counting(saved[(owner, name)], what))
    try:
        yield counts
    finally:
        for (owner, name), original in saved.items():
            setattr(owner, name, original)


def cpu_ms_per_call(calls: list[Callable[[], object]], check: Callable[[object], bool]) -> float:
    started = time.process_time()
    for call in calls:
        result = call()
        assert check(result), result
    return (time.process_time() - started) * 1000 / len(calls)


# Whose code a profiled function is: a library by the folder of its file in site-packages.
LIBRARIES = [
    ("SQLAlchemy ORM", "/sqlalchemy/orm/"),
    ("SQLAlchemy Core and engine", "/sqlalchemy/"),
    ("psycopg (driver)", "/psycopg"),
    ("redis-py and RQ", "/redis/"),
    ("redis-py and RQ", "/rq/"),
    ("Bolt and slack-sdk", "/slack_bolt/"),
    ("Bolt and slack-sdk", "/slack_sdk/"),
    ("pydantic", "/pydantic"),
]
OURS = "syncdesk's own code (workflows, bot, connectors, syncdesk)"


def layer_of(filename: str) -> str:
    if "site-packages" in filename:
        return next((name for name, part in LIBRARIES if part in filename), "other libraries")
    if filename.startswith(str(ROOT) + "/"):
        return OURS
    return "standard library and C calls"


def cpu_by_layer(calls: list[Callable[[], object]]) -> dict[str, float]:
    """Each layer's share (%) of the CPU the calls spent, from cProfile's own time per function."""
    profile = cProfile.Profile(time.process_time)
    profile.enable()
    for call in calls:
        call()
    profile.disable()
    spent: dict[str, float] = {}
    for (filename, _, _), (_, _, own, _, _) in pstats.Stats(profile).stats.items():  # type: ignore[attr-defined]
        spent[layer_of(filename)] = spent.get(layer_of(filename), 0.0) + own
    total = sum(spent.values()) or 1.0
    return {name: round(100 * value / total, 1) for name, value in sorted(spent.items(), key=lambda kv: -kv[1])}


def click_request(order_id: str, n: int, response_url: str) -> BoltRequest:
    ts = str(int(time.time()))
    payload = click("reprocess", order_id, "ITEM-1", response_url=response_url, action_ts=f"{ts}.{n:06d}")
    body = urlencode({"payload": json.dumps(payload)})
    return BoltRequest(body=body, headers={"content-type": ["application/x-www-form-urlencoded"],
                                           "x-slack-request-timestamp": [ts], "x-slack-signature": [signature(body, ts)]})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300, help="requests per round and path")
    parser.add_argument("--rounds", type=int, default=3, help="rounds; the best is reported")
    parser.add_argument("--profile", action="store_true", help="one more round under cProfile: CPU by layer")
    args = parser.parse_args()
    load_before = load_average()
    print(f"load average before: {load_before}")
    n, rounds = args.requests, args.rounds
    with contextlib.ExitStack() as stack:
        api_url, response_url = stack.enter_context(fake_slack_process())
        database_url = stack.enter_context(fresh_postgres())
        redis_url = stack.enter_context(redis_db())
        from bot.slack.app import create_bolt_app
        from syncdesk.cli import _migrate
        from workflows.actions import requests as actions
        from workflows.core.settings import Settings
        from workflows.core.signature import sign, verify
        from workflows.intake import webhook

        settings = Settings(_env_file=None, database_url=database_url, redis_url=redis_url, ingest_secret=INGEST,
                            slack_bot_token=BOT_TOKEN, slack_signing_secret=SIGNING_SECRET, slack_api_url=api_url,
                            slack_allowed_usergroup=RESERVATIONS, queue_name="bench-hot-path")
        _migrate(settings)
        per_round = 3 * n  # intake's orders, then clicked through Bolt and through request_reprocess
        bodies = [json.dumps(failure(event_id=f"evt-hot-{i}", order__id=f"ORD-H{i:06d}")).encode()
                  for i in range(20 + (rounds + 1) * per_round)]
        signed = [(body, sign(INGEST, body)) for body in bodies]
        orders = [f"ORD-H{i:06d}" for i in range(len(bodies))]

        def intake(body: bytes, sig: str) -> Callable[[], object]:
            return lambda: webhook.handle(settings, body, sig).status

        def parse_only(body: bytes, sig: str) -> Callable[[], object]:
            return lambda: (verify(INGEST, body, sig, tolerance=settings.signature_tolerance_seconds),
                            json.loads(body))

        ours, bare = create_bolt_app(settings), bare_bolt(settings)  # the same baseline as ack_latency.py
        pg = floor.connect(database_url)
        outbox_before = pg.execute("SELECT count(*) FROM outbox").fetchone()[0]
        webhook.handle(settings, *signed[0])
        shape = floor.Shape.measure(pg, orders[0], outbox_before)  # the rows syncdesk writes per intake
        print(f"rows per intake (syncdesk's, which the floor writes too): {shape.rows}, outbox {shape.outbox}")
        for body, sig in signed[1:20]:  # warm caches, pools and the usergroup
            webhook.handle(settings, body, sig)
        floor_queue = floor.queue_for(redis_url, "bench-floor")
        members = frozenset({ANA["id"]})
        floor_bodies = [json.dumps(failure(event_id=f"evt-floor-{i}", order__id=f"ORD-L{i:06d}")).encode()
                        for i in range(20 + rounds * n)]
        floor_signed = [(body, sign(INGEST, body)) for body in floor_bodies]
        for body, sig in floor_signed[:20]:
            assert floor.intake(pg, INGEST.encode(), body, sig, shape) == 202
        for i, order_id in enumerate(orders[:20]):
            ours.dispatch(click_request(order_id, i, response_url))
            bare.dispatch(click_request(order_id, i, response_url))
        for i, order_id in enumerate(orders[:3]):  # the floor's first enqueue loads RQ's scripts
            q = click_request(order_id, 50 + i, response_url)
            floor.click(pg, floor_queue, members, SIGNING_SECRET.encode(), q.raw_body,
                        q.headers["x-slack-request-timestamp"][0], q.headers["x-slack-signature"][0])
        counted = json.dumps(failure(event_id="evt-count", order__id="ORD-COUNT")).encode()
        floor_counted = json.dumps(failure(event_id="evt-floor-count", order__id="ORD-LCOUNT")).encode()
        count_click = click_request("ORD-COUNT", 999999, response_url)
        trips: dict[str, dict[str, int]] = {}
        for name, call in (
                ("intake: syncdesk", lambda: webhook.handle(settings, counted, sign(INGEST, counted))),
                ("intake: floor", lambda: floor.intake(pg, INGEST.encode(), floor_counted,
                                                       sign(INGEST, floor_counted), shape)),
                ("click: syncdesk (its follow-up post is HTTP, not counted)", lambda: ours.dispatch(count_click)),
                ("click: floor", lambda: floor.click(pg, floor_queue, members, SIGNING_SECRET.encode(),
                                                     count_click.raw_body,
                                                     count_click.headers["x-slack-request-timestamp"][0],
                                                     count_click.headers["x-slack-signature"][0]))):
            with round_trips() as counts:
                call()
            trips[name] = dict(counts)
        time.sleep(0.5)  # the counted click's follow-up post
        best: dict[str, float] = {}
        for r in range(rounds):
            start = 20 + r * per_round
            batch = signed[start:start + per_round]
            measured = {
                "intake: verify + parse (baseline)": cpu_ms_per_call([parse_only(b, s) for b, s in batch],
                                                                     lambda _: True),
                "intake: webhook.handle": cpu_ms_per_call([intake(b, s) for b, s in batch], lambda s: s == 202),
            }
            clicked = orders[start:start + per_round]
            requests = [click_request(o, 100000 * (r + 1) + i, response_url) for i, o in enumerate(clicked[:n])]
            measured["click: bare Bolt verify + ack (baseline)"] = cpu_ms_per_call(
                [lambda q=q: bare.dispatch(q) for q in requests], lambda resp: resp.status == 200)
            requests = [click_request(o, 200000 * (r + 1) + i, response_url) for i, o in enumerate(clicked[:n])]
            measured["click: syncdesk Bolt dispatch"] = cpu_ms_per_call(
                [lambda q=q: ours.dispatch(q) for q in requests], lambda resp: resp.status == 200)
            measured["click: request_reprocess alone"] = cpu_ms_per_call(
                [lambda o=o: actions.request_reprocess(settings, o, "ITEM-1", "bench") for o in clicked[n:2 * n]],
                lambda answer: answer.accepted)
            floor_batch = floor_signed[20 + r * n:20 + (r + 1) * n]
            measured["intake: floor (the same rows, psycopg)"] = cpu_ms_per_call(
                [lambda b=b, s=s: floor.intake(pg, INGEST.encode(), b, s, shape) for b, s in floor_batch],
                lambda status: status == 202)
            requests = [click_request(o, 300000 * (r + 1) + i, response_url) for i, o in enumerate(clicked[:n])]
            measured["click: floor (verify, parse, 1 transaction, 1 enqueue)"] = cpu_ms_per_call(
                [lambda q=q: floor.click(pg, floor_queue, members, SIGNING_SECRET.encode(), q.raw_body,
                                         q.headers["x-slack-request-timestamp"][0],
                                         q.headers["x-slack-signature"][0]) for q in requests],
                lambda status: status == 200)
            time.sleep(0.5)  # the follow-up posts of the last clicks
            for name, value in measured.items():
                best[name] = min(best.get(name, value), value)
        layers: dict[str, dict[str, float]] = {}
        if args.profile:  # one more round's orders; the click's follow-up thread is not profiled
            start = 20 + rounds * per_round
            layers["intake: webhook.handle"] = cpu_by_layer([intake(b, s) for b, s in signed[start:start + n]])
            layers["click: syncdesk Bolt dispatch"] = cpu_by_layer(
                [lambda q=q: ours.dispatch(q) for q in [click_request(o, 900000 + i, response_url)
                                                        for i, o in enumerate(orders[start:start + n])]])
            time.sleep(0.5)
    rows = [[name, f"{value:.2f}"] for name, value in best.items()]
    rows.append(["intake: syncdesk / baseline",
                 f"{best['intake: webhook.handle'] / best['intake: verify + parse (baseline)']:.1f}x"])
    rows.append(["click: syncdesk / bare Bolt",
                 f"{best['click: syncdesk Bolt dispatch'] / best['click: bare Bolt verify + ack (baseline)']:.1f}x"])
    rows.append(["intake: syncdesk / floor",
                 f"{best['intake: webhook.handle'] / best['intake: floor (the same rows, psycopg)']:.1f}x"])
    rows.append(["click: syncdesk / floor",
                 f"{best['click: syncdesk Bolt dispatch'] / best['click: floor (verify, parse, 1 transaction, 1 enqueue)']:.1f}x"])
    print_table(["path", "CPU ms per request (best of rounds)"], rows)
    print()
    print_table(["one request", "SQL statements", "Redis round trips"],
                [[name, str(c["sql"]), str(c["redis"])] for name, c in trips.items()])
    for path_name, shares in layers.items():
        print()
        print_table([f"{path_name}: whose code", "share of its CPU (cProfile)", "ms of the best round"],
                    [[layer, f"{share:.1f} %", f"{best[path_name] * share / 100:.2f}"]
                     for layer, share in shares.items()])
    path = write_results("hot_path_cpu", {"load_average_before": load_before, "requests_per_round": n,
                                          "rounds": rounds, "cpu_ms": {k: round(v, 3) for k, v in best.items()},
                                          "round_trips": trips, "cpu_share_by_layer_percent": layers})
    print(f"results: {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
