"""The vendor escalation pack (issue 26.5): "Draft support request" on the outage message
writes the message for the system's support from the outage (window, count, classes, three
samples with the vendor's request ids, properties, what was done), in a modal to edit and copy,
and "Post in the thread" puts the edited text under the outage message. Through the real
intake, outage detection, Slack announcer and Bolt app, on FakeSlack."""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from bot.slack import announce_render
from syncdesk.surfaces import register_surfaces
from tests.bot.conftest import ANA, MALLORY, interaction
from tests.conftest import LiveServer, post_failure, wait_for
from tests.fakes.slack import FakeSlack
from tests.workflows.intake.test_intake import SYNXIS_SET, payload
from workflows.core.db import transaction
from workflows.core.models import AuditEvent, Incident, utcnow
from workflows.core.settings import Settings
from workflows.outage import jobs as outage_jobs
from workflows.outage.support import draft, request_id


@pytest.fixture
def s(slack_settings: Settings) -> Settings:
    return slack_settings.model_copy(update=SYNXIS_SET)


@pytest.fixture
def app(s: Settings) -> Iterator[LiveServer]:
    from syncdesk.web import create_app

    with LiveServer(create_app(s)) as server:
        yield server


def outage(app: LiveServer, s: Settings, failures: int = 6) -> int:
    start = utcnow().replace(microsecond=0) - dt.timedelta(minutes=6)
    for n in range(failures):
        hotel = 13098 if n % 2 else 24011
        log = f"POST /v1/api/reservation -> 504 X-Request-Id: req-{n:04d}abcd" if n != 2 else "no id here"
        data = payload(event_id=f"evt-support-{n}", order__id=f"ORD-S{n:03d}", failure__code="timeout",
                       failure__message="Read timed out after 30 s", failure__log=log,
                       order__items__0__details__hotel_id=hotel, order__guest__last_name=f"Guest{n}",
                       occurred_at=(start + dt.timedelta(minutes=n)).strftime("%Y-%m-%dT%H:%M:%SZ"))
        assert post_failure(app.url, data).status_code == 202
    with transaction(s.database_url) as session:
        [incident] = session.scalars(select(Incident)).all()
        return incident.id


def press(value: str, user: dict[str, str] = ANA) -> dict[str, Any]:
    return {"type": "block_actions", "user": user, "api_app_id": "A0SYNCDESK", "token": "legacy",
            "container": {"type": "message", "message_ts": "1", "channel_id": "C0ALERTS"},
            "trigger_id": f"{time.time_ns()}.trigger", "team": {"id": "T0SYNCDESK"}, "channel": {"id": "C0ALERTS"},
            "response_url": "", "actions": [{"action_id": announce_render.SUPPORT, "block_id": "outage_actions",
                                              "value": value, "type": "button", "action_ts": f"{time.time():.6f}"}]}


def test_the_draft_says_what_support_needs_to_know(s: Settings, app: LiveServer) -> None:
    incident_id = outage(app, s)
    text = draft(s, incident_id).text
    assert text.startswith("To: Sabre Hospitality (SynXis) support")
    assert "Subject: SynXis: 6 failed bookings between " in text
    assert "6 bookings we sent to SynXis failed (Timeout 6), for 13098, 24011." in text
    samples = [line for line in text.splitlines() if line.startswith("- 20")]
    assert len(samples) == 3 and "(your request id: req-0000abcd)" in samples[0]
    assert "our on-call is looking into it" in text
    assert request_id('{"requestId": "7f3a9c21"}') == "7f3a9c21" and request_id("timed out") is None


def test_draft_then_post_in_the_outage_messages_thread(s: Settings, app: LiveServer, fake_slack: FakeSlack) -> None:
    incident_id = outage(app, s)
    register_surfaces(s)  # the real Slack announcer posts the outage message
    outage_jobs.refresh_incident(incident_id, s)
    [(key, message)] = [(k, m) for k, m in fake_slack.messages.items() if "Possible outage" in m.get("text", "")]
    [value] = [e["value"] for b in message["blocks"] if b.get("type") == "actions" for e in b["elements"]
               if e["action_id"] == announce_render.SUPPORT]

    interaction(app, press(value, user=MALLORY))
    assert interaction(app, press(value)).status_code == 200
    modal = wait_for(lambda: next((v for v in fake_slack.views.values()
                                   if v.get("callback_id") == announce_render.SUPPORT_VIEW), None))
    drafted = modal["blocks"][1]["element"]["initial_value"]
    assert "6 bookings we sent to SynXis failed" in drafted
    edited = drafted.replace("Hello,", "Hello Sabre team,")
    submitted = {"type": "view_submission", "team": {"id": "T0SYNCDESK"}, "user": ANA, "api_app_id": "A0SYNCDESK",
                 "token": "legacy", "trigger_id": f"{time.time_ns()}.trigger",
                 "view": {"id": modal["id"], "type": "modal", "callback_id": announce_render.SUPPORT_VIEW,
                          "private_metadata": modal["private_metadata"], "hash": modal["hash"],
                          "state": {"values": {announce_render.SUPPORT_TEXT: {announce_render.SUPPORT_TEXT: {
                              "type": "plain_text_input", "value": edited}}}}}}
    assert interaction(app, submitted).status_code == 200
    posted = wait_for(lambda: [c for c in fake_slack.calls("chat.postMessage") if c.get("thread_ts") == key[1]])
    assert posted[0]["text"].startswith("To: Sabre") and "Hello Sabre team," in posted[0]["text"]
    def audited() -> list[tuple[str, str]]:
        with transaction(s.database_url) as session:
            return [(e.action, e.result) for e in session.scalars(select(AuditEvent).where(
                AuditEvent.action.in_(("click.outage_support", "outage.support_posted"))).order_by(AuditEvent.id))]
    wait_for(lambda: len(audited()) == 2)  # the audit follows the post, after the ack
    assert audited() == [("click.outage_support", "refused"), ("outage.support_posted", "ok")]
    assert json.dumps(posted[0]).count("Subject:") == 1
