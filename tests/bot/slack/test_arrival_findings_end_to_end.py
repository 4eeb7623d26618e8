"""Each booking problem of the arrival check in Slack (issue 25's target: every kind end to end,
on both databases, in Slack and Teams). The kinds, what SynXis holds for each and what the alert
must say are the Teams test's table (tests/bot/teams/test_arrival_findings_end_to_end.py), so
both surfaces are held to the same list. Each test starts from the platform's arrivals
(FakePlatform), Stripe (FakeStripe) and a FakeSynxis that holds, lacks or changes the booking,
runs the real check, and reads what FakeSlack was sent: the order's alert (posted by a real
worker) and the hotel's summary. Confirmed, could-not-check and booked-but-refunded are in
tests/bot/slack/test_arrivals_end_to_end.py and tests/workflows/arrivals."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from syncdesk.surfaces import register_surfaces
from tests.bot.slack.test_render import check_blocks
from tests.bot.teams.test_arrival_findings_end_to_end import HEADLINES, PROBLEMS
from tests.conftest import wait_for
from tests.fakes.slack import FakeSlack
from tests.workflows.arrivals.test_arrival_check import DAY, World, arrivals_world, room
from workflows.arrivals import check
from workflows.core.settings import Settings

MOVE_IDS = {"Rebook": "rebook", "Booked manually": "booked_manually", "It's fine": "its_fine"}


@pytest.fixture
def world(slack_settings: Settings) -> Iterator[World]:
    for w in arrivals_world(slack_settings):
        # the poller's re-check of an open alert stays out of the way of what these tests read
        w.settings = w.settings.model_copy(update={"recheck_open_minutes": 600})
        register_surfaces(w.settings)
        yield w


def buttons(message: dict[str, Any]) -> list[str]:
    return [e["action_id"] for b in message["blocks"] if b["type"] == "actions" for e in b["elements"]
            if e["type"] == "button"]


@pytest.mark.parametrize("kind", PROBLEMS)
def test_each_booking_problem_is_an_alert_and_a_line_of_the_summary(
        kind: str, world: World, fake_slack: FakeSlack, worker_factory: Any) -> None:
    seed, why, detail, moves = PROBLEMS[kind]
    world.order("ORD-X", room())  # Complete on the platform, paid in Stripe
    seed(world)
    worker_factory(world.settings)
    check.check_day(world.settings, DAY)

    alert = wait_for(lambda: next((m for m in fake_slack.messages.values() if not m.get("thread_ts")
                                   and m.get("text", "").startswith("SynXis booking")), None), timeout=60)
    check_blocks(alert["blocks"])
    said = json.dumps(alert["blocks"], ensure_ascii=False)
    assert alert["text"].startswith(f"SynXis booking {HEADLINES[kind]} before arrival · ORD-X")
    assert f"*Why: {why}.*" in said and detail in said
    assert "The platform says the order is Complete" in said
    assert [b for b in buttons(alert) if b in MOVE_IDS.values()] == [MOVE_IDS[m] for m in moves]

    [summary] = [m for m in fake_slack.messages.values() if m.get("text", "").startswith("Tomorrow at 13098")]
    check_blocks(summary["blocks"])
    assert summary["text"].startswith("Tomorrow at 13098: 1 arrival checked — 0 confirmed in SynXis, 1 ")
    lines = [b["text"]["text"] for b in summary["blocks"] if b.get("type") == "section"
             and "ORD-X/ITEM-1" in (b.get("text") or {}).get("text", "")]
    assert len(lines) == 1 and detail in lines[0]
