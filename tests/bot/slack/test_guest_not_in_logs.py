"""Issue 28, "never in logs": the guest's e-mail and phone reach no log line, at any level, in
either format.

The run: a failure whose message and log quote the guest comes in through the webhook; a real
worker posts the alert to the local Slack and logs the alert it would post on Teams (a
conversation set, no credentials); a Reprocess click has SynXis answer an error that quotes the
guest; then a request with a bad signature carries the alert back, as anyone who can reach the
URL could send it. Logging is set up as every syncdesk process sets it up (`syncdesk.logs`), at
DEBUG, written as text and as JSON; both are searched for the e-mail and the phone in every form
they take (any punctuation, URL-encoded)."""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Iterator
from io import StringIO
from typing import Any
from urllib.parse import unquote_plus, urlencode

import httpx
import pytest

from syncdesk import logs
from tests.bot.conftest import ANA, click, failure, interaction, send
from tests.conftest import LiveServer, post_failure, wait_for
from tests.fakes.slack import FakeSlack
from tests.fakes.synxis import RESERVATION, FakeSynxis
from workflows.core.settings import Settings

ORDER = "ORD-10042"
EMAIL = re.compile(r"larry\.walker(?:@|%40)example\.com", re.IGNORECASE)
# +44 5551234567 written any way: "+445551234567", "555 123 4567", "(555) 123-4567", "%2B44+5551234567".
PHONE = re.compile(r"\W{0,3}".join("5551234567"))
QUOTING = {"failure__message": "Guest larry.walker@example.com (+44 5551234567) rejected by the CRS",
           "failure__log": 'POST /v1/api/reservation -> 400 {"profile": {"email": "larry.walker@example.com", '
                           '"phone": "+44 555 123 4567"}}'}
VENDOR_ERROR = {"errors": [{"code": "400", "message": "Guest profile LARRY.WALKER@EXAMPLE.COM / +445551234567 "
                                                      "rejected: a profile with this phone exists"}]}


def leaks(text: str) -> list[str]:
    """Every mention of the guest's e-mail or phone in `text`, also once URL-decoded."""
    return [m.group() for view in (text, unquote_plus(text)) for pattern in (EMAIL, PHONE)
            for m in pattern.finditer(view)]


@pytest.fixture
def captured() -> Iterator[dict[str, StringIO]]:
    """The process's logging as `syncdesk.logs.configure` sets it up, at DEBUG, in text and in JSON."""
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    quiet = {name: logging.getLogger(name).level for name in ("httpx",)}
    out = {"text": StringIO(), "json": StringIO()}
    logs.configure("DEBUG", "text", stream=out["text"])
    root.addHandler(logs.handler("json", out["json"]))
    try:
        yield out
    finally:
        for handler in list(root.handlers):
            if handler not in handlers:
                root.removeHandler(handler)
        root.setLevel(level)
        for name, was in quiet.items():
            logging.getLogger(name).setLevel(was)


@pytest.fixture
def synxis() -> Iterator[FakeSynxis]:
    with FakeSynxis() as fake:
        yield fake


@pytest.fixture
def configured(slack_settings: Settings, synxis: FakeSynxis) -> Settings:
    """Slack on the local stand-in, SynXis on its stand-in, and a Teams conversation with no
    credentials: the worker logs the Teams alert it would post."""
    return Settings(_env_file=None, **slack_settings.model_dump() | {
        "synxis_api_url": synxis.url, "synxis_token_url": synxis.token_url, "synxis_client_id": synxis.client_id,
        "synxis_client_secret": synxis.client_secret, "teams_conversation_id": "19:ops@thread.tacv2"})


@pytest.fixture
def server(configured: Settings) -> Iterator[LiveServer]:
    from syncdesk.web import create_app

    with LiveServer(create_app(configured)) as live:
        yield live


def carrying(alert: dict[str, Any]) -> dict[str, Any]:
    """A click on the alert as Slack sends it: the payload holds the whole message."""
    payload = click("reprocess", ORDER, "ITEM-1", ANA)
    payload["message"] = {"type": "message", "ts": "1700000000.000100", **alert}
    return payload


def test_an_end_to_end_run_logs_neither_the_guests_e_mail_nor_phone(
        captured: dict[str, StringIO], server: LiveServer, configured: Settings, fake_slack: FakeSlack,
        synxis: FakeSynxis, worker_factory: Any) -> None:
    worker_factory(configured)
    assert post_failure(server.url, failure(**QUOTING)).status_code == 202
    [post] = wait_for(lambda: fake_slack.calls("chat.postMessage"), timeout=60)
    channel, ts = next(iter(fake_slack.messages))
    assert "larry.walker@example.com" in json.dumps(post)  # chat shows the guest (CHAT_GUEST_DETAILS=full) ...
    wait_for(lambda: "no teams token configured: would post alert for ORD-10042" in captured["text"].getvalue())

    synxis.fail_with_status(400, method="POST", path=RESERVATION, body=json.dumps(VENDOR_ERROR))
    clicked = interaction(server, click("reprocess", ORDER, "ITEM-1", response_url=fake_slack.response_url()))
    assert clicked.status_code == 200
    wait_for(lambda: [c for c in fake_slack.calls("chat.postMessage") if c.get("thread_ts") == ts], timeout=60)
    wait_for(lambda: "a profile with this phone exists" in json.dumps(fake_slack.messages[(channel, ts)]), timeout=60)
    wait_for(lambda: "a profile with this phone exists" in captured["text"].getvalue())  # the Teams line, updated

    alert = fake_slack.messages[(channel, ts)]
    body = urlencode({"payload": json.dumps(carrying(alert))})
    assert "larry.walker%40example.com" in body
    assert send(server, body, "application/x-www-form-urlencoded", secret="not-the-secret").status_code == 401
    assert send(server, body, "application/x-www-form-urlencoded", timestamp=int(time.time()) - 3600
                ).status_code == 401
    wait_for(lambda: captured["text"].getvalue().count("POST /slack/events 401") == 2)

    text, lines = captured["text"].getvalue(), captured["json"].getvalue().splitlines()
    records = [json.loads(line) for line in lines]  # one object per line
    for written in (text, "\n".join(lines)):
        assert not leaks(written), sorted(set(leaks(written)))
    # ... and the logs said what happened: every level, every source.
    assert "POST /webhooks/sync-failures 202" in text and "POST /slack/events 200" in text
    assert re.search(r"POST /slack/events 401 [\d.]+ms reason=bad Slack signature: the signature does not match "
                     r"\(another SLACK_SIGNING_SECRET, or an altered body\) \(\d+-byte body not logged\)", text)
    assert re.search(r"reason=bad Slack signature: timestamp 360[01] s old, outside Slack's 5 minutes", text)
    assert "payload=" not in text and "Invalid request signature" not in text
    assert "guest Larry W." in text and "Guest [guest of ORD-10042] ([guest of ORD-10042]) rejected" in text
    assert " DEBUG slack_sdk.web.base_client " in text  # the Web API's requests, bodies and all: redacted
    assert {r["level"] for r in records} >= {"DEBUG", "INFO", "WARNING"}
    assert any(r["logger"] == "syncdesk.http" and r.get("status") == 401 for r in records)


def test_a_bad_signature_is_refused_with_its_reason_and_its_body_is_never_logged(
        captured: dict[str, StringIO], slack_app: LiveServer) -> None:
    body = urlencode({"payload": json.dumps(carrying({"text": "Guest larry.walker@example.com +44 5551234567"}))})
    assert send(slack_app, body, "application/x-www-form-urlencoded", secret="wrong").status_code == 401
    unsigned = {"Content-Type": "application/x-www-form-urlencoded", "X-Slack-Request-Timestamp": str(int(time.time()))}
    assert httpx.post(f"{slack_app.url}/slack/events", content=body, headers=unsigned, timeout=10).status_code == 401
    wait_for(lambda: captured["text"].getvalue().count("POST /slack/events 401") == 2, timeout=10)
    said = [line.split(" syncdesk.http ", 1)[1] for line in captured["text"].getvalue().splitlines()
            if " syncdesk.http " in line]
    assert [re.sub(r" [\d.]+ms", "", line) for line in said] == [
        "POST /slack/events 401 reason=bad Slack signature: the signature does not match (another "
        f"SLACK_SIGNING_SECRET, or an altered body) ({len(body)}-byte body not logged)",
        f"POST /slack/events 401 reason=bad Slack signature: no X-Slack-Signature header ({len(body)}-byte body "
        "not logged)"]
    assert not leaks(captured["text"].getvalue()) and "payload" not in captured["text"].getvalue()
