"""Block Kit for the on-call and retail workflows, as pure functions of their views: the
outage parent message, the digest, the retail reminder and its Dispatched modal, mentions,
playbook systems and "I'm on it" on the alert. Every message passes slack_sdk's Block Kit
validation and Slack's limits."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

import pytest

from bot.slack import announce_render, render, retail_render
from connectors.types import SystemDescription
from tests.bot.snapshots import T0, TODAY, item, order
from tests.bot.slack.test_render import LONG, check_blocks, check_view, shape
from workflows.orders.snapshot import AlertView
from workflows.outage.views import AffectedItem, IncidentPage, IncidentView, Progress
from workflows.reports.digest import Digest, FailureCount, Fix, OpenOrder, ResponseTimes, Theme
from workflows.reports.reconcile import Mismatch, MismatchKind, Report
from workflows.retail.service import RetailItem, RetailOrder, RetailReminder

MIN = dt.timedelta(minutes=1)


def incident(**changes) -> IncidentView:  # type: ignore[no-untyped-def]
    view = IncidentView(
        incident_id=7, system="synxis", system_name="SynXis", state="open", opened_at=T0 + 6 * MIN,
        first_failure_at=T0, last_failure_at=T0 + 6 * MIN, all_clear_at=None, failure_count=7,
        error_classes=(("timeout", 5), ("server_error", 2)), order_ids=tuple(f"ORD-{n}" for n in range(7)),
        still_failed=7, reprocess_requested_by=None, reprocess_requested_at=None, progress=None,
        channel=None, message_id=None)
    return dataclasses.replace(view, **changes)


QUIET = dict(state="quiet", all_clear_at=T0 + 20 * MIN)
LINK = "https://admin.example.com/orders/{}"


def affected(n: int, state: str = "failed", link: bool = True) -> AffectedItem:
    return AffectedItem(f"ORD-{n:04d}", "ITEM-1", f"Guest {n} <b>", TODAY + dt.timedelta(days=n // 100),
                        f"hotel {13098 + n % 3}", state, "timeout" if state != "rebooked" else None,
                        LINK.format(f"ORD-{n:04d}") if link else None)


BIG = dict(failure_count=1000, order_ids=tuple(f"ORD-{n:04d}" for n in range(1000)), affected=1000, open_items=990,
           urgent=tuple(affected(n) for n in range(10)),
           by_property=(("hotel 13098", 334, 330), ("hotel 13099", 333, 330), ("hotel 13100", 333, 330)))
INCIDENTS = {
    "open": incident(),
    "quiet, offered": incident(**QUIET),
    "reprocessing": incident(**QUIET, reprocess_requested_by="slack:U0ANA (ana)", reprocess_requested_at=T0 + 21 * MIN,
                             progress=Progress(30, 12, 2, 0, 16)),
    "quiet, nothing left": incident(**QUIET, still_failed=0),
    "hostile": incident(system_name=LONG, error_classes=tuple((f"class_{n}<>", n) for n in range(40)),
                        urgent=tuple(dataclasses.replace(affected(n), guest_name=LONG, property=LONG) for n in range(10)),
                        by_property=tuple((f"{LONG}{n}", n, n) for n in range(40))),
    "a thousand": incident(**BIG),
    "recovering": incident(**BIG, **QUIET, reprocess_requested_by="slack:U0ANA (ana)",
                           reprocess_requested_at=T0 + 21 * MIN,
                           progress=Progress(1000, 412, 3, 0, 577, rebooking=8, next_arrival=dt.date(2026, 12, 2))),
    "paused": incident(**BIG, reprocess_requested_by="slack:U0ANA (ana)", reprocess_requested_at=T0 + 21 * MIN,
                       progress=Progress(1000, 412, 3, 5, 580, paused=True)),
}


@pytest.mark.parametrize("name", INCIDENTS)
def test_every_outage_message_is_valid_block_kit(name):
    check_blocks(announce_render.incident_blocks(INCIDENTS[name]))


def test_the_outage_message_says_what_how_many_and_why():
    blocks = announce_render.incident_blocks(INCIDENTS["open"])
    assert blocks[0]["text"]["text"] == "🚨 Possible outage: SynXis — 7 failures in 6 minutes, mostly timeouts"
    assert "Timeout 5 · Booking system error 2" in blocks[1]["text"]["text"]
    assert "collected here instead of one alert each" in json.dumps(blocks)
    [actions] = [b for b in blocks if b["type"] == "actions"]  # no Reprocess all while it is still failing
    assert [(e["text"]["text"], e["action_id"], e["value"]) for e in actions["elements"]] == [
        ("Show all 0", "outage_show_all", "7"), ("Draft support request", "outage_support", "7")]


def test_the_all_clear_offers_reprocess_all_n_with_a_confirmation():
    blocks = announce_render.incident_blocks(INCIDENTS["quiet, offered"])
    [actions] = [b for b in blocks if b["type"] == "actions"]
    show_all, support, button = actions["elements"]
    assert (button["text"]["text"], button["action_id"], button["value"]) == ("Reprocess all 7", "reprocess_all", "7")
    assert button["confirm"]["confirm"]["text"] == "Reprocess all" and show_all["action_id"] == "outage_show_all"
    assert support["action_id"] == "outage_support"
    assert "All clear" in json.dumps(blocks)
    [left] = [b for b in announce_render.incident_blocks(INCIDENTS["quiet, nothing left"]) if b["type"] == "actions"]
    assert [e["action_id"] for e in left["elements"]] == ["outage_show_all", "outage_support"]


def test_reprocess_all_progress_replaces_the_button():
    blocks = announce_render.incident_blocks(INCIDENTS["reprocessing"])
    [actions] = [b for b in blocks if b["type"] == "actions"]
    assert [e["action_id"] for e in actions["elements"]] == ["outage_show_all", "outage_support"]
    [progress] = [b for b in blocks if b.get("block_id") == "progress"]
    assert progress["text"]["text"].startswith("🔁 *Reprocess all* asked by <@U0ANA> at 10:19 UTC: ")
    assert progress["text"]["text"].endswith("12/30 rebooked · 2 no availability · 16 to go")


def test_a_thousand_order_outage_names_the_ten_most_urgent_guests_with_links_and_totals_by_property():
    blocks = announce_render.incident_blocks(INCIDENTS["a thousand"], today=TODAY)
    check_blocks(blocks)
    [urgent] = [b["text"]["text"] for b in blocks if b.get("block_id") == "urgent"]
    lines = urgent.splitlines()
    assert lines[0] == "*Most urgent, soonest arrival first:*" and lines[-1] == "…and 980 more: *Show all*"
    assert lines[1] == ("❌ <https://admin.example.com/orders/ORD-0000|ORD-0000> Guest 0 &lt;b&gt; — 🔴 arriving today "
                        "· hotel 13098 — failed (Timeout)")
    assert len(lines) == 12
    [props] = [b["text"]["text"] for b in blocks if b.get("block_id") == "by_property"]
    assert props == "*By property:* hotel 13098 334 (330 open) · hotel 13099 333 (330 open) · hotel 13100 333 (330 open)"
    assert "1,000 failures" in blocks[0]["text"]["text"] and "990 still open" in blocks[1]["text"]["text"]
    [actions] = [b for b in blocks if b["type"] == "actions"]
    assert actions["elements"][0]["text"]["text"] == "Show all 1,000"


def test_the_recovery_shows_its_progress_and_a_pause_says_so():
    recovering = announce_render.incident_blocks(INCIDENTS["recovering"], today=TODAY)
    [progress] = [b["text"]["text"] for b in recovering if b.get("block_id") == "progress"]
    assert progress.endswith("412/1,000 rebooked · 3 no availability · next: arrivals on 2 Dec")
    paused = announce_render.incident_blocks(INCIDENTS["paused"], today=TODAY)
    assert paused[0]["text"]["text"].startswith("⏸️ Possible outage")
    [note] = [b["text"]["text"] for b in paused if b.get("block_id") == "paused"]
    assert note.startswith("⏸️ *Recovery paused:* SynXis is failing again")
    [progress] = [b["text"]["text"] for b in paused if b.get("block_id") == "progress"]
    assert progress.endswith("412/1,000 rebooked · 3 no availability · 5 failed again · paused, 580 waiting for "
                             "the system to recover")


def test_show_all_is_a_modal_a_page_at_a_time_with_previous_and_next():
    rows = tuple(affected(n, state) for n, state in zip(range(25), ["failed", "rebooking", "no availability",
                                                                      "failed again", "rebooked"] * 5))
    middle = announce_render.show_all_modal(IncidentPage(INCIDENTS["a thousand"], rows, 3, 40), today=TODAY)
    check_view(middle)
    text = json.dumps(middle)
    assert all(f"ORD-{n:04d}" in text for n in range(25))
    [nav] = [b for b in middle["blocks"] if b.get("block_id") == "pages"]
    assert [(e["text"]["text"], e["action_id"], e["value"]) for e in nav["elements"]] == [
        ("‹ Previous", "outage_page", "7:2"), ("Next ›", "outage_page", "7:4")]
    assert middle["blocks"][-1]["elements"][0]["text"] == "Page 4 of 40 · outage 7"
    first = announce_render.show_all_modal(IncidentPage(INCIDENTS["open"], (), 0, 1), today=TODAY)
    assert not [b for b in first["blocks"] if b.get("block_id") == "pages"]
    assert "Nothing is attached" in json.dumps(first)
    assert announce_render.parse_page("7:3") == (7, 3) and announce_render.parse_page("7:x") is None


@pytest.mark.parametrize("value, markup", [
    ("@here", "<!here>"), ("@channel", "<!channel>"), ("S0RESV", "<!subteam^S0RESV>"),
    ("<!subteam^S0RESV|reservations>", "<!subteam^S0RESV|reservations>"), ("U0ANA", "<@U0ANA>"),
    ("night desk <b>", "night desk &lt;b&gt;"), (None, ""),
])
def test_mentions_become_slack_markup(value, markup):
    assert announce_render.mention(value) == markup


def test_channel_and_direct_texts_are_escaped_and_linked():
    assert announce_render.channel_text("ORD-1 <script> & co", "@here") == "<!here> ORD-1 &lt;script&gt; &amp; co"
    assert announce_render.direct_text("Take ORD-1", "https://slack.com/archives/C0/p1") == (
        "Take ORD-1\n<https://slack.com/archives/C0/p1|Open the alert>")


def digest(open_orders: int = 3, long: bool = False) -> Digest:
    name = LONG if long else "Larry Walker"
    return Digest(
        day=dt.date(2026, 11, 21), timezone="Europe/London",
        failures=(FailureCount("synxis", "timeout", 5), FailureCount("synxis", "not_mapped", 1),
                  FailureCount("premier", "no_connector", 2)),
        open_orders=tuple(OpenOrder(f"ORD-{n}", name, dt.date(2026, 11, 22) + n * dt.timedelta(days=1),
                                    ("synxis: Timeout",), T0, "slack:U0ANA (ana)" if n == 0 else None)
                          for n in range(open_orders)),
        resolved=4, resolution_median=dt.timedelta(minutes=42), resolution_p90=dt.timedelta(hours=3, minutes=5),
        themes=(Theme("synxis", "timeout", (dt.date(2026, 11, 19), dt.date(2026, 11, 20), dt.date(2026, 11, 21)), 9),),
        fixes=(Fix("slack:U0ANA (ana)", "ORD-9", "ITEM-1", "synxis", "13098CU000379"),
               Fix("slack:U0BEN (ben)", "ORD-8", "ITEM-1", "premier", None)),
        response=(ResponseTimes("synxis", "13098", 3, dt.timedelta(minutes=12), 2, dt.timedelta(minutes=95),
                                dt.timedelta(minutes=20), None),),
    )


@pytest.mark.parametrize("open_orders, long", [(0, False), (3, False), (400, True)])
def test_the_digest_is_valid_block_kit_however_much_is_open(open_orders, long):
    check_blocks(announce_render.digest_blocks(digest(open_orders, long)))


def test_the_digest_shows_failures_resolution_open_orders_themes_and_fixes():
    blocks = announce_render.digest_blocks(digest())
    text = json.dumps(blocks, ensure_ascii=False)
    assert blocks[0]["text"]["text"] == "📊 syncdesk digest · Sat 21 Nov 2026"
    assert "*Failures: 8*" in text and "*SynXis* 6 (Timeout 5, Property not mapped 1)" in text
    assert "median 42 min, 90th percentile 3 h 05 min (4 resolved)" in text
    assert "*ORD-0* Larry Walker — arriving Sun 22 Nov — synxis: Timeout — <@U0ANA> is on it" in text
    assert "SynXis timeout on 3 of the last 7 days (9 failures)" in text
    assert "<@U0ANA>: ORD-9/ITEM-1 (`13098CU000379`)" in text
    assert "SynXis at 13098: first action 12 min (last week 20 min) (3), resolution 1 h 35 min (2)" in text


def test_the_reconciliation_answer_lists_each_mismatch_with_its_link():
    report = Report(T0, 12, (Mismatch(MismatchKind.REFUNDED_BUT_COMPLETE, "ORD-1", None, "refunded £240.00",
                                      "https://admin.example.com/orders/ORD-1"),),
                    ("STRIPE_API_KEY not set: payments were not compared",))
    blocks = announce_render.reconcile_blocks(report)
    check_blocks(blocks)
    text = json.dumps(blocks, ensure_ascii=False)
    assert "12 orders checked, 1 mismatch" in text
    assert "*Refunded but Complete:* ORD-1 — refunded £240.00 <https://admin.example.com/orders/ORD-1|open>" in text


def reminder(n: int, items: int = 1) -> RetailReminder:
    return RetailReminder(tuple(
        RetailOrder(f"ORD-R{k}", "Larry Walker", T0 - dt.timedelta(hours=30), 30,
                    tuple(RetailItem(f"ITEM-{i}", "Ski socks <wool>", 2) for i in range(1, items + 1)))
        for k in range(n)), 24, T0)


@pytest.mark.parametrize("n, items", [(1, 1), (3, 2), (80, 30)])
def test_the_retail_reminder_is_one_valid_message_however_many_orders(n, items):
    blocks = retail_render.reminder_blocks(reminder(n, items))
    check_blocks(blocks)
    assert f"ORD-R{n - 1}" in json.dumps(blocks)  # every order listed, with or without buttons


def test_the_retail_reminder_has_a_dispatched_button_per_item():
    blocks = retail_render.reminder_blocks(reminder(2, 2))
    assert blocks[0]["text"]["text"] == "📦 2 retail orders awaiting dispatch for more than 24 h"
    buttons = [e for b in blocks if b["type"] == "actions" for e in b["elements"]]
    assert [(b["text"]["text"], b["action_id"], json.loads(b["value"])) for b in buttons[:2]] == [
        ("Dispatched ITEM-1", "dispatched", ["ORD-R0", "ITEM-1"]), ("Dispatched ITEM-2", "dispatched", ["ORD-R0", "ITEM-2"])]
    assert "2 × Ski socks &lt;wool&gt;" in blocks[2]["text"]["text"]


def test_the_dispatched_modal_asks_for_courier_and_tracking_both_required():
    view = retail_render.dispatched_modal("ORD-R0", "ITEM-1", "C0ALERTS")
    check_view(view)
    inputs = [b for b in view["blocks"] if b["type"] == "input"]
    assert [(b["block_id"], b.get("optional", False)) for b in inputs] == [("courier", False), ("tracking", False)]
    assert json.loads(view["private_metadata"]) == {"order_id": "ORD-R0", "item_id": "ITEM-1", "channel": "C0ALERTS"}


PREMIER = SystemDescription(
    system="premier", name="EMS Premier", booked_means="an offline reservation exists", automatic=False,
    playbook=("In EMS Premier, open the spa and create an *offline* reservation: Deep tissue <60 min>.",
              "Assign the deposit to the e-commerce payment method (spa-web / revspa)."),
    manual_fields=("reference", "payment_method"), payment_methods=("spa-web", "revspa"))
SYNXIS = SystemDescription(system="synxis", name="SynXis", booked_means="a Confirmed reservation")


def test_a_playbook_system_shows_its_steps_instead_of_reprocess():
    snapshot = order(items=(item(system="premier", system_description=PREMIER),))
    blocks = render.alert_blocks(snapshot, TODAY)
    check_blocks(blocks)
    [playbook] = [b for b in blocks if b.get("block_id") == "playbook:ITEM-1"]
    assert playbook["text"]["text"].splitlines() == [
        "*Book it by hand in EMS Premier:*",
        "1. In EMS Premier, open the spa and create an *offline* reservation: Deep tissue &lt;60 min&gt;.",
        "2. Assign the deposit to the e-commerce payment method (spa-web / revspa)."]
    assert [e["action_id"] for b in blocks if b["type"] == "actions" for e in b["elements"]
            if e["type"] == "button"] == ["booked_manually"]
    automatic = order(items=(item(system_description=SYNXIS),))
    assert "reprocess" in json.dumps(render.alert_blocks(automatic, TODAY))


def test_booked_manually_asks_for_the_configured_payment_methods_and_shows_the_steps():
    snapshot = order(items=(item(system="premier", system_description=PREMIER),))
    view = render.booked_manually_modal(snapshot, "ITEM-1", "{}")
    check_view(view)
    [select] = [b for b in view["blocks"] if b.get("block_id") == "payment_method"]
    assert [o["value"] for o in select["element"]["options"]] == ["spa-web", "revspa"]
    assert "Book it by hand in EMS Premier" in json.dumps(view)
    no_payment = dataclasses.replace(PREMIER, system="siriusware", name="Siriusware", manual_fields=("reference",))
    view = render.booked_manually_modal(order(items=(item(system="siriusware", system_description=no_payment),)),
                                        "ITEM-1", "{}")
    assert [b["block_id"] for b in view["blocks"] if b["type"] == "input"] == ["reference", "notes"]


def test_many_playbook_items_still_fit_in_one_message():
    snapshot = order(items=tuple(item(f"ITEM-{n}", system="premier", system_description=PREMIER) for n in range(12)))
    blocks = render.alert_blocks(snapshot, TODAY)
    check_blocks(blocks)
    assert "more failing items" in json.dumps(blocks) and blocks[-1]["type"] == "context"


def test_im_on_it_is_offered_on_an_open_alert_and_says_who_took_it_after():
    open_alert = order(alerts=(AlertView("slack", "open", "C0ALERTS", "1.1", None),))
    blocks = render.alert_blocks(open_alert, TODAY)
    check_blocks(blocks)
    assert blocks[1]["accessory"]["action_id"] == "im_on_it" and json.loads(blocks[1]["accessory"]["value"]) == [
        "ORD-10042"]
    taken = order(alerts=(AlertView("slack", "acknowledged", "C0ALERTS", "1.1", "slack:U0ANA (ana)"),))
    blocks = render.alert_blocks(taken, TODAY)
    assert "accessory" not in blocks[1]
    assert blocks[-1]["elements"][0]["text"].endswith("· 👤 <@U0ANA> is on it")
    assert shape(render.alert_blocks(order(), TODAY))[1] == (
        "section::*Guest:* Larry Walker · larry.walker@example.com · +44 5551234567")  # no alert yet: no button
