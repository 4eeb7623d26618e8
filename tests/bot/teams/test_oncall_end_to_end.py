"""The Teams `oncall` command (issue 26.8), end to end on both databases: with the rotation
file giving Harbour (13098) its own calendar, the reply names who is on call now and next for
Harbour beside the weekly rotation, a paragraph a line, through `/api/teams/messages` and the
fake Bot Connector."""

from __future__ import annotations

from pathlib import Path

from syncdesk.web import create_app
from tests.bot.teams.conftest import ANA, send, text
from tests.conftest import LiveServer, wait_for
from tests.fakes.teams import FakeBotConnector, FakeBotIdentity
from tests.workflows.oncall.test_calendars import harbour_on_call_now
from workflows.core.settings import Settings


def test_oncall_shows_harbours_own_calendar_after_the_weekly_rotation(
        teams_settings: Settings, identity: FakeBotIdentity, bot_connector: FakeBotConnector, tmp_path: Path) -> None:
    rotation, harbour_line = harbour_on_call_now(tmp_path)
    service_url = bot_connector.url + "/"
    with LiveServer(create_app(teams_settings.model_copy(update={"oncall_file": str(rotation)}))) as app:
        asked = text("oncall", ANA, service_url)
        assert send(app.url, asked, identity.token(service_url)).status_code in (200, 201, 202)
        (reply,) = wait_for(lambda: bot_connector.replies(asked["id"]))
    weekly, heading, harbour = reply["text"].split("\n\n")
    assert weekly.startswith("On call now: ") and " Next: " in weekly
    assert heading == "Properties with their own on-call calendar:"
    assert harbour in (harbour_line.format("Ana Lopez"), harbour_line.format("Ben Okafor"))
