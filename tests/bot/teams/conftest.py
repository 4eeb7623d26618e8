"""Teams fixtures: the local OpenID issuer, token endpoint (TLS) and Bot Connector, settings
pointing at them, the live web app with `/api/teams/messages`, and activity builders.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import trustme

from tests.conftest import LiveServer
from tests.fakes.teams import FakeBotConnector, FakeBotIdentity, FakeTokenEndpoint
from tests.workflows.intake.test_intake import payload
from workflows.core.settings import Settings

APP_ID = "00000000-0000-4000-8000-00000000a11e"
APP_PASSWORD = "test-teams-app-password"
TENANT = "11111111-1111-4111-8111-111111111111"
CONVERSATION = "19:reservations-alerts@thread.tacv2"
GROUP = "22222222-2222-4222-8222-222222222222"
ANA = {"id": "29:ana", "aadObjectId": "aaaaaaaa-0000-4000-8000-000000000a4a", "name": "Ana Lopez"}
BEN = {"id": "29:ben", "aadObjectId": "bbbbbbbb-0000-4000-8000-000000000be4", "name": "Ben Okafor"}
MALLORY = {"id": "29:mallory", "aadObjectId": "cccccccc-0000-4000-8000-0000000000cc", "name": "Mallory"}

# The intake tests' order, with a failure that is not transient: no automatic retry is
# scheduled, so a click's job is the only reprocess job.
FAILURE = payload(
    event_id="evt_teams_01",
    failure__message="Room type LUXT not mapped for hotel 13098", failure__code="not_mapped",
    failure__log="POST /v1/api/reservation -> 400 {\"errors\": [\"RoomType\"]}",
)


def failure(**order_changes: Any) -> dict[str, Any]:
    data = copy.deepcopy(FAILURE)
    data["order"].update(order_changes)
    return data


@pytest.fixture(scope="session")
def teams_ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def ca_file(teams_ca: trustme.CA, tmp_path: Path) -> str:
    path = tmp_path / "teams-ca.pem"
    teams_ca.cert_pem.write_to_path(str(path))
    return str(path)


@pytest.fixture
def identity() -> Iterator[FakeBotIdentity]:
    with FakeBotIdentity(APP_ID) as server:
        yield server  # type: ignore[misc]


@pytest.fixture
def token_endpoint(teams_ca: trustme.CA) -> Iterator[FakeTokenEndpoint]:
    with FakeTokenEndpoint(APP_ID, APP_PASSWORD, TENANT, teams_ca) as server:
        yield server  # type: ignore[misc]


@pytest.fixture
def bot_connector(token_endpoint: FakeTokenEndpoint) -> Iterator[FakeBotConnector]:
    with FakeBotConnector(token_endpoint, groups={GROUP: [ANA["aadObjectId"], BEN["aadObjectId"]]}) as server:
        yield server  # type: ignore[misc]


@pytest.fixture
def teams_settings(settings: Settings, identity: FakeBotIdentity, token_endpoint: FakeTokenEndpoint,
                   bot_connector: FakeBotConnector, ca_file: str) -> Settings:
    return Settings(_env_file=None, **settings.model_dump() | {
        "teams_app_id": APP_ID, "teams_app_password": APP_PASSWORD, "teams_tenant_id": TENANT,
        "teams_service_url": bot_connector.url + "/", "teams_conversation_id": CONVERSATION,
        "teams_openid_metadata_url": identity.metadata_url, "teams_authority_host": token_endpoint.url,
        "teams_ca_bundle": ca_file, "teams_graph_url": bot_connector.url, "teams_allowed_group": GROUP,
    })


@pytest.fixture
def teams_app(teams_settings: Settings) -> Iterator[LiveServer]:
    from syncdesk.web import create_app

    with LiveServer(create_app(teams_settings)) as server:
        yield server


# -- activities as the Bot Connector sends them ---------------------------------------------

def activity(kind: str, user: dict[str, str], service_url: str, **fields: Any) -> dict[str, Any]:
    return {
        "type": kind, "id": f"f:{kind}-{abs(hash(json.dumps(fields, sort_keys=True, default=str))) % 10**8}",
        "timestamp": "2026-11-22T10:05:00.000Z", "serviceUrl": service_url, "channelId": "msteams",
        "from": user, "recipient": {"id": f"28:{APP_ID}", "name": "syncdesk"},
        "conversation": {"id": CONVERSATION + ";messageid=1700000000001", "conversationType": "channel",
                         "tenantId": TENANT, "isGroup": True},
        "channelData": {"tenant": {"id": TENANT}, "channel": {"id": "19:reservations-alerts@thread.tacv2"}},
        **fields,
    }


def execute(verb: str, data: dict[str, Any], user: dict[str, str], service_url: str) -> dict[str, Any]:
    """An `Action.Execute` click: an `adaptiveCard/action` invoke (inputs merged into data)."""
    return activity("invoke", user, service_url, name="adaptiveCard/action",
                    value={"action": {"type": "Action.Execute", "verb": verb, "data": data}, "trigger": "manual"})


def submit(data: dict[str, Any], user: dict[str, str], service_url: str) -> dict[str, Any]:
    """An `Action.Submit` click: a message whose value is the action's data and the inputs."""
    return activity("message", user, service_url, value=data, text="")


def text(message: str, user: dict[str, str], service_url: str) -> dict[str, Any]:
    return activity("message", user, service_url, text=message, textFormat="plain")


def send(server_url: str, body: dict[str, Any] | bytes, token: str | None) -> httpx.Response:
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return httpx.post(f"{server_url}/api/teams/messages", content=content, headers=headers, timeout=10)
