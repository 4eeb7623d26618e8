"""Outbound: msal tokens from the (TLS) token endpoint, cached until expiry; activities sent,
updated in place and replied to on the Bot Connector; the notifier on top of them."""

from __future__ import annotations

import dataclasses

import pytest
from redis import Redis

from bot.teams.connector import (
    in_thread,
    ActivityGone,
    BotConnector,
    BotToken,
    TeamsApiError,
    message,
)
from bot.teams.notifier import TeamsNotifier
from tests.bot.teams.conftest import CONVERSATION
from tests.bot.teams.test_cards import snapshot
from tests.fakes.teams import BOT_SCOPE, FakeBotConnector, FakeTokenEndpoint
from workflows.core.settings import Settings
from workflows.orders.snapshot import AuditView


def test_the_token_comes_from_the_tls_token_endpoint_and_is_cached_until_it_expires(
        teams_settings: Settings, token_endpoint: FakeTokenEndpoint) -> None:
    token = BotToken(teams_settings)
    first = token.get()
    assert token.get() == first and token.get() == first
    (request,) = token_endpoint.token_requests()
    assert request.form["grant_type"] == "client_credentials" and request.form["scope"] == BOT_SCOPE
    assert token_endpoint.url.startswith("https://")


def test_an_expired_token_is_fetched_again(teams_settings: Settings, token_endpoint: FakeTokenEndpoint) -> None:
    token_endpoint.expires_in = 1  # msal refreshes a token this close to its expiry at once
    token = BotToken(teams_settings)
    assert token.get() != token.get()
    assert len(token_endpoint.token_requests()) == 2


def test_a_wrong_app_password_is_a_clear_error(teams_settings: Settings) -> None:
    wrong = Settings(_env_file=None, **teams_settings.model_dump() | {"teams_app_password": "nope"})
    with pytest.raises(TeamsApiError, match="invalid_client"):
        BotToken(wrong).get()


def test_send_update_and_reply(teams_settings: Settings, bot_connector: FakeBotConnector) -> None:
    connector = BotConnector(teams_settings)
    card = {"contentType": "application/vnd.microsoft.card.adaptive",
            "content": {"type": "AdaptiveCard", "version": "1.5", "body": []}}
    activity_id = connector.post(CONVERSATION, message("hello", card))
    assert connector.update(CONVERSATION, activity_id, message("hello again", card)) == activity_id
    connector.reply(in_thread(CONVERSATION, activity_id), activity_id, message("a reply"))
    (posted,) = bot_connector.cards(CONVERSATION)
    assert posted["type"] == "message" and posted["attachments"][0]["content"]["version"] == "1.5"
    assert bot_connector.updates(activity_id)[0]["text"] == "hello again"
    assert bot_connector.replies(activity_id)[0]["text"] == "a reply"


def test_a_reply_to_the_bare_channel_id_lands_at_the_top_level_as_in_teams(
        teams_settings: Settings, bot_connector: FakeBotConnector) -> None:
    """`replyToId` alone does not thread in a Teams channel (microsoft/botframework-sdk#6626):
    the stand-in places it at the top level, so a notifier that forgets `;messageid=` is caught."""
    connector = BotConnector(teams_settings)
    root = connector.post(CONVERSATION, message("the alert"))
    connector.reply(CONVERSATION, root, message("lost at the top level"))
    assert bot_connector.replies(root) == []
    assert [a["text"] for a in bot_connector.top_level(CONVERSATION)] == ["the alert", "lost at the top level"]
    assert in_thread(CONVERSATION + ";messageid=1", root) == f"{CONVERSATION};messageid={root}"
    assert all((r.header("Authorization") or "").startswith("Bearer fake-token-") for r in bot_connector.requests)


def test_updating_a_deleted_activity_says_it_is_gone(teams_settings: Settings, bot_connector: FakeBotConnector) -> None:
    with pytest.raises(ActivityGone):
        BotConnector(teams_settings).update(CONVERSATION, "1699999999999", message("x"))


def test_throttling_is_retried_after_retry_after(teams_settings: Settings, bot_connector: FakeBotConnector) -> None:
    bot_connector.inject("status", status=429, body='{"error": {"code": "Throttled"}}', times=2, method="POST")
    BotConnector(teams_settings).post(CONVERSATION, message("eventually"))
    assert len(bot_connector.cards()) == 0 and bot_connector.posted()[-1]["text"] == "eventually"


def test_a_server_error_raises_so_the_job_is_retried(teams_settings: Settings, bot_connector: FakeBotConnector) -> None:
    bot_connector.fail_with_status(502, method="POST")
    with pytest.raises(TeamsApiError, match="502"):
        BotConnector(teams_settings).post(CONVERSATION, message("x"))


def test_the_notifier_posts_once_then_updates_in_place_and_replies_each_outcome_once(
        teams_settings: Settings, bot_connector: FakeBotConnector) -> None:
    notifier = TeamsNotifier(teams_settings, redis=Redis.from_url(teams_settings.redis_url))
    snap = snapshot()
    where = notifier.show(snap, (None, None))
    assert where[0] == CONVERSATION and len(bot_connector.cards()) == 1
    outcome = AuditView(snap.placed_at, "teams:aaa (Ana Lopez)", "reprocess.failed", "ITEM-1", "failed",  # type: ignore[arg-type]
                        {"error_class": "timeout", "message": "Read timed out"})
    later = dataclasses.replace(snap, audit=(outcome,))
    assert notifier.show(later, where) == where
    assert notifier.show(later, where) == where
    assert len(bot_connector.cards()) == 1 and len(bot_connector.updates(where[1])) == 2
    (reply,) = bot_connector.replies(where[1])
    assert reply["text"].startswith("Reprocessed by Ana Lopez: ITEM-1 failed again · Timeout")


def test_an_alert_deleted_in_teams_is_posted_again(teams_settings: Settings, bot_connector: FakeBotConnector) -> None:
    notifier = TeamsNotifier(teams_settings, redis=Redis.from_url(teams_settings.redis_url))
    where = notifier.show(snapshot(), (None, None))
    bot_connector.deleted.add(where[1] or "")
    again = notifier.show(snapshot(), where)
    assert again != where and len(bot_connector.cards()) == 2


def test_worker_processes_share_one_token_through_redis(teams_settings: Settings,
                                                        token_endpoint: FakeTokenEndpoint) -> None:
    # RQ runs each job in a forked child: each gets a new BotToken, the token survives in Redis
    redis = Redis.from_url(teams_settings.redis_url)
    tokens = [BotToken(teams_settings, redis).get() for _ in range(3)]
    assert len(set(tokens)) == 1 and len(token_endpoint.token_requests()) == 1
