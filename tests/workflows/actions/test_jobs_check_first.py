"""Issue 24 end to end: a Reprocess whose check-first found the reservation by one of its two
keys only (the SynXis stand-in cannot search our reference) books nothing twice, and the
warning goes with the outcome: on the attempt, in the audit trail and in the alert. A hold it
found and could not confirm keeps its deadline on the attempt, and the alert says when it lapses."""

from __future__ import annotations

import datetime as dt
import json

from bot.slack.render import alert_blocks
from tests.workflows.actions.test_jobs import (  # noqa: F401  (fixtures and helpers)
    ORDER,
    attempts,
    audit,
    item,
    outcome,
    seed,
    world,
)
from workflows.actions import requests as actions
from workflows.core.db import transaction
from workflows.orders.snapshot import load


def alert_text(w) -> str:
    with transaction(w.settings.database_url) as session:
        snapshot = load(session, ORDER, settings=w.settings)
    assert snapshot is not None
    return json.dumps(alert_blocks(snapshot), ensure_ascii=False)


def test_a_reservation_found_by_the_guest_only_is_not_booked_again_and_the_alert_says_so(world):
    seed(world)
    world.synxis.ignore_key = "reference"  # the CRS matches nothing on externalReferenceNumber
    number = world.synxis.seed_reservation(reference=f"{ORDER}/ITEM-1")
    world.start_worker(world.settings)

    ack = actions.request_reprocess(world.settings, ORDER, "ITEM-1", "ana")

    assert outcome(world, ack.job_id) == f"success: found {number}"
    assert world.posts == [] and item(world).status == "Confirmed"
    said = f"found {number} by the guest (Walker, arriving 2026-12-01) but not by our reference {ORDER}/ITEM-1"
    assert said in attempts(world)[-1].warning
    [event] = audit(world, "reprocess.check_first_warning")
    assert event.result == "warning" and event.detail["confirmation"] == number and said in event.detail["reason"]
    assert said in alert_text(world)


def test_a_hold_found_by_one_key_that_cannot_be_confirmed_keeps_its_warning_and_deadline(world):
    seed(world)
    world.synxis.ignore_key = "guest"
    world.synxis.payment_required = True  # the chain wants a payment syncdesk is not configured to send
    number = world.synxis.seed_reservation(reference=f"{ORDER}/ITEM-1", status="Booked",
                                           hold_release="2026-11-30T18:00:00Z")
    world.start_worker(world.settings)

    ack = actions.request_reprocess(world.settings, ORDER, "ITEM-1", "ana")

    assert outcome(world, ack.job_id).startswith("failed: not_mapped")
    last = attempts(world)[-1]
    assert f"found {number} by our reference {ORDER}/ITEM-1 but not by the guest" in last.warning
    assert last.hold_deadline == dt.datetime(2026, 11, 30, 18, tzinfo=dt.timezone.utc)
    [failed] = audit(world, "reprocess.failed")
    assert failed.detail["hold_deadline"] == "2026-11-30T18:00:00+00:00"
    assert "not by the guest" in failed.detail["warning"]
    shown = alert_text(world)
    assert "hold lapses 30 Nov 18:00 UTC" in shown and "not by the guest" in shown
