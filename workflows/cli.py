"""The `syncdesk` command: serve, worker, migrate, ingest, orders, order, and the three
actions (reprocess, booked-manually, complete) for operators and scripts.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from connectors.routing import RoutingError
from workflows.settings import MissingSetting, Settings, get_settings


def _migrate(settings: Settings) -> None:
    from alembic import command
    from alembic.config import Config

    root = Path(__file__).resolve().parent.parent
    config = Config()
    config.set_main_option("script_location", str(root / "migrations"))
    config.set_main_option("sqlalchemy.url", settings.database_url)
    command.upgrade(config, "head")


def cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    _migrate(settings)
    print(f"database at head: {_safe_url(settings.database_url)}")
    return 0


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from workflows.web import create_app

    if args.workers > 1:
        if settings.slack_app_token is not None:
            print("syncdesk: Socket Mode (SLACK_APP_TOKEN) runs in one web process: use --workers 1",
                  file=sys.stderr)
            return 2
        create_app(settings)  # fail fast on missing settings before forking
        uvicorn.run("workflows.web:create_app", factory=True, workers=args.workers, host=args.host,
                    port=args.port, log_level="info", access_log=False)
        return 0
    app = create_app(settings)
    if settings.slack_app_token is not None:  # Socket Mode: Slack without a public URL
        from bot.slack.app import socket_mode_handler

        socket_mode_handler(settings, app.state.slack_bolt).connect()
    uvicorn.run(app, host=args.host, port=args.port, log_level="info", access_log=False)
    return 0


def _preload() -> None:
    """Import what jobs use and build the shared TLS context before RQ forks a process per
    job, so each job inherits them instead of paying for them again (bench/RESULTS.md)."""
    import stripe  # noqa: F401

    import connectors.platform  # noqa: F401
    import connectors.stripe_payments  # noqa: F401
    import connectors.synxis  # noqa: F401
    import workflows.escalation  # noqa: F401
    import workflows.jobs  # noqa: F401
    import workflows.outage  # noqa: F401
    from connectors.base import tls_context

    tls_context()


def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    from rq import Worker

    from bot.setup import register_notifiers
    from connectors import registry
    from workflows.queue import get_queues, get_redis
    from workflows.schedules import start_clock

    registry.check(settings)
    register_notifiers(settings)
    _preload()
    stop = start_clock(settings, args.tick)
    # Registry maintenance every minute (RQ's default is ten): a job whose worker was killed
    # is found abandoned and retried within about two minutes instead of ten.
    worker = Worker(get_queues(settings), connection=get_redis(settings.redis_url), maintenance_interval=60)
    try:
        worker.work(with_scheduler=True, burst=args.burst)
    finally:
        stop.set()
    return 0


def cmd_ingest(args: argparse.Namespace, settings: Settings) -> int:
    import httpx

    from workflows.signature import HEADER, sign

    body = Path(args.file).read_bytes()
    if args.fresh:
        data = json.loads(body)
        data["event_id"] = f"{data.get('event_id', 'evt')}-{int(time.time() * 1000)}"
        body = json.dumps(data).encode()
    headers = {HEADER: sign(settings.secret("ingest_secret"), body), "Content-Type": "application/json"}
    response = httpx.post(args.url.rstrip("/") + "/webhooks/sync-failures", content=body, headers=headers,
                          timeout=10)
    print(f"{response.status_code} {response.text}")
    return 0 if response.status_code < 300 else 1


def cmd_orders(args: argparse.Namespace, settings: Settings) -> int:
    from workflows.db import transaction
    from workflows.lookup import order_queue

    since = dt.datetime.fromisoformat(args.since).replace(tzinfo=dt.timezone.utc) if args.since else None
    with transaction(settings.database_url) as session:
        rows = order_queue(session, status=args.status, since=since)
    print(f"{'ORDER':<16} {'PLACED':<17} {'STATUS':<12} {'QUEUE':<11} {'ATTEMPTS':>8}  ERROR")
    for row in rows:
        placed = row.placed_at.strftime("%Y-%m-%d %H:%M") if row.placed_at else "-"
        print(f"{row.order_id:<16} {placed:<17} {row.status:<12} {row.queue_status:<11} {row.attempts:>8}  "
              f"{row.error_class or '-'}")
    if not rows:
        print("(no orders)")
    return 0


def cmd_order(args: argparse.Namespace, settings: Settings) -> int:
    from workflows.db import transaction
    from workflows.lookup import describe
    from workflows.snapshot import load

    with transaction(settings.database_url) as session:
        snapshot = load(session, args.order_id)
    if snapshot is None:
        print(f"order {args.order_id} is not known to syncdesk", file=sys.stderr)
        return 1
    print(describe(snapshot))
    return 0


def _action_outcome(settings: Settings, ack: object, wait: float) -> int:
    from rq.job import Job

    from workflows.queue import get_redis

    print(ack.message)  # type: ignore[attr-defined]
    if not ack.accepted or not ack.job_id or wait <= 0:  # type: ignore[attr-defined]
        return 0 if ack.accepted else 1  # type: ignore[attr-defined]
    deadline = time.monotonic() + wait
    job = Job.fetch(ack.job_id, connection=get_redis(settings.redis_url))  # type: ignore[attr-defined]
    while time.monotonic() < deadline:
        status = job.get_status(refresh=True)
        if status and status.value in ("finished", "failed"):
            print(f"outcome: {job.return_value() if status.value == 'finished' else 'job failed'}")
            return 0 if status.value == "finished" else 1
        time.sleep(0.2)
    print("still running; see `syncdesk order` for the outcome")
    return 0


def cmd_reprocess(args: argparse.Namespace, settings: Settings) -> int:
    from workflows.actions import request_reprocess
    from workflows.db import transaction
    from workflows.models import Order

    item_ids = [args.item_id] if args.item_id else []
    if not item_ids:
        with transaction(settings.database_url) as session:
            order = session.get(Order, args.order_id)
            item_ids = [i.item_id for i in order.items if i.kind != "retail" and i.status == "In Progress"] \
                if order else []
        if not item_ids:
            print(f"order {args.order_id} has nothing to reprocess", file=sys.stderr)
            return 1
    code = 0
    for item_id in item_ids:
        ack = request_reprocess(settings, args.order_id, item_id, args.actor)
        code |= _action_outcome(settings, ack, args.wait)
    return code


def cmd_booked_manually(args: argparse.Namespace, settings: Settings) -> int:
    from workflows.actions import request_booked_manually

    ack = request_booked_manually(settings, args.order_id, args.item_id, args.actor, args.reference,
                                  args.payment_method, args.notes)
    return _action_outcome(settings, ack, args.wait)


def cmd_complete(args: argparse.Namespace, settings: Settings) -> int:
    from workflows.actions import request_complete

    return _action_outcome(settings, request_complete(settings, args.order_id, args.actor), args.wait)


def cmd_reconcile(args: argparse.Namespace, settings: Settings) -> int:
    from workflows.reconcile import reconcile

    report = reconcile(settings, order_ids=args.order or None)
    print(report.render_text())
    return 1 if report.mismatches else 0


def cmd_oncall(args: argparse.Namespace, settings: Settings) -> int:
    from zoneinfo import ZoneInfo

    from workflows import oncall
    from workflows.db import transaction
    from workflows.models import utcnow

    rotation = oncall.rotation_for(settings)
    zone = rotation.zone if rotation else ZoneInfo(settings.local_timezone)
    now = utcnow()
    with transaction(settings.database_url) as session:
        if args.action in ("take", "release"):
            if not args.person:
                print(f"syncdesk oncall {args.action}: say who (a Slack or Teams user id)", file=sys.stderr)
                return 2
            if args.action == "take":
                try:
                    until = oncall.parse_until(args.until, now, zone) if args.until else None
                    oncall.take(session, args.person, until, args.actor, now=now, rotation=rotation)
                except ValueError as exc:
                    print(f"syncdesk oncall take: {exc}", file=sys.stderr)
                    return 1
            else:
                oncall.release(session, args.person, args.actor, now=now)
        current, following = oncall.who(session, now, rotation)
    print(oncall.describe(current, following, zone))
    return 0


def cmd_connectors(args: argparse.Namespace, settings: Settings) -> int:
    from connectors import registry

    rows = registry.statuses(settings)
    print(f"{'SYSTEM':<11} {'PROPERTY':<12} {'CONNECTOR':<11} {'MODE':<9} {'OK':<4} MESSAGE")
    for r in rows:
        print(f"{r.system:<11} {r.property or '(all)':<12} {r.connector:<11} "
              f"{'automatic' if r.automatic else 'manual':<9} {'yes' if r.ok else 'NO':<4} {r.message}")
    return 0 if all(r.ok for r in rows) else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="syncdesk", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("serve", help="run the web app (intake, Slack, Teams, health)")
    p.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    p.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    p.add_argument("--workers", type=int, default=int(os.environ.get("WEB_CONCURRENCY", "1")),
                   help="web processes (default: $WEB_CONCURRENCY or 1)")
    p.set_defaults(func=cmd_serve)
    p = sub.add_parser("worker", help="run an RQ worker with its scheduler and the clock")
    p.add_argument("--burst", action="store_true", help="stop when the queue is empty")
    p.add_argument("--tick", type=float, default=5.0, help="seconds between clock ticks")
    p.set_defaults(func=cmd_worker)
    sub.add_parser("migrate", help="bring the database schema to the latest version").set_defaults(func=cmd_migrate)
    p = sub.add_parser("ingest", help="sign and post a failure JSON file to a running server")
    p.add_argument("file")
    p.add_argument("--url", default=os.environ.get("SYNCDESK_URL", "http://127.0.0.1:8000"))
    p.add_argument("--fresh", action="store_true", help="give the event a new event_id (demos)")
    p.set_defaults(func=cmd_ingest)
    p = sub.add_parser("orders", help="the order queue")
    p.add_argument("--status", help="queue status (created, processing, success, failed, ready) or order status")
    p.add_argument("--since", help="placed on or after this date (YYYY-MM-DD)")
    p.set_defaults(func=cmd_orders)
    p = sub.add_parser("order", help="one order with its attempts and audit trail")
    p.add_argument("order_id")
    p.set_defaults(func=cmd_order)
    actor = f"cli:{os.environ.get('USER', 'operator')}"
    for name, func, extra in (
        ("reprocess", cmd_reprocess, ("order_id", "item_id?")),
        ("booked-manually", cmd_booked_manually, ("order_id", "item_id", "reference")),
        ("complete", cmd_complete, ("order_id",)),
    ):
        p = sub.add_parser(name, help=f"{name.replace('-', ' ')} (enqueues the same job as the button)")
        for arg in extra:
            if arg.endswith("?"):
                p.add_argument(arg[:-1], nargs="?")
            else:
                p.add_argument(arg)
        p.add_argument("--actor", default=actor)
        p.add_argument("--wait", type=float, default=30.0, help="seconds to wait for the outcome (0: don't)")
        if name == "booked-manually":
            p.add_argument("--payment-method", help="EMS Premier: where the deposit was assigned")
            p.add_argument("--notes")
        p.set_defaults(func=func)
    sub.add_parser("connectors", help="which connector books each system and property, and whether its "
                   "credentials work").set_defaults(func=cmd_connectors)
    p = sub.add_parser("reconcile", help="compare syncdesk, the platform and Stripe; list every mismatch (read-only)")
    p.add_argument("--order", action="append", help="only this order (repeatable)")
    p.set_defaults(func=cmd_reconcile)
    p = sub.add_parser("oncall", help="who is on call now and next; take or release an override")
    p.add_argument("action", nargs="?", choices=("show", "take", "release"), default="show")
    p.add_argument("person", nargs="?", help="Slack or Teams user id")
    p.add_argument("until", nargs="?", help="18:00, 2h, or 2026-11-23 18:00 (default: the next hand-off)")
    p.add_argument("--actor", default=actor)
    p.set_defaults(func=cmd_oncall)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO"), format="%(asctime)s %(levelname)s %(name)s %(message)s")
    args = build_parser().parse_args(argv)
    try:
        return args.func(args, get_settings())
    except (MissingSetting, RoutingError) as exc:
        print(f"syncdesk: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
