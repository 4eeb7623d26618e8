"""End to end: intake over HTTP → a real worker process → the fake Slack gets the alert;
a signed Reprocess click → the worker's job → chat.update from state and a thread reply."""

from __future__ import annotations

import json

from tests.bot.conftest import click, failure, interaction
from tests.conftest import post_failure, wait_for


def test_intake_posts_the_alert_and_a_click_updates_it_with_a_thread_reply(slack_app, slack_settings, fake_slack,
                                                                           worker_factory):
    worker_factory(slack_settings)
    assert post_failure(slack_app.url, failure()).status_code == 202

    [post] = wait_for(lambda: fake_slack.calls("chat.postMessage"), timeout=60)
    assert post["channel"] == "#reservations-alerts"
    blocks = post["blocks"]
    text = json.dumps(blocks, ensure_ascii=False)
    assert "SynXis booking failed · ORD-10042" in blocks[0]["text"]["text"]
    assert "Larry Walker" in text and "larry.walker@example.com" in text and "hotel 13098" in text
    assert "*Why: Property not mapped.*" in text and "*Payment:*" in text
    # No SynXis connector is configured here, so the alert says to book by hand instead of offering
    # Reprocess (issue 5); a Reprocess click (an older message, the CLI) still runs the job below.
    [item_actions] = [b for b in blocks if b.get("block_id") == "actions:ITEM-1"]
    assert [e["action_id"] for e in item_actions["elements"] if e["type"] == "button"] == ["booked_manually"]
    [playbook] = [b for b in blocks if b.get("block_id") == "playbook:ITEM-1"]
    assert "Book it by hand" in playbook["text"]["text"]
    channel, ts = next(iter(fake_slack.messages))

    response = interaction(slack_app, click("reprocess", "ORD-10042", "ITEM-1", response_url=fake_slack.response_url()))
    assert response.status_code == 200

    def replied():
        return [c for c in fake_slack.calls("chat.postMessage") if c.get("thread_ts") == ts]
    [reply] = wait_for(replied, timeout=60)
    assert reply["text"].startswith("Reprocessed by <@U0ANA>: ITEM-1 failed again · No connector configured")
    update = wait_for(lambda: fake_slack.calls("chat.update"), timeout=60)[-1]
    assert (update["channel"], update["ts"]) == (channel, ts)
    assert "#2 failed" in json.dumps(update["blocks"]) and "<@U0ANA>" in json.dumps(update["blocks"])
    # one alert, updated in place (the worker's clock may also post the daily digest and reconciliation)
    assert len([c for c in fake_slack.calls("chat.postMessage")
                if not c.get("thread_ts") and "booking failed" in c["text"]]) == 1
