"""`/syncdesk find` through the real web app (issue 14): the alert a real worker posted is
linked from the answer; empty and huge text get an ephemeral refusal."""

from __future__ import annotations

import json

from tests.bot.conftest import command, failure
from tests.bot.slack.test_render import check_blocks
from tests.conftest import post_failure, wait_for


def test_find_over_the_web_app_answers_with_links_to_the_alerts(slack_app, slack_settings, fake_slack, worker_factory):
    worker_factory(slack_settings)
    assert post_failure(slack_app.url, failure()).status_code == 202
    wait_for(lambda: fake_slack.calls("chat.postMessage"), timeout=60)
    channel, ts = next(iter(fake_slack.messages))

    def answer(words: str) -> dict:
        response = command(slack_app, words)
        assert response.status_code == 200
        return response.json()

    def linked() -> dict | None:
        said = answer("find walker")
        return said if f"https://slack.com/archives/{channel}/p{ts.replace('.', '')}" in json.dumps(said) else None

    said = wait_for(linked, timeout=30)
    assert said["response_type"] == "ephemeral" and "ORD-10042" in json.dumps(said)
    assert "Larry Walker" in json.dumps(said) and "alert open" in json.dumps(said)
    check_blocks(said["blocks"])
    assert answer("find larry.walker@example.com")["blocks"][1]["text"]["text"].startswith("<https://slack.com/")
    assert answer("find")["text"].startswith("Say what to find")
    assert "5,000 characters" in answer("find " + "x" * 5000)["text"]
    assert "No order matches" in json.dumps(answer("find nobody"))
