"""The arrival check's other direction (issue 25): the bookings a system lists for the day whose
order is cancelled or refunded on the platform are named on the property's summary. The stand-in
platform, Stripe and booking systems (SynXis, ResDiary) hold them, on both databases."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import SecretStr

from tests.conftest import logged
from tests.fakes.resdiary import FakeResDiary
from tests.workflows.arrivals.test_arrival_check import DAY, World, arrivals_world, room
from workflows.arrivals import check
from workflows.core.settings import Settings

NOW = dt.datetime(2026, 12, 8, 6, 0, tzinfo=dt.timezone.utc)


@pytest.fixture
def world(settings: Settings) -> Iterator[World]:
    yield from arrivals_world(settings)


def test_a_synxis_booking_whose_order_is_cancelled_or_refunded_is_named_on_the_summary(world: World) -> None:
    world.order("ORD-OK", room())
    world.booking("ORD-OK")
    world.order("ORD-CANCELLED", room(), status="Cancelled")
    cancelled = world.booking("ORD-CANCELLED")
    world.order("ORD-REFUNDED", room(), refunded=True)
    refunded = world.booking("ORD-REFUNDED")
    world.order("ORD-CLEAN", room(), status="Cancelled")
    world.booking("ORD-CLEAN", status="Cancelled")  # cancelled on both sides: nothing to say

    run = check.check_day(world.settings, DAY, now=NOW)

    [summary] = run.summaries
    assert summary.headline() == ("Tomorrow at 13098: 1 arrival checked — 1 confirmed in SynXis; "
                                  "2 booked but cancelled or refunded on the platform.")
    lines = {line.order_id: summary.line_text(line) for line in summary.booked_refunded}
    assert set(lines) == {"ORD-CANCELLED", "ORD-REFUNDED"}
    assert lines["ORD-CANCELLED"].startswith(f"ORD-CANCELLED/ITEM-1: booked but refunded/cancelled — SynXis holds "
                                             f"{cancelled} as Confirmed, but the order is Cancelled on the platform")
    assert f"holds {refunded} as Confirmed, but its payment" in lines["ORD-REFUNDED"]
    assert "is refunded" in lines["ORD-REFUNDED"]
    assert world.kinds()["ORD-OK/ITEM-1"] == "confirmed"
    assert run.raised == () and world.alerts() == {}  # a line on the summary, not an alert
    # The listing asked SynXis for the hotel's day by arrival date.
    assert any(r.param("startDate") == DAY.isoformat() and r.param("externalReferenceNumber") is None
               for r in world.synxis.reservation_requests)
    assert logged("slack").of_kind("arrivals")[-1].text == summary.headline()


def test_a_rerun_posts_nothing_new_and_drops_a_booking_cancelled_since(world: World) -> None:
    world.order("ORD-OK", room())
    world.booking("ORD-OK")
    world.order("ORD-CANCELLED", room(), status="Cancelled")
    number = world.booking("ORD-CANCELLED")
    first = check.check_day(world.settings, DAY, now=NOW)
    assert len(first.summaries[0].booked_refunded) == 1
    posted = len(logged("slack").of_kind("arrivals"))

    again = check.check_day(world.settings, DAY, now=NOW)
    assert again.raised == () and len(again.summaries[0].booked_refunded) == 1
    assert not logged("slack").of_kind("channel")
    assert len(logged("slack").of_kind("arrivals")) == posted + 1  # the same summary shown again, in place

    world.synxis.seed_reservation(status="Cancelled", reference="ORD-CANCELLED/ITEM-1", number=number, start=DAY,
                                  end=DAY + dt.timedelta(days=2))  # the hotel cancelled it since
    last = check.check_day(world.settings, DAY, now=NOW)
    assert last.summaries[0].booked_refunded == ()
    assert "ORD-CANCELLED/ITEM-1" not in world.kinds()


def test_a_listing_that_fails_says_could_not_list(world: World) -> None:
    world.settings = world.settings.model_copy(update={"system_pace_default": "200/4", "pace_max_wait_seconds": 0.5})
    world.order("ORD-CANCELLED", room(), status="Cancelled")
    world.booking("ORD-CANCELLED")
    world.synxis.fail_with_status(503, times=100)

    run = check.check_day(world.settings, DAY, now=NOW)

    [summary] = run.summaries
    assert "could not list SynXis" in summary.headline()
    assert summary.booked_refunded == ()


def table(item_id: str = "ITEM-2") -> dict[str, Any]:
    return {"id": item_id, "kind": "table", "system": "resdiary", "status": "Confirmed",
            "description": "Dinner for 4", "start": DAY.isoformat(), "end": DAY.isoformat(), "quantity": 1,
            "guests": 4, "details": {"restaurant_id": "TheGrillRoom", "visit_time": "19:30", "covers": 4,
                                     "epos_restaurant_id": 4321}}


@pytest.fixture
def resdiary(world: World) -> Iterator[FakeResDiary]:
    with FakeResDiary() as fake:
        world.settings = world.settings.model_copy(update=dict(
            resdiary_api_url=fake.url, resdiary_username=fake.username, resdiary_password=SecretStr(fake.password),
            **{k: SecretStr(v) if "secret" in k else v for k, v in fake.epos_values().items()}))
        yield fake


def test_a_resdiary_table_whose_order_is_cancelled_is_named_on_the_restaurants_summary(
        world: World, resdiary: FakeResDiary) -> None:
    world.order("ORD-DINNER", table())
    resdiary.seed(visit=f"{DAY}T19:30:00", comments="[syncdesk ORD-DINNER/ITEM-2]")
    world.order("ORD-CANCELLED", table(), status="Cancelled")
    number = resdiary.seed(visit=f"{DAY}T19:30:00", comments="[syncdesk ORD-CANCELLED/ITEM-2]")
    world.order("ORD-OTHER-DAY", table(), status="Cancelled")
    resdiary.seed(visit="2026-12-24T19:30:00", comments="[syncdesk ORD-OTHER-DAY/ITEM-2]")  # not that day

    run = check.check_day(world.settings, DAY, now=NOW)

    [summary] = run.summaries
    assert summary.property == "TheGrillRoom"
    assert [(line.order_id, line.confirmation) for line in summary.booked_refunded] == [("ORD-CANCELLED", number)]
    assert summary.headline().endswith("1 confirmed in ResDiary; 1 booked but cancelled or refunded on the platform.")
    assert world.kinds()["ORD-DINNER/ITEM-2"] == "confirmed"
    # The EPOS diary was read for the day (a listing without its date is refused by the stand-in).
    assert run.raised == ()

    again = check.check_day(world.settings, DAY, now=NOW)
    assert again.raised == () and [line.order_id for line in again.summaries[0].booked_refunded] == ["ORD-CANCELLED"]
