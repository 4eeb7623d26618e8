"""Issue 14's moves in Slack, end to end: the real web app and a real worker process against
the local Slack, platform and Stripe servers. Cancel and refund, Snooze, Hand over, Undo
Booked manually, each from its overflow option through its form to what the alert says, and
each bad input answered in the form with nothing written but the refusal's audit event."""

from __future__ import annotations

import datetime as dt
import json
import time
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.bot.conftest import ANA, BEN, MALLORY, failure, interaction, submission, with_platform
from tests.bot.slack.test_render import check_blocks, check_view
from tests.conftest import LiveServer, post_failure, wait_for
from tests.fakes.platform import FakePlatform
from tests.fakes.stripe import FakeStripe
from workflows.core.db import transaction
from workflows.core.models import Alert, AuditEvent, Order, OrderItem
from workflows.core.settings import Settings

ORDER = "ORD-10042"


@pytest.fixture
def moves_settings(slack_settings: Settings, platform_fake: FakePlatform, stripe_fake: FakeStripe) -> Settings:
    return with_platform(slack_settings, platform_fake, stripe_fake)


@pytest.fixture
def alerted(app: LiveServer, moves_settings: Settings, fake_slack: Any, worker_factory: Any,
            platform_fake: FakePlatform) -> tuple[str, str]:
    """The order alerted by a real worker: (channel, ts) of its message."""
    worker_factory(moves_settings)
    # Arriving in two days whenever the suite runs, here and on the platform (whose copy the
    # worker reads back): a fixed date turns into the past, and a past arrival rightly offers
    # no "until the arrival day" snooze.
    arrival = dt.datetime.now(dt.timezone.utc).date() + dt.timedelta(days=2)
    event = failure(order__items__0__start=arrival.isoformat(),
                    order__items__0__end=(arrival + dt.timedelta(days=1)).isoformat())
    platform_fake.seed(event["order"])
    assert post_failure(app.url, event).status_code == 202
    wait_for(lambda: fake_slack.calls("chat.postMessage"), timeout=60)
    return next(iter(fake_slack.messages))


def choose(move: str, item_id: str | None = None, user: dict[str, str] = ANA) -> dict[str, Any]:
    """A block_actions payload for an option of the alert's overflow menu."""
    value = f"{move}|{ORDER}|{item_id or ''}"
    return {
        "type": "block_actions", "user": user, "api_app_id": "A0SYNCDESK", "token": "legacy",
        "container": {"type": "message", "message_ts": "1700000000.000100", "channel_id": "C0ALERTS"},
        "trigger_id": f"{time.time_ns()}.trigger", "team": {"id": "T0SYNCDESK"},
        "channel": {"id": "C0ALERTS", "name": "reservations-alerts"}, "response_url": "",
        "actions": [{"action_id": "more", "block_id": "alert", "type": "overflow",
                     "selected_option": {"text": {"type": "plain_text", "text": move}, "value": value},
                     "action_ts": f"{time.time():.6f}"}],
    }


def submit(view: dict[str, Any], values: dict[str, Any], user: dict[str, str] = ANA) -> dict[str, Any]:
    """The view_submission of a modal syncdesk opened, with `values` as Slack sends them."""
    return {"type": "view_submission", "team": {"id": "T0SYNCDESK"}, "user": user, "api_app_id": "A0SYNCDESK",
            "token": "legacy", "trigger_id": f"{time.time_ns()}.trigger",
            "view": {"id": view["id"], "type": "modal", "callback_id": view["callback_id"],
                     "private_metadata": view["private_metadata"], "hash": view["hash"],
                     "state": {"values": values}}}


def text_value(block: str, value: str) -> dict[str, Any]:
    return {block: {"value": {"type": "plain_text_input", "value": value}}}


def opened(fake_slack: Any, callback_id: str) -> dict[str, Any]:
    return wait_for(lambda: [c["view"] for c in fake_slack.calls("views.open")
                             if c["view"].get("callback_id") == callback_id], timeout=30)[-1] | {}


def stored_view(fake_slack: Any, callback_id: str) -> dict[str, Any]:
    return next(v for v in reversed(list(fake_slack.views.values())) if v.get("callback_id") == callback_id)


def audit(settings: Settings, action: str) -> list[AuditEvent]:
    with transaction(settings.database_url) as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


def audit_count(settings: Settings) -> int:
    """The audit events people's clicks wrote (the worker's own jobs, running meanwhile, write
    theirs under syncdesk actors and are not what a refusal is checked against)."""
    with transaction(settings.database_url) as session:
        return session.scalar(select(func.count()).select_from(AuditEvent)
                              .where(AuditEvent.actor.like("slack:%"))) or 0


def replies(fake_slack: Any, ts: str) -> list[str]:
    return [c["text"] for c in fake_slack.calls("chat.postMessage") if c.get("thread_ts") == ts]


def message(fake_slack: Any, channel: str, ts: str) -> str:
    return json.dumps(fake_slack.messages[(channel, ts)]["blocks"], ensure_ascii=False)


def test_cancel_and_refund_confirms_the_amount_refunds_once_and_shows_the_refund(
        app, moves_settings, fake_slack, platform_fake, stripe_fake, alerted):
    channel, ts = alerted
    assert interaction(app, choose("cancel_refund", "ITEM-1")).status_code == 200
    form = opened(fake_slack, "cancel_refund_submit")
    check_view(form)
    assert "*Refund:* £240.00 (the whole payment)" in json.dumps(form, ensure_ascii=False)
    view = stored_view(fake_slack, "cancel_refund_submit")
    reason = text_value("reason", "No availability for those dates; guest informed")
    first, second = (interaction(app, submit(view, reason)) for _ in range(2))  # a double click
    assert (first.status_code, first.text, second.status_code) == (200, "", 200)

    def cancelled() -> bool:
        return "by Cancel Deliveries of ITEM-1" in message(fake_slack, channel, ts)
    wait_for(cancelled, timeout=60)  # Stripe was asked again: the payment line shows its refund
    assert len(platform_fake.refunds) == 1 and len(stripe_fake._refunds) == 1
    assert {r.json["idempotency_key"] for r in platform_fake.requests_to("POST")} == {
        "syncdesk:cancel-delivery:ORD-10042:ITEM-1"}
    said = message(fake_slack, channel, ts)
    assert "*£240.00 refunded* (`pi_3Qtest`)" in said
    assert "ITEM-1 cancelled and refunded by <@U0ANA>: £240.00 (`re_fake" in said
    check_blocks(fake_slack.messages[(channel, ts)]["blocks"])
    reply = wait_for(lambda: [r for r in replies(fake_slack, ts) if r.startswith("Cancelled and refunded")], timeout=30)
    assert reply[0].startswith("Cancelled and refunded by <@U0ANA>: ITEM-1, £240.00 refunded (`re_fake")
    with transaction(moves_settings.database_url) as session:
        assert session.get(Order, ORDER).platform_status == "Cancelled"  # read back from the platform
        assert session.scalars(select(Alert.state)).all() == ["resolved"]
    assert len(audit(moves_settings, "item.cancelled")) == 1

    # Refund twice (an old form submitted again): a clear answer in the form, only the refusal written
    before = audit_count(moves_settings)
    again = interaction(app, submit(view, reason)).json()
    assert again["response_action"] == "errors" and "cancelled" in again["errors"]["reason"]
    assert audit_count(moves_settings) == before + 1 and audit(moves_settings, "click.cancel_refund")[-1].result == "refused"
    assert len(platform_fake.refunds) == 1 and len(stripe_fake._refunds) == 1


def test_a_job_run_again_after_the_platform_refunded_gets_the_same_answer_and_refunds_once(
        app, moves_settings, fake_slack, platform_fake, stripe_fake, alerted):
    """A first run reached the platform and died before writing it down: the run again sends
    the same key, the platform answers as it did first, and the guest is refunded once."""
    import httpx

    lost = httpx.post(f"{platform_fake.url}/orders/{ORDER}/items/ITEM-1/cancel-delivery",
                      headers={"Authorization": "Bearer platform-key"},
                      json={"reason": "No availability", "idempotency_key": "syncdesk:cancel-delivery:ORD-10042:ITEM-1"})
    assert lost.status_code == 200
    from workflows.actions.requests import request_cancel_refund

    # (the worker's re-check of open alerts may read the cancelled item back first: then the job
    # stands down, "already Cancelled"; either way the platform is never asked under a new key)
    request_cancel_refund(moves_settings, ORDER, "ITEM-1", "slack:U0ANA (ana)", "No availability")
    wait_for(lambda: audit(moves_settings, "item.cancelled"), timeout=60)
    wait_for(lambda: audit(moves_settings, "cancel_refund.refused") or len(platform_fake.requests_to("POST")) == 2,
             timeout=60)
    assert len(platform_fake.refunds) == 1 and len(stripe_fake._refunds) == 1
    assert {r.json["idempotency_key"] for r in platform_fake.requests_to("POST")} == {
        "syncdesk:cancel-delivery:ORD-10042:ITEM-1"}
    (event,) = audit(moves_settings, "item.cancelled")
    assert event.detail.get("refund_reference", lost.json()["refund"]["reference"]) == lost.json()["refund"]["reference"]


def test_cancel_and_refund_is_never_offered_or_done_for_a_confirmed_item(app, moves_settings, fake_slack, alerted):
    interaction(app, submission(ORDER, "ITEM-1", "synxis", "13098CU000379"))  # booked by hand
    channel, ts = alerted
    wait_for(lambda: "13098CU000379" in message(fake_slack, channel, ts), timeout=60)
    assert "cancel_refund|" not in message(fake_slack, channel, ts)
    from workflows.actions.requests import request_cancel_refund

    answer = request_cancel_refund(moves_settings, ORDER, "ITEM-1", "slack:U0ANA (ana)", "No availability")
    assert not answer.accepted and "Confirmed" in answer.message


def later(minutes: float) -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=minutes)


def test_snooze_pauses_escalation_says_until_when_and_by_whom_then_re_raises_the_alert(
        app, moves_settings, fake_slack, alerted):
    from workflows.oncall.escalation import check_due

    channel, ts = alerted
    interaction(app, choose("snooze"))
    form = opened(fake_slack, "snooze_submit")
    check_view(form)
    assert [o["value"] for o in form["blocks"][1]["element"]["options"]] == ["1h", "tomorrow", "arrival"]
    view = stored_view(fake_slack, "snooze_submit")

    # a past time: a clear answer in the form, and nothing written but the refusal
    before = audit_count(moves_settings)
    past = interaction(app, submit(view, text_value("until", "2020-01-01 09:00"))).json()
    assert past["response_action"] == "errors" and "is in the past" in past["errors"]["until"]
    assert audit_count(moves_settings) == before + 1 and audit(moves_settings, "click.snooze")[-1].result == "refused"

    one_hour = {"snooze": {"value": {"type": "radio_buttons", "selected_option": {"value": "1h"}}}}
    assert interaction(app, submit(view, one_hour)).text == ""
    wait_for(lambda: "💤 Snoozed until" in message(fake_slack, channel, ts) and "by <@U0ANA>" in message(
        fake_slack, channel, ts), timeout=60)
    assert wait_for(lambda: [r for r in replies(fake_slack, ts) if r.startswith("Snoozed by <@U0ANA> until")], timeout=30)

    assert check_due(moves_settings, now=later(30)) == []  # would have escalated at 15 min: paused
    assert check_due(moves_settings, now=later(61)) == []  # the snooze ends: re-raised, the clock restarts
    (ended,) = audit(moves_settings, "alert.snooze_ended")
    assert ended.detail["reason"] == "expired" and ended.detail["snoozed_by"] == "slack:U0ANA (ana)"
    wait_for(lambda: [r for r in replies(fake_slack, ts) if r.startswith("⏰ The snooze <@U0ANA> set is over")],
             timeout=60)
    wait_for(lambda: "💤" not in message(fake_slack, channel, ts), timeout=30)
    assert [e.level for e in check_due(moves_settings, now=later(61 + 16))] == [1]  # escalation resumes


def test_a_new_failure_of_the_order_ends_its_snooze(app, moves_settings, fake_slack, alerted):
    from workflows.oncall import requests as oncall_requests

    assert oncall_requests.snooze(moves_settings, ORDER, "slack:U0ANA (ana)", "tomorrow").accepted
    assert post_failure(app.url, failure(event_id="evt_slack_02")).status_code == 202
    (ended,) = audit(moves_settings, "alert.snooze_ended")
    assert ended.detail["reason"] == "new failure"
    with transaction(moves_settings.database_url) as session:
        assert session.scalars(select(Alert.snoozed_until)).all() == [None]


def test_hand_over_dms_the_teammate_shows_the_owner_and_escalates_to_them_first(
        app, moves_settings, fake_slack, alerted):
    from workflows.oncall.escalation import check_due

    channel, ts = alerted
    interaction(app, choose("hand_over"))
    check_view(opened(fake_slack, "hand_over_submit"))
    view = stored_view(fake_slack, "hand_over_submit")

    def to(user: dict[str, str]) -> dict[str, Any]:
        return {"owner": {"value": {"type": "users_select", "selected_user": user["id"]}}}

    before = audit_count(moves_settings)
    stranger = interaction(app, submit(view, to(MALLORY))).json()
    assert stranger["response_action"] == "errors" and "not on the reservations team" in stranger["errors"]["owner"]
    assert audit_count(moves_settings) == before + 1 and audit(moves_settings, "click.hand_over")[-1].result == "refused"

    assert interaction(app, submit(view, to(BEN))).text == ""
    dm = wait_for(lambda: [c for c in fake_slack.calls("chat.postMessage") if c["channel"] == "D0BEN"], timeout=60)[0]
    assert "handed ORD-10042 (Larry Walker) over to you" in dm["text"] and "ana" in dm["text"]
    assert f"<https://slack.com/archives/{channel}/p{ts.replace('.', '')}|Open the alert>" in dm["text"]
    wait_for(lambda: "👤 Owner: <@U0BEN>" in message(fake_slack, channel, ts), timeout=60)
    assert wait_for(lambda: [r for r in replies(fake_slack, ts) if r == "Handed over by <@U0ANA> to <@U0BEN>."],
                    timeout=30)

    assert [e.level for e in check_due(moves_settings, now=later(16))] == [1]
    wait_for(lambda: len([c for c in fake_slack.calls("chat.postMessage") if c["channel"] == "D0BEN"]) == 2, timeout=60)
    owner_first = [c for c in fake_slack.calls("chat.postMessage") if c["channel"] == "D0BEN"][-1]
    assert owner_first["text"].startswith("You own this alert: ORD-10042")


def test_undo_booked_manually_reverts_item_and_platform_keeps_the_reference_in_history_until_complete(
        app, moves_settings, fake_slack, platform_fake, alerted):
    from workflows.actions.requests import request_complete, request_undo_manual
    from workflows.orders.search import find

    channel, ts = alerted
    interaction(app, submission(ORDER, "ITEM-1", "synxis", "13098CU000379"))
    wait_for(lambda: "undo_manual|ORD-10042|ITEM-1" in message(fake_slack, channel, ts), timeout=60)
    assert platform_fake.order(ORDER)["items"][0]["status"] == "Confirmed"

    interaction(app, choose("undo_manual", "ITEM-1"))
    form = opened(fake_slack, "undo_manual_submit")
    check_view(form)
    assert "`13098CU000379`" in json.dumps(form)
    view = stored_view(fake_slack, "undo_manual_submit")
    assert interaction(app, submit(view, text_value("reason", "Typed the reference of another booking"))).text == ""

    wait_for(lambda: platform_fake.order(ORDER)["items"][0]["status"] == "In Progress", timeout=60)
    assert platform_fake.order(ORDER)["items"][0]["external_reference"] is None
    reply = wait_for(lambda: [r for r in replies(fake_slack, ts) if r.startswith("Booked manually undone")], timeout=60)
    assert reply[0] == ("Booked manually undone by <@U0ANA>: ITEM-1 is failed again (`13098CU000379` was wrong: "
                        "Typed the reference of another booking)")
    # failing again with its buttons back; the undone reference shown in its attempts
    wait_for(lambda: '"action_id": "booked_manually"' in message(fake_slack, channel, ts), timeout=30)
    assert "undo_manual|" not in message(fake_slack, channel, ts) and "`13098CU000379`" in message(fake_slack, channel, ts)
    with transaction(moves_settings.database_url) as session:
        item = session.scalar(select(OrderItem))
        assert (item.status, item.sync_status, item.external_reference) == ("In Progress", "failed", None)
        assert [r.order_id for r in find(session, "13098CU000379")] == [ORDER]  # the reference stays in the history
    (undone,) = audit(moves_settings, "item.in_progress")
    assert undone.detail["undone_reference"] == "13098CU000379" and undone.detail["from"] == "Confirmed"

    # booked again, completed: now it is too late to undo, and only the refusal is written
    interaction(app, submission(ORDER, "ITEM-1", "synxis", "13098CU000400"))
    wait_for(lambda: "mark_complete" in message(fake_slack, channel, ts), timeout=60)
    assert request_complete(moves_settings, ORDER, "slack:U0ANA (ana)").accepted
    wait_for(lambda: platform_fake.order(ORDER)["status"] == "Complete", timeout=60)
    wait_for(lambda: "✅ Complete" in message(fake_slack, channel, ts), timeout=60)
    before = audit_count(moves_settings)
    late = request_undo_manual(moves_settings, ORDER, "ITEM-1", "slack:U0ANA (ana)", "wrong again")
    assert not late.accepted and "undo is allowed until Mark complete" in late.message
    assert audit_count(moves_settings) == before + 1


def test_the_order_queue_links_each_order_to_its_alert_with_a_reprocess_shortcut(
        app, moves_settings, fake_slack, alerted):
    from tests.bot.conftest import command

    channel, ts = alerted
    answer = command(app, "orders failed").json()
    [row] = [b for b in answer["blocks"] if "ORD-10042" in b.get("text", {}).get("text", "")]
    assert row["text"]["text"].startswith(f"<https://slack.com/archives/{channel}/p{ts.replace('.', '')}|ORD-10042>")
    assert row["accessory"]["action_id"] == "reprocess"
    check_blocks(answer["blocks"])
    shortcut = choose("reprocess", "ITEM-1")  # the shortcut of a row with several failed items is a menu option
    assert interaction(app, shortcut).status_code == 200
    wait_for(lambda: audit(moves_settings, "click.reprocess"), timeout=30)
    assert audit(moves_settings, "click.reprocess")[0].result == "queued"


def test_close_order_is_offered_on_the_complete_alert_closes_it_on_the_platform_and_is_audited(
        app, moves_settings, fake_slack, platform_fake, alerted):
    """Issue 23's proof of the catalogue: a move added once, offered and performed in Slack."""
    from tests.bot.conftest import click

    channel, ts = alerted
    assert "close_order" not in message(fake_slack, channel, ts)  # not while the order is open
    interaction(app, submission(ORDER, "ITEM-1", "synxis", "13098CU000379"))
    wait_for(lambda: "mark_complete" in message(fake_slack, channel, ts), timeout=60)
    interaction(app, click("mark_complete", ORDER, None))
    wait_for(lambda: "✅ Complete" in message(fake_slack, channel, ts), timeout=60)
    check_blocks(fake_slack.messages[(channel, ts)]["blocks"])
    [close] = [e for b in fake_slack.messages[(channel, ts)]["blocks"] if b["type"] == "actions"
               for e in b["elements"] if e.get("action_id") == "close_order"]
    assert close["text"]["text"] == "Close order"

    before = audit_count(moves_settings)
    assert interaction(app, click("close_order", ORDER, None, user=MALLORY)).status_code == 200
    wait_for(lambda: audit(moves_settings, "click.close_order"), timeout=30)
    assert audit(moves_settings, "click.close_order")[0].result == "refused" and audit_count(moves_settings) == before + 1
    assert platform_fake.order(ORDER)["status"] == "Complete"

    assert interaction(app, click("close_order", ORDER, None)).status_code == 200
    wait_for(lambda: platform_fake.order(ORDER)["status"] == "Closed", timeout=60)
    wait_for(lambda: "✅ Closed" in message(fake_slack, channel, ts), timeout=60)
    assert "close_order" not in message(fake_slack, channel, ts)
    (closed,) = audit(moves_settings, "order.closed")
    assert closed.actor == "slack:U0ANA (ana)" and closed.detail["from"] == "Complete"
    with transaction(moves_settings.database_url) as session:
        assert session.get(Order, ORDER).platform_status == "Closed"
