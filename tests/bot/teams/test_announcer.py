"""Teams for the on-call workflows: the TeamsAnnouncer against the local Bot Connector
(direct messages through a 1:1 conversation created with POST /v3/conversations, channel
messages, the outage card updated in place, the digest card), the cards' "I'm on it" and
playbook steps, and "I'm on it" clicked through the real endpoint."""

from __future__ import annotations

import json

import jsonschema
from sqlalchemy import select

from bot.teams import announce_cards, cards
from bot.teams.announcer import TeamsAnnouncer
from tests.bot.teams.conftest import ANA, APP_ID, BEN, CONVERSATION, FAILURE, TENANT
from tests.bot.teams.test_app import click
from tests.bot.teams.test_cards import SCHEMA, item, snapshot
from tests.bot.slack.test_workflow_render import INCIDENTS, PREMIER, digest
from tests.bot.snapshots import TODAY
from tests.conftest import LiveServer, post_failure
from tests.fakes.teams import FakeBotConnector, FakeBotIdentity
from workflows.core.db import transaction
from workflows.core.models import Alert
from workflows.core.settings import Settings
from workflows.orders.snapshot import AlertView


def test_a_direct_message_creates_the_one_to_one_conversation_then_posts_in_it(
        teams_settings: Settings, bot_connector: FakeBotConnector) -> None:
    TeamsAnnouncer(teams_settings).direct_message([ANA["id"]], "ORD-10042 — nobody has acted for 15 minutes",
                                                  "ORD-10042")
    [(conversation, body)] = bot_connector.conversations.items()
    assert body["bot"] == {"id": f"28:{APP_ID}"} and body["members"] == [{"id": ANA["id"]}]
    assert body["isGroup"] is False and body["channelData"] == {"tenant": {"id": TENANT}}
    [posted] = bot_connector.posted(conversation)
    assert posted["text"].startswith("ORD-10042 — nobody has acted for 15 minutes")
    assert "order ORD-10042" in posted["text"]


def test_channel_messages_go_to_the_alert_conversation(teams_settings: Settings,
                                                       bot_connector: FakeBotConnector) -> None:
    announcer = TeamsAnnouncer(teams_settings)
    ref = announcer.channel_message("Still unhandled after 30 minutes: ORD-1", "@here")
    announcer.channel_message("All clear: no SynXis failures since 10:04 UTC.")
    first, second = bot_connector.posted(CONVERSATION)
    assert ref == (CONVERSATION, next(iter(bot_connector.activities)))
    assert first["text"] == "🔔 **Attention:** Still unhandled after 30 minutes: ORD-1"
    assert second["text"] == "All clear: no SynXis failures since 10:04 UTC."


def test_the_outage_card_is_posted_once_updated_in_place_and_valid(teams_settings: Settings,
                                                                   bot_connector: FakeBotConnector) -> None:
    announcer = TeamsAnnouncer(teams_settings)
    ref = announcer.show_incident(lambda: INCIDENTS["open"], (None, None))
    assert announcer.show_incident(lambda: INCIDENTS["quiet, offered"], ref) == ref
    assert len(bot_connector.cards(CONVERSATION)) == 1
    [update] = bot_connector.updates(ref[1])
    card = update["attachments"][0]["content"]
    jsonschema.validate(card, SCHEMA)
    assert card["actions"] == [
        {"type": "Action.Submit", "title": "Show all 0", "data": {"syncdesk": "outage_show_all", "incident_id": 7,
                                                                   "page": 0}},
        {"type": "Action.Submit", "title": "Draft support request",
         "data": {"syncdesk": "outage_support", "incident_id": 7}},
        {"type": "Action.Execute", "title": "Reprocess all 7", "verb": "reprocess_all", "style": "positive",
         "data": {"syncdesk": "reprocess_all", "incident_id": 7}}]


def test_the_outage_card_names_the_most_urgent_guests_and_its_list_pages_through_every_order() -> None:
    from tests.bot.slack.test_workflow_render import affected
    from workflows.outage.views import IncidentPage

    card = announce_cards.incident_card(INCIDENTS["a thousand"], today=TODAY)
    jsonschema.validate(card, SCHEMA)
    text = json.dumps(card, ensure_ascii=False)
    assert "[ORD-0000](https://admin.example.com/orders/ORD-0000)" in text and "…and 980 more: Show all" in text
    assert "hotel 13098 334 (330 open)" in text and len(text.encode()) < 28 * 1024
    page = announce_cards.outage_list_card(IncidentPage(INCIDENTS["a thousand"], tuple(affected(n) for n in range(25)),
                                                        3, 40), today=TODAY)
    jsonschema.validate(page, SCHEMA)
    assert [a["data"] for a in page["actions"]] == [
        {"syncdesk": "outage_show_all", "incident_id": 7, "page": 2},
        {"syncdesk": "outage_show_all", "incident_id": 7, "page": 4}]
    assert all(f"ORD-{n:04d}" in json.dumps(page) for n in range(25)) and len(json.dumps(page).encode()) < 28 * 1024
    assert announce_cards.parse_show_all({"syncdesk": "outage_show_all", "incident_id": 7, "page": 4}) == (7, 4)
    assert announce_cards.parse_show_all({"syncdesk": "outage_show_all", "incident_id": "7"}) is None


def test_every_outage_and_digest_card_is_valid() -> None:
    for incident in INCIDENTS.values():
        jsonschema.validate(announce_cards.incident_card(incident), SCHEMA)
    for open_orders in (0, 3, 200):
        card = announce_cards.digest_card(digest(open_orders))
        jsonschema.validate(card, SCHEMA)
        assert len(json.dumps(card).encode()) < 28 * 1024


def test_the_digest_card_is_posted_to_the_conversation(teams_settings: Settings,
                                                       bot_connector: FakeBotConnector) -> None:
    TeamsAnnouncer(teams_settings).show_digest(digest())
    [posted] = bot_connector.cards(CONVERSATION)
    assert posted["attachments"][0]["content"]["body"][0]["text"] == "📊 syncdesk digest · Sat 21 Nov 2026"
    assert "SynXis at 13098: first action 12 min (last week 20 min) (3)" in json.dumps(posted, ensure_ascii=False)


def test_a_playbook_system_shows_its_steps_instead_of_reprocess_and_asks_for_the_configured_methods() -> None:
    card = cards.alert_card(snapshot(item(system="premier", system_description=PREMIER)))
    jsonschema.validate(card, SCHEMA)
    said = json.dumps(card, ensure_ascii=False)
    assert "**Book it by hand in EMS Premier:**" in said and "1. In EMS Premier" in said
    assert '"verb": "reprocess"' not in said
    [choice] = [e for e in elements(card) if e.get("type") == "Input.ChoiceSet" and e["id"].startswith("payment_method")]
    assert [c["value"] for c in choice["choices"]] == ["spa-web", "revspa"]


def elements(node: object) -> list[dict]:  # type: ignore[type-arg]
    """Every element of a card, nested ones (containers, action sets, shown cards) included."""
    if isinstance(node, list):
        return [e for child in node for e in elements(child)]
    if not isinstance(node, dict):
        return []
    return [node] + [e for key in ("body", "items", "actions", "card") for e in elements(node.get(key))]


def test_im_on_it_is_offered_on_an_open_alert_and_names_who_took_it() -> None:
    open_card = cards.alert_card(snapshot(alerts=(AlertView("teams", "open", CONVERSATION, "1", None),)))
    jsonschema.validate(open_card, SCHEMA)
    assert '"verb": "im_on_it"' in json.dumps(open_card)
    taken = cards.alert_card(snapshot(alerts=(AlertView("teams", "acknowledged", CONVERSATION, "1",
                                                        "teams:aaaa (Ana Lopez)"),)))
    assert "👤 Ana Lopez is on it" in json.dumps(taken, ensure_ascii=False)
    assert '"verb": "im_on_it"' not in json.dumps(taken)


def test_im_on_it_clicked_in_teams_acknowledges_the_alert(teams_app: LiveServer, teams_settings: Settings,
                                                          identity: FakeBotIdentity,
                                                          bot_connector: FakeBotConnector) -> None:
    assert post_failure(teams_app.url, FAILURE).status_code == 202
    said = click(teams_app, identity, bot_connector, "im_on_it", {"syncdesk": "im_on_it", "order_id": "ORD-10042"})
    assert said == "You're on ORD-10042: its escalation is stopped."
    with transaction(teams_settings.database_url) as session:
        alert = session.scalar(select(Alert).where(Alert.order_id == "ORD-10042"))
        assert (alert.state, alert.acknowledged_by) == ("acknowledged", f"teams:{ANA['aadObjectId']} (Ana Lopez)")
    again = click(teams_app, identity, bot_connector, "im_on_it", {"syncdesk": "im_on_it", "order_id": "ORD-10042"},
                  BEN)
    assert again == "Ana Lopez is already on ORD-10042."
