"""The front desk's report in Slack (issue 26.3), end to end: `/syncdesk report` and the message
shortcut through the real Bolt app (`/slack/events`) against FakeSlack, the stand-in platform,
Stripe and SynXis, and a real worker: an order with no recorded failure, Complete on the
platform, gets an urgent alert with the reporter's note in its thread, and on-call is told at
once by direct message. An order the platform does not know gets a clear answer and changes
nothing."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from sqlalchemy import func, select

from syncdesk.surfaces import register_surfaces
from tests.bot.conftest import ANA, interaction, send
from tests.conftest import LiveServer, wait_for
from tests.fakes.slack import FakeSlack
from tests.workflows.arrivals.test_arrival_check import DAY, World, arrivals_world, room
from workflows.core.db import transaction
from workflows.core.models import Alert, AuditEvent, Order
from workflows.core.settings import Settings

ONCALL = ('timezone: Europe/London\nhandoff: {weekday: monday, time: "09:00"}\npeople:\n'
          '  - {name: Alice, slack: U0ALICE, teams: "29:alice"}\n')
NOTE = "guest at the desk, no booking"


@pytest.fixture
def world(slack_settings: Settings, tmp_path: Path) -> Iterator[World]:
    rotation = tmp_path / "oncall.yml"
    rotation.write_text(ONCALL)
    for w in arrivals_world(slack_settings):
        w.settings = w.settings.model_copy(update={"oncall_file": str(rotation), "recheck_open_minutes": 600})
        register_surfaces(w.settings)
        yield w


@pytest.fixture
def app(world: World) -> Iterator[LiveServer]:
    from syncdesk.web import create_app

    with LiveServer(create_app(world.settings)) as server:
        yield server


def report(app: LiveServer, fake_slack: FakeSlack, text: str, hook: str) -> Any:
    form = {"token": "legacy", "team_id": "T0SYNCDESK", "channel_id": "C0ALERTS", "user_id": ANA["id"],
            "user_name": ANA["username"], "command": "/syncdesk", "text": text, "api_app_id": "A0SYNCDESK",
            "response_url": fake_slack.response_url(hook), "trigger_id": f"{time.time_ns()}.trigger"}
    return send(app, urlencode(form), "application/x-www-form-urlencoded")


def answered(fake_slack: FakeSlack, hook: str) -> str:
    return wait_for(lambda: next((h["text"] for h in fake_slack.hooks if h["_path"] == f"/hooks/{hook}"), None),
                    timeout=30)


def alert_of(fake_slack: FakeSlack, order_id: str) -> tuple[tuple[str, str], dict[str, Any]]:
    return wait_for(lambda: next(((k, m) for k, m in fake_slack.messages.items()
                                  if order_id in m.get("text", "") and not m.get("thread_ts")), None), timeout=60)


def told_on_call(fake_slack: FakeSlack) -> list[str]:
    return [c["text"] for c in fake_slack.calls("chat.postMessage") if c.get("channel") == "D0ALICE"]


def rows_about(world: World, order_id: str) -> tuple[int, int, int]:
    with transaction(world.settings.database_url) as session:
        return tuple(session.scalar(select(func.count()).select_from(model).where(column == order_id)) or 0
                     for model, column in ((Order, Order.id), (Alert, Alert.order_id),
                                           (AuditEvent, AuditEvent.order_id)))  # type: ignore[return-value]


def test_a_report_opens_an_urgent_alert_with_the_note_in_its_thread_and_tells_on_call(
        world: World, app: LiveServer, fake_slack: FakeSlack, worker_factory: Any) -> None:
    # Complete on the platform, never failed, and SynXis holds the booking: the desk's word stands
    world.order("ORD-DESK", room(reference=world.booking("ORD-DESK")))
    worker_factory(world.settings)

    ack = report(app, fake_slack, f'report ORD-DESK "{NOTE}"', "desk")
    assert ack.status_code == 200 and ack.json()["text"].startswith("🛎️ Reporting ORD-DESK")
    assert answered(fake_slack, "desk").startswith("Reported: ORD-DESK has an urgent alert now")

    key, message = alert_of(fake_slack, "ORD-DESK")
    said = json.dumps(message["blocks"], ensure_ascii=False)
    assert message["text"].startswith("Front desk: no booking · ORD-DESK")
    assert f"ana at the desk: “{NOTE}”" in said and "SynXis holds" in said
    note = wait_for(lambda: [m["text"] for m in fake_slack.messages.values() if m.get("thread_ts") == key[1]],
                    timeout=60)
    assert note == [f"🛎️ Front desk report by ana: “{NOTE}”"]
    [dm] = wait_for(lambda: told_on_call(fake_slack), timeout=60)
    assert dm.startswith(f"🚨 Front desk report by ana: “{NOTE}”: ORD-DESK — Larry Walker")
    def levels() -> dict[str, int]:
        with transaction(world.settings.database_url) as session:
            return {a.state: a.escalation_level for a in session.scalars(select(Alert).where(
                Alert.order_id == "ORD-DESK"))}

    wait_for(lambda: levels() == {"open": 1})  # told at once: the channel is the escalation's next level
    with transaction(world.settings.database_url) as session:
        filed = session.scalar(select(AuditEvent).where(AuditEvent.action == "report.filed"))
    assert (filed.actor, filed.detail["note"], filed.detail["via"]) == ("slack:U0ANA (ana)", NOTE, "slack")

    # An order the platform does not know: a clear answer, and nothing written
    assert report(app, fake_slack, f'report ORD-NOPE "{NOTE}"', "nope").status_code == 200
    assert answered(fake_slack, "nope").startswith("ORD-NOPE is not an order on the platform: nothing was reported")
    assert rows_about(world, "ORD-NOPE") == (0, 0, 0)
    assert len(told_on_call(fake_slack)) == 1


def test_the_message_shortcut_opens_a_prefilled_form_and_reports(
        world: World, app: LiveServer, fake_slack: FakeSlack, worker_factory: Any) -> None:
    world.order("ORD-DESK2", room(reference="13098CU000902"))  # SynXis has nothing: the alert says so
    worker_factory(world.settings)
    text = "ORD-DESK2: Mr Walker is here and the PMS has nothing for him"
    shortcut = {"type": "message_action", "callback_id": "report_to_syncdesk", "token": "legacy",
                "trigger_id": f"{time.time_ns()}.trigger", "user": ANA, "team": {"id": "T0SYNCDESK"},
                "api_app_id": "A0SYNCDESK", "channel": {"id": "C0ALERTS", "name": "reservations-alerts"},
                "message_ts": "1700000000.000200", "response_url": fake_slack.response_url("shortcut"),
                "message": {"type": "message", "user": "U0DESK", "ts": "1700000000.000200", "text": text}}
    assert interaction(app, shortcut).status_code == 200
    modal = wait_for(lambda: next((v for v in fake_slack.views.values() if v.get("callback_id") == "report_submit"),
                                  None), timeout=30)
    fields = {b["block_id"]: b["element"].get("initial_value") for b in modal["blocks"] if b["type"] == "input"}
    assert fields == {"report_order": "ORD-DESK2", "report_note": text}

    submitted = interaction(app, {
        "type": "view_submission", "team": {"id": "T0SYNCDESK"}, "user": ANA, "api_app_id": "A0SYNCDESK",
        "token": "legacy", "trigger_id": f"{time.time_ns()}.trigger",
        "view": {"id": modal["id"], "type": "modal", "callback_id": "report_submit",
                 "private_metadata": modal["private_metadata"], "hash": modal["hash"],
                 "state": {"values": {"report_order": {"value": {"type": "plain_text_input", "value": "ORD-DESK2"}},
                                      "report_note": {"value": {"type": "plain_text_input", "value": text}}}}}})
    assert submitted.status_code == 200 and submitted.text == ""
    key, message = alert_of(fake_slack, "ORD-DESK2")
    assert "SynXis has no booking 13098CU000902" in json.dumps(message["blocks"], ensure_ascii=False)
    wait_for(lambda: [m for m in fake_slack.messages.values() if m.get("thread_ts") == key[1]
                      and m["text"] == f"🛎️ Front desk report by ana: “{text}”"], timeout=60)
    wait_for(lambda: told_on_call(fake_slack), timeout=60)
    answers = [c["text"] for c in fake_slack.calls("chat.postEphemeral") if c.get("user") == ANA["id"]]
    assert any(a.startswith("Reported: ORD-DESK2") for a in answers)
    assert world.rows()["ORD-DESK2/ITEM-1"].kind == "missing" and world.rows()["ORD-DESK2/ITEM-1"].day == DAY
