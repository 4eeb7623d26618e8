"""CHAT_GUEST_DETAILS=masked in Slack (issue 28): the alert a real worker posts shows
`l***@example.com`, `+44 ••• ••• 4567` and the surname's initial, never the details
themselves; "Show guest details" in its overflow menu tells a permitted person the guest in an
ephemeral message and audits it, and refuses anyone else (audited too). The command line
shows the operator the guest in full."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import select

from tests.bot.conftest import ANA, MALLORY, failure, interaction, overflow_choice
from tests.bot.slack.test_render import check_blocks
from tests.conftest import LiveServer, post_failure, run_cli, settings_env, wait_for
from tests.fakes.slack import FakeSlack
from workflows.core.db import transaction
from workflows.core.models import AuditEvent
from workflows.core.settings import Settings

ORDER = "ORD-10042"


@pytest.fixture
def masked(slack_settings: Settings) -> Settings:
    return slack_settings.model_copy(update={"chat_guest_details": "masked"})


@pytest.fixture
def masked_app(masked: Settings) -> Any:
    from syncdesk.web import create_app

    with LiveServer(create_app(masked)) as server:
        yield server


def reveal(user: dict[str, str]) -> dict[str, Any]:
    """The alert's overflow option "Show guest details", chosen by `user`."""
    return overflow_choice("reveal_guest", "Show guest details", ORDER, user)


def audit(settings: Settings, action: str) -> list[AuditEvent]:
    with transaction(settings.database_url) as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def test_the_alert_shows_the_guest_masked_and_a_permitted_person_reveals_it_audited(
        masked_app: LiveServer, masked: Settings, fake_slack: FakeSlack, worker_factory: Any) -> None:
    worker_factory(masked)
    assert post_failure(masked_app.url, failure()).status_code == 202
    [post] = wait_for(lambda: fake_slack.calls("chat.postMessage"), timeout=60)
    check_blocks(post["blocks"])
    said = json.dumps(post, ensure_ascii=False)
    assert "*Guest:* Larry W. · l***@example.com · +44 ••• ••• 4567" in said
    for detail in ("Walker", "larry.walker", "5551234567", "1234567"):
        assert detail not in said
    options = [o["text"]["text"] for b in post["blocks"] if b.get("block_id") == "alert"
               for e in b["elements"] if e["type"] == "overflow" for o in e["options"]]
    assert "Show guest details" in options

    assert interaction(masked_app, reveal(ANA)).status_code == 200
    [told] = wait_for(lambda: fake_slack.calls("chat.postEphemeral"), timeout=30)
    assert told["user"] == ANA["id"] and told["channel"] == "C0ALERTS"
    assert "Larry Walker · larry.walker@example.com · +44 5551234567" in told["text"]
    [revealed] = wait_for(lambda: audit(masked, "guest.revealed"), timeout=30)
    assert revealed.actor.startswith("slack:U0ANA") and revealed.order_id == ORDER
    assert "walker" not in json.dumps(revealed.detail).lower()  # who looked, not what they saw

    assert interaction(masked_app, reveal(MALLORY)).status_code == 200
    refusal = wait_for(lambda: fake_slack.calls("chat.postEphemeral")[1:], timeout=30)[0]
    assert refusal["user"] == MALLORY["id"] and "Walker" not in refusal["text"]
    [refused] = wait_for(lambda: audit(masked, "click.reveal_guest"), timeout=30)
    assert (refused.result, refused.actor.startswith("slack:U0MALLORY")) == ("refused", True)
    assert len(audit(masked, "guest.revealed")) == 1

    shown = run_cli(settings_env(masked), "order", ORDER)  # the operator's command line: in full
    assert shown.returncode == 0 and "Larry Walker" in shown.stdout and "larry.walker@example.com" in shown.stdout
