"""SlackNotifier against the fake Slack Web API: post, update the same message, thread
replies for outcomes, pacing, 429 Retry-After and a deleted message."""

from __future__ import annotations

import dataclasses
import time

import pytest

from bot.slack.notifier import SlackNotifier
from tests.bot.snapshots import audit, item, order


@pytest.fixture
def notifier(slack_settings) -> SlackNotifier:
    return SlackNotifier(slack_settings.model_copy(update={"chat_pace_seconds": 0.3}))


def test_first_show_posts_to_the_alert_channel_then_updates_the_same_message(notifier, fake_slack):
    snapshot = order()
    channel, ts = notifier.show(snapshot, (None, None))
    [post] = fake_slack.calls("chat.postMessage")
    assert post["channel"] == "#reservations-alerts" and channel == "C0ALERTS"
    assert "SynXis booking failed · ORD-10042" in post["blocks"][0]["text"]["text"]
    assert "Larry Walker" in post["text"]

    confirmed = order(items=(item(status="Confirmed", sync_status="success", external_reference="13098CU000379",
                                  confirmed_by="slack:U0ANA (ana)"),))
    assert notifier.show(confirmed, (channel, ts)) == (channel, ts)
    [update] = fake_slack.calls("chat.update")
    assert (update["channel"], update["ts"]) == (channel, ts)
    assert [e for b in update["blocks"] for e in b.get("elements", [])
            if e.get("action_id") == "mark_complete"]  # Mark complete is offered now
    assert len(fake_slack.calls("chat.postMessage")) == 1


def test_a_429_is_retried_after_retry_after_and_the_alert_is_not_lost(notifier, fake_slack):
    fake_slack.rate_limit("chat.postMessage", retry_after=1)
    started = time.monotonic()
    channel, ts = notifier.show(order(), (None, None))
    assert time.monotonic() - started >= 1.0
    assert len(fake_slack.calls("chat.postMessage")) == 2  # the refused one and the retry
    assert (channel, ts) in fake_slack.messages


def test_when_slack_keeps_refusing_the_error_reaches_the_job_so_rq_retries_it(slack_settings, fake_slack):
    from slack_sdk.errors import SlackApiError

    fake_slack.fail("chat.postMessage", "internal_error")
    with pytest.raises(SlackApiError):
        SlackNotifier(slack_settings.model_copy(update={"chat_pace_seconds": 0.01})).show(order(), (None, None))


def test_a_message_deleted_in_slack_is_posted_again(notifier, fake_slack):
    channel, ts = notifier.show(order(), (None, None))
    del fake_slack.messages[(channel, ts)]
    new = notifier.show(order(), (channel, ts))
    assert new != (channel, ts) and new in fake_slack.messages


def test_each_job_outcome_becomes_one_thread_reply(notifier, fake_slack):
    channel, ts = notifier.show(order(), (None, None))
    confirmed = audit("item.confirmed", actor="slack:U0ANA (ana)", minutes=3, confirmation="13098CU000379",
                      how="created")
    snapshot = order(items=(item(status="Confirmed", sync_status="success"),), audit_trail=(confirmed,))
    notifier.show(snapshot, (channel, ts))
    notifier.show(snapshot, (channel, ts))  # a second refresh says nothing new
    replies = [c for c in fake_slack.calls("chat.postMessage") if c.get("thread_ts")]
    assert [(r["thread_ts"], r["text"]) for r in replies] == [
        (ts, "Reprocessed by <@U0ANA>: booked, ITEM-1 `13098CU000379`")]


def test_posts_to_one_channel_are_paced(notifier, fake_slack):
    started = time.monotonic()
    for n in range(3):
        notifier.show(dataclasses.replace(order(), order_id=f"ORD-{n}"), (None, None))
    assert time.monotonic() - started >= 0.6  # three posts, 0.3 s apart
    assert len(fake_slack.calls("chat.postMessage")) == 3


def test_an_alert_logged_without_a_token_is_posted_once_a_token_is_set(notifier, fake_slack):
    channel, ts = notifier.show(order(), ("log", "log:ORD-10042"))
    assert fake_slack.calls("chat.update") == [] and (channel, ts) in fake_slack.messages


def test_register_surfaces_picks_slack_when_a_token_is_set(slack_settings, settings):
    from bot.log import LogNotifier
    from syncdesk.surfaces import register_surfaces
    from workflows.orders.notify import notifiers

    register_surfaces(slack_settings)
    assert isinstance(notifiers.get("slack"), SlackNotifier)
    register_surfaces(settings)
    assert isinstance(notifiers.get("slack"), LogNotifier)
