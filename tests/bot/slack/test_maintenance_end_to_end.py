"""Maintenance windows in Slack (issue 26.1), end to end on both databases: `/syncdesk
maintenance` sets a window (said in the channel); failures in it go through the real intake and
workers to the fake Slack and are listed in the window's message instead of one alert each;
nobody is messaged or paged while it lasts (the escalation check, its delay passed as `now`);
`/syncdesk maintenance` lists it; ending it early is refused to a non-member, audited for a
member, and turns the message into the outage's view with Reprocess all."""

from __future__ import annotations

import datetime as dt
import json

from sqlalchemy import select

from tests.bot.conftest import MALLORY, command
from tests.bot.slack.test_outage_end_to_end import alerts, fail
from tests.bot.slack.test_render import check_blocks
from tests.conftest import wait_for
from workflows.core.db import transaction
from workflows.core.models import AuditEvent, MaintenanceWindow, utcnow
from workflows.oncall import escalation


def window_message(fake_slack, prefix: str) -> dict | None:  # type: ignore[no-untyped-def,type-arg]
    return next((m for m in fake_slack.messages.values() if m["text"].startswith(prefix)), None)


def test_failures_in_a_window_set_from_slack_are_listed_under_it_and_ending_it_early_offers_reprocess_all(
        slack_app, slack_settings, fake_slack, worker_factory):
    s = slack_settings
    worker_factory(s)
    start = utcnow().replace(second=0, microsecond=0)  # 13098 has no zone in the routing: LOCAL_TIMEZONE, UTC
    answer = command(slack_app, f"maintenance synxis 13098 {start:%H:%M}-{start + dt.timedelta(hours=1):%H:%M} "
                                "“PMS upgrade”")
    said = answer.json()
    assert said["response_type"] == "in_channel" and said["text"].startswith("Maintenance window set: #"), said
    with transaction(s.database_url) as session:
        window_id = session.scalar(select(MaintenanceWindow.id))

    t0 = utcnow()
    arrival = t0.date() + dt.timedelta(days=1)
    for n in (1, 2):
        fail(slack_app, n, arrival=arrival, hotel=13098)
    fail(slack_app, 3, arrival=arrival, hotel=13099)  # another hotel: not in the window

    held = wait_for(lambda: (m := window_message(fake_slack, "Maintenance: SynXis at 13098 until ")) and
                    "2 failures held, nobody paged" in m["text"] and m, timeout=60)
    check_blocks(held["blocks"])
    blocks = json.dumps(held["blocks"], ensure_ascii=False)
    assert "🔧" in blocks and "ORD-001" in blocks and "ORD-002" in blocks and "Nobody is paged" in blocks
    assert '"action_id": "reprocess_all"' not in blocks  # offered when the window ends
    wait_for(lambda: "ORD-003" in alerts(fake_slack), timeout=60)  # the other hotel's alert, posted as ever
    assert set(alerts(fake_slack)) == {"ORD-003"}  # the window's failures are not posted one by one

    # The escalation check, 20 minutes on: the other hotel's order is due, the window's are not.
    due = escalation.check_due(s, t0 + dt.timedelta(minutes=20))
    assert {e.order_id for e in due} == {"ORD-003"}
    wait_for(lambda: any("ORD-003" in c["text"] for c in fake_slack.calls("chat.postMessage")
                         if "Nobody is on call" in c["text"]), timeout=60)
    told = [c["text"] for c in fake_slack.calls("chat.postMessage") if c["text"].startswith(("Nobody", "<!here>"))]
    assert not any("ORD-001" in t or "ORD-002" in t for t in told), told

    listed = command(slack_app, "maintenance").json()
    assert listed["response_type"] == "ephemeral" and f"#{window_id} SynXis at 13098, now until" in listed["text"]
    assert "2 failures held" in listed["text"]

    refused = command(slack_app, f"maintenance end {window_id}", user=MALLORY).json()
    assert refused["response_type"] == "ephemeral" and "Maintenance window ended" not in refused["text"]
    ended = command(slack_app, f"maintenance end {window_id}").json()
    assert ended["response_type"] == "in_channel" and "Maintenance window ended early" in ended["text"]
    assert "Its 2 failures now show in its message with Reprocess all" in ended["text"]
    with transaction(s.database_url) as session:
        [event] = session.scalars(select(AuditEvent).where(AuditEvent.action == "maintenance.ended")).all()
        assert event.actor == "slack:U0ANA (ana)" and event.detail["early"] is True
        assert event.detail["window_id"] == window_id and event.detail["failures"] == 2

    over = wait_for(lambda: window_message(fake_slack, "Maintenance over: SynXis at 13098 (PMS upgrade)"), timeout=60)
    wait_for(lambda: "Reprocess all 2" in json.dumps(over["blocks"]), timeout=60)
    check_blocks(over["blocks"])
    assert "early, by <@U0ANA>" in json.dumps(over["blocks"]) and f"maintenance window {window_id}" in json.dumps(
        over["blocks"])
    wait_for(lambda: any(c["text"].startswith("Maintenance over: SynXis at 13098") and c.get("blocks") is None
                         for c in fake_slack.calls("chat.postMessage")), timeout=60)  # the all-clear
