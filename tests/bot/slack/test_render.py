"""Rendering is a pure function of the snapshot: structure snapshots for the canonical
states, and Block Kit validation (slack_sdk's model classes plus Slack's documented
limits) for every state, long names and long logs included."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from typing import Any

import pytest
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

from bot.slack import render
from tests.bot.snapshots import PAID, TODAY, attempt, audit, item, order
from workflows.orders.lookup import QueueRow
from workflows.orders.snapshot import AlertView

LONG = "Ünïcødé & <script> " * 400  # 7,600 characters of hostile text


def check_blocks(blocks: list[dict[str, Any]], max_blocks: int = 50) -> None:
    """Slack's Block Kit limits (docs.slack.dev/reference/block-kit) and slack_sdk's validators."""
    assert 0 < len(blocks) <= max_blocks
    for block in blocks:
        Block.parse(block).validate_json()
        if block["type"] == "header":
            assert len(block["text"]["text"]) <= 150
        if block["type"] == "section" and "text" in block:
            assert len(block["text"]["text"]) <= 3000
        if block.get("block_id"):
            assert len(block["block_id"]) <= 255
        elements = block.get("elements", []) + ([block["accessory"]] if "accessory" in block else [])
        for element in elements:
            if element.get("type") == "button":
                assert len(element["value"]) <= 2000 and len(element["action_id"]) <= 255
                assert len(element["text"]["text"]) <= 75
    ids = [b["block_id"] for b in blocks if b.get("block_id")]
    assert len(ids) == len(set(ids)), "block_ids must be unique in a message"


def check_view(view: dict[str, Any], max_blocks: int = 100) -> None:
    View(**view).validate_json()
    check_blocks(view["blocks"], max_blocks)
    if view["type"] == "modal":
        assert len(view["title"]["text"]) <= 24 and len(view.get("private_metadata", "")) <= 3000


def shape(blocks: list[dict[str, Any]]) -> list[str]:
    """A compact structural snapshot: type, block_id and the first line of any text."""
    out = []
    for b in blocks:
        text = (b.get("text") or {}).get("text") or " ".join(e.get("text", "") for e in b.get("elements", [])
                                                              if isinstance(e.get("text"), str))
        buttons = [e["action_id"] for e in b.get("elements", []) if "action_id" in e]
        if "accessory" in b:
            buttons.append(b["accessory"]["action_id"])
        out.append(f"{b['type']}:{b.get('block_id', '')}:{text.splitlines()[0] if text else ''}"
                   + (f" {buttons}" if buttons else ""))
    return out


STATES = {
    "fresh": order(),
    "retry scheduled": order(audit_trail=(audit("retry.scheduled", at="2026-11-22T10:00:00+00:00", after_attempt=1),)),
    "processing": order(items=(item(sync_status="processing",
                                    attempts=(attempt(), attempt(2, "processing", None, "slack:U0ANA (ana)"))),)),
    "all confirmed": order(items=(item(status="Confirmed", sync_status="success", external_reference="13098CU000379",
                                       confirmed_by="slack:U0ANA (ana)"),)),
    "complete": order(status="Complete", items=(item(status="Confirmed", sync_status="success"),), audit_trail=(
        audit("item.confirmed", "slack:U0ANA (ana)", confirmation="13098CU000379", how="created"),
        audit("order.complete", "slack:U0BEN (ben)", item_id=None, minutes=5))),
    "cancelled": order(status="Cancelled"),
    "refunded": order(payment_state="refunded", payment_detail=PAID | {"refunded_minor": 24000}),
    "not captured": order(payment_state="not_captured"),
    "mismatch": order(payment_state="mismatch", payment_detail=PAID | {"received_minor": 20000}),
    "unknown payment": order(payment_state="unknown", payment_detail={"detail": "STRIPE_API_KEY is not set"}),
    "not checked": order(payment_state=None, payment_detail={}, payment_checked_at=None),
    "premier": order(items=(item(system="premier"),)),
    "no dates": order(items=(item(start=None),)),
    "long everything": order(guest_name=LONG, guest_email=LONG, items=tuple(
        item(f"ITEM-{n}-{'x' * 200}", description=LONG, attempts=tuple(
            attempt(k, log=LONG * 3, item_id=f"ITEM-{n}") for k in range(1, 30))) for n in range(20))),
}


@pytest.mark.parametrize("name", STATES)
def test_every_state_renders_valid_block_kit(name):
    snapshot = STATES[name]
    check_blocks(render.alert_blocks(snapshot, TODAY))
    for i in snapshot.items:
        check_view(render.log_modal(snapshot, i.item_id))
        meta = json.dumps({"order_id": snapshot.order_id, "item_id": i.item_id})
        for check in (None, render.ExistingCheck("checking"), render.ExistingCheck("found", "X1", "Booked"),
                      render.ExistingCheck("absent"), render.ExistingCheck("error", detail=LONG)):
            check_view(render.booked_manually_modal(snapshot, i.item_id, meta, check))
    check_view(render.home_view(STATES.values(), [], {}, today=TODAY))


def test_a_fresh_failure_renders_header_guest_payment_why_attempts_and_buttons():
    assert shape(render.alert_blocks(STATES["fresh"], TODAY)) == [
        "header::🟠 SynXis booking failed · ORD-10042 · arrives in 2 days",
        "section::*Guest:* Larry Walker · larry.walker@example.com · +44 5551234567",
        "section:payment:*Payment:* ✅ £240.00 captured (`pi_3Qtest`), no refunds",
        "divider::",
        "section:item:ITEM-1:*ITEM-1* · Luxury Twin, BAR, 1 night · Tue 1 Dec 2026 → Wed 2 Dec 2026 (1 night) · 2 guests",
        "section:why:ITEM-1:*Why: Timeout.* The booking system did not answer in time. The booking may or may not "
        "have been made.",
        "context::*Attempts (1):*",
        "actions:actions:ITEM-1: ['reprocess', 'booked_manually', 'more']",
        "actions:alert: ['more']",
        "context::syncdesk · ORD-10042 · payment checked 22 Nov 09:58 UTC",
    ]
    menus = [[o["value"] for o in e["options"]] for b in render.alert_blocks(STATES["fresh"], TODAY)
             if b["type"] == "actions" for e in b["elements"] if e["type"] == "overflow"]
    assert menus == [["view_log|ORD-10042|ITEM-1", "cancel_refund|ORD-10042|ITEM-1"],
                     ["message_guest|ORD-10042|", "snooze|ORD-10042|", "hand_over|ORD-10042|"]]


def test_urgency_follows_the_arrival():
    assert [render.urgency(TODAY + dt.timedelta(days=d), TODAY) for d in (0, 1, 2, 30, -3)] == [
        "arrives today", "arrives tomorrow", "arrives in 2 days", "arrives in 30 days", "arrived 3 days ago"]
    today_order = order(items=(item(start=TODAY),))
    assert render.alert_blocks(today_order, TODAY)[0]["text"]["text"].startswith("🔴 SynXis booking failed")


def test_pending_retry_and_who_tried_are_shown_in_attempts():
    text = json.dumps(render.alert_blocks(STATES["retry scheduled"], TODAY), ensure_ascii=False)
    assert "automatic retry scheduled for 22 Nov 10:00 UTC" in text
    processing = json.dumps(render.alert_blocks(STATES["processing"], TODAY), ensure_ascii=False)
    assert "#2 running" in processing and "<@U0ANA>" in processing and "reprocessing now" in processing


def test_buttons_are_shown_only_when_meaningful():
    def actions(name):
        return [e["action_id"] for b in render.alert_blocks(STATES[name], TODAY) if b["type"] == "actions"
                for e in b["elements"] if e["type"] == "button"]

    def menu(name):
        return [o["value"].split("|")[0] for b in render.alert_blocks(STATES[name], TODAY) if b["type"] == "actions"
                for e in b["elements"] if e["type"] == "overflow" for o in e["options"]]
    assert actions("fresh") == ["reprocess", "booked_manually"]
    assert actions("processing") == ["booked_manually"]  # someone is on it
    assert "cancel_refund" not in menu("processing")  # nor while its Reprocess runs
    assert actions("all confirmed") == ["mark_complete"]
    assert "cancel_refund" not in menu("all confirmed")  # never for a Confirmed item
    assert actions("complete") == ["close_order"] and actions("cancelled") == []  # Close: issue 23
    assert menu("complete") == [] and menu("cancelled") == []


def test_a_completed_order_becomes_a_compact_summary_of_who_did_what():
    blocks = render.alert_blocks(STATES["complete"], TODAY)
    assert len(blocks) == 4 and blocks[0]["text"]["text"] == "✅ Complete · ORD-10042 · Larry Walker"
    assert [(e["action_id"], e["value"]) for e in blocks[3]["elements"]] == [("close_order", '["ORD-10042"]')]
    assert blocks[1]["text"]["text"].splitlines() == [
        "ITEM-1 reprocessed (created) by <@U0ANA> · `13098CU000379` · 22 Nov 09:58 UTC",
        "order complete by <@U0BEN> · 22 Nov 10:03 UTC",
    ]


@pytest.mark.parametrize("name, words", [
    ("refunded", "*REFUNDED*"), ("not captured", "*NOT CAPTURED*"), ("mismatch", "*AMOUNT MISMATCH*"),
    ("unknown payment", "*NOT VERIFIED*"), ("not checked", "not checked yet"),
])
def test_payment_problems_are_loud(name, words):
    assert words in render.payment_line(STATES[name])


def test_long_logs_are_cut_to_fit_and_say_so():
    snapshot = STATES["long everything"]
    view = render.log_modal(snapshot, snapshot.items[0].item_id)
    text = json.dumps(view)
    assert "characters omitted" in text and len(view["blocks"]) <= 50


def test_guest_text_is_escaped():
    blocks = render.alert_blocks(order(guest_name="<!channel> & co"), TODAY)
    assert "&lt;!channel&gt; &amp; co" in blocks[1]["text"]["text"]


def test_premier_form_asks_for_the_payment_method_with_the_reason():
    view = render.booked_manually_modal(STATES["premier"], "ITEM-1", "{}")
    [select] = [b for b in view["blocks"] if b.get("block_id") == "payment_method"]
    assert [o["value"] for o in select["element"]["options"]] == ["onejourney", "ecommerce", "revspa"]
    assert "end-of-day accounts" in json.dumps(view)


def test_a_found_synxis_reservation_is_prefilled_and_warned_about():
    view = render.booked_manually_modal(STATES["fresh"], "ITEM-1", "{}",
                                        render.ExistingCheck("found", "13098CU000379", "Confirmed"))
    [ref] = [b for b in view["blocks"] if b.get("block_id") == "reference"]
    assert ref["element"]["initial_value"] == "13098CU000379"
    assert "already has reservation" in json.dumps(view)


def test_outcome_replies_say_who_did_what():
    assert render.outcome_reply(audit("item.confirmed", "slack:U0ANA (ana)", confirmation="13098CU000379",
                                      how="manual", payment_method="revspa")) == (
        "Booked manually by <@U0ANA>: ITEM-1 confirmed, `13098CU000379`, deposit on revspa")
    assert render.outcome_reply(audit("click.reprocess", "slack:U0ANA (ana)")) is None


def test_the_queue_and_home_tab_render_and_stay_within_limits():
    rows = [QueueRow(f"ORD-{n}", dt.datetime(2026, 11, 22, tzinfo=dt.timezone.utc), "In Progress", "failed", 2,
                     "timeout") for n in range(300)]
    check_blocks(render.queue_blocks(rows, "Order queue"))
    home = render.home_view([dataclasses.replace(order(), order_id=f"ORD-{n}") for n in range(60)], rows,
                            {"ORD-1": "https://slack.com/archives/C0ALERTS/p1700000000000100"}, "failed",
                            dt.date(2026, 11, 22), TODAY)
    check_view(home)
    assert "<https://slack.com/archives/C0ALERTS/p1700000000000100|ORD-1>" in json.dumps(home)


def test_the_example_alert_in_docs_is_current():
    """docs/slack-alert.json shows what an alert looks like (paste it into Block Kit Builder).
    Regenerate: render.alert_blocks(STATES["retry scheduled"], TODAY) with render.alert_text."""
    from pathlib import Path

    example = json.loads((Path(__file__).resolve().parents[3] / "docs" / "slack-alert.json").read_text())
    snapshot = STATES["retry scheduled"]
    assert example == {"text": render.alert_text(snapshot, TODAY), "blocks": render.alert_blocks(snapshot, TODAY)}

OVERFLOW_EXAMPLE = order(
    items=(item(), item("ITEM-2", system="premier", description="Deep tissue massage, 60 min",
                        attempts=(attempt(item_id="ITEM-2", error_class="no_connector"),))),
    alerts=(AlertView("slack", "open", "C0ALERTS", "1700000000.000100", None),),
    audit_trail=(audit("retry.scheduled", at="2026-11-22T10:00:00+00:00", after_attempt=1),))


def test_the_alert_with_the_overflow_menu_in_docs_is_current():
    """docs/alert-with-overflow.json shows an alert of two failing items: five buttons at most,
    the other moves in overflow menus (paste it into Block Kit Builder). Regenerate with
    `{"text": render.alert_text(OVERFLOW_EXAMPLE, TODAY), "blocks": render.alert_blocks(OVERFLOW_EXAMPLE, TODAY)}`."""
    from pathlib import Path

    example = json.loads((Path(__file__).resolve().parents[3] / "docs" / "alert-with-overflow.json").read_text())
    blocks = render.alert_blocks(OVERFLOW_EXAMPLE, TODAY)
    assert example == {"text": render.alert_text(OVERFLOW_EXAMPLE, TODAY), "blocks": blocks}
    check_blocks(blocks)
    menus = [e for b in blocks for e in b.get("elements", []) if e["type"] == "overflow"]
    assert [o["text"]["text"] for m in menus for o in m["options"]] == [
        "View log", "Cancel and refund", "View log", "Cancel and refund", "Message guest", "Snooze", "Hand over"]


@pytest.mark.parametrize("name", STATES)
def test_an_alert_shows_at_most_five_buttons(name):
    snapshot = dataclasses.replace(STATES[name], alerts=(AlertView("slack", "open", "C0ALERTS", "1.1", None),))
    blocks = render.alert_blocks(snapshot, TODAY)
    buttons = [e for b in blocks for e in b.get("elements", []) + ([b["accessory"]] if "accessory" in b else [])
               if e["type"] == "button"]
    assert len(buttons) <= 5


def test_lifecycle_messages_pass_block_kit_validation():
    """Issue 13: the unknown-status note, the Cancelled-but-charged line, the resumed escalation
    line, Complete without payment check and its confirm dialog all validate."""
    confirmed = item(status="Confirmed", external_reference="13098CU1", confirmed_by="the platform")
    unchecked = order(items=(confirmed,), payment_state="unknown",
                      payment_detail={"detail": "payment provider adyen: check it by hand", "checkable": False})
    blocks = render.alert_blocks(unchecked, TODAY)
    check_blocks(blocks)
    assert "confirmed on the platform" in json.dumps(blocks)
    check_view(render.complete_unchecked_modal(unchecked, '{"order_id": "ORD-10042"}'))
    weird = order(status="Awaiting Fulfilment")
    check_blocks(render.alert_blocks(weird, TODAY))
    assert "a status syncdesk does not know" in json.dumps(render.alert_blocks(weird, TODAY))
    charged = order(status="Cancelled", payment_state="captured")
    check_blocks(render.alert_blocks(charged, TODAY))
    assert "Cancelled but still charged" in json.dumps(render.alert_blocks(charged, TODAY))
def test_an_unknown_errors_next_step_names_the_systems_support_contact():
    """Issue 12: the contact travels in the snapshot's system description; rendering stays pure."""
    from connectors.types import SystemDescription

    rtp = SystemDescription("rtp", "Aspenware RTP|One", "sold in RTP", automatic=False,
                            support="Aspenware support (support@aspenware.com)")
    unknown = item(system="rtp", attempts=(attempt(error_class="unknown"),), system_description=rtp)
    text = json.dumps(render.alert_blocks(order(items=(unknown,)), TODAY))

    assert "contact Aspenware support (support@aspenware.com) with the order number" in text
    assert "integration team" not in text



def test_the_payment_line_reads_money_like_the_order_line_with_stripes_lower_case_currency():
    """Stripe spells the currency "gbp": the payment line says £240.00, as the order line does."""
    stripe_said = order(payment_detail=PAID | {"currency": "gbp"})
    blocks = render.alert_blocks(stripe_said, TODAY)
    assert render.payment_line(stripe_said) == "*Payment:* ✅ £240.00 captured (`pi_3Qtest`), no refunds"
    assert "240.00 gbp" not in json.dumps(blocks, ensure_ascii=False)


def test_queue_rows_link_to_their_alert_and_carry_a_reprocess_shortcut_for_failed_items():
    placed = dt.datetime(2026, 11, 22, tzinfo=dt.timezone.utc)
    rows = [QueueRow("ORD-1", placed, "In Progress", "failed", 1, "timeout", "Larry Walker", ("ITEM-1",), "open"),
            QueueRow("ORD-2", placed, "In Progress", "failed", 2, "timeout", "Ada L", ("ITEM-1", "ITEM-2"), "open"),
            QueueRow("ORD-3", placed, "Complete", "success", 1, None, "Bo", (), "resolved")]
    blocks = render.queue_blocks(rows, "Order queue", {"ORD-1": "https://slack.com/archives/C0ALERTS/p1"})
    check_blocks(blocks)
    one, two, done = blocks[1:4]
    assert one["text"]["text"].startswith("<https://slack.com/archives/C0ALERTS/p1|ORD-1> · ")
    assert "Larry Walker" in one["text"]["text"] and "alert open" in one["text"]["text"]
    assert (one["accessory"]["action_id"], render.parse_value(one["accessory"]["value"])) == (
        "reprocess", ("ORD-1", "ITEM-1"))
    assert [o["value"] for o in two["accessory"]["options"]] == ["reprocess|ORD-2|ITEM-1", "reprocess|ORD-2|ITEM-2"]
    assert "accessory" not in done and "alert resolved" in done["text"]["text"]


def test_the_order_lookup_shows_the_notes_within_slacks_limits():
    """Issue 26.4: `/syncdesk order` ends with the notes written in the alert's thread, a Slack
    note as Slack wrote it, a Teams note escaped, edits and deletions said; many long notes fit."""
    notes = (audit("note.added", "slack:U0ANA (ana)", item_id=None, note="slack:C0ALERTS:1.2", surface="slack",
                   text="Rang <@U0BEN>: the room is held", edited_at="2026-11-22T10:30:00+00:00",
                   edited_by="slack:U0ANA (ana)"),
             audit("note.added", "teams:aaa (Ana Lopez)", item_id=None, minutes=1, note="teams:19:x:1", surface="teams",
                   text="<!channel> 5 < 6"),
             audit("note.added", "slack:U0BEN (ben)", item_id=None, minutes=2, note="slack:C0ALERTS:1.3",
                   surface="slack", text="", deleted_at="2026-11-22T10:40:00+00:00", deleted_by=None))
    blocks = render.lookup_blocks(order(audit_trail=notes))
    check_blocks(blocks)
    said = blocks[-1]["text"]["text"]
    assert blocks[-1]["block_id"] == "notes_history" and said.startswith("*Notes*\n")
    assert "<@U0ANA>: Rang <@U0BEN>: the room is held (edited 22 Nov 10:30 UTC)" in said
    assert "&lt;!channel&gt; 5 &lt; 6" in said and "<@U0BEN>: (note deleted 22 Nov 10:40 UTC)" in said
    assert render.lookup_blocks(order()) == render.alert_blocks(order())
    crowded = STATES["long everything"]
    many = tuple(audit("note.added", "slack:U0ANA (ana)", item_id=None, minutes=n, note=f"n{n}", surface="teams",
                       text=LONG) for n in range(40))
    check_blocks(render.lookup_blocks(dataclasses.replace(crowded, audit=many)))
