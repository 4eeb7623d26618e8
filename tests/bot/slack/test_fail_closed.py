"""No allowed group configured: nobody may act (fail closed), and the person is told what an
admin must set, unless ALLOW_ANY_MEMBER=true says everyone in the workspace may."""

from __future__ import annotations

from sqlalchemy import select

from tests.bot.conftest import MALLORY, click, command, failure, interaction
from tests.conftest import LiveServer, post_failure, wait_for
from workflows.core.db import transaction
from workflows.core.models import AuditEvent
from workflows.core.settings import Settings


def served(slack_settings: Settings, **changes: object) -> LiveServer:
    from syncdesk.web import create_app

    return LiveServer(create_app(Settings(_env_file=None, **slack_settings.model_dump() | changes)))


def clicks(settings: Settings) -> list[tuple[str, str]]:
    with transaction(settings.database_url) as session:
        return [(e.result, e.detail.get("reason", "")) for e in session.scalars(
            select(AuditEvent).where(AuditEvent.action == "click.reprocess"))]


def test_without_a_group_every_action_is_refused_saying_what_to_set(slack_settings, fake_slack):
    with served(slack_settings, slack_allowed_usergroup=None) as server:
        assert post_failure(server.url, failure()).status_code == 202
        response = interaction(server, click("reprocess", "ORD-10042", "ITEM-1", user=MALLORY,
                                             response_url=fake_slack.response_url()))
        assert response.status_code == 200
        [told] = wait_for(lambda: fake_slack.hooks)
        answer = command(server, "orders", user=MALLORY)
    assert "SLACK_ALLOWED_USERGROUP" in told["text"] and "ALLOW_ANY_MEMBER=true" in told["text"]
    assert clicks(slack_settings) == [("refused", "SLACK_ALLOWED_USERGROUP is not set (and ALLOW_ANY_MEMBER is not "
                                                  "true)")]
    assert "SLACK_ALLOWED_USERGROUP" in answer.json()["text"]


def test_allow_any_member_lets_everyone_act(slack_settings, fake_slack):
    with served(slack_settings, slack_allowed_usergroup=None, allow_any_member=True) as server:
        assert post_failure(server.url, failure()).status_code == 202
        assert interaction(server, click("reprocess", "ORD-10042", "ITEM-1", user=MALLORY)).status_code == 200
    assert [result for result, _ in clicks(slack_settings)] == ["queued"]
