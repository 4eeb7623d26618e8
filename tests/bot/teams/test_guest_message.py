"""A message for the guest in Teams (issue 26.6): "Message guest" on the alert card answers the
person alone with the drafted text (the invoke's private answer), audited; nothing is sent."""

from __future__ import annotations

from typing import Any

from tests.bot.teams.conftest import ANA, CONVERSATION, FAILURE, MALLORY, execute, send
from tests.bot.teams.test_masked_guest import actions
from tests.conftest import LiveServer, post_failure, wait_for
from tests.fakes.teams import FakeBotConnector, FakeBotIdentity


def test_message_guest_from_the_card(teams_app: LiveServer, identity: FakeBotIdentity,
                                     bot_connector: FakeBotConnector, worker_factory: Any, teams_settings) -> None:
    worker_factory(teams_settings)
    assert post_failure(teams_app.url, FAILURE).status_code == 202
    (posted,) = wait_for(lambda: bot_connector.cards(CONVERSATION), timeout=60)
    [message] = [a for a in actions(posted["attachments"][0]["content"]) if a.get("verb") == "message_guest"]
    assert message["title"] == "Message guest"
    url = bot_connector.url + "/"

    def click(user: dict[str, str]) -> str:
        answer = send(teams_app.url, execute("message_guest", message["data"], user, url), identity.token(url))
        assert answer.status_code == 200
        return str(answer.json()["value"])

    said = click(ANA)
    assert said.startswith("Message for the guest (pending)") and "Dear Larry," in said
    assert "not on the reservations team" in click(MALLORY)
    assert len(bot_connector.posted()) == 1  # only the alert itself: the draft is the private answer
