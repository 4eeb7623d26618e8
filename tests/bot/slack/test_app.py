"""The Bolt app over real HTTP: signed Slack requests into the live web app, real Redis and
database, its Web API calls going to the fake Slack server."""

from __future__ import annotations

import json
import time

from typing import Any

from rq import Queue
from rq.job import Job
from sqlalchemy import select

from tests.bot.conftest import (
    ANA,
    BEN,
    MALLORY,
    click,
    command,
    event,
    failure,
    interaction,
    send,
    signature,
    submission,
)
from tests.conftest import post_failure, wait_for
from workflows.core.db import transaction
from workflows.core.models import AuditEvent, OrderItem, SyncAttempt
from workflows.core.queue import get_queues, get_redis


def queued(settings, prefix: str) -> list[str]:
    """Ids of the jobs waiting (now or scheduled) whose id starts with `prefix`."""
    ids = []
    for queue in get_queues(settings):
        ids += queue.get_job_ids() + queue.scheduled_job_registry.get_job_ids()
    return [i for i in ids if i.startswith(prefix)]


def audit_events(settings, action: str) -> list[AuditEvent]:
    with transaction(settings.database_url) as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def hook_texts(fake_slack) -> list[str]:
    return [h.get("text", "") for h in fake_slack.hooks]


def test_reprocess_click_is_acked_quickly_enqueues_one_job_and_is_audited(slack_app, slack_settings, fake_slack,
                                                                          recorded_order):
    started = time.perf_counter()
    response = interaction(slack_app, click("reprocess", recorded_order, "ITEM-1",
                                            response_url=fake_slack.response_url()))
    elapsed = time.perf_counter() - started
    assert response.status_code == 200 and response.text == ""
    assert elapsed < 1.0
    assert len(queued(slack_settings, "reprocess")) == 1
    [audit] = audit_events(slack_settings, "click.reprocess")
    assert (audit.actor, audit.result, audit.item_id) == ("slack:U0ANA (ana)", "queued", "ITEM-1")
    wait_for(lambda: "Reprocess queued." in hook_texts(fake_slack))
    assert fake_slack.hooks[-1]["response_type"] == "ephemeral"


def test_same_click_redelivered_with_retry_header_enqueues_nothing_more(slack_app, slack_settings, fake_slack,
                                                                        recorded_order):
    payload = click("reprocess", recorded_order, "ITEM-1", response_url=fake_slack.response_url())
    assert interaction(slack_app, payload).status_code == 200
    again = interaction(slack_app, payload, headers={"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"})
    assert again.status_code == 200
    assert len(queued(slack_settings, "reprocess")) == 1
    assert len(audit_events(slack_settings, "click.reprocess")) == 1  # the redelivery did nothing at all


def test_double_click_enqueues_one_job_and_says_it_is_already_queued(slack_app, slack_settings, fake_slack,
                                                                     recorded_order):
    for user in (ANA, BEN):
        assert interaction(slack_app, click("reprocess", recorded_order, "ITEM-1", user=user,
                                            response_url=fake_slack.response_url())).status_code == 200
    assert len(queued(slack_settings, "reprocess")) == 1
    wait_for(lambda: "That reprocess is already queued (asked by <@U0ANA>)." in hook_texts(fake_slack))


def test_second_click_while_processing_is_told_who_is_on_it(slack_app, slack_settings, fake_slack, recorded_order):
    with transaction(slack_settings.database_url) as session:
        item = session.scalar(select(OrderItem).where(OrderItem.item_id == "ITEM-1"))
        item.sync_status = "processing"
        session.add(SyncAttempt(item_pk=item.pk, order_id=item.order_id, number=2, status="processing",
                                triggered_by="slack:U0BEN (ben)", job_id="reprocess:ORD-10042:ITEM-1:2"))
    interaction(slack_app, click("reprocess", recorded_order, "ITEM-1", response_url=fake_slack.response_url()))
    wait_for(lambda: "<@U0BEN> is already reprocessing ITEM-1." in hook_texts(fake_slack))
    assert queued(slack_settings, "reprocess") == []


def test_non_member_is_refused_ephemerally_audited_and_nothing_is_enqueued(slack_app, slack_settings, fake_slack,
                                                                           recorded_order):
    response = interaction(slack_app, click("reprocess", recorded_order, "ITEM-1", user=MALLORY,
                                            response_url=fake_slack.response_url()))
    assert response.status_code == 200
    wait_for(lambda: any("not on the reservations team" in t for t in hook_texts(fake_slack)))
    assert queued(slack_settings, "reprocess") == []
    [refusal] = audit_events(slack_settings, "click.reprocess")
    assert (refusal.actor, refusal.result) == ("slack:U0MALLORY (mallory)", "refused")
    assert refusal.detail["reason"] == "not a member of S0RESV"
    assert [c["usergroup"] for c in fake_slack.calls("usergroups.users.list")] == ["S0RESV"]


def test_membership_is_cached_between_clicks(slack_app, fake_slack, recorded_order):
    for _ in range(3):
        interaction(slack_app, click("reprocess", recorded_order, "ITEM-1", response_url=fake_slack.response_url()))
    assert len(fake_slack.calls("usergroups.users.list")) == 1


def test_bad_or_stale_signature_is_401_and_does_nothing(slack_app, slack_settings, recorded_order):
    payload = click("reprocess", recorded_order, "ITEM-1")
    assert interaction(slack_app, payload, secret="not-the-secret").status_code == 401
    assert interaction(slack_app, payload, timestamp=int(time.time()) - 600).status_code == 401
    assert queued(slack_settings, "reprocess") == []
    assert audit_events(slack_settings, "click.reprocess") == []


def test_booked_manually_submission_with_empty_or_malformed_reference_shows_the_error(slack_app, slack_settings,
                                                                                      recorded_order):
    for reference in ("", "   ", "no spaces allowed!"):
        response = interaction(slack_app, submission(recorded_order, "ITEM-1", "synxis", reference))
        assert response.status_code == 200
        body = response.json()
        assert body["response_action"] == "errors"
        assert list(body["errors"]) == ["reference"]
    assert "required" in interaction(slack_app, submission(recorded_order, "ITEM-1", "synxis", "")).json()["errors"][
        "reference"]
    assert queued(slack_settings, "manual") == []


def test_premier_submission_without_payment_method_points_at_the_select(slack_app, slack_settings):
    post_failure(slack_app.url, failure(**{"order__items__0__system": "premier", "order__items__0__kind": "spa",
                                           "failure__system": "premier"}))
    response = interaction(slack_app, submission("ORD-10042", "ITEM-1", "premier", "PREM-123", None))
    assert response.json()["response_action"] == "errors"
    assert "payment method" in response.json()["errors"]["payment_method"]
    ok = interaction(slack_app, submission("ORD-10042", "ITEM-1", "premier", "PREM-123", "revspa"))
    assert ok.status_code == 200 and ok.text == ""
    assert len(queued(slack_settings, "manual")) == 1


def test_valid_booked_manually_submission_closes_the_modal_and_enqueues(slack_app, slack_settings, fake_slack,
                                                                        recorded_order):
    response = interaction(slack_app, submission(recorded_order, "ITEM-1", "synxis", "13098CU000379"))
    assert (response.status_code, response.text) == (200, "")
    assert len(queued(slack_settings, "manual")) == 1
    wait_for(lambda: fake_slack.calls("chat.postEphemeral"))
    assert fake_slack.calls("chat.postEphemeral")[0]["text"] == "Booked manually queued."


def test_booked_manually_click_opens_the_form_then_shows_the_synxis_check(slack_app, fake_slack, recorded_order):
    assert interaction(slack_app, click("booked_manually", recorded_order, "ITEM-1")).status_code == 200
    opened = wait_for(lambda: fake_slack.calls("views.open"))[0]["view"]
    assert opened["callback_id"] == "booked_manually_submit"
    assert "Checking SynXis" in json.dumps(opened)
    updated = wait_for(lambda: fake_slack.calls("views.update"))[0]["view"]
    assert "Could not check SynXis" in json.dumps(updated)  # no SynXis connector configured in this test
    assert [b["block_id"] for b in updated["blocks"] if b["type"] == "input"] == ["reference", "notes"]


def test_view_log_opens_a_modal_with_the_raw_log(slack_app, fake_slack, recorded_order):
    interaction(slack_app, click("view_log", recorded_order, "ITEM-1"))
    view = wait_for(lambda: fake_slack.calls("views.open"))[0]["view"]
    assert view["title"]["text"] == "Error log"
    assert "POST /v1/api/reservation -&gt; 400" in json.dumps(view)


def test_mark_complete_before_items_are_confirmed_is_refused_with_the_reason(slack_app, slack_settings, fake_slack,
                                                                             recorded_order):
    interaction(slack_app, click("mark_complete", recorded_order, None, response_url=fake_slack.response_url()))
    wait_for(lambda: "Not yet: ITEM-1 still In Progress." in hook_texts(fake_slack))
    assert queued(slack_settings, "complete") == []


def test_slash_order_answers_with_the_ephemeral_card(slack_app, recorded_order):
    response = command(slack_app, f"order {recorded_order}")
    assert response.status_code == 200
    body = response.json()
    assert body["response_type"] == "ephemeral"
    assert body["blocks"][0]["text"]["text"].endswith("SynXis booking failed · ORD-10042 · " +
                                                      body["blocks"][0]["text"]["text"].split(" · ")[-1])
    # SynXis is not configured in these tests: the card says to book by hand, and offers no Reprocess
    [item_actions] = [b for b in body["blocks"] if b.get("block_id") == "actions:ITEM-1"]
    assert [e["action_id"] for e in item_actions["elements"] if e["type"] == "button"] == ["booked_manually"]
    [playbook] = [b for b in body["blocks"] if b.get("block_id") == "playbook:ITEM-1"]
    assert "connector is not configured" in playbook["text"]["text"]


def test_slash_orders_and_order_alias_show_the_queue(slack_app, recorded_order):
    body = command(slack_app, "orders failed").json()
    assert body["response_type"] == "ephemeral" and "ORD-10042" in json.dumps(body["blocks"])
    assert "No orders match." in json.dumps(command(slack_app, "orders success").json()["blocks"])
    assert command(slack_app, "ORD-10042", name="/order").json()["blocks"][0]["type"] == "header"
    assert "Usage" in command(slack_app, "help").json()["text"]


def test_slash_command_from_a_non_member_is_refused(slack_app, recorded_order):
    body = command(slack_app, f"order {recorded_order}", user=MALLORY).json()
    assert "not on the reservations team" in body["text"] and "blocks" not in body


def test_app_home_opened_publishes_the_queue_once_even_when_redelivered(slack_app, fake_slack, recorded_order):
    home = {"type": "app_home_opened", "user": ANA["id"], "channel": "D0ANA", "tab": "home", "event_ts": "1.1"}
    assert event(slack_app, home, event_id="EvHome1").status_code == 200
    assert event(slack_app, home, event_id="EvHome1", headers={"X-Slack-Retry-Num": "1"}).status_code == 200
    wait_for(lambda: fake_slack.home.get(ANA["id"]))
    time.sleep(0.3)
    assert len(fake_slack.calls("views.publish")) == 1
    view = fake_slack.home[ANA["id"]]
    assert view["type"] == "home" and "ORD-10042" in json.dumps(view)


def test_url_verification_challenge_is_answered(slack_app):
    body = json.dumps({"token": "legacy", "challenge": "abc123", "type": "url_verification"})
    response = send(slack_app, body, "application/json")
    assert response.status_code == 200 and response.json()["challenge"] == "abc123"


def test_signature_helper_matches_slacks_documented_example():
    # docs.slack.dev/authentication/verifying-requests-from-slack, "a recipe for security"
    body = ("token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&"
            "channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&"
            "response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&"
            "trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c")
    assert signature(body, "1531420618", "8f742231b10e8888abcd99yyyzzz85a5") == (
        "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503")


def test_booked_manually_form_shows_a_reservation_synxis_already_holds(settings, fake_slack):
    from syncdesk.web import create_app
    from tests.bot.conftest import BOT_TOKEN, RESERVATIONS, SIGNING_SECRET
    from tests.conftest import LiveServer
    from tests.fakes.synxis import FakeSynxis
    from workflows.core.settings import Settings

    with FakeSynxis() as synxis:
        number = synxis.seed_reservation(reference="ORD-10042/ITEM-1")
        configured = Settings(_env_file=None, **settings.model_dump() | {
            "slack_bot_token": BOT_TOKEN, "slack_signing_secret": SIGNING_SECRET, "slack_api_url": fake_slack.api_url,
            "slack_allowed_usergroup": RESERVATIONS, "synxis_api_url": synxis.url, "synxis_token_url": synxis.token_url,
            "synxis_client_id": synxis.client_id, "synxis_client_secret": synxis.client_secret})
        with LiveServer(create_app(configured)) as server:
            post_failure(server.url, failure())
            interaction(server, click("booked_manually", "ORD-10042", "ITEM-1"))
            updated = wait_for(lambda: fake_slack.calls("views.update"))[0]["view"]
    [ref] = [b for b in updated["blocks"] if b.get("block_id") == "reference"]
    assert ref["element"]["initial_value"] == number
    assert f"SynXis already has reservation `{number}`" in json.dumps(updated)


def test_home_tab_filters_republish_the_queue(slack_app, fake_slack, recorded_order):
    payload = click("home_filter_status", recorded_order, None)
    payload["container"] = {"type": "view", "view_id": "V0HOME"}
    payload.pop("channel")
    payload["actions"][0].update(type="static_select", selected_option={"value": "success"})
    payload["view"] = {"id": "V0HOME", "type": "home", "state": {"values": {"home_filters": {
        "home_filter_status": {"type": "static_select", "selected_option": {"value": "success"}},
        "home_filter_date": {"type": "datepicker", "selected_date": None}}}}}
    assert interaction(slack_app, payload).status_code == 200
    view = wait_for(lambda: fake_slack.home.get(ANA["id"]))
    text = json.dumps(view)
    assert "Order queue (success)" in text and "No orders match." in text
    assert "ORD-10042" in text  # still an open alert, listed above the filtered queue


def test_complete_without_payment_check_opens_a_form_that_requires_a_reason(slack_app, slack_settings, fake_slack):
    """Issue 13: not Stripe, so no live check; the confirm dialog asks for the reason, audited."""
    import json as _json

    for n, status in ((1, "In Progress"), (2, "Confirmed")):
        data = failure(event_id=f"evt-np-{n}", order__payment={"provider": "adyen", "reference": "PSP-1"},
                       order__items__0__status=status)
        assert post_failure(slack_app.url, data).status_code == 202
    assert interaction(slack_app, click("complete_unchecked", "ORD-10042", None)).status_code == 200
    view = wait_for(lambda: fake_slack.calls("views.open"))[0]["view"]
    assert view["callback_id"] == "complete_unchecked_submit"

    def submit(reason: str) -> Any:
        values = {"reason": {"value": {"type": "plain_text_input", "value": reason}}}
        body = {"type": "view_submission", "team": {"id": "T0SYNCDESK"}, "user": ANA, "api_app_id": "A0SYNCDESK",
                "token": "legacy", "trigger_id": "1.t",
                "view": {"id": "V0", "type": "modal", "callback_id": view["callback_id"],
                         "private_metadata": view["private_metadata"], "hash": "1", "state": {"values": values}}}
        return interaction(slack_app, body)

    short = submit("ok")
    assert short.status_code == 200 and _json.loads(short.text)["errors"]["reason"].startswith("Say how")
    assert queued(slack_settings, "complete") == []
    assert submit("Seen settled in the Adyen dashboard").text == ""
    [job_id] = queued(slack_settings, "complete")
    job = Job.fetch(job_id, connection=get_redis(slack_settings.redis_url))
    assert job.kwargs["unchecked_reason"] == "Seen settled in the Adyen dashboard"
