"""Notes in the history (issue 26.4), in Teams, end to end: a real worker posts the alert card on
the local Bot Connector; people's replies in the card's thread arrive as signed activities at
/api/teams/messages (a `message` in `<channel>;messageid=<card>`, then its `messageUpdate` and
`messageDelete`) and become notes in the order's history, shown by `order ORD-10042` in Teams,
`syncdesk order` and the audit export. Replies in other threads, the bot's own messages and
channel chatter are no notes, a command in the thread is answered, the same activity twice
records once, and erasing the guest scrubs them from the notes."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest
from sqlalchemy import select

from tests.bot.teams.conftest import (
    ANA,
    APP_ID,
    BEN,
    CONVERSATION,
    FAILURE,
    TENANT,
    activity,
    send,
    text,
)
from tests.conftest import LiveServer, post_failure, run_cli, settings_env, wait_for
from tests.fakes.teams import FakeBotConnector, FakeBotIdentity
from workflows.core.db import transaction
from workflows.core.models import AuditEvent
from workflows.core.settings import Settings
from workflows.orders import reads

ORDER = "ORD-10042"
NOTE = "Rang the hotel: they hold the room until 22:00"
EDITED = "Rang the hotel: they hold the room until 23:30"
ANA_ACTOR = f"teams:{ANA['aadObjectId']} (Ana Lopez)"


def notes_of(settings: Settings, action: str = "note.added") -> list[AuditEvent]:
    with transaction(settings.database_url) as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.order_id == ORDER, AuditEvent.action == action)
                                    .order_by(AuditEvent.id)))


def in_thread(kind: str, root: str, message_id: str, user: dict[str, str], url: str, **fields: Any) -> dict[str, Any]:
    """An activity about message `message_id` in the thread under `root` of the alert channel."""
    return activity(kind, user, url, id=message_id, replyToId=root,
                    conversation={"id": f"{CONVERSATION};messageid={root}", "conversationType": "channel",
                                  "tenantId": TENANT, "isGroup": True}, **fields)


@pytest.fixture
def card(teams_app: LiveServer, teams_settings: Settings, bot_connector: FakeBotConnector,
         worker_factory: Any) -> str:
    """The order's alert card, posted on the local Bot Connector by a real worker: its activity id."""
    worker_factory(teams_settings)
    assert post_failure(teams_app.url, FAILURE).status_code == 202
    posted = wait_for(lambda: reads.posted_alerts(teams_settings, [ORDER], "teams"), timeout=60)
    assert posted[ORDER][0] == CONVERSATION
    return posted[ORDER][1]


def test_a_reply_in_the_card_thread_is_a_note_edited_and_deleted_shown_everywhere(
        teams_app: LiveServer, teams_settings: Settings, identity: FakeBotIdentity, bot_connector: FakeBotConnector,
        card: str) -> None:
    url = bot_connector.url + "/"
    token = identity.token(url)
    reply_id = "1800000000901"

    said = in_thread("message", card, reply_id, ANA, url, text=NOTE, textFormat="plain")
    assert send(teams_app.url, said, token).status_code == 200
    [note] = notes_of(teams_settings)
    assert note.actor == ANA_ACTOR and note.detail["text"] == NOTE
    assert note.detail["note"] == f"teams:{CONVERSATION}:{reply_id}" and note.detail["surface"] == "teams"
    assert send(teams_app.url, said, token).status_code == 200  # delivered again: recorded once

    mentioned = in_thread("message", card, "1800000000902", BEN, url, textFormat="xml",
                          text="<at>syncdesk</at> <at>Ana Lopez</at> thanks, I&#39;ll call the guest at 21:00")
    assert send(teams_app.url, mentioned, token).status_code == 200
    assert notes_of(teams_settings)[1].detail["text"] == "@Ana Lopez thanks, I'll call the guest at 21:00"

    chatter = text("lunch at 1?", ANA, url) | {"id": "f:chatter",
                                               "conversation": {"id": CONVERSATION, "conversationType": "channel",
                                                                "tenantId": TENANT, "isGroup": True}}
    for ignored in (in_thread("message", "1699999999999", "1800000000903", ANA, url, text="about another order"),
                    in_thread("message", card, "1800000000904", {"id": f"28:{APP_ID}", "name": "syncdesk"}, url,
                              text="Reprocessed by Ana Lopez: failed again"),
                    chatter):
        assert send(teams_app.url, ignored, token).status_code == 200
    assert len(notes_of(teams_settings)) == 2

    edited = in_thread("messageUpdate", card, reply_id, ANA, url, text=EDITED,
                       channelData={"eventType": "editMessage", "tenant": {"id": TENANT}})
    assert send(teams_app.url, edited, token).status_code == 200
    note = notes_of(teams_settings)[0]
    assert note.detail["text"] == EDITED and note.detail["edited_by"] == ANA_ACTOR
    [edit] = notes_of(teams_settings, "note.edited")
    assert edit.actor == ANA_ACTOR and "text" not in edit.detail

    asked = in_thread("message", card, "1800000000905", BEN, url, text="order ORD-10042")  # a command, not a note
    assert send(teams_app.url, asked, token).status_code == 200
    (answer,) = wait_for(lambda: bot_connector.replies(asked["id"]))
    shown = json.dumps(answer["attachments"][0]["content"], ensure_ascii=False)
    assert f"Ana Lopez: {EDITED} (edited " in shown and NOTE not in shown
    assert len(notes_of(teams_settings)) == 2
    assert not bot_connector.replies("f:chatter")  # the chatter's turn came and went without an answer

    env = settings_env(teams_settings)
    described = run_cli(env, "order", ORDER)
    assert described.returncode == 0, described.stderr
    assert f"{ANA_ACTOR}: {EDITED} (edited " in described.stdout

    deleted = in_thread("messageDelete", card, reply_id, ANA, url,
                        channelData={"eventType": "softDeleteMessage", "tenant": {"id": TENANT}})
    assert send(teams_app.url, deleted, token).status_code == 200
    note = notes_of(teams_settings)[0]
    assert note.detail["text"] == "" and note.detail["deleted_by"] == ANA_ACTOR
    [gone] = notes_of(teams_settings, "note.deleted")
    assert gone.actor == ANA_ACTOR
    described = run_cli(env, "order", ORDER).stdout
    assert f"{ANA_ACTOR}: (note deleted " in described and f"by {ANA_ACTOR})" in described
    assert EDITED not in described and "I'll call the guest at 21:00" in described
    rows = list(csv.DictReader(io.StringIO(run_cli(env, "audit", "--order", ORDER).stdout)))
    assert [json.loads(r["detail"])["text"] for r in rows if r["action"] == "note.added"] == [
        "", "@Ana Lopez thanks, I'll call the guest at 21:00"]
    assert [r["action"] for r in rows if r["action"].startswith("note.")] == [
        "note.added", "note.added", "note.edited", "note.deleted"]


def test_erasing_the_guest_scrubs_them_from_the_notes(teams_app: LiveServer, teams_settings: Settings,
                                                      identity: FakeBotIdentity, bot_connector: FakeBotConnector,
                                                      card: str) -> None:
    url = bot_connector.url + "/"
    said = in_thread("message", card, "1800000000911", ANA, url,
                     text="Larry Walker called from +44 5551234567, he arrives late")
    assert send(teams_app.url, said, identity.token(url)).status_code == 200
    env = settings_env(teams_settings)
    assert "Larry Walker called from" in run_cli(env, "order", ORDER).stdout

    erased = run_cli(env, "erase-guest", ORDER, "--include-open")
    assert erased.returncode == 0, erased.stderr
    [note] = notes_of(teams_settings)
    assert note.detail["text"] == "[guest of ORD-10042] called from [guest of ORD-10042], he arrives late"
    exported = run_cli(env, "audit", "--order", ORDER).stdout
    assert "Larry" not in exported and "5551234567" not in exported
