"""`POST /api/teams/messages` with valid tokens: clicks are authorized, enqueued and
acknowledged at once; lookups answer with the card after the response; strangers are
refused politely and the refusal is audited."""

from __future__ import annotations

import time
from typing import Any

import pytest
from rq.job import Job
from sqlalchemy import select

from tests.bot.teams.conftest import (
    ANA,
    BEN,
    CONVERSATION,
    FAILURE,
    GROUP,
    MALLORY,
    TENANT,
    execute,
    failure,
    send,
    submit,
    text,
)
from tests.conftest import LiveServer, post_failure, wait_for
from tests.fakes.teams import FakeBotConnector, FakeBotIdentity
from workflows.core.db import transaction
from workflows.core.models import AuditEvent
from workflows.core.queue import get_queues
from workflows.core.settings import Settings

REPROCESS = {"syncdesk": "reprocess", "order_id": "ORD-10042", "item_id": "ITEM-1"}


@pytest.fixture
def order(teams_app: LiveServer) -> str:
    assert post_failure(teams_app.url, FAILURE).status_code == 202
    return "ORD-10042"


def url(connector: FakeBotConnector) -> str:
    return connector.url + "/"


def queued(settings: Settings, function: str) -> list[Job]:
    return [j for q in get_queues(settings) for j in q.get_jobs() if j.func_name == function]


def audit(settings: Settings, action: str) -> list[AuditEvent]:
    with transaction(settings.database_url) as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def click(app: LiveServer, identity: FakeBotIdentity, connector: FakeBotConnector, verb: str,
          data: dict[str, Any], user: dict[str, str] = ANA) -> Any:
    response = send(app.url, execute(verb, data, user, url(connector)), identity.token(url(connector)))
    assert response.status_code == 200
    body = response.json()
    assert body["statusCode"] == 200 and body["type"] == "application/vnd.microsoft.activity.message"
    return body["value"]


def test_reprocess_click_is_enqueued_and_acknowledged_in_the_invoke_response(
        teams_app: LiveServer, teams_settings: Settings, identity: FakeBotIdentity,
        bot_connector: FakeBotConnector, order: str) -> None:
    started = time.monotonic()
    assert click(teams_app, identity, bot_connector, "reprocess", REPROCESS) == "Reprocess queued."
    assert time.monotonic() - started < 2.0
    (job,) = queued(teams_settings, "workflows.actions.jobs.reprocess")
    assert job.kwargs["actor"] == f"teams:{ANA['aadObjectId']} (Ana Lopez)"
    assert job.kwargs["order_id"] == "ORD-10042" and job.kwargs["item_id"] == "ITEM-1"
    (event,) = audit(teams_settings, "click.reprocess")
    assert event.result == "queued"


def test_a_double_click_enqueues_one_job(teams_app: LiveServer, teams_settings: Settings, identity: FakeBotIdentity,
                                         bot_connector: FakeBotConnector, order: str) -> None:
    click(teams_app, identity, bot_connector, "reprocess", REPROCESS)
    second = click(teams_app, identity, bot_connector, "reprocess", REPROCESS, user=BEN)
    assert "already" in second and "Ana Lopez" in second and "teams:" not in second  # named, not an id
    assert len(queued(teams_settings, "workflows.actions.jobs.reprocess")) == 1


def test_booked_manually_carries_the_confirmation_number_from_the_inline_card(
        teams_app: LiveServer, teams_settings: Settings, identity: FakeBotIdentity,
        bot_connector: FakeBotConnector, order: str) -> None:
    data = {"syncdesk": "booked_manually", "order_id": order, "item_id": "ITEM-1",
            "reference__ITEM-1": "13098CU000379", "notes__ITEM-1": "booked by phone"}
    assert click(teams_app, identity, bot_connector, "booked_manually", data) == "Booked manually queued."
    (job,) = queued(teams_settings, "workflows.actions.jobs.booked_manually")
    assert job.kwargs["reference"] == "13098CU000379" and job.kwargs["notes"] == "booked by phone"


def test_booked_manually_without_a_number_is_refused_with_the_reason(
        teams_app: LiveServer, teams_settings: Settings, identity: FakeBotIdentity,
        bot_connector: FakeBotConnector, order: str) -> None:
    data = {"syncdesk": "booked_manually", "order_id": order, "item_id": "ITEM-1", "reference__ITEM-1": ""}
    answer = click(teams_app, identity, bot_connector, "booked_manually", data)
    assert answer == "The external confirmation number is required."
    assert queued(teams_settings, "workflows.actions.jobs.booked_manually") == []


def test_premier_booked_manually_needs_the_payment_method(
        teams_app: LiveServer, teams_settings: Settings, identity: FakeBotIdentity,
        bot_connector: FakeBotConnector) -> None:
    spa = failure(id="ORD-20001", items=[{**FAILURE["order"]["items"][0], "id": "SPA-1", "kind": "spa",
                                          "system": "premier", "details": {"site_id": 7}}])
    spa["event_id"], spa["failure"] = "evt_teams_spa", {**FAILURE["failure"], "item_id": "SPA-1", "system": "premier"}
    assert post_failure(teams_app.url, spa).status_code == 202
    data = {"syncdesk": "booked_manually", "order_id": "ORD-20001", "item_id": "SPA-1", "reference__SPA-1": "EMS-7781"}
    assert "payment method" in click(teams_app, identity, bot_connector, "booked_manually", data)
    data["payment_method__SPA-1"] = "revspa"
    assert click(teams_app, identity, bot_connector, "booked_manually", data) == "Booked manually queued."
    (job,) = queued(teams_settings, "workflows.actions.jobs.booked_manually")
    assert job.kwargs["payment_method"] == "revspa"


def test_mark_complete_before_the_items_are_booked_says_why_not(
        teams_app: LiveServer, teams_settings: Settings, identity: FakeBotIdentity,
        bot_connector: FakeBotConnector, order: str) -> None:
    answer = click(teams_app, identity, bot_connector, "mark_complete", {"syncdesk": "mark_complete",
                                                                        "order_id": order})
    assert answer.startswith("Not yet:")
    assert queued(teams_settings, "workflows.actions.jobs.mark_complete") == []


def test_an_action_submit_click_is_acknowledged_with_a_reply(
        teams_app: LiveServer, teams_settings: Settings, identity: FakeBotIdentity,
        bot_connector: FakeBotConnector, order: str) -> None:
    clicked = submit(REPROCESS, ANA, url(bot_connector))
    response = send(teams_app.url, clicked, identity.token(url(bot_connector)))
    assert response.status_code == 200
    assert len(queued(teams_settings, "workflows.actions.jobs.reprocess")) == 1
    reply = wait_for(lambda: bot_connector.replies(clicked["id"]))
    assert reply[0]["text"] == "Reprocess queued."
    assert f"/v3/conversations/{CONVERSATION};messageid=1700000000001/activities" in \
        bot_connector.requests_to("POST")[-1].path


def test_a_non_member_is_refused_politely_and_the_refusal_is_audited(
        teams_app: LiveServer, teams_settings: Settings, identity: FakeBotIdentity,
        bot_connector: FakeBotConnector, order: str) -> None:
    answer = click(teams_app, identity, bot_connector, "reprocess", REPROCESS, user=MALLORY)
    assert answer.startswith("🚫 Sorry, you are not on the reservations team")
    assert queued(teams_settings, "workflows.actions.jobs.reprocess") == []
    (event,) = audit(teams_settings, "click.reprocess")
    assert event.result == "refused" and event.actor == f"teams:{MALLORY['aadObjectId']} (Mallory)"
    assert event.detail["reason"] == f"not a member of group {GROUP}"
    graph = bot_connector.requests_to("GET", rf"/v1\.0/groups/{GROUP}/members")
    assert len(graph) == 1 and graph[0].param("$select") == "id"


def test_group_members_are_read_once_and_cached(teams_app: LiveServer, teams_settings: Settings,
                                                identity: FakeBotIdentity, bot_connector: FakeBotConnector,
                                                order: str) -> None:
    click(teams_app, identity, bot_connector, "reprocess", REPROCESS, user=ANA)
    click(teams_app, identity, bot_connector, "mark_complete", {"order_id": order}, user=BEN)
    click(teams_app, identity, bot_connector, "reprocess", REPROCESS, user=MALLORY)
    assert len(bot_connector.requests_to("GET", rf"/v1\.0/groups/{GROUP}/members")) == 1


def test_someone_from_another_tenant_is_refused(teams_app: LiveServer, teams_settings: Settings,
                                                identity: FakeBotIdentity, bot_connector: FakeBotConnector,
                                                order: str) -> None:
    clicked = execute("reprocess", REPROCESS, ANA, url(bot_connector))
    clicked["conversation"]["tenantId"] = "33333333-3333-4333-8333-333333333333"
    response = send(teams_app.url, clicked, identity.token(url(bot_connector)))
    assert response.json()["value"].startswith("🚫")
    assert "another tenant" in audit(teams_settings, "click.reprocess")[0].detail["reason"]
    assert TENANT not in audit(teams_settings, "click.reprocess")[0].detail["reason"]


def test_order_lookup_answers_with_the_card(teams_app: LiveServer, identity: FakeBotIdentity,
                                            bot_connector: FakeBotConnector, order: str) -> None:
    asked = text("<at>syncdesk</at> order ORD-10042", BEN, url(bot_connector))
    assert send(teams_app.url, asked, identity.token(url(bot_connector))).status_code == 200
    (reply,) = wait_for(lambda: bot_connector.replies(asked["id"]))
    card = reply["attachments"][0]
    assert card["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert card["content"]["type"] == "AdaptiveCard" and "ORD-10042" in reply["text"]


def test_an_unknown_order_and_other_words_get_plain_answers(teams_app: LiveServer, identity: FakeBotIdentity,
                                                            bot_connector: FakeBotConnector) -> None:
    for words, expected in (("order ORD-404", "Order ORD-404 is not known to syncdesk."),
                            ("<at>syncdesk</at> hello there", "Send **order ORD-10042**"),  # @mentioned (unmentioned chatter: no answer)
                            ("oncall", "Nobody is on call (no rotation configured and no override).")):
        asked = text(words, ANA, url(bot_connector))
        send(teams_app.url, asked, identity.token(url(bot_connector)))
        (reply,) = wait_for(lambda: bot_connector.replies(asked["id"]))
        assert reply["text"].startswith(expected)


def test_a_lookup_by_a_non_member_is_refused(teams_app: LiveServer, teams_settings: Settings,
                                             identity: FakeBotIdentity, bot_connector: FakeBotConnector,
                                             order: str) -> None:
    asked = text("order ORD-10042", MALLORY, url(bot_connector))
    send(teams_app.url, asked, identity.token(url(bot_connector)))
    (reply,) = wait_for(lambda: bot_connector.replies(asked["id"]))
    assert reply["text"].startswith("🚫") and "attachments" not in reply
    assert audit(teams_settings, "lookup.order")[0].result == "refused"


def test_other_activities_are_accepted_and_ignored(teams_app: LiveServer, identity: FakeBotIdentity,
                                                   bot_connector: FakeBotConnector) -> None:
    from tests.bot.teams.conftest import activity

    update = activity("conversationUpdate", ANA, url(bot_connector), membersAdded=[{"id": "28:bot"}])
    assert send(teams_app.url, update, identity.token(url(bot_connector))).status_code == 200
    time.sleep(0.2)
    assert bot_connector.posted() == []


def test_the_allow_list_admits_a_user_without_asking_graph(settings: Settings, teams_settings: Settings,
                                                          identity: FakeBotIdentity,
                                                          bot_connector: FakeBotConnector) -> None:
    from syncdesk.web import create_app

    only_ben = Settings(_env_file=None, **teams_settings.model_dump() | {
        "teams_allowed_group": None, "teams_allowed_users": f"{BEN['aadObjectId'].upper()}, someone-else"})
    with LiveServer(create_app(only_ben)) as app:
        assert post_failure(app.url, FAILURE).status_code == 202
        assert click(app, identity, bot_connector, "reprocess", REPROCESS, user=BEN) == "Reprocess queued."
        assert click(app, identity, bot_connector, "reprocess", REPROCESS, user=ANA).startswith("🚫")
    assert bot_connector.requests_to("GET", r"/v1\.0/.*") == []


def test_oncall_answers_from_the_rotation(teams_settings: Settings, identity: FakeBotIdentity,
                                          bot_connector: FakeBotConnector) -> None:
    from syncdesk.web import create_app
    from tests.conftest import ROOT

    with_rotation = Settings(_env_file=None, **teams_settings.model_dump() | {
        "oncall_file": str(ROOT / "examples" / "oncall.yml")})
    with LiveServer(create_app(with_rotation)) as app:
        asked = text("oncall", ANA, url(bot_connector))
        send(app.url, asked, identity.token(url(bot_connector)))
        (reply,) = wait_for(lambda: bot_connector.replies(asked["id"]))
    assert reply["text"].startswith("On call now: ") and "Next: " in reply["text"]


def test_show_all_on_the_outage_card_replies_with_a_page_of_every_affected_order(
        teams_app: LiveServer, teams_settings: Settings, identity: FakeBotIdentity,
        bot_connector: FakeBotConnector) -> None:
    from workflows.core.models import Alert, Incident, utcnow

    for n in range(30):
        data = failure(id=f"ORD-T{n:03d}")
        data["event_id"] = f"evt-teams-{n}"
        assert post_failure(teams_app.url, data).status_code == 202
    with transaction(teams_settings.database_url) as session:
        now = utcnow()
        incident = Incident(system="synxis", state="open", open_for="synxis", opened_at=now, first_failure_at=now,
                            last_failure_at=now, failure_count=30, error_classes={"not_mapped": 30})
        session.add(incident)
        session.flush()
        for alert in session.scalars(select(Alert)):
            alert.incident_id = incident.id
        incident_id = incident.id
    clicked = submit({"syncdesk": "outage_show_all", "incident_id": incident_id, "page": 1}, ANA, url(bot_connector))
    assert send(teams_app.url, clicked, identity.token(url(bot_connector))).status_code == 200
    (reply,) = wait_for(lambda: bot_connector.replies(clicked["id"]))
    card = reply["attachments"][0]["content"]
    listed = str(card["body"])
    assert "page 2 of 2" in listed and listed.count("ORD-T0") == 5  # 30 orders, 25 a page: the last 5
    assert [a["data"]["page"] for a in card["actions"]] == [0]  # "Previous" only

    stranger = submit({"syncdesk": "outage_show_all", "incident_id": incident_id, "page": 0}, MALLORY,
                      url(bot_connector))
    assert send(teams_app.url, stranger, identity.token(url(bot_connector))).status_code == 200
    (refused,) = wait_for(lambda: bot_connector.replies(stranger["id"]))
    assert "not on the reservations team" in refused["text"]
    assert audit(teams_settings, "click.outage_show_all")[0].result == "refused"
