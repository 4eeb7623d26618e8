"""Issue 14 in Teams, end to end: the real web app (activities signed by the local issuer) and
a real worker against the local Bot Connector, platform and Stripe servers. The moves on the
card (Cancel and refund, Snooze, Hand over, Undo Booked manually), `find`, the order queue,
`reconcile` and the retail reminder's Dispatched: what Slack offers, Teams offers."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import jsonschema
import pytest
from sqlalchemy import func, select

from tests.bot.conftest import with_platform
from tests.bot.teams.conftest import ANA, BEN, CONVERSATION, FAILURE, MALLORY, execute, send, text
from tests.bot.teams.test_cards import SCHEMA
from tests.conftest import LiveServer, post_failure, wait_for
from tests.fakes.platform import FakePlatform
from tests.fakes.stripe import FakeStripe
from tests.fakes.teams import FakeBotConnector, FakeBotIdentity
from workflows.core.db import transaction
from workflows.core.models import AuditEvent, Order, OrderItem
from workflows.core.settings import Settings

ORDER = "ORD-10042"


@pytest.fixture
def moves_settings(teams_settings: Settings, platform_fake: FakePlatform, stripe_fake: FakeStripe) -> Settings:
    return with_platform(teams_settings, platform_fake, stripe_fake)


@pytest.fixture
def card_id(app: LiveServer, moves_settings: Settings, bot_connector: FakeBotConnector, worker_factory: Any) -> str:
    """The order alerted by a real worker: the id of its card in the channel."""
    worker_factory(moves_settings)
    assert post_failure(app.url, FAILURE).status_code == 202
    wait_for(lambda: bot_connector.cards(CONVERSATION), timeout=60)
    return next(iter(bot_connector.activities))


def url(connector: FakeBotConnector) -> str:
    return connector.url + "/"


def click(app: LiveServer, identity: FakeBotIdentity, connector: FakeBotConnector, verb: str,
          data: dict[str, Any], user: dict[str, str] = ANA) -> str:
    response = send(app.url, execute(verb, {"syncdesk": verb, "order_id": ORDER, **data}, user, url(connector)),
                    identity.token(url(connector)))
    assert response.status_code == 200
    return str(response.json()["value"])


def card(connector: FakeBotConnector, activity_id: str) -> dict[str, Any]:
    updates = connector.updates(activity_id)
    return (updates[-1] if updates else connector.activities[activity_id])["attachments"][0]["content"]


def said(connector: FakeBotConnector, activity_id: str) -> str:
    return json.dumps(card(connector, activity_id), ensure_ascii=False)


def replies(connector: FakeBotConnector, activity_id: str) -> list[str]:
    return [r.get("text", "") for r in connector.replies(activity_id)]


def audit(settings: Settings, action: str) -> list[AuditEvent]:
    with transaction(settings.database_url) as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


def audit_count(settings: Settings) -> int:
    """The audit events people's clicks wrote (the worker's own jobs, running meanwhile, write
    theirs under syncdesk actors and are not what a refusal is checked against)."""
    with transaction(settings.database_url) as session:
        return session.scalar(select(func.count()).select_from(AuditEvent)
                              .where(AuditEvent.actor.like("teams:%"))) or 0


def asked(app: LiveServer, identity: FakeBotIdentity, connector: FakeBotConnector, words: str) -> dict[str, Any]:
    message = text(words, ANA, url(connector))
    assert send(app.url, message, identity.token(url(connector))).status_code == 200
    return wait_for(lambda: connector.replies(message["id"]), timeout=60)[0]


def test_cancel_and_refund_from_the_overflow_menu_refunds_once_and_the_card_shows_it(
        app, moves_settings, identity, bot_connector, platform_fake, stripe_fake, card_id):
    menu = [a for s in (o for o in _walk(card(bot_connector, card_id)) if o.get("type") == "ActionSet")
            for a in s["actions"] if a.get("mode") == "secondary"]
    cancel = next(a for a in menu if a["title"] == "Cancel and refund")
    assert "refund £240.00 (the whole payment)" in json.dumps(cancel, ensure_ascii=False)
    data = {"item_id": "ITEM-1", "cancel_reason__ITEM-1": "No availability; guest informed"}
    first, second = (click(app, identity, bot_connector, "cancel_refund", data) for _ in range(2))
    # The second click lands while the job is queued, or (a worker running jobs in its own
    # process is quick) after it refunded: either way it starts nothing, as the refund count shows.
    assert first == "Cancel and refund queued."
    assert second.startswith("That cancel and refund is already queued") or "not refunded twice" in second
    wait_for(lambda: "by Cancel Deliveries of ITEM-1" in said(bot_connector, card_id), timeout=60)
    assert len(platform_fake.refunds) == 1 and len(stripe_fake._refunds) == 1
    jsonschema.validate(card(bot_connector, card_id), SCHEMA)
    reply = wait_for(lambda: [r for r in replies(bot_connector, card_id) if r.startswith("Cancelled and refunded")],
                     timeout=60)
    assert reply[0].startswith("Cancelled and refunded by Ana Lopez: ITEM-1, £240.00 refunded (re_fake")
    before = audit_count(moves_settings)
    twice = click(app, identity, bot_connector, "cancel_refund", data)
    assert "already cancelled and refunded" in twice and "not refunded twice" in twice
    assert audit_count(moves_settings) == before + 1 and len(platform_fake.refunds) == 1


def _walk(node: Any) -> list[dict[str, Any]]:
    from tests.bot.teams.test_cards import walk

    return walk(node)


def test_snooze_and_hand_over_from_the_card(app, moves_settings, identity, bot_connector, card_id):
    before = audit_count(moves_settings)
    past = click(app, identity, bot_connector, "snooze", {"snooze_until__": "2020-01-01 09:00"})
    assert "is in the past" in past and audit_count(moves_settings) == before + 1
    assert click(app, identity, bot_connector, "snooze", {"snooze_choice__": "tomorrow"}).startswith(
        "Snoozed ORD-10042 until ")
    wait_for(lambda: "💤 Snoozed until" in said(bot_connector, card_id) and "by Ana Lopez" in said(bot_connector, card_id),
             timeout=60)

    stranger = click(app, identity, bot_connector, "hand_over", {"owner__": MALLORY["aadObjectId"]})
    assert "not on the reservations team" in stranger
    assert audit(moves_settings, "click.hand_over")[-1].result == "refused"
    assert click(app, identity, bot_connector, "hand_over", {"owner__": BEN["aadObjectId"]}).startswith(
        f"{ORDER} is ")
    dm_conversation = f"a:1on1-{BEN['aadObjectId']}"
    dm = wait_for(lambda: bot_connector.posted(dm_conversation), timeout=60)[0]
    assert "handed ORD-10042 (Larry Walker) over to you" in dm["text"]
    assert "[Open the alert](https://teams.microsoft.com/l/message/" in dm["text"]
    wait_for(lambda: f"👤 Owner: teams:{BEN['aadObjectId']}" in said(bot_connector, card_id), timeout=60)
    jsonschema.validate(card(bot_connector, card_id), SCHEMA)


def test_undo_booked_manually_from_the_card(app, moves_settings, identity, bot_connector, platform_fake, card_id):
    assert click(app, identity, bot_connector, "booked_manually",
                 {"item_id": "ITEM-1", "reference__ITEM-1": "13098CU000379"}) == "Booked manually queued."
    wait_for(lambda: '"verb": "undo_manual"' in said(bot_connector, card_id), timeout=60)
    assert click(app, identity, bot_connector, "undo_manual",
                 {"item_id": "ITEM-1", "undo_reason__ITEM-1": "Typed another booking's number"}) == \
        "Undo of booked manually queued."
    wait_for(lambda: platform_fake.order(ORDER)["items"][0]["status"] == "In Progress", timeout=60)
    reply = wait_for(lambda: [r for r in replies(bot_connector, card_id) if r.startswith("Booked manually undone")],
                     timeout=60)
    assert reply[0] == ("Booked manually undone by Ana Lopez: ITEM-1 is failed again (13098CU000379 was wrong: "
                        "Typed another booking's number)")
    with transaction(moves_settings.database_url) as session:
        assert session.scalar(select(OrderItem.status)) == "In Progress"


def test_find_the_order_queue_and_reconcile_answer_in_teams(app, moves_settings, identity, bot_connector, card_id):
    found = asked(app, identity, bot_connector, "<at>syncdesk</at> find walker")
    content = found["attachments"][0]["content"]
    jsonschema.validate(content, SCHEMA)
    link = f"[{ORDER}](https://teams.microsoft.com/l/message/"
    assert link in json.dumps(content) and f"/{card_id}?" in json.dumps(content)
    assert "alert open" in json.dumps(content, ensure_ascii=False)
    assert asked(app, identity, bot_connector, "find")["text"].startswith("Say what to find")
    assert "5,000 characters" in asked(app, identity, bot_connector, "find " + "x" * 5000)["text"]

    queue = asked(app, identity, bot_connector, "orders failed")["attachments"][0]["content"]
    jsonschema.validate(queue, SCHEMA)
    shortcut = [a for a in _walk(queue) if a.get("type") == "Action.Execute"]
    assert [(a["verb"], a["data"]["item_id"]) for a in shortcut] == [("reprocess", "ITEM-1")]

    report = asked(app, identity, bot_connector, "reconcile")
    assert "mismatch" in report["text"].lower() and audit(moves_settings, "reconcile.requested")[0].detail["via"] == "teams"


def test_the_retail_reminder_card_takes_dispatched_then_offers_mark_complete(
        moves_settings, app, identity, bot_connector, worker_factory):
    from workflows.core.models import utcnow
    from workflows.core.queue import enqueue

    worker_factory(moves_settings)
    with transaction(moves_settings.database_url) as session:
        order = Order(id="ORD-R1", platform_status="In Progress", currency="GBP", total_minor=4500,
                      placed_at=utcnow() - dt.timedelta(hours=40), guest_first_name="Ada", guest_last_name="Lovelace")
        order.items.append(OrderItem(item_id="ITEM-1", kind="retail", system="", status="In Progress",
                                     description="Ski goggles", quantity=1))
        session.add(order)
    enqueue(moves_settings, "workflows.retail.service.send_retail_reminder", "remind-test")
    reminder = wait_for(lambda: [a for a in bot_connector.cards(CONVERSATION)
                                 if "awaiting dispatch" in a.get("text", "")], timeout=60)[0]
    jsonschema.validate(reminder["attachments"][0]["content"], SCHEMA)
    answer = send(app.url, execute("dispatched", {"syncdesk": "dispatched", "order_id": "ORD-R1", "item_id": "ITEM-1",
                                                  "courier__ITEM-1": "Royal Mail",
                                                  "tracking__ITEM-1": "RM123456785GB"}, ANA, url(bot_connector)),
                  identity.token(url(bot_connector))).json()["value"]
    assert "queued" in answer.lower()
    ready = wait_for(lambda: [a for a in bot_connector.cards(CONVERSATION)
                              if "ready to complete" in a.get("text", "")], timeout=60)[0]
    content = ready["attachments"][0]["content"]
    jsonschema.validate(content, SCHEMA)
    assert [a["verb"] for a in _walk(content) if a.get("type") == "Action.Execute"] == ["mark_complete"]


def test_alerts_go_to_the_conversation_of_their_property_in_teams(teams_settings, bot_connector, worker_factory,
                                                                  tmp_path):
    """The routing file's `teams_conversation` (issue 14): the card goes there, the default
    conversation gets nothing, and the outcome replies thread under the card where it is."""
    from syncdesk.web import create_app

    harbour = "19:harbour-hotel@thread.tacv2"
    path = tmp_path / "connectors.yaml"
    path.write_text(f"synxis:\n  properties:\n    '13098': {{teams_conversation: '{harbour}'}}\n")
    routed = Settings(_env_file=None, **teams_settings.model_dump() | {"connectors_file": str(path)})
    worker_factory(routed)
    with LiveServer(create_app(routed)) as server:
        assert post_failure(server.url, FAILURE).status_code == 202
        (posted,) = wait_for(lambda: bot_connector.cards(harbour), timeout=60)
        assert bot_connector.cards(CONVERSATION) == []
        activity_id = next(iter(bot_connector.activities))
        from workflows.actions.requests import request_reprocess

        assert request_reprocess(routed, ORDER, "ITEM-1", "teams:aaa (Ana Lopez)").accepted
        (reply,) = wait_for(lambda: bot_connector.replies(activity_id), timeout=60)
    assert reply["text"].startswith("Reprocessed by Ana Lopez: ITEM-1 failed again")
    assert any(f"{harbour};messageid={activity_id}" in r.path for r in bot_connector.requests_to("POST"))


def test_close_order_is_offered_on_the_complete_card_and_closes_it_on_the_platform(
        app, moves_settings, identity, bot_connector, platform_fake, card_id):
    """Issue 23: the move added once to the catalogue is on the Teams card too."""
    assert '"verb": "close_order"' not in said(bot_connector, card_id)
    assert click(app, identity, bot_connector, "booked_manually",
                 {"item_id": "ITEM-1", "reference__ITEM-1": "13098CU000379"}) == "Booked manually queued."
    wait_for(lambda: '"verb": "mark_complete"' in said(bot_connector, card_id), timeout=60)
    assert click(app, identity, bot_connector, "mark_complete", {}) == "Mark complete queued."
    wait_for(lambda: '"verb": "close_order"' in said(bot_connector, card_id), timeout=60)
    jsonschema.validate(card(bot_connector, card_id), SCHEMA)

    refused = click(app, identity, bot_connector, "close_order", {}, user=MALLORY)
    assert "not on the reservations team" in refused and audit(moves_settings, "click.close_order")[-1].result == "refused"
    assert click(app, identity, bot_connector, "close_order", {}) == "Close queued."
    wait_for(lambda: platform_fake.order(ORDER)["status"] == "Closed", timeout=60)
    wait_for(lambda: "✅ Closed" in said(bot_connector, card_id), timeout=60)
    assert '"verb": "close_order"' not in said(bot_connector, card_id)
    (closed,) = audit(moves_settings, "order.closed")
    assert closed.detail["from"] == "Complete" and closed.actor.startswith("teams:")
    with transaction(moves_settings.database_url) as session:
        assert session.get(Order, ORDER).platform_status == "Closed"
