"""The `syncdesk` command: serve, worker, migrate, ingest, orders, order, and the three
actions (reprocess, booked-manually, complete) for operators and scripts.

A mistake is one line on stderr saying what is wrong and what to do, never a traceback.
Exit codes: 0 done; 1 refused, failed or not found; 2 bad usage or configuration (the
missing setting is named); 3 queued but no outcome yet (no worker, or `--wait` ran out).
"""

from __future__ import annotations

import argparse
import datetime as dt
import faulthandler
import json
import logging
import os
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from pydantic import ValidationError
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from connectors.routing import RoutingError
from workflows.core.settings import MissingSetting, Settings, get_settings, problems, report
from workflows.core.statuses import ItemStatus
from workflows.oncall.rotation import RotationError

DONE, REFUSED, USAGE, PENDING = 0, 1, 2, 3
# The words a job's outcome starts with when it did what was asked (workflows.actions.jobs).
DONE_OUTCOMES = ("success", "confirmed", "already confirmed", "complete", "already complete", "closed", "already closed")
# Outcomes that name a move the command line spells as a flag: the flag is said with them.
ACTOR_HELP = "who acts, as the audit trail names them (default: cli:$USER)"
ARGUMENT_HELP = {"order_id": "the platform's order id, e.g. ORD-10042", "item_id": "the item's id, e.g. ITEM-1",
                 "reference": "the booking system's confirmation number of the booking made by hand"}
FLAG_HINTS = (("complete it without a payment check",
               "to complete it anyway: `syncdesk complete {order} --without-payment-check REASON` (how you checked "
               "the payment; audited)"),)


class CliError(Exception):
    """A mistake or refusal: `message` (what is wrong and what to do) and the exit code."""

    def __init__(self, message: str, code: int = REFUSED) -> None:
        super().__init__(message)
        self.code = code


def unknown_order(order_id: str) -> CliError:
    """The one wording for an order syncdesk has never seen, whatever the command."""
    return CliError(f"order {order_id} is not known to syncdesk (`syncdesk orders` lists the orders it knows)")


MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
WEBHOOK_PATH = "/webhooks/sync-failures"


def _migrate(settings: Settings) -> list[str]:
    """Bring the database to the latest schema, quietly (Alembic's INFO lines are its routine);
    the revisions it applied, oldest first, none when it was at the latest already."""
    alembic_log = logging.getLogger("alembic")
    level = alembic_log.level
    alembic_log.setLevel(logging.WARNING)  # before its imports too: loading its plugins logs
    try:
        from alembic import command
        from alembic.config import Config
        from alembic.runtime.migration import MigrationContext
        from alembic.script import ScriptDirectory

        from workflows.core.db import get_engine

        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.set_main_option("sqlalchemy.url", settings.database_url)
        with get_engine(settings.database_url).connect() as connection:
            before = MigrationContext.configure(connection).get_current_revision()
        command.upgrade(config, "head")
    finally:
        alembic_log.setLevel(level)
    return [step.revision for step in reversed(list(ScriptDirectory.from_config(config).iterate_revisions(
        "head", before)))]


def cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    steps, url = _migrate(settings), _safe_url(settings.database_url)
    if steps:
        print(f"database upgraded to {steps[-1]} ({len(steps)} step{'s' if len(steps) > 1 else ''}: "
              f"{', '.join(steps)}): {url}")
    else:
        print(f"database already at the latest schema: {url}")
    return 0


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from syncdesk.web import ReadyServer, create_app, serves

    args.host = args.host or settings.host
    args.port = settings.port if args.port is None else args.port
    args.workers = args.workers or settings.web_concurrency
    if args.workers > 1:
        if settings.slack_app_token is not None:
            raise CliError("Socket Mode (SLACK_APP_TOKEN) runs in one web process: use --workers 1, or unset "
                           "SLACK_APP_TOKEN and receive Slack at POST /slack/events", USAGE)
        app = create_app(settings)  # fail fast on missing settings before forking
        logging.getLogger("syncdesk.web").info("%s (%d processes)", serves(app, f"http://{args.host}:{args.port}"),
                                               args.workers)
        uvicorn.run("syncdesk.web:create_worker_app", factory=True, workers=args.workers, host=args.host,
                    port=args.port, log_level="warning", access_log=False, log_config=None)
        return DONE
    # With SLACK_APP_TOKEN the app's lifespan connects Socket Mode in the background
    # (bot.slack.socket_mode): Slack being down never keeps the intake webhook from starting.
    # The server says what it serves once it listens.
    ReadyServer(create_app(settings), args.host, args.port).run()
    return DONE


def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    from syncdesk.worker import run_worker

    _require_redis(settings)
    args.processes = settings.worker_processes if args.processes is None else args.processes
    if args.processes < 1:
        raise CliError("--processes must be at least 1", USAGE)
    run_worker(settings, burst=args.burst, processes=args.processes, clock_tick=args.tick if args.clock else None)
    return DONE


def cmd_clock(args: argparse.Namespace, settings: Settings) -> int:
    from syncdesk.worker import run_clock

    _require_redis(settings)
    run_clock(settings, tick=args.tick)
    return DONE


def cmd_embedded_redis(args: argparse.Namespace, settings: Settings) -> int:
    from syncdesk.embedded import EmbeddedRedisError, run_with

    command = args.argv[1:] if args.argv[:1] == ["--"] else args.argv
    # The embedded server stands in for the default REDIS_URL, or for a URL named with --url
    # (test runs ask for one on a port of their own).
    url = args.url or settings.redis_url
    try:
        return run_with(url, Path(args.data_dir), command, **({"default": url} if args.url else {}))
    except EmbeddedRedisError as exc:
        raise CliError(str(exc), USAGE) from exc
    except FileNotFoundError as exc:
        raise CliError(f"cannot run {command[0]!r}: {exc.strerror}", USAGE) from exc


def _require_redis(settings: Settings) -> None:
    from syncdesk.embedded import DEFAULT_REDIS_URL, answers

    if not answers(settings.redis_url):
        hint = ("start one, or run `bash scripts/run.sh`, which starts the embedded one"
                if settings.redis_url == DEFAULT_REDIS_URL else "start it, or point REDIS_URL at a running Redis")
        raise CliError(f"nothing answers at REDIS_URL={_safe_redis(settings.redis_url)}: {hint}")


def _safe_redis(url: str) -> str:
    from syncdesk.embedded import _safe

    return _safe(url)


def _read_failure(path_text: str, fresh: bool) -> bytes:
    path = Path(path_text)
    if path.is_dir():
        examples = sorted(p.name for p in path.glob("*.json"))[:3]
        hint = f", e.g. {path / examples[0]}" if examples else ""
        raise CliError(f"{path} is a directory: name one failure JSON file{hint}", USAGE)
    try:
        body = path.read_bytes()
    except FileNotFoundError:
        raise CliError(f"{path} does not exist: name a failure JSON file (examples/*.json has one per system)",
                       USAGE) from None
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror}", USAGE) from None
    if not fresh:
        return body  # sent as is: the server says what is wrong with it
    try:
        data = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CliError(f"{path} is not valid JSON ({exc}): --fresh needs a failure JSON object", USAGE) from None
    if not isinstance(data, dict):
        raise CliError(f"{path} holds a JSON {type(data).__name__}, not a failure object: --fresh needs one", USAGE)
    data["event_id"] = f"{data.get('event_id', 'evt')}-{int(time.time() * 1000)}"
    return json.dumps(data).encode()


def cmd_ingest(args: argparse.Namespace, settings: Settings) -> int:
    import httpx

    from workflows.core.signature import HEADER, sign

    body = _read_failure(args.file, args.fresh)
    headers = {HEADER: sign(settings.secret("ingest_secret"), body), "Content-Type": "application/json"}
    # The server's base URL or the webhook's own: both post to the webhook
    url = (args.url or settings.syncdesk_url or f"http://127.0.0.1:{settings.port}").rstrip("/")
    url = url.removesuffix(WEBHOOK_PATH)
    try:
        response = httpx.post(url + WEBHOOK_PATH, content=body, headers=headers, timeout=10)
    except httpx.ConnectError:
        raise CliError(f"nothing answers at {url}: start `syncdesk serve` (or `bash scripts/run.sh`), or point "
                       "--url / SYNCDESK_URL at the running server") from None
    except httpx.HTTPError as exc:
        raise CliError(f"posting to {url} failed ({exc.__class__.__name__}: {exc}): is it a syncdesk server?") from None
    print(f"{response.status_code} {response.text}")
    if response.status_code == 401:
        print("syncdesk ingest: the server refused the signature: it must have the same INGEST_SECRET as this shell "
              "(.env)", file=sys.stderr)
    return DONE if response.status_code < 300 else REFUSED


def _since(text: str | None) -> dt.datetime | None:
    if not text:
        return None
    today = dt.datetime.now(dt.timezone.utc).date()
    named = {"today": today, "yesterday": today - dt.timedelta(days=1)}
    if text.lower() in named:
        day = named[text.lower()]
        return dt.datetime(day.year, day.month, day.day, tzinfo=dt.timezone.utc)
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise CliError(f"--since {text!r} is not a date: use YYYY-MM-DD, today or yesterday (UTC)", USAGE) from None
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


def _status(text: str | None) -> str | None:
    from workflows.core import states

    if not text:
        return None
    known = list(states.ORDER_STATUSES) + [states.Q_CREATED, states.Q_PROCESSING, states.Q_SUCCESS,
                                           states.Q_FAILED, states.Q_READY]
    match = next((k for k in known if k.lower() == text.lower()), None)
    if match is None:
        queue = ", ".join(known[len(states.ORDER_STATUSES):])
        raise CliError(f"--status {text!r} is not a status: use a queue status ({queue}) or an order status "
                       f"({', '.join(states.ORDER_STATUSES)})", USAGE)
    return match


def cmd_orders(args: argparse.Namespace, settings: Settings) -> int:
    from workflows.core.db import transaction
    from workflows.orders.lookup import order_queue

    since, status = _since(args.since), _status(args.status)
    with transaction(settings.database_url) as session:
        rows = order_queue(session, status=status, since=since)
    print(f"{'ORDER':<16} {'PLACED':<17} {'STATUS':<12} {'QUEUE':<11} {'ATTEMPTS':>8}  ERROR")
    for row in rows:
        placed = row.placed_at.strftime("%Y-%m-%d %H:%M") if row.placed_at else "-"
        print(f"{row.order_id:<16} {placed:<17} {row.status:<12} {row.queue_status:<11} {row.attempts:>8}  "
              f"{row.error_class or '-'}")
    if not rows:
        print("(no orders)")
    return DONE


def _known_orders(settings: Settings, order_ids: Sequence[str]) -> None:
    from workflows.core.db import transaction
    from workflows.core.models import Order

    with transaction(settings.database_url) as session:
        for order_id in order_ids:
            if session.get(Order, order_id) is None:
                raise unknown_order(order_id)


def cmd_find(args: argparse.Namespace, settings: Settings) -> int:
    """`syncdesk find TEXT`: orders by order id, guest name, e-mail, phone, confirmation number or
    payment reference, newest first (issue 14)."""
    from workflows.orders.search import find_orders

    found = find_orders(settings, " ".join(args.text), args.actor, via="cli")
    if found.problem:
        print(f"syncdesk find: {found.problem}", file=sys.stderr)
        return 2
    print(f"{'ORDER':<16} {'PLACED':<17} {'GUEST':<24} {'STATUS':<12} {'QUEUE':<11} ALERT")
    for row in found.rows:
        placed = row.placed_at.strftime("%Y-%m-%d %H:%M") if row.placed_at else "-"
        print(f"{row.order_id:<16} {placed:<17} {row.guest_name[:24]:<24} {row.status:<12} {row.queue_status:<11} "
              f"{row.alert_state or 'never alerted'}")
    if not found.rows:
        print(f"(no order matches {found.query!r})")
    if found.note:
        print(f"syncdesk find: {found.note}", file=sys.stderr)
    return 0


def cmd_order(args: argparse.Namespace, settings: Settings) -> int:
    from workflows.core.db import transaction
    from workflows.orders.lookup import describe
    from workflows.orders.snapshot import load

    with transaction(settings.database_url) as session:
        snapshot = load(session, args.order_id, guest_details="full")  # the operator sees the guest (issue 28)
    if snapshot is None:
        raise unknown_order(args.order_id)
    print(describe(snapshot))
    return DONE


def cmd_audit(args: argparse.Namespace, settings: Settings) -> int:
    """`syncdesk audit [--order ID…] [--since DATE]`: the audit trail as CSV on stdout, oldest
    first, the notes written in the alerts' threads among it (issue 26.4)."""
    import csv

    from workflows.reports.audit import export

    since = _since(args.since)
    if args.order:
        _known_orders(settings, args.order)
    out = csv.writer(sys.stdout, lineterminator="\n")
    out.writerow(["at", "order_id", "item_id", "actor", "action", "result", "detail"])
    for row in export(settings, args.order or (), since):
        out.writerow([row.at.isoformat(), row.order_id or "", row.item_id or "", row.actor, row.action, row.result,
                      json.dumps(row.detail, ensure_ascii=False, sort_keys=True)])
    return DONE


def _outcome_code(outcome: str) -> int:
    return DONE if outcome.startswith(DONE_OUTCOMES) else REFUSED


def _await_outcome(settings: Settings, job_id: str, wait: float, order_id: str) -> int:
    """Wait up to `wait` s for the job, saying so every few seconds; say at once when no worker
    is listening (the job stays queued and runs when a worker starts, maybe during the wait)."""
    from rq import Worker
    from rq.job import Job

    from workflows.core.queue import get_queue, get_redis

    queue = get_queue(settings, actions=True)
    nobody = Worker.count(queue=queue) == 0
    if nobody:
        print(f"syncdesk: no worker is running on queue {queue.name}: the job is queued and runs when one starts "
              f"(`syncdesk worker`); waiting up to {wait:g} s", file=sys.stderr, flush=True)
    job = Job.fetch(job_id, connection=get_redis(settings.redis_url))
    started = time.monotonic()
    next_report = every = settings.cli_wait_report_seconds
    while (elapsed := time.monotonic() - started) < wait:
        status = job.get_status(refresh=True)
        if status is not None and status.value == "finished":
            outcome = str(job.return_value())
            print(f"outcome: {outcome}")
            for words, hint in FLAG_HINTS:
                if words in outcome:
                    print(f"syncdesk: {hint.format(order=order_id)}", file=sys.stderr)
            return _outcome_code(outcome)
        if status is not None and status.value in ("failed", "stopped", "canceled"):
            print(f"outcome: the job {status.value}; `syncdesk order {order_id}` shows what was recorded")
            return REFUSED
        if elapsed >= next_report:
            print(f"waiting for the worker… {int(elapsed)} s", file=sys.stderr, flush=True)
            next_report += every
        time.sleep(0.2)
    state = job.get_status(refresh=True)
    why = "no worker took it" if nobody and Worker.count(queue=queue) == 0 else "no outcome"
    print(f"syncdesk: {why} within {wait:g} s (the job is {state.value if state else 'gone'}); "
          f"`syncdesk order {order_id}` shows the outcome when it lands", file=sys.stderr)
    return PENDING


def _action_outcome(settings: Settings, ack: object, wait: float, order_id: str) -> int:
    accepted, message, job_id = ack.accepted, ack.message, ack.job_id  # type: ignore[attr-defined]
    if not accepted:
        print(f"syncdesk: {message}", file=sys.stderr)
        return REFUSED
    print(message)
    if not job_id or wait <= 0:
        return DONE
    return _await_outcome(settings, job_id, wait, order_id)


def _perform(settings: Settings, args: argparse.Namespace, move: str, item_id: str | None = None,
             **answers: str | None) -> int:
    """The catalogue's move, as the button does it (an operator at the command line may act),
    then its outcome."""
    from workflows.actions.catalogue import perform
    from workflows.actions.moves import Answers, Move

    ack = perform(settings, Move(move), args.order_id, item_id, args.actor, Answers(**answers))  # type: ignore[arg-type]
    return _action_outcome(settings, ack, args.wait, args.order_id)


def cmd_reprocess(args: argparse.Namespace, settings: Settings) -> int:
    from workflows.core.db import transaction
    from workflows.core.models import Order

    _known_orders(settings, [args.order_id])
    item_ids = [args.item_id] if args.item_id else []
    if not item_ids:
        with transaction(settings.database_url) as session:
            order = session.get(Order, args.order_id)
            assert order is not None
            item_ids = [i.item_id for i in order.items if i.kind != "retail" and i.status == ItemStatus.IN_PROGRESS]
        if not item_ids:
            raise CliError(f"order {args.order_id} has nothing to reprocess: no item is In Progress "
                           f"(`syncdesk order {args.order_id}` shows them)")
    code = DONE
    for item_id in item_ids:
        code = max(code, _perform(settings, args, "reprocess", item_id))
    return code


def cmd_booked_manually(args: argparse.Namespace, settings: Settings) -> int:
    _known_orders(settings, [args.order_id])
    return _perform(settings, args, "booked_manually", args.item_id, reference=args.reference,
                    payment_method=args.payment_method, notes=args.notes)


def cmd_complete(args: argparse.Namespace, settings: Settings) -> int:
    _known_orders(settings, [args.order_id])
    if args.without_payment_check is not None:
        return _perform(settings, args, "complete_unchecked", reason=args.without_payment_check)
    return _perform(settings, args, "mark_complete")


def cmd_close(args: argparse.Namespace, settings: Settings) -> int:
    _known_orders(settings, [args.order_id])
    return _perform(settings, args, "close_order")


def cmd_reconcile(args: argparse.Namespace, settings: Settings) -> int:
    from workflows.reports.reconcile import reconcile

    if args.order:
        _known_orders(settings, args.order)
    report = reconcile(settings, order_ids=args.order or None)
    print(report.render_text())
    return REFUSED if report.mismatches else DONE


def cmd_arrivals(args: argparse.Namespace, settings: Settings) -> int:
    """Check a day's arrivals now and print each property's summary (exit 1 while a problem is
    open), or, with --mark, record that a person checked a line (a problem needs --reason)."""
    import datetime as dt
    from zoneinfo import ZoneInfo

    from syncdesk.surfaces import register_surfaces
    from workflows.arrivals import check
    from workflows.core.models import utcnow

    try:
        day = dt.date.fromisoformat(args.date) if args.date else utcnow().astimezone(
            ZoneInfo(settings.local_timezone)).date()
    except ValueError:
        raise CliError(f"--date {args.date!r} is not YYYY-MM-DD", USAGE) from None
    if not args.mark and not settings.platform_api_url:
        raise CliError("PLATFORM_API_URL is not set: the platform's arrivals cannot be read", USAGE)
    register_surfaces(settings)
    if args.mark:
        order_id, _, item_id = args.mark.partition("/")
        if not item_id:
            raise CliError(f"--mark {args.mark!r}: say ORDER/ITEM, e.g. ORD-10042/ITEM-1", USAGE)
        try:
            summaries = [check.mark_checked(settings, day, order_id, item_id, args.actor, args.reason)]
        except (LookupError, ValueError) as exc:
            raise CliError(str(exc), REFUSED) from None
    else:
        summaries = list(check.check_day(settings, day, prop=args.property).summaries)
    if not summaries:
        print(f"No paid arrivals on {day}{f' at {args.property}' if args.property else ''}.")
    for summary in summaries:
        print(summary.headline())
        for line in summary.lines:
            print(f"  {summary.line_text(line)}")
    return REFUSED if any(s.open_problems for s in summaries) else DONE


def cmd_erase_guest(args: argparse.Namespace, settings: Settings) -> int:
    """Erase a guest's name, e-mail and phone from every order of theirs and rewrite the chat
    messages about them (issue 28); running it again changes nothing."""
    from syncdesk.surfaces import register_surfaces
    from workflows.guests.erasure import erase_guest

    key = " ".join(args.guest).strip()
    register_surfaces(settings)
    report = erase_guest(settings, key, args.actor, include_open=args.include_open)
    if not report.found:
        if report.kind == "order":
            raise CliError(f"{key!r} is no order syncdesk knows, nor an e-mail or phone number: name the guest by "
                           "e-mail, phone or one of their order ids")
        print(f"No order of this guest ({report.kind}) is stored: nothing to erase.")
        return DONE
    for erased in report.erased:
        print(f"erased {erased.order_id}: {erased.describe()}")
    if report.already:
        print(f"already erased: {', '.join(report.already)}")
    for line in report.rewritten:
        print(f"chat messages rewritten: {line}")
    for line in report.problems:
        print(f"chat messages not rewritten yet: {line}", file=sys.stderr)
    if report.kept_open:
        print(f"not erased, an alert is open: {', '.join(report.kept_open)} (book or resolve it first, or "
              "--include-open to erase it anyway: a Reprocess cannot book a guest without a name)", file=sys.stderr)
        return REFUSED
    return PENDING if report.problems else DONE


def cmd_oncall(args: argparse.Namespace, settings: Settings) -> int:
    from zoneinfo import ZoneInfo

    from workflows.core.db import transaction
    from workflows.core.models import utcnow
    from workflows.oncall import rotation as oncall

    rotation = oncall.rotation_for(settings)
    zone = rotation.zone if rotation else ZoneInfo(settings.local_timezone)
    now = utcnow()
    if args.action in ("take", "release") and not args.person:
        raise CliError(f"oncall {args.action}: say who (a Slack or Teams user id), e.g. "
                       f"`syncdesk oncall {args.action} U0ANA`", USAGE)
    with transaction(settings.database_url) as session:
        if args.action == "take":
            try:
                until = oncall.parse_until(args.until, now, zone) if args.until else None
                oncall.take(session, args.person, until, args.actor, now=now, rotation=rotation)
            except ValueError as exc:
                raise CliError(str(exc)) from None  # main says "syncdesk oncall:" before it
        elif args.action == "release":
            oncall.release(session, args.person, args.actor, now=now)
        current, following = oncall.who(session, now, rotation)
        properties = oncall.by_property(session, now, rotation)
    print("\n".join(oncall.lines(current, following, properties, zone)))
    return DONE


def cmd_maintenance(args: argparse.Namespace, settings: Settings) -> int:
    """`syncdesk maintenance [SYSTEM [PROPERTY] FROM-TO REASON | end ID]` (issue 26): the same
    answer as `/syncdesk maintenance` in Slack and Teams."""
    from workflows.outage import maintenance

    said = maintenance.answer(settings, args.words, args.actor)
    if not said.accepted:
        raise CliError(said.message, USAGE if said.usage else REFUSED)
    print(said.message)
    return DONE


def _add_maintenance(sub: argparse._SubParsersAction, actor: str) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("maintenance", help="maintenance windows: list the running and planned ones, set one "
                       "(failures there are held and nobody is paged) or end one early")
    p.add_argument("words", nargs="*", metavar="SYSTEM [PROPERTY] FROM-TO REASON | end ID",
                   help="e.g. `pms HARBOUR 02:00-03:00 \"night audit\"`, `synxis now-2h \"Sabre upgrade\"` (times in "
                        "the property's time zone), or `end 3`; nothing: list them")
    p.add_argument("--actor", default=actor, help=ACTOR_HELP)
    p.set_defaults(func=cmd_maintenance)


def cmd_connectors(args: argparse.Namespace, settings: Settings) -> int:
    from connectors.routing import SYSTEMS
    from workflows.systems import registry

    rows = registry.statuses(settings)
    print(f"{'SYSTEM':<11} {'PROPERTY':<12} {'CONNECTOR':<11} {'MODE':<9} {'OK':<4} MESSAGE")
    for r in rows:
        print(f"{r.system:<11} {r.property or '(all)':<12} {r.connector:<11} "
              f"{'automatic' if r.automatic else 'manual':<9} {'yes' if r.ok else 'NO':<4} {r.message}")
    for system in SYSTEMS:  # a system with no route at all (pms has no built-in default) is shown too
        if not any(r.system == system for r in rows):
            print(f"{system:<11} {'(all)':<12} {'-':<11} {'-':<9} {'-':<4} not routed: name a connector for it in "
                  "CONNECTORS_FILE (README, Booking systems)")
    return DONE if all(r.ok for r in rows) else REFUSED


def cmd_connectors_verify(args: argparse.Namespace, settings: Settings) -> int:
    """`syncdesk connectors verify SYSTEM --sandbox`: make, read back by every key and cancel a test
    booking in the vendor's test environment (workflows/systems/verify.py); exit 0 only if all worked."""
    from workflows.systems.verify import Refused, parse_details, verify

    try:
        arrival = dt.date.fromisoformat(args.arrival) if args.arrival else None
    except ValueError:
        raise CliError(f"--arrival {args.arrival!r} is not a date (YYYY-MM-DD)", USAGE) from None
    try:
        report = verify(settings, args.system, sandbox=args.sandbox, prop=args.property,
                        details=parse_details(args.detail), arrival=arrival)
    except Refused as exc:
        raise CliError(str(exc), USAGE) from None
    print("\n".join(report.lines()))
    return DONE if report.ok else REFUSED


def _add_connectors(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("connectors", help="which connector books each system and property, and whether its "
                       "credentials work; `connectors verify` tests every search key in a vendor's sandbox")
    p.set_defaults(func=cmd_connectors)
    actions = p.add_subparsers(dest="connectors_action", parser_class=_Parser, metavar="[verify]",
                               help="verify: test every search key against a vendor's sandbox (without it: "
                                    "the table of connectors)")
    v = actions.add_parser("verify", help="make a test booking in the vendor's test environment, find it by each "
                           "search key (reference, guest, confirmation number), cancel it; exit 0 only if all work")
    v.add_argument("system", help="synxis, resdiary or pms")
    v.add_argument("--property", help="the property whose route to use (hotel id, restaurant, property code)")
    v.add_argument("--detail", action="append", default=[], metavar="KEY=VALUE",
                   help="an item detail of the test booking, e.g. chain_id=12723 room_code=LUXT (repeatable)")
    v.add_argument("--arrival", help="the test booking's day, YYYY-MM-DD (default: in 30 days)")
    v.add_argument("--sandbox", action="store_true",
                   help="required: the base URL is the vendor's test environment (and listed in SANDBOX_URLS)")
    v.set_defaults(func=cmd_connectors_verify)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("syncdesk")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown (not installed: pip install -e .)"


class _Parser(argparse.ArgumentParser):
    """argparse with one-line mistakes: what is wrong, and where to read how."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(USAGE, f"{self.prog}: {message} (see `{self.prog} --help`)\n")


def _add_processes(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """The long-running processes and their set-up: serve, worker, clock, migrate, embedded-redis."""
    p = sub.add_parser("serve", help="run the web app (intake, Slack, Teams, health, metrics)")
    p.add_argument("--host", help="address to listen on (default: HOST, 127.0.0.1: loopback only)")
    p.add_argument("--port", type=int, help="port to listen on (default: PORT, 8000)")
    p.add_argument("--workers", type=int, help="web processes (default: WEB_CONCURRENCY, 1)")
    p.set_defaults(func=cmd_serve)
    p = sub.add_parser("worker", help="run RQ workers (jobs in the worker process, no fork per job)")
    p.add_argument("--processes", type=int,
                   help="worker processes, run by RQ's worker pool (default: WORKER_PROCESSES, 1)")
    p.add_argument("--burst", action="store_true", help="stop when the queues are empty")
    p.add_argument("--clock", action="store_true",
                   help="also run the clock here, between jobs (one-process setups; else run `syncdesk clock`)")
    p.add_argument("--tick", type=float, default=5.0, help="with --clock: seconds between clock ticks")
    p.set_defaults(func=cmd_worker)
    p = sub.add_parser("clock", help="run the clock: outbox drain, poller, checks, daily jobs, scheduled jobs")
    p.add_argument("--tick", type=float, default=5.0, help="seconds between clock ticks")
    p.set_defaults(func=cmd_clock)
    sub.add_parser("migrate", help="bring the database schema to the latest version").set_defaults(func=cmd_migrate)
    p = sub.add_parser("embedded-redis", help="run COMMAND with Redis answering at REDIS_URL: the embedded one "
                       "(Valkey) when nothing answers at the default URL; stopped when COMMAND ends")
    p.add_argument("--data-dir", default=".syncdesk/redis", help="where the embedded server keeps its files")
    p.add_argument("--url", help="stand in for this loopback URL instead of the default REDIS_URL (tests)")
    p.add_argument("argv", nargs=argparse.REMAINDER, metavar="-- COMMAND",
                   help="the command to run, with its arguments (default: run until interrupted)")
    p.set_defaults(func=cmd_embedded_redis)


def _add_reads(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """What only reads, or posts a test failure: ingest, orders, order, audit, reconcile."""
    p = sub.add_parser("ingest", help="sign and post a failure JSON file to a running server")
    p.add_argument("file", help="the failure JSON (examples/*.json has one per system)")
    p.add_argument("--url", help="the server: its base URL or the webhook's full URL (default: SYNCDESK_URL, else "
                   "http://127.0.0.1:PORT)")
    p.add_argument("--fresh", action="store_true", help="give the event a new event_id (demos)")
    p.set_defaults(func=cmd_ingest)
    p = sub.add_parser("orders", help="the order queue")
    p.add_argument("--status", help="queue status (created, processing, success, failed, ready) or order status")
    p.add_argument("--since", help="placed on or after this day: YYYY-MM-DD, today or yesterday (UTC)")
    p.set_defaults(func=cmd_orders)
    p = sub.add_parser("order", help="one order with its attempts and audit trail")
    p.add_argument("order_id", help="the platform's order id, e.g. ORD-10042")
    p.set_defaults(func=cmd_order)
    p = sub.add_parser("audit", help="the audit trail as CSV, oldest first, with the notes written in the alerts' "
                       "threads (the audit export)")
    p.add_argument("--order", action="append", help="only this order (repeatable)")
    p.add_argument("--since", help="from this day on: YYYY-MM-DD, today or yesterday (UTC)")
    p.set_defaults(func=cmd_audit)
    p = sub.add_parser("reconcile", help="compare syncdesk, the platform and Stripe; list every mismatch (read-only)")
    p.add_argument("--order", action="append", help="only this order (repeatable)")
    p.set_defaults(func=cmd_reconcile)


def _add_moves(sub: argparse._SubParsersAction, actor: str) -> None:  # type: ignore[type-arg]
    """The staff moves, each enqueueing the same job as its button."""
    for name, func, extra in (
        ("reprocess", cmd_reprocess, ("order_id", "item_id?")),
        ("booked-manually", cmd_booked_manually, ("order_id", "item_id", "reference")),
        ("complete", cmd_complete, ("order_id",)),
        ("close", cmd_close, ("order_id",)),
    ):
        p = sub.add_parser(name, help=f"{name.replace('-', ' ')} (enqueues the same job as the button)")
        for arg in extra:
            if arg.endswith("?"):
                p.add_argument(arg[:-1], nargs="?", help=ARGUMENT_HELP[arg[:-1]] + " (default: every item In Progress)")
            else:
                p.add_argument(arg, help=ARGUMENT_HELP[arg])
        p.add_argument("--actor", default=actor, help=ACTOR_HELP)
        p.add_argument("--wait", type=float, default=30.0, help="seconds to wait for the outcome (0: don't)")
        if name == "booked-manually":
            p.add_argument("--payment-method", help="EMS Premier: where the deposit was assigned")
            p.add_argument("--notes", help="anything the next person should know (shown in the order's history)")
        if name == "complete":
            p.add_argument("--without-payment-check", metavar="REASON",
                           help="when syncdesk cannot check the payment (not Stripe, or no STRIPE_API_KEY): "
                                "complete anyway, saying how you checked it (audited)")
        p.set_defaults(func=func)


def _add_oncall(sub: argparse._SubParsersAction, actor: str) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("oncall", help="who is on call now and next; take or release an override")
    p.add_argument("action", nargs="?", choices=("show", "take", "release"), default="show",
                   help="show (default), take the rotation until UNTIL, or release an override")
    p.add_argument("person", nargs="?", help="Slack or Teams user id")
    p.add_argument("until", nargs="?", help="18:00, 2h, or 2026-11-23 18:00 (default: the next hand-off)")
    p.add_argument("--actor", default=actor, help=ACTOR_HELP)
    p.set_defaults(func=cmd_oncall)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="syncdesk", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"syncdesk {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    actor = f"cli:{os.environ.get('USER', 'operator')}"
    # The order of `syncdesk --help`: processes, reads, moves, then the operator's commands.
    _add_processes(sub)
    _add_reads(sub)
    _add_find(sub, actor)
    _add_moves(sub, actor)
    _add_connectors(sub)
    _add_arrivals(sub, actor)
    _add_config(sub)
    _add_erase_guest(sub, actor)
    _add_oncall(sub, actor)
    _add_maintenance(sub, actor)
    return parser


def _database_problem(settings: Settings, exc: SQLAlchemyError) -> str:
    """One line for a database error: never migrated, unreachable, or something else."""
    from sqlalchemy import inspect
    from sqlalchemy.exc import OperationalError

    from workflows.core.db import get_engine

    url = _safe_url(settings.database_url)
    try:
        migrated = inspect(get_engine(settings.database_url)).has_table("alembic_version")
    except SQLAlchemyError:
        first = str(getattr(exc, "orig", exc)).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
        if isinstance(exc, OperationalError):
            return f"the database at {url} does not answer ({first}): start it, or check DATABASE_URL"
        return f"database error at {url}: {first}"
    if not migrated:
        return f"the database at {url} has no syncdesk tables yet: run `syncdesk migrate`"
    first = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
    return f"database error at {url} ({first}): if syncdesk was upgraded, run `syncdesk migrate`"


def _add_arrivals(sub: argparse._SubParsersAction, actor: str) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("arrivals", help="check that each paid arrival of a day is booked in its system (and post "
                       "each property's summary); or --mark a line checked")
    p.add_argument("--date", help="YYYY-MM-DD (default: today in LOCAL_TIMEZONE)")
    p.add_argument("--property", help="only this property (as the items' details name it)")
    p.add_argument("--mark", metavar="ORDER/ITEM", help="record that you checked this line (a manual system's "
                   "arrival, or a problem that is fine: then say why with --reason)")
    p.add_argument("--reason", help="why a problem is fine (audited)")
    p.add_argument("--actor", default=actor, help=ACTOR_HELP)
    p.set_defaults(func=cmd_arrivals)


def _add_erase_guest(sub: argparse._SubParsersAction, actor: str) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("erase-guest", help="erase a guest's name, e-mail and phone from every order of theirs, "
                       "and from the chat messages about them (data protection; audited without the values)")
    p.add_argument("guest", nargs="+", metavar="EMAIL|PHONE|ORDER-ID",
                   help="the guest's e-mail or phone, or one of their order ids")
    p.add_argument("--include-open", action="store_true",
                   help="also erase orders whose alert is still open (their booking can then not be made "
                        "automatically)")
    p.add_argument("--actor", default=actor, help=ACTOR_HELP)
    p.set_defaults(func=cmd_erase_guest)


def cmd_config(args: argparse.Namespace) -> int:
    """`syncdesk config`: every setting, its value (secrets masked), where it came from and
    whether it is valid; exit 2 when one is not."""
    path, lines = report()
    print(f"settings from the environment, {path} and the defaults" if path else
          "settings from the environment and the defaults (no .env in this directory or the project's)")
    width = max(len(line.name) for line in lines)
    print(f"{'SETTING':<{width}}  {'SOURCE':<11}  {'OK':<3}  VALUE")
    for line in lines:
        if args.name and not any(n.upper() in line.name for n in args.name):
            continue
        print(f"{line.name:<{width}}  {line.source:<11}  {'BAD' if line.problem else 'ok':<3}  {line.value}"
              + (f"  (accepts {line.problem})" if line.problem else ""))
    bad = [line.name for line in lines if line.problem]
    if bad:
        print(f"syncdesk config: bad setting{'s' if len(bad) > 1 else ''}: {', '.join(bad)} (marked BAD: fix "
              f"{'them' if len(bad) > 1 else 'it'} in the environment or {path or '.env'})", file=sys.stderr)
    return USAGE if bad else DONE


def _add_config(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("config", help="every setting: its value (secrets masked), where it came from "
                       "(environment, .env, default) and whether it is valid")
    p.add_argument("name", nargs="*", help="only the settings whose name contains this (e.g. SLACK)")
    p.set_defaults(func=cmd_config)


def _add_find(sub: argparse._SubParsersAction, actor: str) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("find", help="orders by order id, guest name, e-mail, phone, confirmation number or payment "
                       "reference")
    p.add_argument("text", nargs="*", help="what to look for (a prefix; a phone number matches its last 6 digits or "
                   "more)")
    p.add_argument("--actor", default=actor, help=ACTOR_HELP)
    p.set_defaults(func=cmd_find)


def main(argv: Sequence[str] | None = None, *, own_process: bool = True) -> int:
    """Run one `syncdesk` command and return its exit code. `own_process=False` leaves this
    process's logging and signal handlers alone (the tests run commands in their own process)."""
    args = build_parser().parse_args(argv)
    if args.command == "config":  # shows bad settings rather than stopping at them
        return cmd_config(args)
    try:
        settings = get_settings()
    except ValidationError as exc:
        for line in problems(exc):  # one line per bad setting: its name, what it got, what it accepts
            print(f"syncdesk: {line}", file=sys.stderr)
        return USAGE
    if own_process:
        from syncdesk.logs import configure

        configure(settings.log_level, settings.log_format)
        # `kill -USR1 <pid>` prints every thread's stack to stderr: how to see where a worker or
        # the web process is stuck without stopping it.
        faulthandler.register(signal.SIGUSR1, all_threads=True)
    command = args.command
    try:
        return args.func(args, settings)
    except CliError as exc:
        print(f"syncdesk {command}: {exc}", file=sys.stderr)
        return exc.code
    except (MissingSetting, RoutingError) as exc:
        print(f"syncdesk: {exc}", file=sys.stderr)
        return USAGE
    except RotationError as exc:
        print(f"syncdesk {command}: {exc}: fix ONCALL_FILE (examples/oncall.yml shows the format)", file=sys.stderr)
        return USAGE
    except SQLAlchemyError as exc:
        print(f"syncdesk {command}: {_database_problem(settings, exc)}", file=sys.stderr)
        return REFUSED
    except RedisError as exc:
        print(f"syncdesk {command}: Redis at REDIS_URL={_safe_redis(settings.redis_url)} does not answer "
              f"({exc.__class__.__name__}): start it, or run `bash scripts/run.sh`", file=sys.stderr)
        return REFUSED
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
