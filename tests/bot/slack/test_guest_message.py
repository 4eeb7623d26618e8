"""A message for the guest (issue 26.6): "Message guest" on an alert drafts copy-ready text with
the facts (the payment is safe, what happens next, the confirmation once booked; the waitlist
e-mail a SynXis guest already had, source 004), per item kind from GUEST_MESSAGE_FILE; shown
to the person alone, audited, never sent. Through the real intake and Bolt app on FakeSlack."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from tests.bot.conftest import ANA, MALLORY, failure, interaction, overflow_choice
from tests.conftest import LiveServer, post_failure, wait_for
from tests.fakes.slack import FakeSlack
from workflows.core.db import transaction
from workflows.core.models import AuditEvent, OrderItem
from workflows.core.settings import Settings
from workflows.orders import guest_message

ORDER = "ORD-10042"


def choose(user: dict[str, str]) -> dict[str, Any]:
    return overflow_choice("message_guest", "Message guest", ORDER, user)


def audited(settings: Settings, action: str) -> list[AuditEvent]:
    with transaction(settings.database_url) as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def test_message_guest_is_drafted_for_the_person_alone_and_audited(
        slack_app: LiveServer, slack_settings: Settings, fake_slack: FakeSlack) -> None:
    assert post_failure(slack_app.url, failure()).status_code == 202

    assert interaction(slack_app, choose(ANA)).status_code == 200
    [told] = wait_for(lambda: fake_slack.calls("chat.postEphemeral"), timeout=30)
    assert told["user"] == ANA["id"]
    assert "Message for the guest (pending)" in told["text"] and "syncdesk sends nothing" in told["text"]
    assert "Dear Larry," in told["text"] and "Your payment of £240.00 has been received and is safe" in told["text"]
    assert "with the hotel" in told["text"]
    [drafted] = wait_for(lambda: audited(slack_settings, "guest_message.drafted"))
    assert drafted.detail == {"via": "slack", "situation": "pending"} and drafted.actor.startswith("slack:U0ANA")

    assert interaction(slack_app, choose(MALLORY)).status_code == 200
    wait_for(lambda: audited(slack_settings, "click.message_guest"))
    assert len(audited(slack_settings, "guest_message.drafted")) == 1
    assert not fake_slack.calls("chat.postMessage")[1:], "nothing is posted in the channel, nothing sent"


def test_the_situation_and_the_kinds_template_decide_the_text(slack_app: LiveServer, slack_settings: Settings,
                                                            tmp_path) -> None:
    assert post_failure(slack_app.url, failure(failure__code="no_availability",
                                               failure__message="Waitlisted: no availability")).status_code == 202
    waitlisted = guest_message.draft(slack_settings, ORDER, "cli:ops", via="cli")
    assert waitlisted is not None and waitlisted.situation == "waitlisted"
    assert "on a waiting list" in waitlisted.text

    with transaction(slack_settings.database_url) as session:
        item = session.scalar(select(OrderItem).where(OrderItem.order_id == ORDER))
        item.status, item.external_reference = "Confirmed", "13098CU000379"
    templates = tmp_path / "guest.yml"
    templates.write_text("room:\n  booked: 'Hi {first_name}, {order_id} is booked: {confirmations} ({when}).'\n")
    custom = slack_settings.model_copy(update={"guest_message_file": str(templates)})
    booked = guest_message.draft(custom, ORDER, "cli:ops", via="cli")
    assert booked is not None and booked.situation == "booked"
    assert booked.text.startswith("Hi Larry, ORD-10042 is booked: 13098CU000379 (arriving ")

    templates.write_text("room:\n  booked: 'Hi {guest_surname}'\n")
    with pytest.raises(guest_message.TemplateError, match=r"room\.booked: unknown placeholder\(s\) guest_surname"):
        guest_message.draft(custom, ORDER, "cli:ops", via="cli")
