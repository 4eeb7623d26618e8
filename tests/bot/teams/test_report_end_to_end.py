"""The front desk's report in Teams (issue 26.3), end to end: `report ORDER-ID note` sent to the
bot through the real `/api/teams/messages` (a Bot Connector token from the local issuer), the
stand-in platform, Stripe and SynXis, and a real worker posting through FakeBotConnector: the
order, Complete and never failed, gets an urgent alert card with Rebook, Booked manually and
It's fine, the reporter's note as a reply under it, and on-call a direct message at once.
An order the platform does not know gets a clear answer and changes nothing.

The same through "Report to syncdesk" on a message (the message extension's action command, a
`composeExtension/submitAction` invoke from message context): the same alert, note and on-call
message; an unknown order answered under the message with nothing written; a person outside the
reservations team refused and audited."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from syncdesk.surfaces import register_surfaces
from tests.bot.teams.conftest import ANA, BEN, CONVERSATION, MALLORY, TENANT, activity, execute, send, text
from tests.bot.teams.test_masked_guest import actions
from tests.conftest import LiveServer, wait_for
from tests.fakes.teams import FakeBotConnector, FakeBotIdentity
from tests.workflows.arrivals.test_arrival_check import World, arrivals_world, room
from workflows.core.db import transaction
from workflows.core.models import Alert, AuditEvent, Order
from workflows.core.settings import Settings

ONCALL = ('timezone: Europe/London\nhandoff: {weekday: monday, time: "09:00"}\npeople:\n'
          '  - {name: Alice, slack: U0ALICE, teams: "29:alice"}\n')
NOTE = "guest at the desk, no booking"
NUMBER = "13098CU000903"


@pytest.fixture
def world(teams_settings: Settings, tmp_path: Path) -> Iterator[World]:
    rotation = tmp_path / "oncall.yml"
    rotation.write_text(ONCALL)
    for w in arrivals_world(teams_settings):
        w.settings = w.settings.model_copy(update={"teams_conversation_id": CONVERSATION, "oncall_file": str(rotation),
                                                   "recheck_open_minutes": 600})
        register_surfaces(w.settings)  # Slack logs (no token); Teams is the real one
        yield w


@pytest.fixture
def app(world: World) -> Iterator[LiveServer]:
    from syncdesk.web import create_app

    with LiveServer(create_app(world.settings)) as server:
        yield server


def count(world: World, order_id: str) -> tuple[int, int, int]:
    with transaction(world.settings.database_url) as session:
        return tuple(session.scalar(select(func.count()).select_from(model).where(column == order_id)) or 0
                     for model, column in ((Order, Order.id), (Alert, Alert.order_id),
                                           (AuditEvent, AuditEvent.order_id)))  # type: ignore[return-value]


def test_report_opens_an_urgent_alert_card_with_the_note_in_its_thread_and_tells_on_call(
        world: World, app: LiveServer, identity: FakeBotIdentity, bot_connector: FakeBotConnector,
        worker_factory: Any) -> None:
    world.order("ORD-DESK", room(reference=NUMBER))  # Complete; SynXis has no booking NUMBER
    worker_factory(world.settings)
    service_url = bot_connector.url + "/"

    asked = text(f"report ORD-DESK {NOTE}", ANA, service_url)
    assert send(app.url, asked, identity.token(service_url)).status_code == 200
    (answer,) = wait_for(lambda: bot_connector.replies(asked["id"]), timeout=60)
    assert answer["text"].startswith("Reported: ORD-DESK has an urgent alert now")

    (posted,) = wait_for(lambda: [a for a in bot_connector.cards(CONVERSATION)
                                  if "ORD-DESK" in a["attachments"][0]["content"]["fallbackText"]], timeout=60)
    card = posted["attachments"][0]["content"]
    said = json.dumps(card, ensure_ascii=False)
    assert f"Ana Lopez at the desk: “{NOTE}”" in said and f"SynXis has no booking {NUMBER}" in said
    titles = {a.get("title") for a in actions(card)}
    assert {"Rebook", "Booked manually", "It's fine"} <= titles
    card_id = next(aid for aid, a in bot_connector.activities.items() if a.get("attachments")
                   and "ORD-DESK" in a["attachments"][0]["content"]["fallbackText"])
    note = wait_for(lambda: [r["text"] for r in bot_connector.replies(card_id) if r.get("text", "").startswith("🛎️")],
                    timeout=60)
    assert note == [f"🛎️ Front desk report by Ana Lopez: “{NOTE}”"]
    dm = wait_for(lambda: bot_connector.posted("a:1on1-29-alice"), timeout=60)
    assert dm[0]["text"].startswith(f"🚨 Front desk report by Ana Lopez: “{NOTE}”: ORD-DESK — Larry Walker")

    # It's fine, with its reason, settles the report and resolves the alert of the Complete order
    fine = send(app.url, execute("its_fine", {"order_id": "ORD-DESK", "item_id": "ITEM-1",
                                              "fine_reason__ITEM-1": "found under the guest's maiden name"},
                                 ANA, service_url), identity.token(service_url))
    assert fine.json()["value"].startswith("Recorded: ITEM-1's booking is fine")
    with transaction(world.settings.database_url) as session:
        states = set(session.scalars(select(Alert.state).where(Alert.order_id == "ORD-DESK")))
        filed = session.scalar(select(AuditEvent).where(AuditEvent.action == "report.filed"))
    assert states == {"resolved"}
    assert (filed.actor, filed.detail["via"]) == (f"teams:{ANA['aadObjectId']} (Ana Lopez)", "teams")

    # An order the platform does not know: a clear answer, nothing written
    unknown = text(f"report ORD-NOPE {NOTE}", ANA, service_url)
    assert send(app.url, unknown, identity.token(service_url)).status_code == 200
    (answer,) = wait_for(lambda: bot_connector.replies(unknown["id"]), timeout=60)
    assert answer["text"].startswith("ORD-NOPE is not an order on the platform: nothing was reported")
    assert count(world, "ORD-NOPE") == (0, 0, 0)


REPORTED_MESSAGE = "1699999999001"  # the channel message "Report to syncdesk" is used on (not one of the fake's ids)


def report_action(user: dict[str, str], service_url: str, content: str, **data: str) -> dict[str, Any]:
    """"…" → Report to syncdesk on a channel message, the form (manifest `parameters`) submitted:
    the `composeExtension/submitAction` invoke Teams sends, in the message's thread."""
    return activity(
        "invoke", user, service_url, name="composeExtension/submitAction",
        conversation={"id": f"{CONVERSATION};messageid={REPORTED_MESSAGE}", "conversationType": "channel",
                      "tenantId": TENANT, "isGroup": True},
        value={"commandId": "reportToSyncdesk", "commandContext": "message", "context": {"theme": "default"},
               "messagePayload": {"id": REPORTED_MESSAGE, "messageType": "message", "replyToId": None,
                                  "from": {"user": {"id": BEN["aadObjectId"], "displayName": BEN["name"]}},
                                  "body": {"contentType": "html", "content": content}, "attachments": []},
               "data": {"order_id": "", "note": "", **data}})



def test_report_to_syncdesk_on_a_message_opens_the_urgent_alert_as_the_text_command_does(
        world: World, app: LiveServer, identity: FakeBotIdentity, bot_connector: FakeBotConnector,
        worker_factory: Any) -> None:
    world.order("ORD-DESK", room(reference=NUMBER))  # Complete; SynXis has no booking NUMBER
    worker_factory(world.settings)
    service_url = bot_connector.url + "/"

    # the order id is the first in the message (HTML stripped); the note is the form's
    asked = report_action(ANA, service_url, "<p>Mr <b>Walker</b> is here for <i>ORD-DESK</i> &amp; ORD-OTHER</p>",
                          note=NOTE)
    answered = send(app.url, asked, identity.token(service_url))
    assert answered.status_code == 200
    assert answered.json() == {"task": {"type": "message", "value": (
        "Reporting ORD-DESK: syncdesk answers under the message in a moment.")}}
    (answer,) = wait_for(lambda: bot_connector.replies(REPORTED_MESSAGE), timeout=60)
    assert answer["text"].startswith("Reported: ORD-DESK has an urgent alert now")

    (posted,) = wait_for(lambda: [a for a in bot_connector.cards(CONVERSATION)
                                  if "ORD-DESK" in a["attachments"][0]["content"]["fallbackText"]], timeout=60)
    card = posted["attachments"][0]["content"]
    said = json.dumps(card, ensure_ascii=False)
    assert f"Ana Lopez at the desk: “{NOTE}”" in said and f"SynXis has no booking {NUMBER}" in said
    assert {"Rebook", "Booked manually", "It's fine"} <= {a.get("title") for a in actions(card)}
    card_id = next(aid for aid, a in bot_connector.activities.items() if a.get("attachments")
                   and "ORD-DESK" in a["attachments"][0]["content"]["fallbackText"])
    note = wait_for(lambda: [r["text"] for r in bot_connector.replies(card_id) if r.get("text", "").startswith("🛎️")],
                    timeout=60)
    assert note == [f"🛎️ Front desk report by Ana Lopez: “{NOTE}”"]
    dm = wait_for(lambda: bot_connector.posted("a:1on1-29-alice"), timeout=60)
    assert dm[0]["text"].startswith(f"🚨 Front desk report by Ana Lopez: “{NOTE}”: ORD-DESK — Larry Walker")
    with transaction(world.settings.database_url) as session:
        filed = session.scalar(select(AuditEvent).where(AuditEvent.action == "report.filed"))
        alert = session.scalar(select(Alert).where(Alert.order_id == "ORD-DESK", Alert.surface == "teams"))
    assert (filed.actor, filed.detail["via"], filed.detail["note"]) == (
        f"teams:{ANA['aadObjectId']} (Ana Lopez)", "teams", NOTE)
    assert alert is not None and alert.state != "resolved"


def test_report_to_syncdesk_on_an_unknown_order_answers_and_writes_nothing(
        world: World, app: LiveServer, identity: FakeBotIdentity, bot_connector: FakeBotConnector) -> None:
    service_url = bot_connector.url + "/"
    asked = report_action(ANA, service_url, "<p>guest at the desk, no booking</p>", order_id="ORD-NOPE")
    answered = send(app.url, asked, identity.token(service_url))
    assert answered.json()["task"]["value"].startswith("Reporting ORD-NOPE")
    (answer,) = wait_for(lambda: bot_connector.replies(REPORTED_MESSAGE), timeout=60)
    assert answer["text"].startswith("ORD-NOPE is not an order on the platform: nothing was reported")
    assert count(world, "ORD-NOPE") == (0, 0, 0)

    # a message with no order id in it, and none typed: said at once, nothing reported
    bare = send(app.url, report_action(ANA, service_url, "<p>guest at the desk, no booking</p>"),
                identity.token(service_url))
    assert bare.json()["task"] == {"type": "message", "value": (
        "No order id in that message: open Report to syncdesk again and type the order id (e.g. ORD-10042). "
        "Nothing was reported.")}
    with transaction(world.settings.database_url) as session:
        assert session.scalar(select(func.count()).select_from(AuditEvent)
                              .where(AuditEvent.action == "report.filed")) == 0
    assert len(bot_connector.replies(REPORTED_MESSAGE)) == 1


def test_report_to_syncdesk_from_someone_outside_the_team_is_refused_and_audited(
        world: World, app: LiveServer, identity: FakeBotIdentity, bot_connector: FakeBotConnector) -> None:
    world.order("ORD-DESK", room(reference=NUMBER))
    service_url = bot_connector.url + "/"
    asked = report_action(MALLORY, service_url, "<p>ORD-DESK guest at the desk, no booking</p>")
    answered = send(app.url, asked, identity.token(service_url))
    assert answered.status_code == 200 and "not on the reservations team" in answered.json()["task"]["value"]
    with transaction(world.settings.database_url) as session:
        refused = session.scalars(select(AuditEvent).where(AuditEvent.action == "click.report")).all()
        filed = session.scalar(select(func.count()).select_from(AuditEvent)
                               .where(AuditEvent.action == "report.filed"))
        alerts = session.scalar(select(func.count()).select_from(Alert).where(Alert.order_id == "ORD-DESK"))
    assert [(r.actor, r.result, r.detail.get("surface")) for r in refused] == [
        (f"teams:{MALLORY['aadObjectId']} (Mallory)", "refused", "teams")]
    assert (filed, alerts) == (0, 0)
    assert bot_connector.posted() == []
