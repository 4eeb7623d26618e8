"""Each finding of the arrival check in Teams (issue 25's target: every kind end to end, on both
databases). Each test starts from the platform's arrivals (FakePlatform `GET /orders?arriving=`),
Stripe (FakeStripe) and a FakeSynxis that holds, lacks or changes the booking, runs the real
check (`check.check_day`), and reads what the FakeBotConnector was sent: the day's summary card
(the real TeamsAnnouncer) and, for a problem, the order's alert card (posted by a real worker).
The same kinds in Slack: tests/bot/slack/test_arrivals_end_to_end.py and
test_problem_alerts_end_to_end.py."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator
from typing import Any

import jsonschema
import pytest

from syncdesk.surfaces import register_surfaces
from tests.bot.teams.conftest import CONVERSATION
from tests.bot.teams.test_cards import SCHEMA
from tests.bot.teams.test_masked_guest import actions
from tests.conftest import wait_for
from tests.fakes.teams import FakeBotConnector
from tests.workflows.arrivals.test_arrival_check import DAY, World, arrivals_world, room
from workflows.arrivals import check
from workflows.core.settings import Settings

NUMBER = "13098CU000777"
LAPSES = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=1)).replace(hour=18, minute=0, second=0, microsecond=0)


@pytest.fixture
def world(teams_settings: Settings) -> Iterator[World]:
    for w in arrivals_world(teams_settings):
        # the poller's re-check of an open alert stays out of the way of what these tests read
        w.settings = w.settings.model_copy(update={"teams_conversation_id": CONVERSATION,
                                                   "recheck_open_minutes": 600})
        register_surfaces(w.settings)  # Slack logs (no token); Teams is the real announcer
        yield w


def card_of(activity: dict[str, Any]) -> dict[str, Any]:
    return activity["attachments"][0]["content"]


def summary_card(bot_connector: FakeBotConnector) -> dict[str, Any]:
    """The hotel's summary card, as last written (posted once, updated in place)."""
    [activity_id] = [aid for aid, a in bot_connector.activities.items()
                     if a.get("attachments") and card_of(a)["fallbackText"].startswith("Tomorrow at 13098")]
    card = card_of(bot_connector.activities[activity_id])
    jsonschema.validate(card, SCHEMA)
    return card


def alert_card(bot_connector: FakeBotConnector, order_id: str) -> dict[str, Any]:
    activity = wait_for(lambda: next((a for a in bot_connector.cards(CONVERSATION)
                                      if order_id in card_of(a)["fallbackText"]
                                      and not card_of(a)["fallbackText"].startswith("Tomorrow")), None), timeout=60)
    card = card_of(activity)
    jsonschema.validate(card, SCHEMA)
    return card


def said(card: dict[str, Any]) -> str:
    return json.dumps(card, ensure_ascii=False)


def top_actions(card: dict[str, Any]) -> list[str]:
    """The alert's buttons and forms (titles), without the inner forms' own submit actions."""
    inner = {id(a) for shown in actions(card) if shown["type"] == "Action.ShowCard" for a in actions(shown["card"])}
    return [a["title"] for a in actions(card) if id(a) not in inner]


# What SynXis holds for ORD-X/ITEM-1 (a Complete order: two nights from DAY, one guest), and what
# Teams must show for it: the alert's "Why", the detail from SynXis' answer, the moves offered.
# The alert's headline names the kind (bot.wording.headline, as in Slack).
Seed = Callable[[World], None]
HEADLINES = {"missing": "missing", "cancelled": "cancelled", "ignored": "cancelled", "released": "cancelled",
             "provisional": "only held", "provisional with its deadline": "only held",
             "dates differ": "differs from the order", "party differs": "differs from the order"}
PROBLEMS: dict[str, tuple[Seed, str, str, list[str]]] = {
    "missing": (lambda w: None, "Arrival check: no booking in the system",
                "SynXis has no booking for ORD-X/ITEM-1.", ["Rebook", "Booked manually", "It's fine"]),
    "cancelled": (lambda w: w.booking("ORD-X", status="Cancelled"), "Arrival check: cancelled or released in the system",
                  "as Cancelled", ["Rebook", "Booked manually", "It's fine"]),
    "ignored": (lambda w: w.booking("ORD-X", status="Ignored"), "Arrival check: cancelled or released in the system",
                "as Ignored (a pending reservation SynXis dropped", ["Rebook", "Booked manually", "It's fine"]),
    "released": (lambda w: w.booking("ORD-X", status="Released"), "Arrival check: cancelled or released in the system",
                 "as Released (released", ["Rebook", "Booked manually", "It's fine"]),
    "provisional": (lambda w: w.booking("ORD-X", status="Booked"), "Arrival check: held, not confirmed",
                    "as Booked, not confirmed", ["Rebook", "Booked manually", "It's fine"]),
    "provisional with its deadline": (
        lambda w: w.synxis.seed_reservation(status="OnHold", reference="ORD-X/ITEM-1", start=DAY,
                                            end=DAY + dt.timedelta(days=2), hold_release=f"{LAPSES:%Y-%m-%dT%H:%M:%SZ}"),
        "Arrival check: held, not confirmed", f"it lapses at {LAPSES:%Y-%m-%d %H:%M} UTC",
        ["Rebook", "Booked manually", "It's fine"]),
    "dates differ": (lambda w: w.booking("ORD-X", start=DAY + dt.timedelta(days=1)),
                     "Arrival check: other dates or party in the system",
                     f"arrival {DAY + dt.timedelta(days=1):%d %b}, the order says {DAY:%d %b}",
                     ["Booked manually", "It's fine"]),  # Rebook would find this booking and keep it
    "party differs": (lambda w: w.synxis.seed_reservation(reference="ORD-X/ITEM-1", start=DAY,
                                                          end=DAY + dt.timedelta(days=2), adults=2),
                      "Arrival check: other dates or party in the system", "2 guests, the order says 1",
                      ["Booked manually", "It's fine"]),
}


@pytest.mark.parametrize("kind", PROBLEMS)
def test_each_booking_problem_is_an_alert_card_and_a_line_of_the_summary(
        kind: str, world: World, bot_connector: FakeBotConnector, worker_factory: Any) -> None:
    seed, why, detail, moves = PROBLEMS[kind]
    world.order("ORD-X", room())  # Complete on the platform, paid in Stripe
    seed(world)
    worker_factory(world.settings)
    check.check_day(world.settings, DAY)

    card = alert_card(bot_connector, "ORD-X")
    assert card["fallbackText"].startswith(f"SynXis booking {HEADLINES[kind]} before arrival · ORD-X")
    assert f"Why: {why}." in said(card) and detail in said(card)
    assert "Next step:" in said(card) and "The platform says the order is Complete" in said(card)
    assert [m for m in top_actions(card) if m in ("Rebook", "Booked manually", "It's fine")] == moves

    summary = summary_card(bot_connector)
    assert summary["fallbackText"].startswith("Tomorrow at 13098: 1 arrival checked — 0 confirmed in SynXis, 1 ")
    [line] = [t for t in (b.get("items", [{}])[0].get("text", "") for b in summary["body"]) if t.startswith("⚠️")]
    assert line.startswith("⚠️ ORD-X/ITEM-1") and detail in line
    assert [a["title"] for a in actions(summary) if a["type"] == "Action.ShowCard"] == ["It's fine"]


def test_a_confirmed_booking_is_counted_and_raises_no_alert(world: World, bot_connector: FakeBotConnector) -> None:
    world.order("ORD-OK", room(reference=NUMBER))
    world.synxis.seed_reservation(reference="ORD-OK/ITEM-1", number=NUMBER, start=DAY, end=DAY + dt.timedelta(days=2))

    check.check_day(world.settings, DAY)

    summary = summary_card(bot_connector)
    assert summary["fallbackText"] == "Tomorrow at 13098: 1 arrival checked — 1 confirmed in SynXis."
    assert actions(summary) == [] and "⚠️" not in said(summary)
    assert [card_of(a)["fallbackText"] for a in bot_connector.cards(CONVERSATION)] == [summary["fallbackText"]]


def test_a_booking_that_could_not_be_checked_is_said_so_on_the_card(world: World,
                                                                    bot_connector: FakeBotConnector) -> None:
    # A failing system is slowed to 1/32 of its pace (workflows.systems.pace): a fast pace and a
    # short wait for a turn keep this test at a few seconds.
    world.settings = world.settings.model_copy(update={"system_pace_default": "200/4", "pace_max_wait_seconds": 0.5})
    world.order("ORD-NEW", room())
    world.synxis.fail_with_status(503, times=100)

    check.check_day(world.settings, DAY)

    summary = summary_card(bot_connector)
    assert "1 not checked yet (tried again later)" in summary["fallbackText"]
    assert "1 not checked yet: SynXis could not be asked; tried again later." in said(summary)
    assert actions(summary) == []  # nothing to act on yet, and no alert
    assert len(bot_connector.cards(CONVERSATION)) == 1


@pytest.mark.parametrize("order", [dict(status="Cancelled"), dict(refunded=True)], ids=["cancelled", "refunded"])
def test_a_booking_whose_order_is_cancelled_or_refunded_is_a_line_of_the_card(
        order: dict[str, Any], world: World, bot_connector: FakeBotConnector) -> None:
    world.order("ORD-OK", room())
    world.booking("ORD-OK")
    world.order("ORD-GONE", room(), **order)
    number = world.booking("ORD-GONE")  # SynXis still holds the room for a guest who got the money back

    check.check_day(world.settings, DAY)
    check.check_day(world.settings, DAY)  # a rerun rewrites the same card

    summary = summary_card(bot_connector)
    assert summary["fallbackText"].endswith("1 confirmed in SynXis; 1 booked but cancelled or refunded on the platform.")
    lines = [t for t in (b.get("items", [{}])[0].get("text", "") for b in summary["body"]) if t.startswith("💸")]
    assert len(lines) == 1 and lines[0].startswith(
        f"💸 ORD-GONE/ITEM-1: booked but refunded/cancelled — SynXis holds {number} as Confirmed")
    assert actions(summary) == []  # no button: nobody is expected, there is nothing to tick
    assert len(bot_connector.cards(CONVERSATION)) == 1 and len(bot_connector.updates()) == 1
