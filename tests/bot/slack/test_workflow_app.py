"""The on-call and retail listeners of the Bolt app over real HTTP: signed Slack requests
into the live web app, real Redis and database, Web API calls to the fake Slack server.
"I'm on it", "Reprocess all N", Dispatched and its modal, `/syncdesk oncall [take|release]`
and `/syncdesk reconcile` (answered after the ack, through the response_url)."""

from __future__ import annotations

import json
import time
from urllib.parse import urlencode

from sqlalchemy import select

from tests.bot.conftest import ANA, BEN, MALLORY, click, command, interaction, send
from tests.bot.slack.test_app import audit_events, hook_texts, queued
from tests.conftest import wait_for
from tests.workflows.retail.test_retail import add_order
from workflows.core import queue
from workflows.core.db import transaction
from workflows.core.models import Alert, Incident, utcnow


def alert_state(settings, order_id: str) -> tuple[str, str | None]:
    with transaction(settings.database_url) as session:
        alert = session.scalar(select(Alert).where(Alert.order_id == order_id))
        return alert.state, alert.acknowledged_by


def test_im_on_it_acknowledges_the_alert_stops_escalation_and_says_who_is_on_it(slack_app, slack_settings, fake_slack,
                                                                                 recorded_order):
    response = interaction(slack_app, click("im_on_it", recorded_order, None, response_url=fake_slack.response_url()))
    assert (response.status_code, response.text) == (200, "")
    assert alert_state(slack_settings, recorded_order) == ("acknowledged", "slack:U0ANA (ana)")
    [event] = audit_events(slack_settings, "click.im_on_it")
    assert (event.actor, event.result) == ("slack:U0ANA (ana)", "acknowledged")
    wait_for(lambda: "You're on ORD-10042: its escalation is stopped." in hook_texts(fake_slack))
    assert queued(slack_settings, "refresh__ORD-10042__slack__im-on-it")  # the alert is re-rendered from state

    interaction(slack_app, click("im_on_it", recorded_order, None, user=BEN, response_url=fake_slack.response_url()))
    wait_for(lambda: "<@U0ANA> is already on ORD-10042." in hook_texts(fake_slack))
    assert alert_state(slack_settings, recorded_order) == ("acknowledged", "slack:U0ANA (ana)")


def test_im_on_it_from_a_non_member_is_refused_and_changes_nothing(slack_app, slack_settings, fake_slack,
                                                                   recorded_order):
    interaction(slack_app, click("im_on_it", recorded_order, None, user=MALLORY, response_url=fake_slack.response_url()))
    wait_for(lambda: any("not on the reservations team" in t for t in hook_texts(fake_slack)))
    assert alert_state(slack_settings, recorded_order) == ("open", None)
    [refusal] = audit_events(slack_settings, "click.im_on_it")
    assert refusal.result == "refused"


def quiet_incident(settings, order_id: str) -> int:
    """An outage for SynXis that has gone quiet, with the order's alert grouped under it."""
    now = utcnow()
    with transaction(settings.database_url) as session:
        incident = Incident(system="synxis", state="quiet", open_for=None, opened_at=now, first_failure_at=now,
                            last_failure_at=now, all_clear_at=now, failure_count=5, error_classes={"timeout": 5})
        session.add(incident)
        session.flush()
        session.scalar(select(Alert).where(Alert.order_id == order_id)).incident_id = incident.id
        return incident.id


def reprocess_all_click(incident_id: int, user=ANA, response_url: str = "") -> dict:  # type: ignore[no-untyped-def]
    payload = click("reprocess_all", "x", None, user=user, response_url=response_url)
    payload["actions"][0].update(value=str(incident_id), block_id="reprocess_all")
    return payload


def test_reprocess_all_starts_one_recovery_at_the_systems_pace_once(slack_app, slack_settings, fake_slack,
                                                                    recorded_order):
    from workflows.outage import jobs as outage_jobs

    incident_id = quiet_incident(slack_settings, recorded_order)
    response = interaction(slack_app, reprocess_all_click(incident_id, response_url=fake_slack.response_url()))
    assert response.status_code == 200
    assert len(queued(slack_settings, "recovery-start")) == 1
    wait_for(lambda: "Reprocessing 1 item at SynXis's pace (5 requests/s, 4 at once), soonest arrival first."
             in hook_texts(fake_slack))
    interaction(slack_app, reprocess_all_click(incident_id, user=BEN, response_url=fake_slack.response_url()))
    wait_for(lambda: any(t.startswith("<@U0ANA> already asked to reprocess all") for t in hook_texts(fake_slack)))
    assert len(queued(slack_settings, "recovery-start")) == 1
    assert outage_jobs.start_recovery(incident_id, settings=slack_settings) == "recovering 1 item"
    assert alert_state(slack_settings, recorded_order)[0] == "acknowledged"  # the press stops escalation too


def test_reprocess_all_from_a_non_member_is_refused(slack_app, slack_settings, fake_slack, recorded_order):
    incident_id = quiet_incident(slack_settings, recorded_order)
    interaction(slack_app, reprocess_all_click(incident_id, user=MALLORY, response_url=fake_slack.response_url()))
    wait_for(lambda: any("not on the reservations team" in t for t in hook_texts(fake_slack)))
    assert queued(slack_settings, "reprocess") == []
    [refusal] = audit_events(slack_settings, "click.reprocess_all")
    assert refusal.result == "refused"


def dispatch_click(user=ANA) -> dict:  # type: ignore[no-untyped-def]
    payload = click("dispatched", "ORD-R1", "ITEM-1", user=user)
    payload["actions"][0]["block_id"] = "dispatch:ORD-R1"
    return payload


def dispatch_submission(courier: str | None, tracking: str | None, user=ANA) -> dict:  # type: ignore[no-untyped-def]
    values = {"courier": {"value": {"type": "plain_text_input", "value": courier}},
              "tracking": {"value": {"type": "plain_text_input", "value": tracking}}}
    meta = json.dumps({"order_id": "ORD-R1", "item_id": "ITEM-1", "channel": "C0ALERTS"})
    return {"type": "view_submission", "team": {"id": "T0SYNCDESK"}, "user": user, "api_app_id": "A0SYNCDESK",
            "token": "legacy", "trigger_id": f"{time.time_ns()}.trigger",
            "view": {"id": "V0DISPATCH", "type": "modal", "callback_id": "dispatched_submit",
                     "private_metadata": meta, "hash": "1.1", "state": {"values": values}}}


def test_dispatched_opens_the_courier_and_tracking_form(slack_app, slack_settings, fake_slack):
    add_order(slack_settings.database_url, "ORD-R1", hours_ago=30)
    assert interaction(slack_app, dispatch_click()).status_code == 200
    view = wait_for(lambda: fake_slack.calls("views.open"))[0]["view"]
    assert view["callback_id"] == "dispatched_submit"
    assert [b["block_id"] for b in view["blocks"] if b["type"] == "input"] == ["courier", "tracking"]


def test_dispatched_form_without_courier_or_tracking_shows_the_error_on_its_field(slack_app, slack_settings):
    add_order(slack_settings.database_url, "ORD-R1", hours_ago=30)
    for courier, tracking, field in (("", "RM123456785GB", "courier"), ("Royal Mail", None, "tracking"),
                                     ("Royal Mail", "!!", "tracking")):
        body = interaction(slack_app, dispatch_submission(courier, tracking)).json()
        assert body["response_action"] == "errors" and list(body["errors"]) == [field]
    assert queued(slack_settings, "dispatch") == []


def test_a_valid_dispatch_enqueues_the_job_once_under_its_deterministic_id(slack_app, slack_settings, fake_slack):
    add_order(slack_settings.database_url, "ORD-R1", hours_ago=30)
    response = interaction(slack_app, dispatch_submission("Royal Mail", "RM123456785GB"))
    assert (response.status_code, response.text) == (200, "")
    assert queued(slack_settings, "dispatch") == [queue.job_id("dispatch", "ORD-R1", "ITEM-1", "RM123456785GB")]
    wait_for(lambda: any(c["text"] == "Dispatch of ITEM-1 via Royal Mail (RM123456785GB) queued."
                         for c in fake_slack.calls("chat.postEphemeral")))
    again = interaction(slack_app, dispatch_submission("Royal Mail", "RM123456785GB", user=BEN)).json()
    assert again["response_action"] == "errors" and "already queued" in again["errors"]["tracking"]
    assert len(queued(slack_settings, "dispatch")) == 1


def test_slash_oncall_says_who_and_take_makes_the_clicker_on_call(slack_app, slack_settings):
    assert command(slack_app, "oncall").json()["text"] == "Nobody is on call (no rotation configured and no override)."
    taken = command(slack_app, "oncall take 2h").json()["text"]
    assert taken.startswith("On call now: <@U0ANA>, covering by override set by <@U0ANA>, until ")
    assert command(slack_app, "oncall", user=BEN).json()["text"].startswith("On call now: <@U0ANA>")
    [event] = audit_events(slack_settings, "oncall.take")
    assert event.actor == "slack:U0ANA (ana)" and event.detail["person"] == "U0ANA"
    assert command(slack_app, "oncall take whenever").json()["text"].startswith("Cannot take the on-call: cannot read")
    assert command(slack_app, "oncall release").json()["text"].startswith("Nobody is on call")
    assert "Usage" in command(slack_app, "oncall dance").json()["text"]
    assert "not on the reservations team" in command(slack_app, "oncall take", user=MALLORY).json()["text"]


def test_slash_reconcile_acks_at_once_and_answers_privately_after(slack_app, slack_settings, fake_slack):
    form = {"token": "legacy", "team_id": "T0SYNCDESK", "channel_id": "C0ALERTS", "user_id": ANA["id"],
            "user_name": ANA["username"], "command": "/syncdesk", "text": "reconcile", "api_app_id": "A0SYNCDESK",
            "response_url": fake_slack.response_url("reconcile"), "trigger_id": f"{time.time_ns()}.trigger"}
    started = time.perf_counter()
    response = send(slack_app, urlencode(form), "application/x-www-form-urlencoded")
    assert time.perf_counter() - started < 1.0
    assert response.json() == {"response_type": "ephemeral", "text": (
        "🔎 Reconciling syncdesk, the platform and Stripe… the result follows here in a moment.")}
    [answer] = wait_for(lambda: [h for h in fake_slack.hooks if h["_path"] == "/hooks/reconcile"])
    assert answer["response_type"] == "ephemeral"
    assert "PLATFORM_API_URL / PLATFORM_API_KEY not set" in json.dumps(answer["blocks"])
    assert [e.actor for e in audit_events(slack_settings, "reconcile.requested")] == ["slack:U0ANA (ana)"]
