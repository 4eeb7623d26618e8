"""The arrival check's summary in Teams (issue 25): an Adaptive Card posted once per property
and day by the real TeamsAnnouncer (Bot Connector REST against FakeBotConnector), updated in
place, and its Checked / It's fine actions invoked through the real `/api/teams/messages`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import jsonschema
import pytest
from sqlalchemy import select

from bot.teams import arrivals_cards
from syncdesk.surfaces import register_surfaces
from tests.bot.teams.conftest import ANA, CONVERSATION, MALLORY, execute, send
from tests.bot.teams.test_cards import SCHEMA
from tests.bot.teams.test_masked_guest import actions
from tests.conftest import LiveServer, wait_for
from tests.fakes.teams import FakeBotConnector, FakeBotIdentity
from tests.workflows.arrivals.test_arrival_check import DAY, SPA, World, arrivals_world, room
from workflows.arrivals import check
from workflows.core.db import transaction
from workflows.core.models import AuditEvent
from workflows.core.settings import Settings


@pytest.fixture
def world(teams_settings: Settings) -> Iterator[World]:
    for w in arrivals_world(teams_settings):
        w.settings = w.settings.model_copy(update={"teams_conversation_id": CONVERSATION})
        register_surfaces(w.settings)  # Slack logs (no token); Teams is the real announcer
        yield w


@pytest.fixture
def app(world: World) -> Iterator[LiveServer]:
    from syncdesk.web import create_app

    with LiveServer(create_app(world.settings)) as server:
        yield server


def card_of(activity: dict[str, Any]) -> dict[str, Any]:
    return activity["attachments"][0]["content"]


def test_the_summary_card_is_posted_once_and_updated_as_people_act(
        world: World, app: LiveServer, identity: FakeBotIdentity, bot_connector: FakeBotConnector) -> None:
    world.order("ORD-MISSING", room())
    world.order("ORD-SPA", SPA, status="In Progress")
    check.check_day(world.settings, DAY)
    check.check_day(world.settings, DAY)  # a rerun updates, never posts again

    cards = {card_of(a)["fallbackText"]: a for a in bot_connector.cards(CONVERSATION)}
    assert sorted(cards) == ["Tomorrow at 13098: 1 arrival checked — 0 confirmed in SynXis, 1 missing.",
                             "Tomorrow at SPA1: 0 arrivals checked; 1 to check by hand (0 checked)."]
    for activity in cards.values():
        jsonschema.validate(card_of(activity), SCHEMA)
    assert len(bot_connector.updates()) == 2
    spa_id = next(aid for aid, a in bot_connector.activities.items() if "SPA1" in str(a))
    hotel_id = next(aid for aid, a in bot_connector.activities.items() if "13098" in str(a))
    spa_card, hotel_card = card_of(bot_connector.activities[spa_id]), card_of(bot_connector.activities[hotel_id])
    [checked] = [a for a in actions(spa_card) if a.get("verb") == arrivals_cards.CHECKED]
    [fine] = [a for a in actions(hotel_card) if a.get("verb") == arrivals_cards.FINE]
    token = identity.token(bot_connector.url + "/")

    refused = send(app.url, execute(checked["verb"], checked["data"], MALLORY, bot_connector.url + "/"), token)
    assert refused.status_code == 200 and "not" in refused.json()["value"].lower()
    said = send(app.url, execute(checked["verb"], checked["data"], ANA, bot_connector.url + "/"), token)
    assert said.json()["value"] == "Recorded."
    wait_for(lambda: "(1 checked)" in card_of(bot_connector.activities[spa_id])["fallbackText"])

    no_reason = send(app.url, execute(fine["verb"], fine["data"], ANA, bot_connector.url + "/"), token)
    assert no_reason.json()["value"] == "Say why it is fine, in a few words."
    with_reason = dict(fine["data"], **{arrivals_cards.REASON: "guest moved to our sister hotel, agreed by phone"})
    send(app.url, execute(fine["verb"], with_reason, ANA, bot_connector.url + "/"), token)
    wait_for(lambda: "fine, says" in str(card_of(bot_connector.activities[hotel_id])))
    with transaction(world.settings.database_url) as session:
        events = [(e.action, e.result) for e in session.scalars(select(AuditEvent).where(
            AuditEvent.action.in_(("arrival.checked", "click.arrival_checked"))).order_by(AuditEvent.id))]
    assert events == [("click.arrival_checked", "refused"), ("arrival.checked", "ok"), ("arrival.checked", "ok")]
