"""The arrival check's summary in Slack (issue 25): posted once per property and day by the
real SlackAnnouncer (slack-sdk against FakeSlack), rewritten in place by a rerun and by the
summary's own buttons, clicked through the real Bolt app (`/slack/events`)."""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from bot.slack import arrivals_render
from syncdesk.surfaces import register_surfaces
from tests.bot.conftest import ANA, MALLORY, event, interaction
from tests.bot.slack.test_render import check_view
from tests.conftest import LiveServer, wait_for
from tests.fakes.slack import FakeSlack
from tests.workflows.arrivals.test_arrival_check import DAY, SPA, World, arrivals_world, room
from workflows.arrivals import check
from workflows.core.db import transaction
from workflows.core.models import AuditEvent
from workflows.core.settings import Settings


@pytest.fixture
def world(slack_settings: Settings) -> Iterator[World]:
    for w in arrivals_world(slack_settings):
        register_surfaces(w.settings)  # the real Slack announcer, on FakeSlack
        yield w


@pytest.fixture
def app(world: World) -> Iterator[LiveServer]:
    from syncdesk.web import create_app

    with LiveServer(create_app(world.settings)) as server:
        yield server


def summaries(slack: FakeSlack) -> dict[tuple[str, str], dict[str, Any]]:
    return {key: m for key, m in slack.messages.items() if m.get("text", "").startswith(("Tomorrow", "Today", "Wed"))}


def button(message: dict[str, Any], action_id: str) -> str:
    return next(b["accessory"]["value"] for b in message["blocks"]
                if (b.get("accessory") or {}).get("action_id") == action_id)


def press(action_id: str, value: str, message: dict[str, Any], key: tuple[str, str],
          user: dict[str, str] = ANA) -> dict[str, Any]:
    return {"type": "block_actions", "user": user, "api_app_id": "A0SYNCDESK", "token": "legacy",
            "container": {"type": "message", "message_ts": key[1], "channel_id": key[0]},
            "trigger_id": f"{time.time_ns()}.trigger", "team": {"id": "T0SYNCDESK"},
            "channel": {"id": key[0]}, "message": message, "response_url": "",
            "actions": [{"action_id": action_id, "block_id": "b", "value": value, "type": "button",
                         "action_ts": f"{time.time():.6f}"}]}


def test_the_summary_is_posted_once_and_rewritten_as_people_act(world: World, app: LiveServer,
                                                               fake_slack: FakeSlack) -> None:
    world.order("ORD-OK", room())
    world.booking("ORD-OK")
    world.order("ORD-MISSING", room())
    world.order("ORD-SPA", SPA, status="In Progress")

    check.check_day(world.settings, DAY)
    shown = summaries(fake_slack)
    assert len(shown) == 2  # the hotel and the spa
    (hotel_key, hotel), = [(k, m) for k, m in shown.items() if "13098" in m["text"]]
    assert "2 arrivals checked — 1 confirmed in SynXis, 1 missing." in hotel["text"]
    problem = button(hotel, arrivals_render.FINE)
    # the problem is an alert of its own (posted by a worker: tests/bot/slack/test_problem_alerts_end_to_end.py)
    assert world.alerts() == {"ORD-MISSING": {"open"}}

    check.check_day(world.settings, DAY)  # a rerun: the same two messages, updated; nothing new said
    assert summaries(fake_slack).keys() == shown.keys()
    assert not [c for c in fake_slack.calls("chat.postMessage") if c["text"].startswith("Arrival check:")]
    assert len(fake_slack.calls("chat.update")) == 2

    (spa_key, spa), = [(k, m) for k, m in summaries(fake_slack).items() if "SPA1" in m["text"]]
    refused = interaction(app, press(arrivals_render.CHECKED, button(spa, arrivals_render.CHECKED), spa, spa_key,
                                     user=MALLORY))
    assert refused.status_code == 200
    assert interaction(app, press(arrivals_render.CHECKED, button(spa, arrivals_render.CHECKED), spa,
                                  spa_key)).status_code == 200
    wait_for(lambda: "(1 checked)" in fake_slack.messages[spa_key]["text"])
    assert "<@U0ANA>" in json.dumps(fake_slack.messages[spa_key]["blocks"])

    assert interaction(app, press(arrivals_render.FINE, problem, hotel, hotel_key)).status_code == 200
    modal = wait_for(lambda: next((v for v in fake_slack.views.values()
                                   if v.get("callback_id") == arrivals_render.FINE_VIEW), None))
    assert modal["private_metadata"] == problem

    def submit(reason: str) -> Any:
        return interaction(app, {
            "type": "view_submission", "team": {"id": "T0SYNCDESK"}, "user": ANA, "api_app_id": "A0SYNCDESK",
            "token": "legacy", "trigger_id": f"{time.time_ns()}.trigger",
            "view": {"id": modal["id"], "type": "modal", "callback_id": arrivals_render.FINE_VIEW,
                     "private_metadata": problem, "hash": modal["hash"],
                     "state": {"values": {arrivals_render.FINE_REASON: {arrivals_render.FINE_REASON: {
                         "type": "plain_text_input", "value": reason}}}}}})

    too_short = submit("ok")
    assert too_short.json()["response_action"] == "errors"
    assert submit("guest booked direct with the hotel, CRS 13098CU9").status_code == 200
    wait_for(lambda: "fine, says" in json.dumps(fake_slack.messages[hotel_key]["blocks"]))
    with transaction(world.settings.database_url) as session:
        events = [(e.action, e.result, e.detail.get("reason")) for e in session.scalars(
            select(AuditEvent).where(AuditEvent.action.in_(("arrival.checked", "click.arrival_checked")))
            .order_by(AuditEvent.id))]
    assert events == [("click.arrival_checked", "refused", "not a member of S0RESV"),
                      ("arrival.checked", "ok", ""),
                      ("arrival.checked", "ok", "guest booked direct with the hotel, CRS 13098CU9")]


def test_a_booking_whose_order_is_cancelled_is_a_line_of_the_summary(world: World, app: LiveServer,
                                                                     fake_slack: FakeSlack) -> None:
    world.order("ORD-OK", room())
    world.booking("ORD-OK")
    world.order("ORD-CANCELLED", room(), status="Cancelled")
    number = world.booking("ORD-CANCELLED")  # SynXis still holds the room for a guest who got the money back

    check.check_day(world.settings, DAY)
    (key, hotel), = summaries(fake_slack).items()
    assert hotel["text"].endswith("1 confirmed in SynXis; 1 booked but cancelled or refunded on the platform.")
    lines = [b["text"]["text"] for b in hotel["blocks"] if b.get("type") == "section"
             and b["text"]["text"].startswith("💸")]
    assert len(lines) == 1 and lines[0].startswith(f"💸 ORD-CANCELLED/ITEM-1: booked but refunded/cancelled — "
                                                   f"SynXis holds {number} as Confirmed")
    assert not any((b.get("accessory") or {}).get("value", "").endswith("ORD-CANCELLED|ITEM-1")
                   for b in hotel["blocks"])

    check.check_day(world.settings, DAY)  # a rerun: the same message, rewritten; nothing new posted
    assert summaries(fake_slack).keys() == {key}
    assert len(fake_slack.calls("chat.update")) == 1
    assert "💸 ORD-CANCELLED/ITEM-1" in json.dumps(fake_slack.messages[key]["blocks"], ensure_ascii=False)


def test_the_home_tab_shows_each_propertys_summary_of_the_day(world: World, app: LiveServer,
                                                               fake_slack: FakeSlack) -> None:
    world.order("ORD-OK", room())
    world.booking("ORD-OK")
    world.order("ORD-MISSING", room(item_id="ITEM-2"))
    world.order("ORD-SPA", SPA, status="In Progress")
    world.order("ORD-PAST", room(start=DAY - dt.timedelta(days=3)))
    check.check_day(world.settings, DAY - dt.timedelta(days=3))  # a day gone by: not on Home
    check.check_day(world.settings, DAY)

    home = {"type": "app_home_opened", "user": ANA["id"], "channel": "D0ANA", "tab": "home", "event_ts": "1.1"}
    assert event(app, home, event_id="EvArrivalsHome").status_code == 200
    view = wait_for(lambda: fake_slack.home.get(ANA["id"]))
    check_view(view)
    [section] = [b["text"]["text"] for b in view["blocks"]
                 if b["type"] == "section" and b["text"]["text"].startswith("*Arrival check*")]
    assert section.splitlines()[1:] == [
        "🛬 Tomorrow at 13098: 2 arrivals checked — 1 confirmed in SynXis, 1 missing.",
        "🛬 Tomorrow at SPA1: 0 arrivals checked; 1 to check by hand (0 checked).",
    ]
