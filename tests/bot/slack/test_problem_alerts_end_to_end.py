"""An arrival-check problem on an order Complete on the platform, in Slack (issue 25): the real
worker posts it as an alert of its own with Rebook, Booked manually and It's fine; Rebook,
clicked through the real Bolt app (`/slack/events`), books it in SynXis (check first), writes
the new number to the platform item and resolves the alert; It's fine asks why in a modal."""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from syncdesk.surfaces import register_surfaces
from tests.bot.conftest import ANA, click, interaction
from tests.bot.slack.test_render import check_blocks, check_view
from tests.conftest import LiveServer, wait_for
from tests.fakes.slack import FakeSlack
from tests.workflows.arrivals.test_arrival_check import DAY, World, arrivals_world, room
from workflows.arrivals import check
from workflows.core.db import transaction
from workflows.core.models import Alert, AuditEvent
from workflows.core.settings import Settings

NUMBER = "13098CU000555"


@pytest.fixture
def world(slack_settings: Settings) -> Iterator[World]:
    for w in arrivals_world(slack_settings):
        w.settings = w.settings.model_copy(update={"recheck_open_minutes": 600})
        register_surfaces(w.settings)
        yield w


@pytest.fixture
def app(world: World) -> Iterator[LiveServer]:
    from syncdesk.web import create_app

    with LiveServer(create_app(world.settings)) as server:
        yield server


def alert_message(fake_slack: FakeSlack, order_id: str) -> tuple[tuple[str, str], dict[str, Any]]:
    return wait_for(lambda: next(((k, m) for k, m in fake_slack.messages.items()
                                  if order_id in m.get("text", "") and not m.get("thread_ts")), None), timeout=60)


def buttons(message: dict[str, Any]) -> list[str]:
    return [e["action_id"] for b in message["blocks"] if b["type"] == "actions" for e in b["elements"]
            if e["type"] == "button"]


def state(world: World, order_id: str) -> set[str]:
    with transaction(world.settings.database_url) as session:
        return set(session.scalars(select(Alert.state).where(Alert.order_id == order_id)))


def test_a_problem_on_a_complete_order_is_an_alert_and_rebook_books_it(
        world: World, app: LiveServer, fake_slack: FakeSlack, worker_factory: Any) -> None:
    world.order("ORD-MISSING", room(reference=NUMBER))  # Complete; SynXis has no booking NUMBER
    worker_factory(world.settings)
    check.check_day(world.settings, DAY)

    key, message = alert_message(fake_slack, "ORD-MISSING")
    check_blocks(message["blocks"])
    said = json.dumps(message["blocks"], ensure_ascii=False)
    assert message["text"].startswith("SynXis booking missing before arrival · ORD-MISSING")
    assert f"SynXis has no booking {NUMBER}" in said and "The platform says the order is Complete" in said
    assert buttons(message) == ["rebook", "booked_manually", "its_fine"]  # I'm on it is the header's accessory

    assert interaction(app, click("rebook", "ORD-MISSING", "ITEM-1")).status_code == 200

    def rebooked() -> str | None:
        item = world.platform.order("ORD-MISSING")["items"][0]
        return item["external_reference"] if item["external_reference"] != NUMBER else None

    new = wait_for(rebooked, timeout=60)
    assert world.platform.order("ORD-MISSING")["items"][0]["status"] == "Confirmed"
    assert world.synxis.reservation(new)["Status"] == "Confirmed"  # booked anew, once
    wait_for(lambda: state(world, "ORD-MISSING") == {"resolved"}, timeout=60)
    wait_for(lambda: fake_slack.messages[key]["text"].startswith("Resolved · ORD-MISSING"), timeout=60)
    assert buttons(fake_slack.messages[key]) == ["close_order"]  # a Complete order: nothing else owed
    with transaction(world.settings.database_url) as session:
        settled = session.scalar(select(AuditEvent).where(AuditEvent.action == "problem.settled"))
        clicked = session.scalar(select(AuditEvent).where(AuditEvent.action == "click.reprocess"))
    assert (settled.detail["how"], settled.detail["confirmation"]) == ("booked", new)
    assert settled.actor == "slack:U0ANA (ana)"
    assert clicked.result == "queued"
    assert world.rows()["ORD-MISSING/ITEM-1"].kind == "confirmed"


def test_its_fine_asks_why_in_a_modal_and_resolves_the_alert(
        world: World, app: LiveServer, fake_slack: FakeSlack, worker_factory: Any) -> None:
    world.order("ORD-HELD", room(reference=NUMBER))
    world.synxis.seed_reservation(status="Booked", reference="ORD-HELD/ITEM-1", number=NUMBER, start=DAY,
                                  end=DAY + dt.timedelta(days=2))  # a hold SynXis ignores after its timeout
    worker_factory(world.settings)
    check.check_day(world.settings, DAY)
    key, message = alert_message(fake_slack, "ORD-HELD")
    assert "Arrival check: held, not confirmed" in json.dumps(message["blocks"], ensure_ascii=False)

    assert interaction(app, click("its_fine", "ORD-HELD", "ITEM-1")).status_code == 200
    modal = wait_for(lambda: next((v for v in fake_slack.views.values() if v.get("callback_id") == "its_fine_submit"),
                                  None), timeout=30)
    check_view(modal)

    def submit(reason: str) -> Any:
        return interaction(app, {
            "type": "view_submission", "team": {"id": "T0SYNCDESK"}, "user": ANA, "api_app_id": "A0SYNCDESK",
            "token": "legacy", "trigger_id": f"{time.time_ns()}.trigger",
            "view": {"id": modal["id"], "type": "modal", "callback_id": "its_fine_submit",
                     "private_metadata": modal["private_metadata"], "hash": modal["hash"],
                     "state": {"values": {"reason": {"value": {"type": "plain_text_input", "value": reason}}}}}})

    assert submit("ok").json()["response_action"] == "errors"  # a reason of a few words is required
    assert state(world, "ORD-HELD") == {"open"}
    assert submit("confirmed by phone with the hotel, it stands").status_code == 200
    wait_for(lambda: state(world, "ORD-HELD") == {"resolved"}, timeout=30)
    wait_for(lambda: fake_slack.messages[key]["text"].startswith("Resolved · ORD-HELD"), timeout=60)
    assert world.rows()["ORD-HELD/ITEM-1"].checked_by == "slack:U0ANA (ana)"
