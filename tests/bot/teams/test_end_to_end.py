"""End to end: intake over HTTP → a real worker process (TEAMS_* pointing at the local
issuer, TLS token endpoint and Bot Connector) → one card posted to the conversation; each
action with a valid token → its job in the worker → the card updated in place and the
outcome replied under it."""

from __future__ import annotations

import json

import jsonschema

from tests.bot.teams.conftest import ANA, BEN, CONVERSATION, FAILURE, execute, send
from tests.bot.teams.test_cards import SCHEMA
from tests.conftest import LiveServer, post_failure, wait_for
from tests.fakes.teams import (
    BOT_SCOPE,
    FakeBotConnector,
    FakeBotIdentity,
    FakeTokenEndpoint,
)
from workflows.core.settings import Settings


def test_intake_posts_one_card_and_each_action_updates_it_with_a_reply(
        teams_app: LiveServer, teams_settings: Settings, identity: FakeBotIdentity,
        token_endpoint: FakeTokenEndpoint, bot_connector: FakeBotConnector, worker_factory) -> None:  # type: ignore[no-untyped-def]
    worker_factory(teams_settings)
    service_url = bot_connector.url + "/"
    assert post_failure(teams_app.url, FAILURE).status_code == 202

    (posted,) = wait_for(lambda: bot_connector.cards(CONVERSATION), timeout=60)
    card = posted["attachments"][0]["content"]
    jsonschema.validate(card, SCHEMA)
    said = json.dumps(card, ensure_ascii=False)
    assert "SynXis booking failed · ORD-10042" in card["body"][0]["text"]
    assert "Larry Walker" in said and "Property not mapped" in said and "**Payment:**" in said
    assert token_endpoint.token_requests()[0].form["scope"] == BOT_SCOPE
    activity_id = next(iter(bot_connector.activities))

    def clicked(verb: str, data: dict, user: dict = ANA) -> str:  # type: ignore[type-arg]
        response = send(teams_app.url, execute(verb, {"syncdesk": verb, **data}, user, service_url),
                        identity.token(service_url))
        assert response.status_code == 200
        return response.json()["value"]

    # Reprocess: the worker's job fails (no SynXis connector here), the card shows attempt #2
    assert clicked("reprocess", {"order_id": "ORD-10042", "item_id": "ITEM-1"}) == "Reprocess queued."
    (reply,) = wait_for(lambda: bot_connector.replies(activity_id), timeout=60)
    assert reply["text"].startswith("Reprocessed by Ana Lopez: ITEM-1 failed again · No connector configured")
    assert "#2 failed" in json.dumps(wait_for(lambda: bot_connector.updates(activity_id), timeout=60)[-1])

    # Booked manually: the item is confirmed; with no Stripe key the payment cannot be checked, so
    # the card offers Complete without payment check (issue 13) instead of a Mark complete that
    # would be refused
    assert clicked("booked_manually", {"order_id": "ORD-10042", "item_id": "ITEM-1",
                                       "reference__ITEM-1": "13098CU000379"}, BEN) == "Booked manually queued."
    wait_for(lambda: len(bot_connector.replies(activity_id)) == 2, timeout=60)
    assert bot_connector.replies(activity_id)[1]["text"] == "Booked manually by Ben Okafor: ITEM-1 confirmed, 13098CU000379"

    def offers_mark_complete() -> bool:
        updates = bot_connector.updates(activity_id)
        return bool(updates) and '"verb": "complete_unchecked"' in json.dumps(updates[-1])
    wait_for(offers_mark_complete, timeout=60)

    # Mark complete (an older card, the CLI): the job refuses (no payment check without Stripe) and says so
    assert clicked("mark_complete", {"order_id": "ORD-10042"}) == "Mark complete queued."
    wait_for(lambda: len(bot_connector.replies(activity_id)) == 3, timeout=60)
    assert bot_connector.replies(activity_id)[2]["text"].startswith("Mark complete by Ana Lopez refused: payment")

    assert len(bot_connector.cards(CONVERSATION)) == 1  # one card, updated in place, never re-posted
    for update in bot_connector.updates(activity_id):
        jsonschema.validate(update["attachments"][0]["content"], SCHEMA)
    assert len(token_endpoint.token_requests()) <= 3  # web app's Graph token, worker's token, at most a refresh
