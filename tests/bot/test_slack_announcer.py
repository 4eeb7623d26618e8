"""SlackAnnouncer and the notifier's outage threading against the fake Slack Web API:
direct messages through conversations.open, channel messages with their mention, the
outage message posted then updated in place, the digest and the retail reminder, alerts
threaded under their outage, and one shared pace per channel."""

from __future__ import annotations

import dataclasses
import time

import pytest

from bot.slack.announcer import SlackAnnouncer
from bot.slack.notifier import Pacer, SlackNotifier
from tests.bot.snapshots import audit, item, order
from tests.bot.test_slack_workflow_render import INCIDENTS, digest, reminder
from workflows.queue import get_redis


@pytest.fixture
def pacer(slack_settings) -> Pacer:
    return Pacer(get_redis(slack_settings.redis_url), interval=0.3)


@pytest.fixture
def announcer(slack_settings, pacer) -> SlackAnnouncer:
    return SlackAnnouncer(slack_settings, pacer=pacer)


@pytest.fixture
def notifier(slack_settings, pacer) -> SlackNotifier:
    return SlackNotifier(slack_settings, pacer=pacer)


def top_level(fake_slack) -> list[dict]:  # type: ignore[type-arg]
    return [c for c in fake_slack.calls("chat.postMessage") if not c.get("thread_ts")]


def test_a_direct_message_opens_the_im_and_links_the_alert(announcer, slack_settings, fake_slack, recorded_order):
    from workflows.db import transaction
    from workflows.models import Alert

    with transaction(slack_settings.database_url) as session:
        alert = session.query(Alert).filter_by(order_id=recorded_order).one()
        alert.channel, alert.message_id = "C0ALERTS", "1700000000.000100"
    announcer.direct_message(["U0ANA", "U0BEN"], "ORD-10042 — nobody has acted for 15 minutes", recorded_order)
    assert [c["users"] for c in fake_slack.calls("conversations.open")] == ["U0ANA", "U0BEN"]
    posts = fake_slack.calls("chat.postMessage")
    assert [p["channel"] for p in posts] == ["D0ANA", "D0BEN"]
    assert posts[0]["text"] == ("ORD-10042 — nobody has acted for 15 minutes\n"
                                "<https://slack.com/archives/C0ALERTS/p1700000000000100|Open the alert>")


def test_a_channel_message_leads_with_its_mention(announcer, fake_slack):
    ref = announcer.channel_message("Still unhandled after 30 minutes: ORD-1", "@here")
    announcer.channel_message("Still unhandled: ORD-2", "<!subteam^S0RESV|reservations>")
    first, second = fake_slack.calls("chat.postMessage")
    assert first["channel"] == "#reservations-alerts" and ref[0] == "C0ALERTS"
    assert first["text"] == "<!here> Still unhandled after 30 minutes: ORD-1"
    assert second["text"] == "<!subteam^S0RESV|reservations> Still unhandled: ORD-2"


def test_the_outage_message_is_posted_once_then_updated_in_place(announcer, fake_slack):
    ref = announcer.show_incident(INCIDENTS["open"], (None, None))
    assert announcer.show_incident(INCIDENTS["quiet, offered"], ref) == ref
    [post] = fake_slack.calls("chat.postMessage")
    assert post["text"].startswith("Possible outage: SynXis — 7 failures in 6 minutes")
    [update] = fake_slack.calls("chat.update")
    assert (update["channel"], update["ts"]) == ref
    assert any(b["type"] == "actions" for b in update["blocks"])  # Reprocess all 7, after the all-clear
    del fake_slack.messages[ref]
    assert announcer.show_incident(INCIDENTS["quiet, offered"], ref) != ref  # deleted in Slack: posted again


def test_the_digest_goes_to_the_digest_channel(slack_settings, fake_slack, pacer):
    fake_slack.channels["#reservations-digest"] = "C0DIGEST"
    settings = slack_settings.model_copy(update={"digest_channel": "#reservations-digest"})
    SlackAnnouncer(settings, pacer=pacer).show_digest(digest())
    [post] = fake_slack.calls("chat.postMessage")
    assert post["channel"] == "#reservations-digest" and post["blocks"][0]["type"] == "header"


def test_the_retail_reminder_is_one_message(announcer, fake_slack):
    announcer.show_retail_reminder(reminder(3, 2))
    [post] = fake_slack.calls("chat.postMessage")
    assert post["text"] == "3 retail orders awaiting dispatch for more than 24 h"
    assert len([b for b in post["blocks"] if b["type"] == "actions"]) == 3


def test_an_alert_of_an_outage_is_posted_in_its_thread_with_its_buttons_and_updated_in_place(notifier, announcer,
                                                                                             fake_slack):
    parent = announcer.show_incident(INCIDENTS["open"], (None, None))
    threaded = dataclasses.replace(order(), incident_id=7, incident_thread=parent)
    ref = notifier.show(threaded, (None, None))
    post = fake_slack.calls("chat.postMessage")[-1]
    assert (post["channel"], post["thread_ts"]) == parent
    assert [e["action_id"] for e in post["blocks"][-2]["elements"]] == ["reprocess", "booked_manually"]
    outcome = audit("item.confirmed", actor="slack:U0ANA (ana)", minutes=3, confirmation="13098CU000379",
                    how="created")
    confirmed = dataclasses.replace(threaded, items=(item(status="Confirmed", sync_status="success"),),
                                    audit=(outcome,))
    assert notifier.show(confirmed, ref) == ref
    assert fake_slack.calls("chat.update")[-1]["ts"] == ref[1]
    reply = fake_slack.calls("chat.postMessage")[-1]
    # Slack threads have one level: the outcome goes to the outage thread, naming its order
    assert (reply["thread_ts"], reply["text"]) == (parent[1], "ORD-10042: Reprocessed by <@U0ANA>: booked, ITEM-1 "
                                                              "`13098CU000379`")
    assert len(top_level(fake_slack)) == 1  # only the outage message


def test_an_alert_whose_outage_message_is_not_posted_is_not_held_back_outside_a_job(notifier, fake_slack):
    pending = dataclasses.replace(order(), incident_id=7, incident_thread=None)
    notifier.show(pending, (None, None))
    logged = dataclasses.replace(order(), order_id="ORD-2", incident_id=8, incident_thread=("log", "log:incident:8"))
    notifier.show(logged, (None, None))
    assert len(top_level(fake_slack)) == 2


def test_announcer_and_notifier_posts_to_one_channel_share_the_pace(notifier, announcer, fake_slack):
    started = time.monotonic()
    notifier.show(order(), (None, None))
    announcer.channel_message("Still unhandled: ORD-10042", "@here")
    announcer.show_incident(INCIDENTS["open"], (None, None))
    notifier.show(dataclasses.replace(order(), order_id="ORD-2"), (None, None))
    assert time.monotonic() - started >= 0.9  # four posts to one channel, 0.3 s apart
    assert len(fake_slack.calls("chat.postMessage")) == 4


def test_register_notifiers_also_registers_the_announcers_and_the_retail_sink(slack_settings, settings):
    from bot.setup import register_notifiers
    from workflows import announce, retail

    try:
        register_notifiers(slack_settings)
        assert isinstance(announce.announcer_for("slack"), SlackAnnouncer)
        assert retail._sinks["slack"] == announce.announcer_for("slack").show_retail_reminder
        register_notifiers(settings)  # no token: logged, never posted with a stale client
        assert isinstance(announce.announcer_for("slack"), announce.LogAnnouncer)
        assert retail._sinks["slack"].__name__ == "_log_retail_reminder"
    finally:
        announce.reset()
        retail._sinks.clear()
