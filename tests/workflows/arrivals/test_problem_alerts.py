"""An arrival-check problem is an alert of its own (issue 25), on an order Complete on the
platform too: the lifecycle keeps it open while the booking is missing (the poller does not
resolve it because the platform says Complete), a recheck of the booking system that finds
the booking confirmed resolves it, and so does It's fine with a reason. End to end below the
chat surfaces: the stand-in platform, Stripe and SynXis, a real worker with its clock, the
logging stand-ins for Slack and Teams (the Slack and Teams tests click the alert's buttons)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from tests.conftest import wait_for
from tests.workflows.arrivals.test_arrival_check import DAY, World, arrivals_world, room
from workflows.actions.catalogue import perform
from workflows.actions.moves import Answers, Move
from workflows.actions.offer import moves
from workflows.arrivals import check
from workflows.core.db import transaction
from workflows.core.models import Alert, AuditEvent, OrderItem
from workflows.core.settings import Settings
from workflows.intake import poller
from workflows.orders.notify import notifiers
from workflows.orders.snapshot import load

NUMBER = "13098CU000777"


@pytest.fixture
def world(settings: Settings) -> Iterator[World]:
    for w in arrivals_world(settings):
        # the test runs the poller's re-check itself; the worker's clock runs it at its first tick only
        w.settings = w.settings.model_copy(update={"recheck_open_minutes": 600})
        yield w


def states_of(world: World, order_id: str) -> set[str]:
    with transaction(world.settings.database_url) as session:
        return set(session.scalars(select(Alert.state).where(Alert.order_id == order_id)))


def item(world: World, order_id: str) -> tuple[str, str | None, str | None]:
    with transaction(world.settings.database_url) as session:
        row = session.scalar(select(OrderItem).where(OrderItem.order_id == order_id))
        return row.status, row.sync_status, row.external_reference


def actions(world: World, order_id: str, action: str) -> list[AuditEvent]:
    with transaction(world.settings.database_url) as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.order_id == order_id,
                                                             AuditEvent.action == action).order_by(AuditEvent.id)))


def offered(world: World, order_id: str) -> list[str]:
    with transaction(world.settings.database_url) as session:
        snapshot = load(session, order_id, settings=world.settings)
    assert snapshot is not None
    return [m.key for m in moves(snapshot)]


def test_the_poller_keeps_a_complete_orders_alert_until_a_recheck_finds_the_booking(world: World,
                                                                                    worker_factory) -> None:  # type: ignore[no-untyped-def]
    # Complete on the platform, its item Confirmed with its number; SynXis cancelled that booking
    world.order("ORD-GONE", room(reference=NUMBER))
    world.synxis.seed_reservation(status="Cancelled", reference="ORD-GONE/ITEM-1", number=NUMBER, start=DAY,
                                  end=DAY + dt.timedelta(days=2))
    worker_factory(world.settings)

    run = check.check_day(world.settings, DAY)

    assert [f.kind.value for f in run.raised] == ["gone"]
    assert states_of(world, "ORD-GONE") == {"open"}
    assert item(world, "ORD-GONE") == ("In Progress", "failed", NUMBER)  # held here: the platform's word is in question
    assert world.platform.order("ORD-GONE")["items"][0]["status"] == "Confirmed"  # the platform's item is left alone
    assert offered(world, "ORD-GONE") == ["im_on_it", "rebook", "booked_manually", "its_fine", "message_guest",
                                          "snooze", "hand_over"]
    shown = wait_for(lambda: [s for s in notifiers.get("slack").shown if s.order_id == "ORD-GONE"])  # type: ignore[attr-defined]
    assert shown[-1].problem("ITEM-1").kind == "gone"

    # The poller reads the order again: Complete there, and the booking still cancelled: kept open
    poller.recheck_open_alerts(world.settings)
    wait_for(lambda: actions(world, "ORD-GONE", "arrival.rechecked"))
    assert states_of(world, "ORD-GONE") == {"open"}
    assert actions(world, "ORD-GONE", "arrival.rechecked")[-1].detail["kind"] == "gone"

    # Someone confirmed it in SynXis again: the next re-check finds it and the alert resolves
    world.synxis.seed_reservation(status="Confirmed", reference="ORD-GONE/ITEM-1", number=NUMBER, start=DAY,
                                  end=DAY + dt.timedelta(days=2))
    poller.recheck_open_alerts(world.settings)
    wait_for(lambda: states_of(world, "ORD-GONE") == {"resolved"})
    assert item(world, "ORD-GONE") == ("Confirmed", "success", NUMBER)
    [settled] = actions(world, "ORD-GONE", "problem.settled")
    assert (settled.detail["how"], settled.detail["confirmation"]) == ("found", NUMBER)
    assert offered(world, "ORD-GONE") == []
    assert world.kinds() == {"ORD-GONE/ITEM-1": "confirmed"}


def test_its_fine_needs_a_reason_and_settles_the_problem(world: World) -> None:
    world.order("ORD-MISSING", room(reference=NUMBER))
    check.check_day(world.settings, DAY)
    assert states_of(world, "ORD-MISSING") == {"open"}

    short = perform(world.settings, Move.ITS_FINE, "ORD-MISSING", "ITEM-1", "slack:U0ANA (ana)", Answers(reason="ok"))
    assert not short.accepted and states_of(world, "ORD-MISSING") == {"open"}
    fine = perform(world.settings, Move.ITS_FINE, "ORD-MISSING", "ITEM-1", "slack:U0ANA (ana)",
                   Answers(reason="guest rebooked by phone, CRS number on the folio"))

    assert fine.accepted and "resolved" in fine.message
    assert states_of(world, "ORD-MISSING") == {"resolved"}
    assert item(world, "ORD-MISSING") == ("Confirmed", "success", NUMBER)  # back as the platform has it
    [settled] = actions(world, "ORD-MISSING", "problem.settled")
    assert (settled.actor, settled.detail["how"], settled.detail["reason"]) == (
        "slack:U0ANA (ana)", "fine", "guest rebooked by phone, CRS number on the folio")
    assert world.rows()["ORD-MISSING/ITEM-1"].checked_by == "slack:U0ANA (ana)"  # the summary says who
    again = perform(world.settings, Move.ITS_FINE, "ORD-MISSING", "ITEM-1", "slack:U0ANA (ana)",
                    Answers(reason="said twice by a double click"))
    assert not again.accepted and "no open booking problem" in again.message


def test_an_order_the_platform_cancels_meanwhile_settles_its_problem(world: World) -> None:
    world.order("ORD-C", room(reference=NUMBER))
    check.check_day(world.settings, DAY)
    cancelled = world.platform.order("ORD-C") | {"status": "Cancelled"}
    world.platform.seed(cancelled)

    poller.recheck_open_alerts(world.settings)

    assert states_of(world, "ORD-C") == {"resolved"}  # nobody is expected: Cancelled settles it
    assert world.rows()["ORD-C/ITEM-1"].checked_by == "syncdesk (poller)"
