"""Inbound tokens: only what the Bot Connector signed for us, for this serviceUrl, gets in.

Every rejection path of "Authentication with the Bot Connector API" is tried twice: on the
validator itself (the reason) and through `POST /api/teams/messages` (401, nothing queued,
nothing audited).
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.teams.auth import BotConnectorAuth, Unauthorized
from tests.bot.teams.conftest import ANA, APP_ID, FAILURE, execute, send
from tests.conftest import post_failure
from tests.fakes.teams import FakeBotConnector, FakeBotIdentity
from workflows.core.db import transaction
from workflows.core.models import AuditEvent
from workflows.core.queue import get_queues
from workflows.core.settings import Settings


def service_url(connector: FakeBotConnector) -> str:
    return connector.url + "/"


def forged(identity: FakeBotIdentity, url: str) -> dict[str, str | None]:
    """Each way a request can fail authentication, by name."""
    return {
        "expired": identity.token(url, expires_in=-600),  # beyond the 5-minute clock skew
        "wrong-audience": identity.token(url, audience="99999999-0000-4000-8000-000000000999"),
        "wrong-issuer": identity.token(url, issuer="https://sts.windows.net/evil/"),
        "bad-signature": identity.token(url, key=identity.stranger_key),
        "unsigned": identity.unsigned_token(url),
        "unknown-key": identity.token(url, kid="not-published"),
        "other-service-url": identity.token("https://smba.attacker.example/teams/"),
        "no-token": None,
    }


def test_a_token_signed_by_the_issuer_for_our_app_and_service_url_is_accepted(
        teams_settings: Settings, identity: FakeBotIdentity, bot_connector: FakeBotConnector) -> None:
    auth = BotConnectorAuth(teams_settings)
    claims = auth.validate(f"Bearer {identity.token(service_url(bot_connector))}", service_url(bot_connector),
                           "msteams")
    assert claims["aud"] == APP_ID and claims["iss"] == "https://api.botframework.com"


@pytest.mark.parametrize("case", ["expired", "wrong-audience", "wrong-issuer", "bad-signature", "unsigned",
                                  "unknown-key", "other-service-url", "no-token"])
def test_the_validator_rejects(case: str, teams_settings: Settings, identity: FakeBotIdentity,
                               bot_connector: FakeBotConnector) -> None:
    token = forged(identity, service_url(bot_connector))[case]
    with pytest.raises(Unauthorized):
        BotConnectorAuth(teams_settings).validate(f"Bearer {token}" if token else None, service_url(bot_connector),
                                                  "msteams")


def test_a_key_that_does_not_endorse_the_channel_is_rejected(teams_settings: Settings, identity: FakeBotIdentity,
                                                             bot_connector: FakeBotConnector) -> None:
    identity.endorsements = ["webchat"]
    with pytest.raises(Unauthorized, match="endorse"):
        BotConnectorAuth(teams_settings).validate(f"Bearer {identity.token(service_url(bot_connector))}",
                                                  service_url(bot_connector), "msteams")


def test_the_keys_come_from_the_metadata_document_and_are_cached(teams_settings: Settings, identity: FakeBotIdentity,
                                                                 bot_connector: FakeBotConnector) -> None:
    auth = BotConnectorAuth(teams_settings)
    for _ in range(3):
        auth.validate(f"Bearer {identity.token(service_url(bot_connector))}", service_url(bot_connector), "msteams")
    assert len(identity.requests_to("GET", r"/v1/\.well-known/openidconfiguration")) == 1
    assert 1 <= len(identity.requests_to("GET", r"/v1/keys")) <= 2  # ours, and the SDK validator's


def test_made_up_key_ids_do_not_make_us_refetch_the_keys_every_time(
        teams_settings: Settings, identity: FakeBotIdentity, bot_connector: FakeBotConnector) -> None:
    auth = BotConnectorAuth(teams_settings)
    url = service_url(bot_connector)
    auth.validate(f"Bearer {identity.token(url)}", url, "msteams")
    fetched = len(identity.requests_to("GET", r"/v1/keys"))
    for n in range(5):
        with pytest.raises(Unauthorized):
            auth.validate(f"Bearer {identity.token(url, kid=f'made-up-{n}')}", url, "msteams")
    assert len(identity.requests_to("GET", r"/v1/keys")) == fetched


@pytest.mark.parametrize("case", ["expired", "wrong-audience", "wrong-issuer", "bad-signature", "unsigned",
                                  "unknown-key", "other-service-url", "no-token"])
def test_a_forged_click_is_401_and_nothing_is_enqueued(case: str, teams_app, teams_settings: Settings,  # type: ignore[no-untyped-def]
                                                       identity: FakeBotIdentity,
                                                       bot_connector: FakeBotConnector) -> None:
    assert post_failure(teams_app.url, FAILURE).status_code == 202
    queued_before = {j for q in get_queues(teams_settings) for j in q.job_ids}
    click = execute("reprocess", {"syncdesk": "reprocess", "order_id": "ORD-10042", "item_id": "ITEM-1"}, ANA,
                    service_url(bot_connector))
    response = send(teams_app.url, click, forged(identity, service_url(bot_connector))[case])
    assert response.status_code == 401
    assert {j for q in get_queues(teams_settings) for j in q.job_ids} == queued_before
    with transaction(teams_settings.database_url) as session:
        assert session.scalars(select(AuditEvent).where(AuditEvent.action.like("click.%"))).all() == []
    assert bot_connector.posted() == []


def test_a_garbage_body_without_a_token_is_401_not_400(teams_app, bot_connector: FakeBotConnector) -> None:  # type: ignore[no-untyped-def]
    assert send(teams_app.url, b"{not json", None).status_code == 401


def test_a_garbage_body_with_a_valid_token_for_no_service_url_is_401(  # type: ignore[no-untyped-def]
        teams_app, identity: FakeBotIdentity, bot_connector: FakeBotConnector) -> None:
    assert send(teams_app.url, b"{not json", identity.token(service_url(bot_connector))).status_code == 401


def test_an_activity_whose_service_url_is_not_a_string_is_401(  # type: ignore[no-untyped-def]
        teams_app, identity: FakeBotIdentity, bot_connector: FakeBotConnector) -> None:
    click = execute("reprocess", {"order_id": "ORD-10042", "item_id": "ITEM-1"}, ANA, service_url(bot_connector))
    click["serviceUrl"] = ["not", "a", "url"]
    assert send(teams_app.url, click, identity.token(service_url(bot_connector))).status_code == 401
