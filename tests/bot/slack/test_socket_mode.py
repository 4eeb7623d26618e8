"""Socket Mode end to end, spoken to as Slack would: `apps.connections.open` on the fake Slack
Web API hands out a one-use ticket for a local WebSocket server (`tests.fakes.slack_socket`)
that sends hello, envelopes and disconnect and checks every acknowledgement.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from syncdesk.web import create_app
from tests.bot.conftest import ANA, BOT_TOKEN, RESERVATIONS, click
from tests.conftest import ROOT, LiveServer, free_port, post_failure, settings_env, wait_for
from tests.fakes.slack import FakeSlack
from tests.fakes.slack_socket import FakeSocketMode
from tests.workflows.actions.test_jobs import RESERVATION, World, seed, world  # noqa: F401  (fixture)
from workflows.core.db import transaction
from workflows.core.models import AuditEvent
from workflows.core.settings import Settings

APP_TOKEN = "xapp-1-A0SYNCDESK-test"


@pytest.fixture
def socket_slack() -> Iterator[FakeSlack]:
    with FakeSlack(token=BOT_TOKEN, usergroups={RESERVATIONS: [ANA["id"]]}, app_token=APP_TOKEN) as slack, \
            FakeSocketMode() as socket:
        slack.socket = socket
        yield slack


def socket_settings(settings: Settings, slack: FakeSlack, **more: Any) -> Settings:
    """Socket Mode only: an app-level token, no signing secret (so no /slack/events route)."""
    return Settings(_env_file=None, **settings.model_dump() | {
        "slack_bot_token": BOT_TOKEN, "slack_app_token": APP_TOKEN, "slack_api_url": slack.api_url,
        "slack_allowed_usergroup": RESERVATIONS, "slack_signing_secret": None} | more)


def slash(text: str, user: dict[str, str] = ANA) -> dict[str, Any]:
    return {"token": "legacy", "team_id": "T0SYNCDESK", "team_domain": "syncdesk-test", "channel_id": "C0ALERTS",
            "channel_name": "reservations-alerts", "user_id": user["id"], "user_name": user["username"],
            "command": "/syncdesk", "text": text, "api_app_id": "A0SYNCDESK",
            "response_url": "https://example.invalid/r", "trigger_id": f"{time.time_ns()}.trigger"}


def test_a_slash_command_over_socket_mode_is_acknowledged_with_its_answer(settings, socket_slack):
    socket = socket_slack.socket
    with LiveServer(create_app(socket_settings(settings, socket_slack))) as server:
        socket.wait_event("open", number=1)
        assert socket_slack.calls("apps.connections.open"), "the ticket comes from apps.connections.open"
        envelope_id = socket.envelope(1, "slash_commands", slash("orders"))
        _, _, ack = socket.wait_ack(envelope_id)
        assert ack["payload"]["response_type"] == "ephemeral"
        assert ack["payload"]["text"].startswith("Order queue")
        ready = httpx.get(f"{server.url}/readyz", timeout=10).json()
        assert ready["slack_socket_mode"] == {"state": "connected"}
        # Socket Mode alone: no signing secret, so Slack's HTTP endpoint is not there at all
        assert httpx.post(f"{server.url}/slack/events", content=b"{}", timeout=10).status_code == 404
    assert socket.refused == []


def test_a_click_over_socket_mode_books_exactly_once(world: World, socket_slack):  # noqa: F811
    configured = socket_settings(world.settings, socket_slack)
    order_id = seed(world, code="not_mapped")  # not transient: no automatic retry, the click is the only job
    world.start_worker(configured)
    socket = socket_slack.socket
    with LiveServer(create_app(configured)):
        socket.wait_event("open", number=1)
        # A double click: two envelopes for one button, a moment apart (different action_ts).
        first = socket.envelope(1, "interactive", click("reprocess", order_id, "ITEM-1"))
        second = socket.envelope(1, "interactive", click("reprocess", order_id, "ITEM-1"))
        for envelope_id in (first, second):
            _, _, ack = socket.wait_ack(envelope_id)
            assert ack == {"envelope_id": envelope_id}  # a click's ack carries no payload

        def booked() -> list[AuditEvent]:
            with transaction(configured.database_url) as session:
                return list(session.scalars(select(AuditEvent).where(AuditEvent.action == "item.confirmed")))
        wait_for(booked, timeout=60)
        time.sleep(1.0)  # room for a second job to show itself, were there one
    assert len(world.posts) == 1, [r.json for r in world.posts]
    assert len(world.synxis.requests_to("POST", RESERVATION)) == 1
    with transaction(configured.database_url) as session:
        clicks = list(session.scalars(select(AuditEvent).where(AuditEvent.action == "click.reprocess")))
    assert sorted(c.result for c in clicks) == ["duplicate", "queued"]
    assert socket.refused == []


def test_a_refresh_hands_over_to_the_new_socket_without_going_deaf(settings, socket_slack, capsys):
    socket = socket_slack.socket
    with LiveServer(create_app(socket_settings(settings, socket_slack))):
        socket.wait_event("open", number=1)
        warm = socket.envelope(1, "slash_commands", slash(""))  # first request pays auth.test and the gate
        socket.wait_ack(warm)
        asked = socket.disconnect(1, "refresh_requested")
        on_old = socket.envelope(1, "slash_commands", slash(""))  # already in flight on the old socket
        opened = socket.wait_event("open", number=2)[2]
        on_new = socket.envelope(2, "slash_commands", slash(""))
        old_conn, old_at, _ = socket.wait_ack(on_old)
        new_conn, new_at, new_ack = socket.wait_ack(on_new)
    handover = opened - asked
    new_latency = new_at - socket.sent_at[on_new]
    with capsys.disabled():
        print(f"\nSocket Mode refresh: new socket open {handover * 1000:.0f} ms after disconnect; "
              f"envelope on it acked in {new_latency * 1000:.0f} ms; the one in flight on the old socket "
              f"acked {(old_at - socket.sent_at[on_old]) * 1000:.0f} ms after it was sent")
    assert new_conn == 2 and new_ack["payload"]["text"].startswith("Usage")
    assert old_conn in (1, 2)
    # The builtin client stayed deaf ~3 s here, Slack's whole ack deadline (issue 16): far from it.
    assert handover < 1.0 and new_latency < 1.0
    assert socket.refused == []


def test_slack_failing_at_start_does_not_stop_serve_and_readyz_reports_it(settings, socket_slack):
    socket_slack.fail("apps.connections.open", "internal_error", times=2)
    port = free_port()
    env = settings_env(socket_settings(settings, socket_slack)) | {"PYTHONUNBUFFERED": "1"}
    env.pop("SLACK_SIGNING_SECRET", None)
    proc = subprocess.Popen([sys.executable, "-m", "syncdesk.cli", "serve", "--port", str(port)], env=env,
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        def ready() -> dict[str, Any] | None:
            try:
                answer = httpx.get(f"{url}/readyz", timeout=5)
            except httpx.HTTPError:
                assert proc.poll() is None, "syncdesk serve exited"
                return None
            return answer.json() if answer.status_code == 200 else None
        first = wait_for(ready, timeout=30)
        assert first["slack_socket_mode"]["state"] in ("connecting", "connected")
        # Intake works while Slack is down: the failure is recorded.
        from tests.workflows.intake.test_intake import payload
        assert post_failure(url, payload(event_id="evt_socket_down")).status_code == 202
        connected = wait_for(lambda: (r := ready()) and r["slack_socket_mode"]["state"] == "connected" and r,
                             timeout=30)
        assert connected["status"] == "ready"
        assert len(socket_slack.calls("apps.connections.open")) == 3  # two refused, the third opened
        socket_slack.socket.wait_event("open", number=1)
    finally:
        proc.terminate()
        output = proc.communicate(timeout=20)[0].decode()
    # uvicorn shuts down cleanly on SIGTERM, then re-raises the signal it caught (exit -15)
    assert proc.returncode in (0, -15), output
    assert "Traceback" not in output, output
    assert "could not connect (internal_error); retrying in 1 s" in output
    assert "retrying in 2 s" in output


def test_the_fake_refuses_a_bot_token_and_a_used_ticket(socket_slack):
    answer = httpx.post(f"{socket_slack.api_url}apps.connections.open",
                        headers={"Authorization": f"Bearer {BOT_TOKEN}"}, timeout=10).json()
    assert answer == {"ok": False, "error": "not_allowed_token_type"}
    url = httpx.post(f"{socket_slack.api_url}apps.connections.open",
                     headers={"Authorization": f"Bearer {APP_TOKEN}"}, timeout=10).json()["url"]
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    with connect(url) as ws:
        assert json.loads(ws.recv(timeout=5))["type"] == "hello"
    with connect(url) as ws, pytest.raises(ConnectionClosed):
        ws.recv(timeout=5)
    assert socket_slack.socket.wait_event("rejected")[0] == "rejected"
