"""Slack fixtures: the fake Slack Web API, settings pointing at it, the live web app with
`/slack/events` mounted, signed Slack requests, and an order recorded through intake.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from tests.conftest import LiveServer, post_failure
from tests.fakes.platform import FakePlatform
from tests.fakes.slack import FakeSlack
from tests.fakes.stripe import FakeStripe
from tests.workflows.intake.test_intake import payload
from workflows.core.settings import Settings

BOT_TOKEN = "xoxb-test-token"
SIGNING_SECRET = "test-signing-secret"
RESERVATIONS = "S0RESV"
ANA = {"id": "U0ANA", "username": "ana", "name": "ana", "team_id": "T0SYNCDESK"}
BEN = {"id": "U0BEN", "username": "ben", "name": "ben", "team_id": "T0SYNCDESK"}
MALLORY = {"id": "U0MALLORY", "username": "mallory", "name": "mallory", "team_id": "T0SYNCDESK"}

# The intake tests' order, with a failure that is not transient: no automatic retry is
# scheduled, so a click's job is the only reprocess job.
FAILURE_FIELDS: dict[str, Any] = dict(
    event_id="evt_slack_01",
    failure__message="Room type LUXT not mapped for hotel 13098", failure__code="not_mapped",
    failure__log="POST /v1/api/reservation -> 400 {\"errors\": [\"RoomType\"]}",
)
FAILURE = payload(**FAILURE_FIELDS)


def failure(**changes: Any) -> dict[str, Any]:
    """FAILURE with `changes` (the intake tests' `payload` paths: `order__items__0__start=…`)."""
    return payload(**(FAILURE_FIELDS | changes))


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    with FakeSlack(token=BOT_TOKEN, usergroups={RESERVATIONS: [ANA["id"], BEN["id"]]}) as slack:
        yield slack


@pytest.fixture
def slack_settings(settings: Settings, fake_slack: FakeSlack) -> Settings:
    return Settings(_env_file=None, **settings.model_dump() | {
        "slack_bot_token": BOT_TOKEN, "slack_signing_secret": SIGNING_SECRET,
        "slack_api_url": fake_slack.api_url, "slack_allowed_usergroup": RESERVATIONS,
        "slack_alert_channel": "#reservations-alerts",
    })


@pytest.fixture
def slack_app(slack_settings: Settings) -> Iterator[LiveServer]:
    from syncdesk.web import create_app

    with LiveServer(create_app(slack_settings)) as server:
        yield server


@pytest.fixture
def recorded_order(slack_app: LiveServer) -> str:
    response = post_failure(slack_app.url, failure())
    assert response.status_code == 202, response.text
    return "ORD-10042"


def signature(body: str, timestamp: str, secret: str = SIGNING_SECRET) -> str:
    """Slack's request signature: v0=hex(HMAC-SHA256(secret, "v0:<timestamp>:<body>"))."""
    return "v0=" + hmac.new(secret.encode(), f"v0:{timestamp}:{body}".encode(), hashlib.sha256).hexdigest()


def send(server: LiveServer, body: str, content_type: str, *, secret: str = SIGNING_SECRET,
         timestamp: int | None = None, headers: dict[str, str] | None = None) -> httpx.Response:
    ts = str(timestamp if timestamp is not None else int(time.time()))
    all_headers = {"Content-Type": content_type, "X-Slack-Request-Timestamp": ts,
                   "X-Slack-Signature": signature(body, ts, secret), **(headers or {})}
    return httpx.post(f"{server.url}/slack/events", content=body.encode(), headers=all_headers, timeout=10)


def interaction(server: LiveServer, payload: dict[str, Any], **kw: Any) -> httpx.Response:
    return send(server, urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded", **kw)


def command(server: LiveServer, text: str, user: dict[str, str] = ANA, name: str = "/syncdesk",
            **kw: Any) -> httpx.Response:
    form = {"token": "legacy", "team_id": "T0SYNCDESK", "team_domain": "syncdesk-test", "channel_id": "C0ALERTS",
            "channel_name": "reservations-alerts", "user_id": user["id"], "user_name": user["username"],
            "command": name, "text": text, "api_app_id": "A0SYNCDESK", "response_url": "https://example.invalid/r",
            "trigger_id": f"{time.time_ns()}.trigger"}
    return send(server, urlencode(form), "application/x-www-form-urlencoded", **kw)


def event(server: LiveServer, inner: dict[str, Any], event_id: str = "Ev01", **kw: Any) -> httpx.Response:
    body = {"token": "legacy", "team_id": "T0SYNCDESK", "api_app_id": "A0SYNCDESK", "event": inner,
            "type": "event_callback", "event_id": event_id, "event_time": int(time.time()),
            "authorizations": [{"team_id": "T0SYNCDESK", "user_id": "U0SYNCBOT", "is_bot": True}]}
    return send(server, json.dumps(body), "application/json", **kw)


def click(action_id: str, order_id: str, item_id: str | None, user: dict[str, str] = ANA,
          response_url: str = "", action_ts: str | None = None) -> dict[str, Any]:
    """A block_actions payload for a button in the alert message."""
    value = json.dumps([order_id, item_id] if item_id else [order_id], separators=(",", ":"))
    return {
        "type": "block_actions", "user": user, "api_app_id": "A0SYNCDESK", "token": "legacy",
        "container": {"type": "message", "message_ts": "1700000000.000100", "channel_id": "C0ALERTS",
                      "is_ephemeral": False},
        "trigger_id": f"{time.time_ns()}.trigger", "team": {"id": "T0SYNCDESK", "domain": "syncdesk-test"},
        "channel": {"id": "C0ALERTS", "name": "reservations-alerts"}, "response_url": response_url,
        "actions": [{"action_id": action_id, "block_id": f"actions:{item_id}", "value": value, "type": "button",
                     "text": {"type": "plain_text", "text": action_id},
                     "action_ts": action_ts or f"{time.time():.6f}"}],
    }


def overflow_choice(move: str, label: str, order_id: str, user: dict[str, str] = ANA) -> dict[str, Any]:
    """A block_actions payload: `user` chose `move` ("label") in the alert's overflow menu."""
    return {
        "type": "block_actions", "user": user, "api_app_id": "A0SYNCDESK", "token": "legacy",
        "container": {"type": "message", "message_ts": "1700000000.000100", "channel_id": "C0ALERTS"},
        "trigger_id": f"{time.time_ns()}.trigger", "team": {"id": "T0SYNCDESK"},
        "channel": {"id": "C0ALERTS", "name": "reservations-alerts"}, "response_url": "",
        "actions": [{"action_id": "more", "block_id": "alert", "type": "overflow",
                     "selected_option": {"text": {"type": "plain_text", "text": label},
                                         "value": f"{move}|{order_id}|"},
                     "action_ts": f"{time.time():.6f}"}],
    }


def submission(order_id: str, item_id: str, system: str, reference: str | None,
               payment_method: str | None = None, user: dict[str, str] = ANA) -> dict[str, Any]:
    """A view_submission payload for the Booked-manually modal."""
    values: dict[str, Any] = {"reference": {"value": {"type": "plain_text_input", "value": reference}},
                              "notes": {"value": {"type": "plain_text_input", "value": None}}}
    if system == "premier":
        option = {"text": {"type": "plain_text", "text": payment_method}, "value": payment_method}
        values["payment_method"] = {"value": {"type": "static_select",
                                              "selected_option": option if payment_method else None}}
    meta = json.dumps({"order_id": order_id, "item_id": item_id, "system": system, "channel": "C0ALERTS"})
    return {"type": "view_submission", "team": {"id": "T0SYNCDESK"}, "user": user, "api_app_id": "A0SYNCDESK",
            "token": "legacy", "trigger_id": f"{time.time_ns()}.trigger",
            "view": {"id": "V0MODAL", "type": "modal", "callback_id": "booked_manually_submit",
                     "private_metadata": meta, "hash": "1.1", "state": {"values": values}}}


# -- the platform and Stripe behind issue 14's moves (Cancel and refund re-checks Stripe) -----------

@pytest.fixture
def stripe_fake() -> Iterator[FakeStripe]:
    """Stripe holding the order's payment (`pi_3Qtest`, £240.00, captured)."""
    with FakeStripe(api_key="sk_test_fake") as stripe:
        stripe.add_payment_intent(amount=24000, intent_id="pi_3Qtest")
        yield stripe


@pytest.fixture
def platform_fake(stripe_fake: FakeStripe) -> Iterator[FakePlatform]:
    """The platform holding the order, refunding through `stripe_fake`."""
    with FakePlatform(api_key="platform-key", stripe=stripe_fake) as platform:
        platform.seed(payload()["order"])
        yield platform


def with_platform(settings: Settings, platform: FakePlatform, stripe: FakeStripe) -> Settings:
    return Settings(_env_file=None, **settings.model_dump() | {
        "platform_api_url": platform.url, "platform_api_key": "platform-key",
        "stripe_api_key": "sk_test_fake", "stripe_api_base": stripe.url})


@pytest.fixture
def app(moves_settings: Settings) -> Iterator[LiveServer]:
    """The real web app on the module's `moves_settings` (Slack's or Teams', with the platform
    and Stripe), for the moves' end-to-end tests."""
    from syncdesk.web import create_app

    with LiveServer(create_app(moves_settings)) as server:
        yield server
