"""`syncdesk erase-guest` in Slack, end to end (issue 28): an order alerted by a real worker,
a thread reply that quotes the guest (a reason typed), the order cancelled on the platform;
then the command erases the guest and rewrites the alert and its reply in place with
`chat.update` on the local Slack, posting nothing new. Run again, it changes nothing."""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

import pytest
from sqlalchemy import select

from tests.bot.conftest import failure, with_platform
from tests.conftest import LiveServer, post_failure, run_cli, settings_env, wait_for
from tests.fakes.platform import FakePlatform
from tests.fakes.slack import FakeSlack
from tests.fakes.stripe import FakeStripe
from tests.workflows.guests.test_retention import steady
from workflows.actions.catalogue import perform
from workflows.actions.moves import Answers, Move
from workflows.core.db import transaction
from workflows.core.models import AuditEvent, utcnow
from workflows.core.settings import Settings
from workflows.guests import retention

ORDER = "ORD-10042"
GUEST = re.compile(r"larry|walker|example\.com|5551234567|555 123 4567", re.IGNORECASE)
QUOTING = {"failure__message": "Guest larry.walker@example.com rejected by the CRS",
               "failure__code": "not_mapped"}


@pytest.fixture
def moves_settings(slack_settings: Settings, platform_fake: FakePlatform, stripe_fake: FakeStripe) -> Settings:
    return with_platform(slack_settings, platform_fake, stripe_fake)


def shown(fake_slack: FakeSlack) -> str:
    """Everything the channel shows now: every message's text and blocks."""
    return json.dumps(list(fake_slack.messages.values()), ensure_ascii=False)


def settled(fake_slack: FakeSlack, channel: str, ts: str, words: str) -> None:
    wait_for(lambda: words in json.dumps(fake_slack.messages[(channel, ts)], ensure_ascii=False), timeout=60)


def test_erasing_a_guest_rewrites_the_alert_and_its_replies_and_is_idempotent(
        app: LiveServer, moves_settings: Settings, fake_slack: FakeSlack, platform_fake: FakePlatform,
        worker_factory: Any) -> None:
    worker_factory(moves_settings)
    event = failure(**QUOTING)
    platform_fake.seed(event["order"])
    assert post_failure(app.url, event).status_code == 202
    wait_for(lambda: fake_slack.calls("chat.postMessage"), timeout=60)
    channel, ts = next(iter(fake_slack.messages))
    assert "larry.walker@example.com" in shown(fake_slack) and "+44 5551234567" in shown(fake_slack)

    ack = perform(moves_settings, Move.CANCEL_REFUND, ORDER, "ITEM-1", "slack:U0ANA",
                  Answers(reason="Larry Walker called from +44 5551234567: cancel it"))
    assert ack.accepted, ack.message
    wait_for(lambda: [m for m in fake_slack.messages.values() if m.get("thread_ts") == ts], timeout=60)
    [reply_ts] = [k[1] for k, m in fake_slack.messages.items() if m.get("thread_ts") == ts]
    settled(fake_slack, channel, reply_ts, "called from +44 5551234567")
    done = failure(**QUOTING, event_id="evt_slack_02", order__status="Cancelled")
    assert post_failure(app.url, done).status_code == 202  # the platform cancelled the order: resolved
    settled(fake_slack, channel, ts, "Cancelled · ORD-10042")
    posts, updates = steady(lambda: (len(fake_slack.calls("chat.postMessage")),
                                     len(fake_slack.calls("chat.update"))))

    env = settings_env(moves_settings)
    result = run_cli(env, "erase-guest", "Larry.Walker@example.com")
    assert result.returncode == 0, result.stderr
    assert f"erased {ORDER}: " in result.stdout and "order_search 4" in result.stdout
    assert f"chat messages rewritten: {ORDER}: slack 2" in result.stdout
    assert not GUEST.search(result.stdout)  # it says what it touched, not what it erased

    assert not GUEST.search(shown(fake_slack)), shown(fake_slack)  # the alert and its reply, rewritten
    rewrites = fake_slack.calls("chat.update")[updates:]
    assert {(c["channel"], c["ts"]) for c in rewrites} >= {(channel, ts), (channel, reply_ts)}
    assert len(fake_slack.calls("chat.postMessage")) == posts  # nothing posted anew
    alert = json.dumps(fake_slack.messages[(channel, ts)], ensure_ascii=False)
    assert "(guest details erased)" in alert and "Cancelled · ORD-10042" in alert
    assert "[guest of ORD-10042] called from [guest of ORD-10042]: cancel it" in \
        fake_slack.messages[(channel, reply_ts)]["text"]

    with transaction(moves_settings.database_url) as session:
        [erased] = session.scalars(select(AuditEvent).where(AuditEvent.action == "guest.erased")).all()
        assert erased.actor.startswith("cli:") and erased.detail["why"] == "request by e-mail"
        assert not GUEST.search(json.dumps(erased.detail))  # audited without the values erased

    again = run_cli(env, "erase-guest", "larry.walker@example.com")
    assert (again.returncode, again.stdout.strip()) == (0, ("No order of this guest (e-mail) is stored: nothing "
                                                           "to erase."))
    by_order = run_cli(env, "erase-guest", ORDER)
    assert (by_order.returncode, by_order.stdout.strip()) == (0, f"already erased: {ORDER}")
    assert len(fake_slack.calls("chat.update")) == updates + len(rewrites)  # nothing rewritten twice
    with transaction(moves_settings.database_url) as session:
        assert len(session.scalars(select(AuditEvent).where(AuditEvent.action == "guest.erased")).all()) == 1


def test_an_open_alert_is_kept_unless_asked_and_an_unknown_guest_is_said(
        app: LiveServer, moves_settings: Settings, fake_slack: FakeSlack, worker_factory: Any) -> None:
    worker_factory(moves_settings)
    assert post_failure(app.url, failure()).status_code == 202
    wait_for(lambda: fake_slack.calls("chat.postMessage"), timeout=60)
    env = settings_env(moves_settings)

    kept = run_cli(env, "erase-guest", "+44 555 123 4567")  # the phone, written another way
    assert kept.returncode == 1 and f"not erased, an alert is open: {ORDER}" in kept.stderr
    assert "larry.walker@example.com" in shown(fake_slack)

    erased = run_cli(env, "erase-guest", "+445551234567", "--include-open")
    assert erased.returncode == 0, erased.stderr
    assert f"chat messages rewritten: {ORDER}: slack 1" in erased.stdout
    assert not GUEST.search(shown(fake_slack))

    unknown = run_cli(env, "erase-guest", "ORD-NOPE")
    assert unknown.returncode == 1 and "no order syncdesk knows" in unknown.stderr


def test_when_slack_fails_during_the_erasure_a_worker_rewrites_the_alert(
        app: LiveServer, moves_settings: Settings, fake_slack: FakeSlack, worker_factory: Any) -> None:
    worker_factory(moves_settings)
    assert post_failure(app.url, failure()).status_code == 202
    wait_for(lambda: fake_slack.calls("chat.postMessage"), timeout=60)
    steady(lambda: len(fake_slack.calls("chat.update")))
    fake_slack.fail("chat.update", "fatal_error")

    result = run_cli(settings_env(moves_settings), "erase-guest", ORDER, "--include-open")
    assert result.returncode == 3, result.stderr  # erased; the chat is queued, not done yet
    assert f"erased {ORDER}" in result.stdout and "chat messages not rewritten yet: ORD-10042" in result.stderr
    wait_for(lambda: not GUEST.search(shown(fake_slack)), timeout=60)


def test_retention_has_a_worker_rewrite_the_alert_of_each_order_it_erases(
        app: LiveServer, moves_settings: Settings, fake_slack: FakeSlack, worker_factory: Any) -> None:
    worker_factory(moves_settings)
    assert post_failure(app.url, failure()).status_code == 202
    wait_for(lambda: fake_slack.calls("chat.postMessage"), timeout=60)
    channel, ts = next(iter(fake_slack.messages))
    assert post_failure(app.url, failure(event_id="evt_slack_02", order__status="Complete")).status_code == 202
    settled(fake_slack, channel, ts, "Complete · ORD-10042")
    posts = steady(lambda: len(fake_slack.calls("chat.postMessage")))

    later = utcnow() + dt.timedelta(days=moves_settings.guest_data_days + 1)
    assert retention.run_daily(settings=moves_settings, now=later).startswith("1 guest erased")
    settled(fake_slack, channel, ts, "(guest details erased)")
    assert not GUEST.search(shown(fake_slack)) and len(fake_slack.calls("chat.postMessage")) == posts
