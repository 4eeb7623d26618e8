"""Maintenance windows in Teams (issue 26.1), end to end on both databases: `maintenance …`
sent to the bot sets a window; failures in it go through the real intake and workers to the fake
Bot Connector and are listed on the window's card instead of one alert card each; nobody is
messaged while it lasts (the escalation check, its delay passed as `now`); `maintenance end ID`
is refused to a non-member, audited for a member, and turns the card into the outage's view
with "Reprocess all"."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

import jsonschema
from sqlalchemy import select

from tests.bot.slack.test_outage_end_to_end import fail
from tests.bot.teams.conftest import ANA, CONVERSATION, MALLORY, send, text
from tests.bot.teams.test_cards import SCHEMA
from tests.conftest import wait_for
from workflows.core.db import transaction
from workflows.core.models import AuditEvent, MaintenanceWindow, utcnow
from workflows.oncall import escalation


def window_card(bot_connector, prefix: str) -> dict[str, Any] | None:  # type: ignore[no-untyped-def]
    """The window's card as it is now (updated in place), when its text starts with `prefix`."""
    return next((a["attachments"][0]["content"] for a in bot_connector.activities.values()
                 if a.get("attachments") and str(a.get("text", "")).startswith(prefix)), None)


def ask(app, identity, bot_connector, words: str, user: dict[str, str] = ANA) -> str:  # type: ignore[no-untyped-def]
    url = bot_connector.url + "/"
    asked = text(words, user, url) | {"id": f"f:ask-{uuid.uuid4().hex[:12]}"}  # one id per message, whoever sends it
    assert send(app.url, asked, identity.token(url)).status_code == 200
    (reply,) = wait_for(lambda: bot_connector.replies(asked["id"]), timeout=30)
    return str(reply["text"])


def test_failures_in_a_window_set_from_teams_are_listed_on_its_card_and_ending_it_early_offers_reprocess_all(
        teams_app, teams_settings, identity, bot_connector, worker_factory):
    s = teams_settings
    worker_factory(s)
    said = ask(teams_app, identity, bot_connector, 'maintenance synxis 13098 now-1h "PMS upgrade"')
    assert said.startswith("Maintenance window set: #") and "set by Ana Lopez" in said, said
    with transaction(s.database_url) as session:
        window_id = session.scalar(select(MaintenanceWindow.id))

    t0 = utcnow()
    arrival = t0.date() + dt.timedelta(days=1)
    for n in (1, 2):
        fail(teams_app, n, arrival=arrival, hotel=13098)
    fail(teams_app, 3, arrival=arrival, hotel=13099)  # another hotel: not in the window

    held = wait_for(lambda: (c := window_card(bot_connector, "Maintenance: SynXis at 13098 until ")) and
                    "2 failures held" in c["fallbackText"] and c, timeout=60)
    jsonschema.validate(held, SCHEMA)
    body = json.dumps(held["body"], ensure_ascii=False)
    assert "🔧" in body and "ORD-001" in body and "ORD-002" in body and "Nobody is paged" in body
    assert not [a for a in held.get("actions", []) if a.get("verb") == "reprocess_all"]
    wait_for(lambda: any("ORD-003" in str(a.get("text", "")) for a in bot_connector.cards(CONVERSATION)), timeout=60)
    alert_texts = [str(a.get("text", "")) for a in bot_connector.posted()]
    assert not any("ORD-001" in t or "ORD-002" in t for t in alert_texts)  # no alert card of their own

    due = escalation.check_due(s, t0 + dt.timedelta(minutes=20))
    assert {e.order_id for e in due} == {"ORD-003"}

    listed = ask(teams_app, identity, bot_connector, "maintenance")
    assert f"#{window_id} SynXis at 13098, now until" in listed and "2 failures held" in listed

    refused = ask(teams_app, identity, bot_connector, f"maintenance end {window_id}", MALLORY)
    assert "ended" not in refused
    ended = ask(teams_app, identity, bot_connector, f"maintenance end {window_id}")
    assert ended.startswith("Maintenance window ended early") and "Its 2 failures" in ended
    with transaction(s.database_url) as session:
        [event] = session.scalars(select(AuditEvent).where(AuditEvent.action == "maintenance.ended")).all()
        assert event.actor.startswith(f"teams:{ANA['aadObjectId']}") and event.detail["early"] is True
        refusals = session.scalars(select(AuditEvent).where(AuditEvent.action == "lookup.maintenance")).all()
        assert [r.result for r in refusals] == ["refused"]

    over = wait_for(lambda: (c := window_card(bot_connector, "Maintenance over: SynXis at 13098 (PMS upgrade)")) and
                    any(a.get("title") == "Reprocess all 2" for a in c.get("actions", [])) and c, timeout=60)
    jsonschema.validate(over, SCHEMA)
    assert "early, by Ana Lopez" in json.dumps(over["body"], ensure_ascii=False)
