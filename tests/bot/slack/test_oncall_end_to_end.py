"""`/syncdesk oncall` in Slack (issue 26.8), end to end on both databases: with the rotation
file giving Harbour (13098) its own calendar, the answer names who is on call now and next for
Harbour beside the weekly rotation, through the live app's slash command."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.bot.conftest import command
from tests.conftest import LiveServer
from tests.workflows.oncall.test_calendars import harbour_on_call_now
from workflows.core.settings import Settings


@pytest.fixture
def harbour_line(tmp_path: Path) -> tuple[Path, str]:
    return harbour_on_call_now(tmp_path)


@pytest.fixture
def app(slack_settings: Settings, harbour_line: tuple[Path, str]) -> Iterator[LiveServer]:
    from syncdesk.web import create_app

    with LiveServer(create_app(slack_settings.model_copy(update={"oncall_file": str(harbour_line[0])}))) as server:
        yield server


def test_oncall_shows_harbours_own_calendar_after_the_weekly_rotation(app: LiveServer,
                                                                      harbour_line: tuple[Path, str]) -> None:
    answer = command(app, "oncall").json()
    assert answer["response_type"] == "ephemeral"
    weekly, heading, harbour = answer["text"].split("\n")
    assert weekly.startswith("On call now: ") and " Next: " in weekly
    assert heading == "Properties with their own on-call calendar:"
    assert harbour in (harbour_line[1].format("Ana Lopez"), harbour_line[1].format("Ben Okafor"))
