"""Notes in the history (issue 26.4), in Slack, end to end: a real worker posts the alert on the
local Slack; people's replies in its thread arrive as signed `message` events at /slack/events and
become notes in the order's history, shown by `/syncdesk order`, `syncdesk order` and the audit
export. An edit replaces the text and says so; a deletion leaves only that there was a note.
Replies in other threads, root messages and the bot's own messages are no notes, and a retried
delivery records once. The note's text is never logged."""

from __future__ import annotations

import csv
import io
import json
import logging
from typing import Any

import pytest
from sqlalchemy import select

from tests.bot.conftest import ANA, BEN, command, event, failure
from tests.conftest import LiveServer, post_failure, run_cli, settings_env, wait_for
from tests.fakes.slack import FakeSlack
from workflows.core.db import transaction
from workflows.core.models import AuditEvent
from workflows.core.settings import Settings
from workflows.orders import reads

ORDER = "ORD-10042"
NOTE = "Rang the hotel: they hold the room until 22:00"
EDITED = "Rang the hotel: they hold the room until 23:30"


def notes_of(settings: Settings, action: str = "note.added") -> list[AuditEvent]:
    with transaction(settings.database_url) as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.order_id == ORDER, AuditEvent.action == action)
                                    .order_by(AuditEvent.id)))


def message(channel: str, ts: str, text: str, user: str = ANA["id"], thread: str | None = None,
            **extra: Any) -> dict[str, Any]:
    """A `message` event as Slack sends it for a message in a channel (a reply: with `thread_ts`)."""
    return {"type": "message", "channel": channel, "user": user, "text": text, "ts": ts, "event_ts": ts,
            "channel_type": "channel", **({"thread_ts": thread} if thread else {}), **extra}


@pytest.fixture
def alert(slack_app: LiveServer, slack_settings: Settings, fake_slack: FakeSlack, worker_factory: Any) -> tuple[str, str]:
    """The order's alert, posted on the local Slack by a real worker: (channel id, ts)."""
    worker_factory(slack_settings)
    assert post_failure(slack_app.url, failure()).status_code == 202
    posted = wait_for(lambda: reads.posted_alerts(slack_settings, [ORDER], "slack"), timeout=60)
    return posted[ORDER]


def test_a_reply_in_the_alert_thread_is_a_note_edited_and_deleted_shown_everywhere(
        slack_app: LiveServer, slack_settings: Settings, fake_slack: FakeSlack, alert: tuple[str, str],
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    channel, root = alert
    reply_ts = "1800000000.000201"

    said = event(slack_app, message(channel, reply_ts, NOTE, thread=root), event_id="EvNote1")
    assert said.status_code == 200
    [note] = notes_of(slack_settings)
    assert note.actor == "slack:U0ANA" and note.detail["text"] == NOTE
    assert note.detail["note"] == f"slack:{channel}:{reply_ts}" and note.detail["surface"] == "slack"

    # Slack retries the delivery (same event_id), and a lost Redis memory lets one through: once
    assert event(slack_app, message(channel, reply_ts, NOTE, thread=root), event_id="EvNote1",
                 headers={"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}).status_code == 200
    assert event(slack_app, message(channel, reply_ts, NOTE, thread=root), event_id="EvNote1b").status_code == 200
    # no notes: a reply in another thread, a root message, the thread's root itself, syncdesk's own reply
    for n, ignored in enumerate((
            message(channel, "1800000000.000301", "about another order", thread="1799999999.000001"),
            message(channel, "1800000000.000302", "morning all"),
            message(channel, root, "the alert", thread=root),
            message(channel, "1800000000.000303", "Reprocessed by <@U0BEN>: failed again", user="U0SYNCBOT",
                    thread=root, bot_id="B0SYNCBOT"),
            message(channel, "1800000000.000304", "an integration's post", thread=root, subtype="bot_message",
                    bot_id="B0OTHER"))):
        assert event(slack_app, ignored, event_id=f"EvIgnored{n}").status_code == 200
    assert len(notes_of(slack_settings)) == 1

    edited = {"type": "message", "subtype": "message_changed", "hidden": True, "channel": channel,
              "ts": "1800000000.000401", "event_ts": "1800000000.000401",
              "message": {"type": "message", "user": ANA["id"], "text": EDITED, "ts": reply_ts, "thread_ts": root,
                          "edited": {"user": ANA["id"], "ts": "1800000000.000401"}},
              "previous_message": {"type": "message", "user": ANA["id"], "text": NOTE, "ts": reply_ts,
                                   "thread_ts": root}}
    assert event(slack_app, edited, event_id="EvEdit1").status_code == 200
    [note] = notes_of(slack_settings)
    assert note.detail["text"] == EDITED and note.detail["edited_by"] == "slack:U0ANA"
    [edit] = notes_of(slack_settings, "note.edited")
    assert edit.actor == "slack:U0ANA" and "text" not in edit.detail

    answer = command(slack_app, f"order {ORDER}", user=BEN).json()
    [shown] = [b for b in answer["blocks"] if b.get("block_id") == "notes_history"]
    assert EDITED in shown["text"]["text"] and "<@U0ANA>" in shown["text"]["text"]
    assert "(edited " in shown["text"]["text"] and NOTE not in json.dumps(answer)

    env = settings_env(slack_settings)
    described = run_cli(env, "order", ORDER)
    assert described.returncode == 0, described.stderr
    notes_part = described.stdout.split("Notes:\n")[1].split("\n\n")[0]
    assert f"slack:U0ANA: {EDITED} (edited " in notes_part
    exported = run_cli(env, "audit", "--order", ORDER)
    assert exported.returncode == 0, exported.stderr
    rows = list(csv.DictReader(io.StringIO(exported.stdout)))
    assert [json.loads(r["detail"])["text"] for r in rows if r["action"] == "note.added"] == [EDITED]
    assert [r["actor"] for r in rows if r["action"] == "note.edited"] == ["slack:U0ANA"]

    deleted = {"type": "message", "subtype": "message_deleted", "hidden": True, "channel": channel,
               "ts": "1800000000.000501", "event_ts": "1800000000.000501", "deleted_ts": reply_ts,
               "previous_message": {"type": "message", "user": ANA["id"], "text": EDITED, "ts": reply_ts,
                                    "thread_ts": root}}
    assert event(slack_app, deleted, event_id="EvDelete1").status_code == 200
    [note] = notes_of(slack_settings)
    assert note.detail["text"] == "" and note.detail["deleted_at"] and note.detail["deleted_by"] is None
    [gone] = notes_of(slack_settings, "note.deleted")
    assert gone.actor == "slack:unknown"  # Slack does not say who deleted a message
    described = run_cli(env, "order", ORDER).stdout
    assert "slack:U0ANA: (note deleted " in described and EDITED not in described
    exported = run_cli(env, "audit", "--order", ORDER).stdout
    assert EDITED not in exported and NOTE not in exported and "note.deleted" in exported
    answer = command(slack_app, f"order {ORDER}", user=BEN).json()
    assert "(note deleted " in json.dumps(answer) and EDITED not in json.dumps(answer)

    assert not fake_slack.calls("chat.postMessage")[1:], "a note is not echoed into the thread"
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "note added to ORD-10042 from slack" in logged
    assert NOTE not in logged and EDITED not in logged and "Rang the hotel" not in caplog.text


def test_the_audit_export_lists_every_event_as_csv(slack_app: LiveServer, slack_settings: Settings,
                                                  alert: tuple[str, str]) -> None:
    channel, root = alert
    assert event(slack_app, message(channel, "1800000000.000601", NOTE, thread=root),
                 event_id="EvNote6").status_code == 200
    env = settings_env(slack_settings)
    everything = run_cli(env, "audit", "--since", "today")
    assert everything.returncode == 0, everything.stderr
    header = everything.stdout.splitlines()[0]
    assert header == "at,order_id,item_id,actor,action,result,detail"
    rows = list(csv.DictReader(io.StringIO(everything.stdout)))
    assert rows[-1]["action"] == "note.added" and json.loads(rows[-1]["detail"])["text"] == NOTE
    assert [r["at"] for r in rows] == sorted(r["at"] for r in rows)
    unknown = run_cli(env, "audit", "--order", "ORD-404")
    assert unknown.returncode == 1 and "order ORD-404 is not known to syncdesk" in unknown.stderr
