"""The `syncdesk` command as an operator uses it: ingest, orders, order, and fail-fast
settings. Commands run in this process (`run_cli`); those whose start-up is the subject
(serve, worker) run as subprocesses."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import EXAMPLES, post_failure, run_cli, settings_env
from workflows.core.settings import Settings

syncdesk = run_cli  # the command's own code, in this process (tests/conftest.py)


def test_ingest_then_orders_lists_it_and_order_tells_its_story(settings, live_app):
    env = settings_env(settings)
    posted = syncdesk(env, "ingest", str(EXAMPLES / "synxis-timeout.json"), "--url", live_app.url)
    assert posted.returncode == 0, posted.stdout + posted.stderr
    assert posted.stdout.startswith("202 ")

    listing = syncdesk(env, "orders")
    assert listing.returncode == 0, listing.stderr
    row = next(line for line in listing.stdout.splitlines() if line.startswith("ORD-10042"))
    assert row.split()[3:] == ["In", "Progress", "failed", "1", "timeout"]

    assert "ORD-10042" not in syncdesk(env, "orders", "--status", "success").stdout
    assert "ORD-10042" in syncdesk(env, "orders", "--status", "failed").stdout
    assert "ORD-10042" not in syncdesk(env, "orders", "--since", "2026-11-23").stdout

    story = syncdesk(env, "order", "ORD-10042")
    assert story.returncode == 0
    assert "attempt 1 failed by platform" in story.stdout
    assert "intake.failure" in story.stdout and "alert.created" in story.stdout


def test_ingest_twice_is_a_duplicate_unless_fresh(settings, live_app):
    env = settings_env(settings)
    example = str(EXAMPLES / "premier-spa.json")
    assert syncdesk(env, "ingest", example, "--url", live_app.url).stdout.startswith("202 ")
    assert '"duplicate":true' in syncdesk(env, "ingest", example, "--url", live_app.url).stdout
    assert syncdesk(env, "ingest", example, "--fresh", "--url", live_app.url).stdout.startswith("202 ")


def test_unknown_order_is_a_clear_error(settings):
    result = syncdesk(settings_env(settings), "order", "ORD-NOPE")
    assert result.returncode == 1
    assert "ORD-NOPE is not known" in result.stderr


def test_missing_ingest_secret_fails_at_start_naming_it(settings, tmp_path):
    env = settings_env(settings)
    del env["INGEST_SECRET"]
    (tmp_path / ".env").write_text("")  # the .env read (else the project's, which may hold the secret)
    result = subprocess.run([sys.executable, "-m", "syncdesk.cli", "serve", "--port", "0"], env=env,
                            cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip() == ("syncdesk: missing required setting: INGEST_SECRET (set it in the environment "
                                     "or in .env)")


def test_secrets_never_appear_in_settings_repr():
    s = Settings(_env_file=None, ingest_secret="s3cr3t-ingest", slack_bot_token="xoxb-s3cr3t",
                 stripe_api_key="sk_test_s3cr3t")
    assert "s3cr3t" not in repr(s) and "s3cr3t" not in str(s.model_dump())


def test_bad_connectors_file_stops_the_start_naming_the_entry(settings, tmp_path):
    routing = tmp_path / "connectors.yml"
    routing.write_text("premier:\n  properties:\n    MAINSPA: pmss\n")
    env = settings_env(settings) | {"CONNECTORS_FILE": str(routing)}
    result = subprocess.run([sys.executable, "-m", "syncdesk.cli", "worker", "--burst"], env=env, cwd=tmp_path,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "premier.properties.MAINSPA" in result.stderr and "pmss" in result.stderr


def test_connectors_lists_the_routing(settings, tmp_path):
    routing = tmp_path / "connectors.yml"
    routing.write_text("premier:\n  default: premier\n")
    env = settings_env(settings) | {"CONNECTORS_FILE": str(routing)}
    result = syncdesk(env, "connectors")
    assert "premier" in result.stdout and "manual" in result.stdout


# -- issue 16: every mistake is one line saying what to do, with an exit code -------------

def one_line(result: subprocess.CompletedProcess[str]) -> str:
    """The mistake: exactly one line on stderr, no traceback."""
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_version_comes_from_the_package_metadata():
    from importlib.metadata import version

    result = syncdesk({**__import__("os").environ}, "--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"syncdesk {version('syncdesk')}"


def test_ingest_mistakes_say_what_to_do(settings, tmp_path):
    env = settings_env(settings)
    missing = syncdesk(env, "ingest", "examples/nope.json")
    assert missing.returncode == 2
    assert one_line(missing) == ("syncdesk ingest: examples/nope.json does not exist: name a failure JSON file "
                                 "(examples/*.json has one per system)")
    folder = syncdesk(env, "ingest", "examples")
    assert folder.returncode == 2
    assert one_line(folder).startswith("syncdesk ingest: examples is a directory: name one failure JSON file, e.g. ")
    down = syncdesk(env, "ingest", str(EXAMPLES / "synxis-timeout.json"), "--url", "http://127.0.0.1:9")
    assert down.returncode == 1
    assert one_line(down).startswith("syncdesk ingest: nothing answers at http://127.0.0.1:9: start `syncdesk serve`")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    malformed = syncdesk(env, "ingest", str(bad), "--fresh")
    assert malformed.returncode == 2
    assert "is not valid JSON" in one_line(malformed) and "--fresh needs a failure JSON object" in malformed.stderr


def test_orders_since_and_status_are_checked(settings):
    env = settings_env(settings)
    for day in ("today", "yesterday", "2026-11-23"):
        result = syncdesk(env, "orders", "--since", day)
        assert result.returncode == 0, result.stderr
        assert result.stdout.splitlines()[0].startswith("ORDER")
    bad_day = syncdesk(env, "orders", "--since", "last week")
    assert bad_day.returncode == 2
    assert one_line(bad_day) == ("syncdesk orders: --since 'last week' is not a date: use YYYY-MM-DD, today or "
                                 "yesterday (UTC)")
    bogus = syncdesk(env, "orders", "--status", "bogus")
    assert bogus.returncode == 2
    line = one_line(bogus)
    assert line.startswith("syncdesk orders: --status 'bogus' is not a status: use a queue status (")
    assert "failed" in line and "In Progress" in line
    assert "(no orders)" not in bogus.stdout


def test_unknown_orders_are_worded_alike_everywhere(settings):
    env = settings_env(settings)
    expected = ("order ORD-NOPE is not known to syncdesk (`syncdesk orders` lists the orders it knows)")
    for args in (("order", "ORD-NOPE"), ("reprocess", "ORD-NOPE"), ("booked-manually", "ORD-NOPE", "ITEM-1", "X123"),
                 ("complete", "ORD-NOPE"), ("reconcile", "--order", "ORD-NOPE")):
        result = syncdesk(env, *args)
        assert result.returncode == 1, args
        assert one_line(result) == f"syncdesk {args[0]}: {expected}", args


def test_reprocess_refuses_test_orders_and_systems_without_a_booking_api(settings, live_app):
    from tests.workflows.intake.test_intake import payload
    from workflows.core.db import transaction
    from workflows.core.models import AuditEvent
    from sqlalchemy import select

    env = settings_env(settings)
    assert syncdesk(env, "ingest", str(EXAMPLES / "test-order.json"), "--url", live_app.url).returncode == 0
    test_order = syncdesk(env, "reprocess", "ORD-TEST-0007", "ITEM-1")
    assert test_order.returncode == 1
    assert one_line(test_order) == "syncdesk: Order ORD-TEST-0007 is a Test order: syncdesk never books Test orders."

    # An EMS Premier item failing with a transient error (a timeout): no automatic retry either.
    spa = payload(event_id="evt_spa_timeout", order__id="ORD-SPA-1", order__items__0__system="premier",
                  order__items__0__kind="spa", failure__system="premier", failure__code="timeout",
                  failure__message="Read timed out")
    assert post_failure(live_app.url, spa).status_code == 202
    premier = syncdesk(env, "reprocess", "ORD-SPA-1", "ITEM-1", "--wait", "0")
    assert premier.returncode == 1
    assert one_line(premier) == ("syncdesk: EMS Premier has no booking API, so Reprocess cannot book ITEM-1: book it "
                                 "by hand (the alert lists the steps), then use Booked manually.")
    with transaction(settings.database_url) as session:
        actions = set(session.scalars(select(AuditEvent.action).where(AuditEvent.order_id == "ORD-SPA-1")))
    assert "retry.scheduled" not in actions and "click.reprocess" not in actions


def test_without_a_worker_reprocess_says_so_at_once_and_waits_visibly(settings, live_app):
    env = settings_env(settings)
    syncdesk(env, "ingest", str(EXAMPLES / "synxis-timeout.json"), "--url", live_app.url)
    result = syncdesk(env, "reprocess", "ORD-10042", "ITEM-1", "--wait", "2")
    assert result.returncode == 3
    assert result.stdout.strip() == "Reprocess queued."
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines() == [
        f"syncdesk: no worker is running on queue {settings.queue_name}-actions: the job is queued and runs when "
        "one starts (`syncdesk worker`); waiting up to 2 s",
        "waiting for the worker… 1 s",
        "syncdesk: no worker took it within 2 s (the job is queued); `syncdesk order ORD-10042` shows the outcome "
        "when it lands"]


def test_a_busy_worker_gets_a_visible_wait(settings, live_app):
    from rq import Worker

    from workflows.core.queue import get_queues, get_redis

    env = settings_env(settings)
    syncdesk(env, "ingest", str(EXAMPLES / "synxis-timeout.json"), "--url", live_app.url)
    # A worker RQ knows of (registered) that takes nothing: the CLI waits, saying so.
    idle = Worker(get_queues(settings), connection=get_redis(settings.redis_url), name="registered-not-working")
    idle.register_birth()
    try:
        result = syncdesk(env, "reprocess", "ORD-10042", "ITEM-1", "--wait", "2")
    finally:
        idle.register_death()
    assert result.returncode == 3
    lines = result.stderr.splitlines()
    assert lines[0] == "waiting for the worker… 1 s"
    assert lines[-1] == ("syncdesk: no outcome within 2 s (the job is queued); `syncdesk order ORD-10042` shows "
                         "the outcome when it lands")


def test_outcomes_map_to_exit_codes_and_name_the_missing_setting(settings, live_app, worker_factory):
    env = settings_env(settings)
    assert "STRIPE_API_KEY" not in env
    worker_factory(settings)
    syncdesk(env, "ingest", str(EXAMPLES / "synxis-timeout.json"), "--url", live_app.url)
    failed = syncdesk(env, "reprocess", "ORD-10042", "ITEM-1")  # no SynXis credentials here
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert failed.stdout.splitlines()[-1] == (
        "outcome: failed: no_connector: the synxis connector is not configured (missing required settings: "
        "SYNXIS_API_URL, SYNXIS_TOKEN_URL, SYNXIS_CLIENT_ID, SYNXIS_CLIENT_SECRET (set them in the environment or in "
        ".env)): book it by hand, then use Booked manually")
    # No PLATFORM_API_URL: done in syncdesk, and the outcome says the platform was not told.
    booked = syncdesk(env, "booked-manually", "ORD-10042", "ITEM-1", "ABC12345")
    assert booked.returncode == 0, booked.stdout + booked.stderr
    assert booked.stdout.splitlines()[-1] == (
        "outcome: confirmed: ABC12345; the platform was not updated (PLATFORM_API_URL is not set): set ITEM-1 "
        "Confirmed (ABC12345) there by hand")
    complete = syncdesk(env, "complete", "ORD-10042")
    assert complete.returncode == 1, complete.stdout + complete.stderr
    assert complete.stdout.splitlines()[-1] == ("outcome: refused: payment unknown (STRIPE_API_KEY is not set: "
                                                "check the payment in the platform by hand); complete it without "
                                                "a payment check, giving a reason")
    assert complete.stderr.splitlines()[-1] == (
        "syncdesk: to complete it anyway: `syncdesk complete ORD-10042 --without-payment-check REASON` (how you "
        "checked the payment; audited)")
    unchecked = syncdesk(env, "complete", "ORD-10042", "--without-payment-check", "seen settled in the PSP")
    assert unchecked.returncode == 0, unchecked.stdout + unchecked.stderr
    assert unchecked.stdout.splitlines()[-1] == (
        "outcome: complete; the platform was not updated (PLATFORM_API_URL is not set): set order ORD-10042 "
        "Complete there by hand")


def test_connectors_lists_pms_even_without_a_route(settings):
    result = syncdesk(settings_env(settings), "connectors")
    pms = next(line for line in result.stdout.splitlines() if line.startswith("pms "))
    assert "not routed: name a connector for it in CONNECTORS_FILE" in pms


def test_a_never_migrated_database_says_run_migrate(settings, tmp_path):
    env = settings_env(settings) | {"DATABASE_URL": f"sqlite:///{tmp_path / 'empty.db'}"}
    for args in (("orders",), ("oncall",), ("order", "ORD-1")):
        result = syncdesk(env, *args)
        assert result.returncode == 1, args
        assert one_line(result) == (f"syncdesk {args[0]}: the database at sqlite:///{tmp_path / 'empty.db'} has no "
                                    "syncdesk tables yet: run `syncdesk migrate`")


def test_oncall_shows_each_property_with_its_own_calendar_after_the_weekly_rotation(settings, tmp_path):
    from tests.workflows.oncall.test_calendars import harbour_on_call_now

    rotation, harbour = harbour_on_call_now(tmp_path)
    result = syncdesk(settings_env(settings) | {"ONCALL_FILE": str(rotation)}, "oncall")
    assert result.returncode == 0, result.stderr
    weekly, heading, line = result.stdout.splitlines()
    assert weekly.startswith("On call now: ") and " Next: " in weekly
    assert heading == "Properties with their own on-call calendar:"
    assert line in (harbour.format("Ana Lopez"), harbour.format("Ben Okafor"))  # the week's turn next


def test_a_missing_oncall_file_is_named(settings, tmp_path):
    env = settings_env(settings) | {"ONCALL_FILE": str(tmp_path / "nope.yml")}
    result = syncdesk(env, "oncall")
    assert result.returncode == 2
    assert one_line(result) == (f"syncdesk oncall: ONCALL_FILE {tmp_path / 'nope.yml'} does not exist: fix ONCALL_FILE "
                                "(examples/oncall.yml shows the format)")


def test_a_wrong_redis_url_is_one_line(settings):
    env = settings_env(settings) | {"REDIS_URL": "redis://127.0.0.1:9/0"}
    result = syncdesk(env, "worker", "--burst")
    assert result.returncode == 1
    assert one_line(result) == ("syncdesk worker: nothing answers at REDIS_URL=redis://127.0.0.1:9/0: start it, or "
                                "point REDIS_URL at a running Redis")

def test_find_lists_the_orders_of_a_guest_and_refuses_empty_text(settings, live_app):
    env = settings_env(settings)
    assert syncdesk(env, "ingest", str(EXAMPLES / "synxis-timeout.json"), "--url", live_app.url).returncode == 0
    listing = syncdesk(env, "find", "walker")
    assert listing.returncode == 0, listing.stderr
    [row] = [line for line in listing.stdout.splitlines() if line.startswith("ORD-")]
    assert row.split()[0] == "ORD-10042" and "Larry Walker" in row and row.endswith("open")
    empty = syncdesk(env, "find")
    assert empty.returncode == 2 and "Say what to find" in empty.stderr


# -- issue 27: CLI answers that tell the whole story ---------------------------------------

def test_ingest_takes_the_base_url_or_the_webhooks_full_url(settings, live_app):
    env = settings_env(settings)
    full = syncdesk(env, "ingest", str(EXAMPLES / "synxis-timeout.json"), "--url",
                    f"{live_app.url}/webhooks/sync-failures")
    assert full.returncode == 0 and full.stdout.startswith("202 "), full.stdout + full.stderr
    base = syncdesk(env, "ingest", str(EXAMPLES / "premier-spa.json"), "--url", f"{live_app.url}/")
    assert base.returncode == 0 and base.stdout.startswith("202 "), base.stdout + base.stderr


def test_ingest_posts_to_port_by_default(settings, live_app):
    env = settings_env(settings) | {"PORT": str(live_app.port)}
    env.pop("SYNCDESK_URL", None)
    posted = syncdesk(env, "ingest", str(EXAMPLES / "synxis-timeout.json"))
    assert posted.returncode == 0 and posted.stdout.startswith("202 "), posted.stdout + posted.stderr


def test_every_argument_of_every_command_has_help():
    import argparse

    from syncdesk.cli import build_parser

    parser = build_parser()
    [commands] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    helped = {c.dest for c in commands._choices_actions if c.help}
    assert set(commands.choices) <= helped, set(commands.choices) - helped
    missing = [f"{name} {a.dest}" for name, sub in commands.choices.items() for a in sub._actions
               if not isinstance(a, argparse._HelpAction) and not a.help]
    assert missing == []


def test_a_payment_method_that_is_not_one_is_named(settings, live_app):
    env = settings_env(settings)
    assert syncdesk(env, "ingest", str(EXAMPLES / "premier-spa.json"), "--url", live_app.url).returncode == 0
    order = next(line.split()[0] for line in syncdesk(env, "orders").stdout.splitlines()[1:])
    result = syncdesk(env, "booked-manually", order, "ITEM-1", "PRM-1", "--payment-method", "Deposit", "--wait", "0")
    assert result.returncode == 1
    assert one_line(result) == ("syncdesk: 'Deposit' is not an EMS Premier payment method: name the one the deposit "
                                "was assigned to (onejourney / ecommerce / revspa).")


def test_a_closed_redis_port_names_redis_url(settings, live_app):
    env = settings_env(settings)
    assert syncdesk(env, "ingest", str(EXAMPLES / "synxis-timeout.json"), "--url", live_app.url).returncode == 0
    result = syncdesk(env | {"REDIS_URL": "redis://127.0.0.1:9/0"}, "reprocess", "ORD-10042", "ITEM-1")
    assert result.returncode == 1
    assert one_line(result) == ("syncdesk: The job queue is unavailable right now (Redis at REDIS_URL does not "
                                "answer); nothing was started. Try again in a minute; if it lasts, check that Redis "
                                "runs at REDIS_URL.")


def test_find_matches_order_id_prefixes_and_says_the_phone_minimum(settings, live_app):
    env = settings_env(settings)
    assert syncdesk(env, "ingest", str(EXAMPLES / "synxis-timeout.json"), "--url", live_app.url).returncode == 0
    by_id = syncdesk(env, "find", "ORD-100")
    assert by_id.returncode == 0, by_id.stderr
    assert [line.split()[0] for line in by_id.stdout.splitlines()[1:]] == ["ORD-10042"]
    short = syncdesk(env, "find", "4567")
    assert short.returncode == 0
    assert short.stdout.splitlines()[-1] == "(no order matches '4567')"
    assert one_line(short) == "syncdesk find: a phone number is matched by its last 6 digits or more ('4567' has 4)"


def test_migrate_is_quiet_and_says_what_it_changed(tmp_path):
    """The process (its logging is the subject): Alembic's routine lines are not shown."""
    import re

    db = tmp_path / "fresh.db"
    env = {"PATH": __import__("os").environ["PATH"], "DATABASE_URL": f"sqlite:///{db}"}
    (tmp_path / ".env").write_text("")
    first = subprocess.run([sys.executable, "-m", "syncdesk.cli", "migrate"], env=env, cwd=tmp_path,
                           capture_output=True, text=True, timeout=60)
    assert first.returncode == 0 and first.stderr == "", first.stderr
    assert re.fullmatch(rf"database upgraded to (\d{{4}}) \((\d+) steps: 0001, [\d, ]+\): sqlite:///{db}\n",
                        first.stdout), first.stdout
    again = subprocess.run([sys.executable, "-m", "syncdesk.cli", "migrate"], env=env, cwd=tmp_path,
                           capture_output=True, text=True, timeout=60)
    assert (again.returncode, again.stderr, again.stdout) == (
        0, "", f"database already at the latest schema: sqlite:///{db}\n")


def test_an_oncall_mistake_is_said_once_without_a_doubled_prefix(settings):
    result = syncdesk(settings_env(settings), "oncall", "take", "U0ANA", "someday")
    assert result.returncode == 1
    assert one_line(result) == "syncdesk oncall: cannot read 'someday' as a time: say 18:00, 2h or 2026-11-23 18:00"
