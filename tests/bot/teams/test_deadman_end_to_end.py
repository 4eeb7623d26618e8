"""The dead man's switch in Teams (issue 26.2), end to end on both databases: the real web app's
watchdog thread tells the alert conversation (marked for attention: Teams has no @here for a
bot) and the on-call person, by a 1:1 message, through the real Teams announcer on the fake Bot
Connector, once when the clock and the workers have stopped, and once again when they recover.
HEARTBEAT_MINUTES is shortened to well under a second."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bot.teams.announcer import ATTENTION
from syncdesk.surfaces import messengers_for
from tests.bot.teams.conftest import ANA, CONVERSATION
from tests.conftest import LiveServer, wait_for
from tests.fakes.teams import FakeBotConnector
from workflows.core import heartbeat
from workflows.core.queue import get_redis
from workflows.core.settings import Settings
from workflows.oncall import deadman

ANA_DM = f"a:1on1-{ANA['id'].replace(':', '-')}"  # the fake's 1:1 conversation with Ana


@pytest.fixture
def watched(teams_settings: Settings, tmp_path: Path) -> Settings:
    rotation = tmp_path / "oncall.yml"  # Ana alone on the rotation: she is on call, whatever the week
    rotation.write_text(textwrap.dedent(f"""
        timezone: UTC
        people:
          - {{name: {ANA['name']}, teams: "{ANA['id']}"}}
    """))
    return teams_settings.model_copy(update={"heartbeat_minutes": 0.02, "heartbeat_check_seconds": 0.05,
                                             "oncall_file": str(rotation)})


@pytest.fixture
def app(watched: Settings) -> Iterator[LiveServer]:
    from syncdesk.web import create_app

    with LiveServer(create_app(watched)) as server:
        yield server


def said(bot_connector: FakeBotConnector, conversation: str, start: str) -> list[str]:
    return [a["text"] for a in bot_connector.top_level(conversation) if (a.get("text") or "").startswith(start)]


def test_a_stopped_clock_and_no_worker_are_said_once_in_teams_and_their_recovery_once(
        watched: Settings, app: LiveServer, bot_connector: FakeBotConnector, worker_factory) -> None:
    [degraded] = wait_for(lambda: said(bot_connector, CONVERSATION, f"{ATTENTION} 🚨 syncdesk is degraded"))
    assert "the clock has never ticked" in degraded and "no worker has been alive for 1 s" in degraded
    [direct] = wait_for(lambda: said(bot_connector, ANA_DM, "🚨 syncdesk is degraded"))
    assert direct == degraded.removeprefix(f"{ATTENTION} ")
    assert bot_connector.conversations[ANA_DM]["members"] == [{"id": ANA["id"]}]
    assert httpx.get(f"{app.url}/readyz", timeout=5).json()["status"] == "degraded"
    # Another web process looking at the same Redis says nothing more.
    assert not deadman.watch(watched, messengers_for(watched), watching_since=0).ok
    assert len(said(bot_connector, CONVERSATION, f"{ATTENTION} 🚨")) == 1

    worker_factory(watched)  # a worker, and its clock thread: both beat
    [recovered] = wait_for(lambda: said(bot_connector, CONVERSATION, f"{ATTENTION} ✅ syncdesk has recovered"))
    assert "the clock, the workers and the poller are running again" in recovered
    wait_for(lambda: said(bot_connector, ANA_DM, "✅ syncdesk has recovered"))
    assert httpx.get(f"{app.url}/readyz", timeout=5).json()["status"] == "ready"
    assert len(said(bot_connector, CONVERSATION, f"{ATTENTION} 🚨")) == 1
    assert len(said(bot_connector, CONVERSATION, f"{ATTENTION} ✅")) == 1
    assert len(said(bot_connector, ANA_DM, "🚨")) == 1 and len(said(bot_connector, ANA_DM, "✅")) == 1


def test_a_poller_failing_three_times_in_a_row_is_said_in_teams(
        watched: Settings, bot_connector: FakeBotConnector) -> None:
    redis = get_redis(watched.redis_url)
    heartbeat.beat(redis, watched.queue_name, heartbeat.CLOCK)
    for _ in range(3):
        heartbeat.poller_result(redis, watched.queue_name, "Authentication failure: revoked")
    deadman.watch(watched, messengers_for(watched), watching_since=0)
    [degraded] = said(bot_connector, CONVERSATION, f"{ATTENTION} 🚨 syncdesk is degraded")
    assert "the poller has failed 3 times in a row (Authentication failure: revoked)" in degraded
    assert len(said(bot_connector, ANA_DM, "🚨 syncdesk is degraded")) == 1
