"""End to end: a burst of SynXis failures over HTTP → a real worker → the fake Slack gets
one outage message, and the alerts that arrive once it is open are posted as replies in
its thread, each with its own buttons; a click re-renders a threaded alert in place."""

from __future__ import annotations

import json

from tests.bot.conftest import click, failure, interaction
from tests.conftest import post_failure, wait_for
from workflows.models import utcnow


def fail(app, n: int) -> None:  # type: ignore[no-untyped-def]
    now = utcnow().strftime("%Y-%m-%dT%H:%M:%SZ")
    data = failure(event_id=f"evt-outage-{n}", occurred_at=now, order__id=f"ORD-{n:03d}")
    assert post_failure(app.url, data).status_code == 202


def alerts(fake_slack) -> dict[str, dict]:  # type: ignore[type-arg]
    """The alert posts by order id (their header names the order)."""
    out = {}
    for call in fake_slack.calls("chat.postMessage"):
        head = (call.get("blocks") or [{}])[0].get("text", {}).get("text", "")
        if "booking failed · " in head:
            out[head.split(" · ")[1]] = call
    return out


def test_alerts_of_an_outage_are_threaded_under_one_outage_message(slack_app, slack_settings, fake_slack,
                                                                   worker_factory):
    worker_factory(slack_settings)
    for n in range(1, 5):
        fail(slack_app, n)
    wait_for(lambda: len(alerts(fake_slack)) == 4, timeout=60)  # below the threshold: four ordinary alerts
    for n in range(5, 8):  # the fifth failure in the window opens the outage; 6 and 7 join it
        fail(slack_app, n)
    wait_for(lambda: len(alerts(fake_slack)) == 7, timeout=60)

    [parent] = [c for c in fake_slack.calls("chat.postMessage")
                if c["text"].startswith("Possible outage: SynXis — ")]
    # the parent is updated in place as failures join it, so find it by what it is, not its first text
    channel, parent_ts = next((ch, ts) for (ch, ts), m in fake_slack.messages.items()
                              if m["text"].startswith("Possible outage: SynXis") and not m.get("thread_ts"))
    assert parent["text"].endswith("mostly unmapped properties")
    wait_for(lambda: fake_slack.messages[(channel, parent_ts)]["text"].startswith(
        "Possible outage: SynXis — 7 failures"), timeout=60)
    posted = alerts(fake_slack)
    for n in range(1, 5):
        assert not posted[f"ORD-{n:03d}"].get("thread_ts")
    for n in range(5, 8):
        alert = posted[f"ORD-{n:03d}"]
        assert (alert["channel"], alert["thread_ts"]) == (channel, parent_ts)
        assert "booked_manually" in json.dumps(alert["blocks"])  # its own buttons, in the thread
    # one outage message, one page (nobody is on call here: it goes to the channel, with @here)
    tops = [c for c in fake_slack.calls("chat.postMessage") if not c.get("thread_ts")]
    assert len([c for c in tops if c["text"].startswith("Possible outage")]) == 1
    assert len([c for c in tops if "Nobody is on call" in c["text"]]) == 1

    # a click on a threaded alert: the job re-renders it in place, the outcome goes to the outage thread
    threaded_ts = next(ts for (ch, ts), m in fake_slack.messages.items()
                       if m.get("thread_ts") == parent_ts and "ORD-006" in json.dumps(m["blocks"]))
    interaction(slack_app, click("reprocess", "ORD-006", "ITEM-1"))
    wait_for(lambda: any(c["ts"] == threaded_ts and "#2 failed" in json.dumps(c["blocks"])
                         for c in fake_slack.calls("chat.update")), timeout=60)
    reply = wait_for(lambda: [c for c in fake_slack.calls("chat.postMessage")
                              if c.get("thread_ts") == parent_ts and c["text"].startswith("ORD-006: Reprocessed by")],
                     timeout=60)[0]
    assert "<@U0ANA>" in reply["text"]
    assert len(alerts(fake_slack)) == 7  # every alert posted once, none again


def test_thirty_failures_are_one_outage_thirty_tracked_alerts_and_paced_posts(slack_app, slack_settings, fake_slack,
                                                                            worker_factory):
    from collections import Counter

    from sqlalchemy import func, select

    from workflows.db import transaction
    from workflows.models import Alert, Incident

    worker_factory(slack_settings)
    for n in range(1, 31):
        fail(slack_app, n)
    wait_for(lambda: len(alerts(fake_slack)) == 30, timeout=120)

    posts = fake_slack.calls("chat.postMessage")
    assert len([c for c in posts if c["text"].startswith("Possible outage: SynXis")]) == 1
    assert len([c for c in posts if "Nobody is on call" in c["text"]]) == 1  # paged once
    with transaction(slack_settings.database_url) as session:
        assert session.scalar(select(func.count()).select_from(Incident)) == 1
        assert session.scalar(select(func.count()).select_from(Alert)) == 30  # each tracked on its own
        # all belong to the outage (the first four, posted before it opened, are attached too)
        assert session.scalar(select(func.count()).select_from(Alert).where(Alert.incident_id.is_not(None))) == 30
    # Slack's pacing: about one message per second per channel, never a burst.
    per_second = Counter((channel, ts.split(".")[0]) for (channel, ts) in fake_slack.messages)
    assert max(per_second.values()) <= 2, per_second.most_common(3)
