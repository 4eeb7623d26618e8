"""The dead man's switch (issue 26): the web process tells on-call when the clock, the workers
or the poller have stopped, once, and again when they recover; `/readyz` says "degraded" and
`/metrics` exports what Prometheus' rules (deploy/prometheus-rules.yml) read. Through the real
web app (its watchdog thread) and the real Slack announcer on FakeSlack, with HEARTBEAT_MINUTES
shortened to well under a second."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml
from pydantic import SecretStr

from connectors.errors import AuthFailure
from syncdesk.surfaces import messengers_for
from tests.conftest import ROOT, LiveServer, wait_for
from tests.fakes import FakePlatform
from tests.fakes.slack import FakeSlack
from workflows.core import heartbeat
from workflows.core.queue import get_redis
from workflows.core.settings import Settings
from workflows.intake.poller import poll_stuck_orders
from workflows.oncall import deadman



@pytest.fixture
def watched(slack_settings: Settings) -> Settings:
    return slack_settings.model_copy(update={"heartbeat_minutes": 0.02, "heartbeat_check_seconds": 0.05})


@pytest.fixture
def app(watched: Settings) -> Iterator[LiveServer]:
    from syncdesk.web import create_app

    with LiveServer(create_app(watched)) as server:
        yield server


def said(slack: FakeSlack, start: str) -> list[str]:
    return [c["text"] for c in slack.calls("chat.postMessage") if c["text"].startswith(f"<!here> {start}")]


def test_a_stopped_clock_and_no_worker_are_said_once_and_their_recovery_once(
        watched: Settings, app: LiveServer, fake_slack: FakeSlack, worker_factory) -> None:
    [degraded] = wait_for(lambda: said(fake_slack, "🚨 syncdesk is degraded"))
    assert "the clock has never ticked" in degraded and "no worker has been alive for 1 s" in degraded
    ready = httpx.get(f"{app.url}/readyz", timeout=5).json()
    assert ready["status"] == "degraded" and len(ready["problems"]) == 2
    # Another web process looking at the same Redis says nothing more.
    assert not deadman.watch(watched, messengers_for(watched), watching_since=0).ok
    assert len(said(fake_slack, "🚨")) == 1

    worker_factory(watched)  # a worker, and its clock thread: both beat (the worker may come first: not news)
    [recovered] = wait_for(lambda: said(fake_slack, "✅ syncdesk has recovered"))
    assert "the clock, the workers and the poller are running again" in recovered
    assert httpx.get(f"{app.url}/readyz", timeout=5).json()["status"] == "ready"
    assert len(said(fake_slack, "🚨")) == 1 and len(said(fake_slack, "✅")) == 1


def test_a_poller_failing_three_times_in_a_row_is_said(watched: Settings, fake_slack: FakeSlack) -> None:
    # The platform's key was revoked: each poll fails with 401.
    with FakePlatform(api_key="the-new-key") as platform:
        s = watched.model_copy(update={"platform_api_url": platform.url, "platform_api_key": SecretStr("revoked")})
        redis = get_redis(s.redis_url)
        heartbeat.beat(redis, s.queue_name, heartbeat.CLOCK)
        for _ in range(3):
            with pytest.raises(AuthFailure):
                poll_stuck_orders(s)
    health = deadman.assess(s, watching_since=0)
    assert health.codes == ("workers", "poller")
    assert "the poller has failed 3 times in a row" in health.problems[1]
    assert "(Authentication failure: The platform rejected syncdesk's credentials (HTTP 401).)" in health.problems[1]
    deadman.watch(s, messengers_for(s), watching_since=0)
    assert len(said(fake_slack, "🚨 syncdesk is degraded")) == 1


def test_right_after_a_start_silence_is_not_death(watched: Settings) -> None:
    slow = watched.model_copy(update={"heartbeat_minutes": 5})
    assert deadman.assess(slow, watching_since=time.time()).ok


def test_the_prometheus_rules_read_metrics_syncdesk_exports(watched: Settings, app: LiveServer) -> None:
    heartbeat.beat(get_redis(watched.redis_url), watched.queue_name, heartbeat.CLOCK)
    exported = set(re.findall(r"^(syncdesk_\w+)", httpx.get(f"{app.url}/metrics", timeout=5).text, re.M))
    rules = yaml.safe_load(Path(ROOT / "deploy" / "prometheus-rules.yml").read_text())
    used = {name for group in rules["groups"] for rule in group["rules"]
            for name in re.findall(r"\bsyncdesk_\w+", rule["expr"])}
    assert used == {"syncdesk_clock_last_tick_timestamp_seconds", "syncdesk_workers_alive",
                    "syncdesk_poller_failures_in_a_row"}
    assert used <= exported, used - exported


def test_a_new_problem_is_said_and_one_clearing_is_not(watched: Settings, fake_slack: FakeSlack) -> None:
    redis = get_redis(watched.redis_url)
    messengers = messengers_for(watched)
    heartbeat.beat(redis, watched.queue_name, heartbeat.CLOCK)
    assert deadman.watch(watched, messengers, watching_since=0).codes == ("workers",)
    for _ in range(3):
        heartbeat.poller_result(redis, watched.queue_name, "Authentication failure: revoked")
    assert deadman.watch(watched, messengers, watching_since=0).codes == ("workers", "poller")  # new: said
    heartbeat.poller_result(redis, watched.queue_name, None)
    assert deadman.watch(watched, messengers, watching_since=0).codes == ("workers",)  # one cleared: quiet
    degraded = said(fake_slack, "🚨 syncdesk is degraded")
    assert len(degraded) == 2 and "the poller has failed 3 times" in degraded[1]
