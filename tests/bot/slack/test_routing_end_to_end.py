"""Alerts go to a channel per system and/or property (issue 14): the routing file's `channel`,
with SLACK_ALERT_CHANNEL as the fallback; the order's escalation follows its alert there, the
outage message goes where its system's alerts go, and the digest says what each channel covers.
Through the real web app and a real worker against the local Slack."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.slack.announcer import SlackAnnouncer
from tests.bot.conftest import BOT_TOKEN, RESERVATIONS, ANA, BEN, failure
from tests.bot.slack.test_workflow_render import INCIDENTS
from tests.conftest import LiveServer, logged, post_failure, wait_for
from tests.fakes.slack import FakeSlack
from workflows.core.settings import Settings

ROUTING = """synxis:
  default: {channel: '#synxis-alerts'}
  properties:
    '13098': {channel: '#harbour-hotel'}
"""


@pytest.fixture
def routed_slack() -> Iterator[FakeSlack]:
    channels = {"#reservations-alerts": "C0ALERTS", "#harbour-hotel": "C0HARBOUR", "#synxis-alerts": "C0SYNXIS"}
    with FakeSlack(token=BOT_TOKEN, usergroups={RESERVATIONS: [ANA["id"], BEN["id"]]}, channels=channels) as slack:
        yield slack


@pytest.fixture
def routed(slack_settings: Settings, routed_slack: FakeSlack, tmp_path: Path) -> Settings:
    path = tmp_path / "connectors.yaml"
    path.write_text(ROUTING)
    return Settings(_env_file=None, **slack_settings.model_dump() | {
        "slack_api_url": routed_slack.api_url, "connectors_file": str(path)})


def posted_to(slack: FakeSlack, order_id: str) -> list[str]:
    return [c["channel"] for c in slack.calls("chat.postMessage") if order_id in c.get("text", "")
            and not c.get("thread_ts")]


def test_an_alert_goes_to_its_propertys_channel_and_its_escalation_follows_it(
        routed: Settings, routed_slack: FakeSlack, worker_factory: Any) -> None:
    from syncdesk.web import create_app
    from workflows.oncall.escalation import check_due
    from workflows.core.models import utcnow
    import datetime as dt

    worker_factory(routed)
    with LiveServer(create_app(routed)) as app:
        assert post_failure(app.url, failure()).status_code == 202  # hotel 13098
        other = failure(event_id="evt_slack_other", order__id="ORD-20001", order__items__0__details__hotel_id=777)
        assert post_failure(app.url, other).status_code == 202
        bookable = failure(event_id="evt_slack_resdiary", order__id="ORD-30001", order__items__0__system="resdiary",
                           order__items__0__kind="table", failure__system="resdiary")
        assert post_failure(app.url, bookable).status_code == 202
    wait_for(lambda: posted_to(routed_slack, "ORD-10042") and posted_to(routed_slack, "ORD-20001")
             and posted_to(routed_slack, "ORD-30001"), timeout=60)
    assert posted_to(routed_slack, "ORD-10042") == ["#harbour-hotel"]  # its property's channel
    assert posted_to(routed_slack, "ORD-20001") == ["#synxis-alerts"]  # its system's
    assert posted_to(routed_slack, "ORD-30001") == ["#reservations-alerts"]  # the default

    made = check_due(routed, now=utcnow() + dt.timedelta(minutes=16))
    assert {e.order_id for e in made} == {"ORD-10042", "ORD-20001", "ORD-30001"}
    nobody = wait_for(lambda: [c for c in routed_slack.calls("chat.postMessage")
                               if c.get("text", "").startswith("Nobody is on call") and "ORD-10042" in c["text"]],
                      timeout=60)
    assert nobody[0]["channel"] == "#harbour-hotel"  # escalation speaks where the alert is


def test_the_outage_message_goes_where_its_systems_alerts_go(routed: Settings, routed_slack: FakeSlack) -> None:
    announcer = SlackAnnouncer(routed)
    channel, _ = announcer.show_incident(lambda: INCIDENTS["open"], (None, None))  # a SynXis outage
    assert channel == "C0SYNXIS"


def test_the_digest_says_what_each_channel_covers(routed: Settings) -> None:
    from workflows.reports.digest import post_daily

    assert post_daily(settings=routed) == "posted"
    (digest,) = logged("slack").of_kind("digest")
    assert "Channels: #harbour-hotel — SynXis at 13098; #synxis-alerts — SynXis; " \
           "#reservations-alerts — everything else" in digest.text
