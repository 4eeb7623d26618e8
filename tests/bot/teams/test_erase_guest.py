"""`syncdesk erase-guest` in Teams, end to end (issue 28): the card a real worker posted and
the reply under it that quotes the guest are updated in place on the local Bot Connector,
without the guest; nothing is posted anew, and a second run changes nothing."""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import jsonschema
import pytest

from tests.bot.conftest import with_platform
from tests.bot.teams.conftest import CONVERSATION, FAILURE
from tests.bot.teams.test_cards import SCHEMA
from tests.conftest import LiveServer, post_failure, run_cli, settings_env, wait_for
from tests.fakes.platform import FakePlatform
from tests.fakes.stripe import FakeStripe
from tests.fakes.teams import FakeBotConnector
from tests.workflows.guests.test_retention import steady
from workflows.actions.catalogue import perform
from workflows.actions.moves import Answers, Move
from workflows.core.settings import Settings

ORDER = "ORD-10042"
GUEST = re.compile(r"larry|walker|example\.com|5551234567", re.IGNORECASE)


@pytest.fixture
def moves_settings(teams_settings: Settings, platform_fake: FakePlatform, stripe_fake: FakeStripe) -> Settings:
    return with_platform(teams_settings, platform_fake, stripe_fake)


def current(connector: FakeBotConnector, activity_id: str) -> dict[str, Any]:
    return connector.activities[activity_id]


def test_erasing_a_guest_updates_the_card_and_its_reply_in_place(
        app: LiveServer, moves_settings: Settings, bot_connector: FakeBotConnector, worker_factory: Any) -> None:
    worker_factory(moves_settings)
    assert post_failure(app.url, FAILURE).status_code == 202
    wait_for(lambda: bot_connector.cards(CONVERSATION), timeout=60)
    card_id = next(iter(bot_connector.activities))
    assert "larry.walker@example.com" in json.dumps(current(bot_connector, card_id))

    ack = perform(moves_settings, Move.CANCEL_REFUND, ORDER, "ITEM-1", "teams:29:ana",
                  Answers(reason="Larry Walker called from +44 5551234567: cancel it"))
    assert ack.accepted, ack.message
    [reply] = wait_for(lambda: bot_connector.replies(card_id), timeout=60)
    assert "+44 5551234567" in reply["text"]
    reply_id = next(a for a, root in bot_connector.threads.items() if root == card_id)
    done = copy.deepcopy(FAILURE)
    done["event_id"], done["order"]["status"] = "evt_teams_02", "Cancelled"
    assert post_failure(app.url, done).status_code == 202
    wait_for(lambda: "Cancelled · ORD-10042" in json.dumps(current(bot_connector, card_id), ensure_ascii=False),
             timeout=60)
    posted, updated = steady(lambda: (len(bot_connector.posted()), len(bot_connector.updates())))

    env = settings_env(moves_settings)
    result = run_cli(env, "erase-guest", ORDER)
    assert result.returncode == 0, result.stderr
    assert f"chat messages rewritten: {ORDER}: teams 2" in result.stdout

    everything = json.dumps(list(bot_connector.activities.values()), ensure_ascii=False)
    assert not GUEST.search(everything), everything
    cards_updated = len(bot_connector.updates(card_id))
    assert bot_connector.updates(reply_id) and len(bot_connector.updates()) == updated + 2  # the card, the reply
    card = current(bot_connector, card_id)["attachments"][0]["content"]
    jsonschema.validate(card, SCHEMA)
    assert "(guest details erased)" in json.dumps(card, ensure_ascii=False)
    assert current(bot_connector, reply_id)["text"].endswith("[guest of ORD-10042] called from "
                                                             "[guest of ORD-10042]: cancel it")
    assert len(bot_connector.posted()) == posted  # nothing posted anew

    again = run_cli(env, "erase-guest", "larry.walker@example.com")
    assert again.returncode == 0 and "nothing to erase" in again.stdout
    assert len(bot_connector.updates()) == updated + 2 and len(bot_connector.updates(card_id)) == cards_updated
