"""The Adaptive Card is a pure function of the order snapshot: what it says, and that it is
a valid Adaptive Card 1.5 (validated against `adaptive-card-1.5.schema.json`, a strict
hand-written subset of the official schema: see its `$comment`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from bot.teams import cards
from workflows.orders.snapshot import AttemptView, AuditView, ItemView, OrderSnapshot

SCHEMA = json.loads((Path(__file__).parent / "adaptive-card-1.5.schema.json").read_text())
TODAY = dt.date(2026, 11, 30)
T0 = dt.datetime(2026, 11, 22, 9, 58, tzinfo=dt.timezone.utc)
TEAMS_MESSAGE_LIMIT = 28 * 1024


def attempt(number: int = 1, error_class: str | None = "timeout", status: str = "failed",
            triggered_by: str = "platform", log: str = "httpx.ReadTimeout: The read operation timed out",
            item_id: str = "ITEM-1") -> AttemptView:
    at = T0 + dt.timedelta(minutes=5 * number)
    return AttemptView(item_id, number, status, error_class, "Read timed out after 30 s" if error_class else None,
                       log, triggered_by, at, at + dt.timedelta(seconds=30), None)


def item(item_id: str = "ITEM-1", system: str = "synxis", **changes: Any) -> ItemView:
    view = ItemView(item_id=item_id, kind="spa" if system == "premier" else "room", system=system,
                    description="Luxury Twin, BAR, 1 night", status="In Progress", sync_status="failed",
                    start=dt.date(2026, 12, 1), end=dt.date(2026, 12, 2), quantity=1, guests=2,
                    details={"hotel_id": 13098}, external_reference=None, confirmed_by=None, payment_method=None,
                    attempts=(attempt(item_id=item_id),))
    return dataclasses.replace(view, **changes)


def snapshot(*items: ItemView, **changes: Any) -> OrderSnapshot:
    snap = OrderSnapshot(
        order_id="ORD-10042", status="In Progress", placed_at=T0, currency="GBP", total_minor=24000,
        guest_name="Larry Walker", guest_email="larry.walker@example.com", guest_phone="+44 5551234567",
        payment_provider="stripe", payment_reference="pi_3Qtest", payment_state="captured",
        payment_detail={"currency": "GBP", "amount_minor": 24000, "refunded_minor": 0},
        payment_checked_at=T0, items=items or (item(),), alerts=(), audit=())
    return dataclasses.replace(snap, **changes)


def walk(node: Any) -> list[dict[str, Any]]:
    """Every object in the card, depth first."""
    found = []
    if isinstance(node, dict):
        found.append(node)
        for value in node.values():
            found += walk(value)
    elif isinstance(node, list):
        for value in node:
            found += walk(value)
    return found


def texts(card: dict[str, Any]) -> str:
    return "\n".join(str(o.get("text") or o.get("value") or o.get("title") or "") for o in walk(card))


def of_type(card: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [o for o in walk(card) if o.get("type") == kind]


SNAPSHOTS = {
    "synxis timeout": snapshot(),
    "premier": snapshot(item(system="premier")),
    "reprocessing": snapshot(item(sync_status="processing")),
    "unknown class and no log": snapshot(item(attempts=(attempt(error_class="weird", log=""),))),
    "no attempts": snapshot(item(attempts=())),
    "payment refunded": snapshot(payment_state="refunded", payment_detail={"refunded_minor": 24000}),
    "payment unknown": snapshot(payment_state="unknown", payment_detail={"detail": "STRIPE_API_KEY is not set"}),
    "all confirmed": snapshot(item(status="Confirmed", sync_status="success", external_reference="13098CU000379",
                                   confirmed_by="teams:aaa (Ana Lopez)")),
    "complete": snapshot(status="Complete", audit=(
        AuditView(T0, "teams:aaa (Ana Lopez)", "item.confirmed", "ITEM-1", "ok",
                  {"how": "manual", "confirmation": "13098CU000379"}),)),
    "cancelled": snapshot(status="Cancelled"),
    "many items": snapshot(*(item(f"ITEM-{n}", description="d" * 400, attempts=tuple(
        attempt(k, log="x" * 20000, item_id=f"ITEM-{n}") for k in range(1, 7))) for n in range(30))),
}


@pytest.mark.parametrize("name", list(SNAPSHOTS))
def test_the_card_validates_against_the_adaptive_card_schema(name: str) -> None:
    card = cards.alert_card(SNAPSHOTS[name], TODAY)
    jsonschema.validate(card, SCHEMA)
    assert card["version"] == "1.5"


@pytest.mark.parametrize("name", list(SNAPSHOTS))
def test_the_message_fits_in_a_teams_message(name: str) -> None:
    activity = {"type": "message", "text": cards.summary(SNAPSHOTS[name], TODAY),
                "attachments": [cards.attachment(cards.alert_card(SNAPSHOTS[name], TODAY))]}
    assert len(json.dumps(activity).encode()) < TEAMS_MESSAGE_LIMIT


def test_the_schema_catches_what_teams_would_reject() -> None:
    card = cards.alert_card(snapshot(), TODAY)
    card["body"][0]["size"] = "huge"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(card, SCHEMA)
    card = cards.alert_card(snapshot(), TODAY)
    of_type(card, "Action.Execute")[0].pop("verb")
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(card, SCHEMA)


def test_the_alert_says_guest_item_urgency_payment_why_next_step_and_attempts() -> None:
    card = cards.alert_card(snapshot(), TODAY)
    said = texts(card)
    assert "SynXis booking failed · ORD-10042 · arrives tomorrow" in said
    assert card["body"][0]["color"] == "Attention"
    assert "Larry Walker" in said and "larry.walker@example.com" in said
    assert "£240.00 captured (pi_3Qtest), no refunds" in said
    assert "Timeout" in said and "Reprocess: syncdesk checks the system for an existing booking first" in said
    assert "Attempts (1)" in said and "#1 failed" in said
    assert "Luxury Twin, BAR, 1 night" in said and "hotel 13098" in said
    assert card["fallbackText"] == "SynXis booking failed · ORD-10042 · arrives tomorrow · Larry Walker"


def buttons(card: dict[str, Any]) -> list[str]:
    """The titles of the actions shown as buttons (not in an overflow menu), in order."""
    return [a["title"] for s in of_type(card, "ActionSet") for a in s["actions"] if a.get("mode") != "secondary"]


def overflow(card: dict[str, Any]) -> list[str]:
    return [a["title"] for s in of_type(card, "ActionSet") for a in s["actions"] if a.get("mode") == "secondary"]


def test_the_buttons_are_reprocess_and_booked_manually_the_rest_in_the_overflow_menu() -> None:
    card = cards.alert_card(snapshot(), TODAY)
    execute = of_type(card, "Action.Execute")
    assert buttons(card) == ["Reprocess", "Booked manually"]
    assert overflow(card) == ["View log", "Cancel and refund", "Message guest", "Snooze", "Hand over"]
    assert execute[0]["data"] == {"syncdesk": "reprocess", "order_id": "ORD-10042", "item_id": "ITEM-1"}
    log = next(a for a in of_type(card, "Action.ShowCard") if a["title"] == "View log")
    assert "httpx.ReadTimeout" in texts(log)
    assert not any(a["title"] == "Mark complete" for a in execute)


def test_booked_manually_asks_for_the_confirmation_number_and_for_premier_the_payment_method() -> None:
    synxis = cards.alert_card(snapshot(), TODAY)
    manual = next(a for a in of_type(synxis, "Action.ShowCard") if a["title"] == "Booked manually")
    assert [i["id"] for i in of_type(manual, "Input.Text")] == ["reference__ITEM-1", "notes__ITEM-1"]
    assert of_type(manual, "Input.ChoiceSet") == []
    premier = cards.alert_card(snapshot(item(system="premier")), TODAY)
    (choice,) = of_type(next(a for a in of_type(premier, "Action.ShowCard") if a["title"] == "Booked manually"),
                        "Input.ChoiceSet")
    assert choice["id"] == "payment_method__ITEM-1" and choice["isRequired"] is True
    assert [c["value"] for c in choice["choices"]] == ["onejourney", "ecommerce", "revspa"]
    assert "end-of-day accounts will not balance" in texts(premier)


def test_an_item_being_reprocessed_has_no_reprocess_button() -> None:
    card = cards.alert_card(snapshot(item(sync_status="processing")), TODAY)
    assert "reprocessing now" in texts(card)
    assert buttons(card) == ["Booked manually"] and "Cancel and refund" not in overflow(card)


def test_mark_complete_is_offered_once_every_item_is_booked() -> None:
    card = cards.alert_card(SNAPSHOTS["all confirmed"], TODAY)
    assert buttons(card) == ["Mark complete"] and "Cancel and refund" not in overflow(card)
    assert "13098CU000379 by Ana Lopez" in texts(card)


def test_a_refunded_payment_is_loud() -> None:
    card = cards.alert_card(SNAPSHOTS["payment refunded"], TODAY)
    payment = next(b for b in card["body"] if "Payment" in b.get("text", ""))
    assert "REFUNDED" in payment["text"] and payment["color"] == "Attention"


def test_a_completed_order_turns_into_a_summary_whose_only_button_is_close_order() -> None:
    card = cards.alert_card(SNAPSHOTS["complete"], TODAY)
    assert "✅ Complete · ORD-10042 · Larry Walker" in texts(card)
    assert "ITEM-1 booked manually by Ana Lopez · 13098CU000379" in texts(card)
    assert [(a["verb"], a["data"]) for a in of_type(card, "Action.Execute")] == [
        ("close_order", {"syncdesk": "close_order", "order_id": "ORD-10042"})]  # issue 23


def test_a_guest_arriving_next_month_is_not_urgent() -> None:
    card = cards.alert_card(snapshot(), dt.date(2026, 11, 1))
    assert "arrives in 30 days" in card["body"][0]["text"] and card["body"][0]["color"] == "Default"


@pytest.mark.parametrize("verb, data, expected", [
    ("reprocess", {"syncdesk": "reprocess", "order_id": "ORD-1", "item_id": "ITEM-1"},
     cards.CardAction("reprocess", "ORD-1", "ITEM-1")),
    (None, {"syncdesk": "booked_manually", "order_id": "ORD-1", "item_id": "ITEM-1",
            "reference__ITEM-1": " 13098CU000379 ", "payment_method__ITEM-1": "revspa", "notes__ITEM-1": ""},
     cards.CardAction("booked_manually", "ORD-1", "ITEM-1", "13098CU000379", "revspa", None)),
    ("mark_complete", {"order_id": "ORD-1"}, cards.CardAction("mark_complete", "ORD-1", None)),
])
def test_a_click_is_read_from_execute_or_submit_data(verb: str | None, data: dict[str, Any],
                                                     expected: cards.CardAction) -> None:
    assert cards.parse_action(verb, data) == expected


@pytest.mark.parametrize("verb, data", [
    ("delete_everything", {"order_id": "ORD-1"}),
    ("reprocess", {"order_id": "ORD-1"}),
    ("reprocess", {"order_id": 5, "item_id": "ITEM-1"}),
    ("reprocess", "not an object"),
    (None, {"order_id": "ORD-1", "item_id": "ITEM-1"}),
])
def test_anything_else_is_not_an_action(verb: str | None, data: Any) -> None:
    assert cards.parse_action(verb, data) is None


def test_job_outcomes_become_replies_naming_the_person() -> None:
    ana = "teams:aaa (Ana Lopez)"
    assert cards.outcome_text(AuditView(T0, ana, "item.confirmed", "ITEM-1", "ok",
                                        {"how": "manual", "confirmation": "R1", "payment_method": "revspa"})) == \
        "Booked manually by Ana Lopez: ITEM-1 confirmed, R1, deposit on revspa"
    assert cards.outcome_text(AuditView(T0, ana, "reprocess.failed", "ITEM-1", "failed",
                                        {"error_class": "no_connector", "message": "no SynXis"})) == \
        "Reprocessed by Ana Lopez: ITEM-1 failed again · No connector configured: no SynXis"
    assert cards.outcome_text(AuditView(T0, ana, "click.reprocess", "ITEM-1", "queued", {})) is None


def test_an_unknown_errors_next_step_names_the_systems_support_contact() -> None:
    """Issue 12: the contact travels in the snapshot's system description; rendering stays pure."""
    from connectors.types import SystemDescription

    mews = SystemDescription("pms", "Mews", "booked", support="Mews partner support (partnersuccess@mews.com)")
    failed = AttemptView("ITEM-1", 1, "failed", "unknown", "Mews answered HTTP 418", "log", "platform",
                         dt.datetime(2026, 11, 22, 9, 58, tzinfo=dt.timezone.utc), None, None)
    said = texts(cards.alert_card(snapshot(item(system="pms", attempts=(failed,), system_description=mews)), TODAY))

    assert "contact Mews partner support (partnersuccess@mews.com) with the order number" in said
    assert "integration team" not in said

def test_the_payment_line_reads_money_like_the_order_line_with_stripes_lower_case_currency() -> None:
    stripe_said = snapshot(payment_detail={"currency": "gbp", "amount_minor": 24000, "refunded_minor": 0})
    assert cards.payment(stripe_said)[0] == "✅ £240.00 captured (pi_3Qtest), no refunds"
    assert "240.00 gbp" not in json.dumps(cards.alert_card(stripe_said, TODAY), ensure_ascii=False)


def test_the_order_lookup_card_ends_with_the_newest_notes_and_still_fits() -> None:
    """Issue 26.4: `order ORD-10042` in Teams shows the notes written in the alert's thread."""
    def note(n: int, text: str, **more: Any) -> AuditView:
        return AuditView(T0 + dt.timedelta(minutes=n), "teams:aaa (Ana Lopez)", "note.added", None, "ok",
                         {"note": f"teams:19:x:{n}", "surface": "teams", "text": text, **more})

    card = cards.lookup_card(snapshot(audit=(note(1, "Rang the hotel", edited_at="2026-11-22T10:30:00+00:00",
                                                  edited_by="teams:aaa (Ana Lopez)"),)))
    jsonschema.validate(card, SCHEMA)
    assert [b["text"] for b in card["body"][-2:]] == [
        "**Notes**", "22 Nov 09:59 UTC Ana Lopez: Rang the hotel (edited 22 Nov 10:30 UTC)"]
    many = tuple(note(n, "ü" * 5000) for n in range(30))
    card = cards.lookup_card(snapshot(audit=many))
    jsonschema.validate(card, SCHEMA)
    assert card["body"][-9]["text"] == "…22 older notes: `syncdesk order ORD-10042`"
    assert all(len(b["text"]) < 400 for b in card["body"][-8:])
    for crowded in (snapshot(audit=many), dataclasses.replace(SNAPSHOTS["many items"], audit=many)):
        card = cards.lookup_card(crowded)  # a card already near the limit keeps fewer notes, or only their count
        jsonschema.validate(card, SCHEMA)
        activity = {"type": "message", "text": cards.summary(crowded, TODAY), "attachments": [cards.attachment(card)]}
        assert len(json.dumps(activity).encode()) < TEAMS_MESSAGE_LIMIT
    assert cards.lookup_card(snapshot()) == cards.alert_card(snapshot())
