"""The vendor escalation pack in Teams (issue 26.5): "Draft support request" on the outage card
answers with the draft in an editable card; its "Post in the thread" posts the edited text as a
reply. Through the real intake, outage detection, Teams announcer and `/api/teams/messages`."""

from __future__ import annotations

from collections.abc import Iterator

import jsonschema
import pytest

from bot.teams import announce_cards
from syncdesk.surfaces import register_surfaces
from tests.bot.slack.test_support_end_to_end import outage
from tests.bot.teams.conftest import ANA, CONVERSATION, MALLORY, execute, send, submit
from tests.bot.teams.test_cards import SCHEMA
from tests.conftest import LiveServer, wait_for
from tests.fakes.teams import FakeBotConnector, FakeBotIdentity
from tests.workflows.intake.test_intake import SYNXIS_SET
from workflows.core.settings import Settings
from workflows.outage import jobs as outage_jobs


@pytest.fixture
def s(teams_settings: Settings) -> Settings:
    return teams_settings.model_copy(update=SYNXIS_SET)


@pytest.fixture
def app(s: Settings) -> Iterator[LiveServer]:
    from syncdesk.web import create_app

    with LiveServer(create_app(s)) as server:
        yield server


def test_draft_then_post_from_the_outage_card(s: Settings, app: LiveServer, identity: FakeBotIdentity,
                                              bot_connector: FakeBotConnector) -> None:
    incident_id = outage(app, s)
    register_surfaces(s)
    outage_jobs.refresh_incident(incident_id, s)
    [card] = [a["attachments"][0]["content"] for a in bot_connector.cards(CONVERSATION)
              if "Possible outage" in a["attachments"][0]["content"]["fallbackText"]]
    [action] = [a for a in card["actions"] if a["title"] == "Draft support request"]
    url = bot_connector.url + "/"
    token = identity.token(url)

    send(app.url, submit(action["data"], MALLORY, url), token)
    assert send(app.url, submit(action["data"], ANA, url), token).status_code == 200
    drafted = wait_for(lambda: next((a["attachments"][0]["content"] for a in bot_connector.posted()
                                     if a.get("attachments") and a["attachments"][0]["content"].get("fallbackText",
                                                                                                    "").startswith("SynXis:")), None))
    jsonschema.validate(drafted, SCHEMA)
    [field] = [b for b in drafted["body"] if b.get("type") == "Input.Text"]
    assert "6 bookings we sent to SynXis failed" in field["value"]
    [post] = drafted["actions"]
    answer = send(app.url, execute(post["verb"], dict(post["data"], **{field["id"]: "Dear Sabre, please look."}),
                                   ANA, url), token)
    assert answer.json()["value"] == "Posted in the thread."
    wait_for(lambda: any(a.get("text") == "Dear Sabre, please look." for a in bot_connector.posted()))
    refusals = [a.get("text", "") for a in bot_connector.posted() if "not" in a.get("text", "").lower()]
    assert refusals, "the person outside the group was told no"
    assert announce_cards.parse_support({"syncdesk": "outage_support", "incident_id": "7"}) is None
