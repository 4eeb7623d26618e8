"""What the processes log: one line per request (not for /healthz), JSON when asked, the
clock's routine at DEBUG, and "would post" lines that say what failed and which buttons."""

from __future__ import annotations

import json
import logging
import re
import subprocess
import sys
import time

import httpx

from bot.log import LogNotifier
from syncdesk.logs import RoutineToDebug
from tests.conftest import ROOT, free_port, post_failure, settings_env, wait_for
from tests.workflows.intake.test_intake import payload
from workflows.core.db import transaction
from workflows.orders.snapshot import load


def test_every_request_but_healthz_is_one_line(live_app, caplog):
    caplog.set_level(logging.INFO, logger="syncdesk.http")
    assert post_failure(live_app.url, payload()).status_code == 202
    assert post_failure(live_app.url, b"{not json").status_code == 400
    assert post_failure(live_app.url, payload(), signature="").status_code == 401
    httpx.get(f"{live_app.url}/healthz", timeout=5)
    httpx.get(f"{live_app.url}/readyz", timeout=5)

    def logged() -> list[str]:
        return [r.getMessage() for r in caplog.records if r.name == "syncdesk.http" and r.levelno == logging.INFO]
    # the line is written once the response has gone out, so the client can read it first
    wait_for(lambda: len(logged()) >= 4, timeout=5)
    time.sleep(0.1)  # a stray /healthz line would have arrived by now
    lines = logged()
    assert [re.sub(r" \d+\.\dms", "", line) for line in lines] == [
        "POST /webhooks/sync-failures 202 order=ORD-10042",
        "POST /webhooks/sync-failures 400 reason=malformed JSON (Invalid JSON: key must be a string at line 1 column 2)",
        "POST /webhooks/sync-failures 401 reason=missing X-Syncdesk-Signature header",
        "GET /readyz 200"]
    assert lines[0].split()[3].endswith("ms")


def test_a_body_too_large_is_logged_with_its_reason_and_counted(live_app, settings, caplog):
    """Issue 27: the 413 answered before the intake ran was missing from syncdesk_intake_seconds."""
    from prometheus_client import REGISTRY

    def count() -> float:
        return REGISTRY.get_sample_value("syncdesk_intake_seconds_count", {"status": "413"}) or 0.0

    before = count()
    caplog.set_level(logging.INFO, logger="syncdesk.http")
    assert post_failure(live_app.url, payload(failure__log="x" * (300 * 1024))).status_code == 413
    wait_for(lambda: any(r.name == "syncdesk.http" for r in caplog.records), timeout=5)
    [line] = [r.getMessage() for r in caplog.records if r.name == "syncdesk.http"]
    assert re.sub(r" \d+\.\dms", "", line) == ("POST /webhooks/sync-failures 413 reason=body larger than "
                                                 f"{settings.ingest_max_bytes} bytes")
    assert count() - before == 1


def test_log_format_json_gives_one_object_per_line(settings):
    port = free_port()
    env = settings_env(settings) | {"LOG_FORMAT": "json", "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "syncdesk.cli", "serve", "--port", str(port)], env=env, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        def up() -> bool:
            try:
                return httpx.get(f"{url}/healthz", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False
        wait_for(up, timeout=30)
        assert post_failure(url, payload(event_id="evt_json_log")).status_code == 202
        time.sleep(0.2)
    finally:
        proc.terminate()
        output = proc.communicate(timeout=20)[0].decode()
    records = [json.loads(line) for line in output.splitlines() if line.strip()]
    [intake] = [r for r in records if r.get("path") == "/webhooks/sync-failures"]
    assert intake["logger"] == "syncdesk.http" and intake["level"] == "INFO"
    assert intake["method"] == "POST" and intake["status"] == 202 and intake["order_id"] == "ORD-10042"
    assert isinstance(intake["duration_ms"], float)
    assert not [r for r in records if r.get("path") == "/healthz" and r["level"] == "INFO"]


def test_the_clocks_routine_is_logged_at_debug(caplog):
    logger = logging.getLogger("rq.worker.test-routine")
    logger.addFilter(RoutineToDebug())
    caplog.set_level(logging.INFO)
    logger.info("Worker %s: %s: %s", "w1", "syncdesk", "poll__29384__0a1b2c3d4e")
    logger.info("Successfully completed %s job in %ss on worker %s", "workflows.oncall.escalation.check_due()",
                "0.01", "w1")
    logger.info("Worker %s: cleaning registries for queue: %s", "w1", "syncdesk")
    logger.info("Worker %s: %s: %s", "w1", "syncdesk-actions", "reprocess__ORD-10042__ITEM-1__2__0__abc")
    assert [r.getMessage() for r in caplog.records] == [
        "Worker w1: syncdesk-actions: reprocess__ORD-10042__ITEM-1__2__0__abc"]
    caplog.clear()
    caplog.set_level(logging.DEBUG)
    logger.info("Worker %s: %s: %s", "w1", "syncdesk", "poll__29384__0a1b2c3d4e")
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        ("DEBUG", "Worker w1: syncdesk: poll__29384__0a1b2c3d4e")]


def test_would_post_names_the_error_class_the_reason_and_the_buttons(live_app, settings, caplog):
    assert post_failure(live_app.url, payload(failure__code="not_mapped",
                                              failure__message="Room type LUXT not mapped")).status_code == 202
    with transaction(settings.database_url) as session:
        snapshot = load(session, "ORD-10042")
    caplog.set_level(logging.WARNING, logger="bot.log")
    LogNotifier("slack").show(snapshot, (None, None))
    [line] = [r.getMessage() for r in caplog.records if r.name == "bot.log"]
    assert line.startswith("no slack token configured: would post alert for ORD-10042: ITEM-1 (synxis) "
                           "not_mapped: Room type LUXT not mapped [Booked manually, View log, Cancel and refund] — "
                           "no Reprocess: synxis is booked by hand: 1. the synxis connector is not configured "
                           "(missing required settings: SYNXIS_API_URL")
    # Issue 27: what the alert would show, nothing cut mid-word.
    assert "— support: Sabre Hospitality (SynXis) support" in line
    assert "| arrives Tue 01 Dec · £240.00 · guest Larry W. | payment: ⏳ not checked yet" in line  # masked (issue 28)
    assert "| order: I'm on it, Message guest, Snooze, Hand over | status=In Progress" in line
    assert "…" not in line


def test_a_long_reason_is_cut_at_a_word():
    from bot.log import words

    assert words("set it in the environment or in .env", 20) == "set it in the…"
    assert words("short", 20) == "short"


def _said(output: str, logger: str) -> list[str]:
    """The messages `logger` wrote, in the text format (time, level, logger, message)."""
    return [line.split(f" INFO {logger} ", 1)[1] for line in output.splitlines() if f" INFO {logger} " in line]


def test_the_web_process_says_what_it_serves_once_it_listens(settings):
    """Issue 27: `serve` said nothing at all."""
    env = settings_env(settings) | {"PYTHONUNBUFFERED": "1", "SLACK_BOT_TOKEN": "xoxb-test", "SLACK_SIGNING_SECRET": "s"}
    proc = subprocess.Popen([sys.executable, "-m", "syncdesk.cli", "serve", "--port", "0"], env=env, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if "syncdesk web ready" in line:
                break
    finally:
        proc.terminate()
        proc.communicate(timeout=20)
    [ready] = _said("".join(lines), "syncdesk.web")
    url = re.match(r"syncdesk web ready at (http://127\.0\.0\.1:\d+): ", ready).group(1)
    assert ready == (f"syncdesk web ready at {url}: intake POST {url}/webhooks/sync-failures; Slack HTTP at POST "
                     f"{url}/slack/events; Teams off (no TEAMS_APP_ID); metrics {url}/metrics; readiness {url}/readyz")


def test_the_worker_and_the_clock_say_their_queues_and_redis(settings):
    from workflows.core.queue import get_queues

    env = settings_env(settings) | {"PYTHONUNBUFFERED": "1"}
    queues = ", ".join(q.name for q in get_queues(settings))
    worker = subprocess.run([sys.executable, "-m", "syncdesk.cli", "worker", "--burst"], env=env, cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert worker.returncode == 0, worker.stderr
    [ready] = _said(worker.stderr, "syncdesk.worker")
    assert re.sub(r"\(pid \d+\)", "(pid N)", ready) == (
        f"syncdesk worker ready (pid N): 1 process on queues {queues} at Redis {settings.redis_url}")
    clock = subprocess.Popen([sys.executable, "-m", "syncdesk.cli", "clock", "--tick", "0.2"], env=env, cwd=ROOT,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert clock.stdout is not None
        first = next(line for line in clock.stdout if " INFO syncdesk.worker " in line)
    finally:
        clock.terminate()
        clock.communicate(timeout=20)
    assert first.split(" INFO syncdesk.worker ", 1)[1].strip() == (
        f"clock started (pid {clock.pid}): a tick every 0.2 s, for queues {queues} at Redis {settings.redis_url}")


def test_the_would_post_line_masks_the_guest_and_scrubs_a_vendors_error_that_quotes_them(live_app, settings, caplog):
    """Issue 28: with no chat token the alert is logged; the log line names the guest masked
    and a booking system's error that quotes them carries `[guest of ORD-…]` instead."""
    quoting = "Guest LARRY.WALKER@EXAMPLE.COM (+44 555 123 4567) rejected: Walker, Larry already booked"
    assert post_failure(live_app.url, payload(failure__code="not_mapped", failure__message=quoting)).status_code == 202
    with transaction(settings.database_url) as session:
        snapshot = load(session, "ORD-10042", guest_details="full")
    caplog.set_level(logging.WARNING, logger="bot.log")
    LogNotifier("teams").show(snapshot, (None, None))
    [line] = [r.getMessage() for r in caplog.records if r.name == "bot.log"]
    assert ("not_mapped: Guest [guest of ORD-10042] ([guest of ORD-10042]) rejected: [guest of ORD-10042], "
            "[guest of ORD-10042] already booked [") in line
    assert "guest Larry W. |" in line
    assert not re.search(r"walker|example\.com|5551234567|555 123 4567", line, re.IGNORECASE)
    assert "Show guest details" not in line  # the buttons are the alert's own: it is not masked in chat


def _written(fmt: str, *args: object, **kwargs: object) -> str:
    """What syncdesk's handler (`syncdesk.logs.handler`) writes for one record, in `fmt`."""
    from io import StringIO

    from syncdesk.logs import handler

    out = StringIO()
    logger = logging.getLogger(f"test.redaction.{fmt}")
    logger.propagate, logger.level = False, logging.DEBUG
    logger.addHandler(handler(fmt, out))
    try:
        logger.debug(*args, **kwargs)  # type: ignore[arg-type]
    finally:
        logger.handlers.clear()
    return out.getvalue()


def test_no_e_mail_or_phone_is_written_whatever_logs_it_text_or_json():
    """Issue 28's safety net: message, arguments, exception text and `extra=` fields, at DEBUG."""
    try:
        raise RuntimeError("SynXis said: profile larry.walker@example.com / (555) 123-4567 exists")
    except RuntimeError:
        for fmt in ("text", "json"):
            line = _written(fmt, "request body %s; phone %s", {"email": "Larry.Walker@Example.com"}, "+44 5551234567",
                            exc_info=True, extra={"guest": "call +445551234567", "body": ["payload=a%40b.co"]})
            assert not re.search(r"walker|example\.com|5551234567|123-4567|a%40b", line, re.IGNORECASE), line
            assert line.count("[e-mail]") >= 3 and line.count("[phone]") >= 3, line  # the traceback quotes twice
    record = json.loads(_written("json", "x", exc_info=(ValueError, ValueError("mail x.y@z.org"), None)))
    assert record["exception"] == "ValueError: mail [e-mail]"


def test_what_is_not_a_contact_is_written_as_it_is():
    kept = ("POST /slack/events 200 3.2ms order=ORD-10042 ts 1700000000.000100 ref 13098CU000379 on 2026-12-01 "
            "10:00:00 at redis://127.0.0.1:6379/1 postgresql+psycopg://postgres@127.0.0.1:5432/test £240.00 24000 "
            "job 550e8400-e29b-41d4-a716-446655440000 <@U0ANA> l***@example.com +44 ••• ••• 4567 pid 4194304")
    assert _written("text", "%s", kept).rstrip("\n").split(" DEBUG test.redaction.text ", 1)[1] == kept
    assert json.loads(_written("json", kept))["message"] == kept
    from syncdesk.logs import redact

    assert redact("1700000000.000100 5551234567 and 5551234567 1700000000.000100 or 555.123.4567") == (
        "1700000000.000100 [phone] and [phone] 1700000000.000100 or [phone]")  # a phone beside a long number


def test_each_process_of_serve_workers_writes_syncdesks_lines_without_contacts(settings):
    """Issue 28: with `--workers N` uvicorn runs the app in new interpreters, which wrote no
    request line at all, and their warnings went out without the contacts filter."""
    port = free_port()
    env = settings_env(settings) | {"PYTHONUNBUFFERED": "1", "LOG_FORMAT": "json"}
    proc = subprocess.Popen([sys.executable, "-m", "syncdesk.cli", "serve", "--workers", "2", "--port", str(port)],
                            env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        url = f"http://127.0.0.1:{port}"

        def answered() -> bool:
            try:
                return httpx.get(f"{url}/guests/larry.walker@example.com", timeout=2).status_code == 404
            except httpx.HTTPError:
                return False
        wait_for(answered, timeout=60)
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    requests = [line for line in lines if line.get("logger") == "syncdesk.http" and line.get("status") == 404]
    assert requests, out
    assert requests[0]["path"] == "/guests/[e-mail]" and "larry.walker" not in out
