"""CHAT_GUEST_DETAILS=masked in Teams (issue 28): the card a real worker posts shows the guest
masked; its "Show guest details" answers a permitted person privately (the answer to their
click) with the guest in full, audited, and refuses anyone else."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest
from sqlalchemy import select

from tests.bot.teams.conftest import ANA, CONVERSATION, FAILURE, MALLORY, execute, send
from tests.bot.teams.test_cards import SCHEMA
from tests.conftest import LiveServer, post_failure, wait_for
from tests.fakes.teams import FakeBotConnector, FakeBotIdentity
from workflows.core.db import transaction
from workflows.core.models import AuditEvent
from workflows.core.settings import Settings

ORDER = "ORD-10042"


@pytest.fixture
def masked(teams_settings: Settings) -> Settings:
    return teams_settings.model_copy(update={"chat_guest_details": "masked"})


@pytest.fixture
def masked_app(masked: Settings) -> Any:
    from syncdesk.web import create_app

    with LiveServer(create_app(masked)) as server:
        yield server


def actions(card: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if str(node.get("type", "")).startswith("Action."):
                found.append(node)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)
    walk(card)
    return found


def test_the_card_shows_the_guest_masked_and_reveals_it_privately_audited(
        masked_app: LiveServer, masked: Settings, identity: FakeBotIdentity, bot_connector: FakeBotConnector,
        worker_factory: Any) -> None:
    worker_factory(masked)
    assert post_failure(masked_app.url, FAILURE).status_code == 202
    (posted,) = wait_for(lambda: bot_connector.cards(CONVERSATION), timeout=60)
    card = posted["attachments"][0]["content"]
    jsonschema.validate(card, SCHEMA)
    said = json.dumps(posted, ensure_ascii=False)
    assert "Larry W." in said and "l***@example.com · +44 ••• ••• 4567" in said
    for detail in ("Walker", "larry.walker", "5551234567"):
        assert detail not in said
    [show] = [a for a in actions(card) if a.get("verb") == "reveal_guest"]
    assert show["title"] == "Show guest details" and show["data"]["order_id"] == ORDER

    service_url = bot_connector.url + "/"

    def click(user: dict[str, str]) -> str:
        response = send(masked_app.url, execute("reveal_guest", show["data"], user, service_url),
                        identity.token(service_url))
        assert response.status_code == 200
        return str(response.json()["value"])

    assert "Larry Walker · larry.walker@example.com · +44 5551234567" in click(ANA)
    refusal = click(MALLORY)
    assert "Walker" not in refusal and "not on the reservations team" in refusal
    with transaction(masked.database_url) as session:
        events = session.scalars(select(AuditEvent).where(AuditEvent.action.in_(
            ("guest.revealed", "click.reveal_guest"))).order_by(AuditEvent.id)).all()
        assert [(e.action, e.result) for e in events] == [("guest.revealed", "ok"), ("click.reveal_guest", "refused")]
        assert "walker" not in json.dumps(events[0].detail).lower()
    assert len(bot_connector.cards(CONVERSATION)) == 1  # nothing posted in the channel
