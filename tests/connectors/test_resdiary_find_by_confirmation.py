"""The arrival check's lookup: a ResDiary booking by its reference (Consumer API, Get a booking:
https://docs.hos.accessacloud.com/resdiary-api/api-references/consumer-api/booking)."""

from __future__ import annotations

import datetime as dt
from typing import Iterator

import pytest

from connectors.errors import NotMapped
from connectors.resdiary import ResDiaryConnector
from connectors.types import BookingRequest, BookingStatus
from tests.connectors.conftest import make_item
from tests.connectors.test_resdiary import TABLE, build
from tests.fakes.resdiary import FakeResDiary

READ = r"/api/ConsumerApi/v1/Restaurant/TheGrillRoom/Booking/[^/]+"

@pytest.fixture
def fake(resdiary_fake: FakeResDiary) -> FakeResDiary:
    return resdiary_fake


@pytest.fixture
def table() -> BookingRequest:
    return make_item(**TABLE)


@pytest.fixture
def resdiary(fake: FakeResDiary) -> Iterator[ResDiaryConnector]:
    with build(fake) as connector:
        yield connector  # type: ignore[misc]


def test_a_booking_found_by_its_reference_carries_its_date_covers_and_status(resdiary, fake, table):
    reference = fake.seed(comments="One guest vegetarian [syncdesk ORD-10042/ITEM-1]", visit="2026-12-24T19:30:00",
                          covers=4)

    found = resdiary.find_by_confirmation(reference, table)

    assert found.confirmation == reference and found.status is BookingStatus.BOOKED and found.raw_status == "Booked"
    assert found.start == dt.date(2026, 12, 24) and found.guests == 4 and found.deadline is None
    assert found.reference == "ORD-10042/ITEM-1"
    (read,) = fake.requests_to("GET", READ)
    assert read.path == f"/api/ConsumerApi/v1/Restaurant/TheGrillRoom/Booking/{reference}"
    assert read.header("Authorization").startswith("Bearer ")


def test_a_moved_or_resized_booking_says_what_resdiary_holds(resdiary, fake, table):
    reference = fake.seed(visit="2026-12-26T20:00:00", covers=6)

    found = resdiary.find_by_confirmation(reference, table)

    assert found.start == dt.date(2026, 12, 26) and found.guests == 6


def test_no_booking_by_that_reference_is_none(resdiary, fake, table):
    fake.seed(microsite="TheBar")  # ResDiary references are per restaurant
    assert resdiary.find_by_confirmation("RD99999", table) is None
    assert resdiary.find_by_confirmation(fake.bookings()[0]["BookingReference"], table) is None


def test_a_cancelled_booking_is_found_as_cancelled(resdiary, fake, table):
    reference = fake.seed()
    fake.set_status(reference, "Cancelled")

    found = resdiary.find_by_confirmation(reference, table)

    assert found.status is BookingStatus.ABSENT and found.raw_status == "Cancelled"


def test_an_unconfirmed_booking_has_its_deadline_when_the_restaurants_hours_are_known(fake, table):
    made = dt.datetime(2026, 12, 20, 9, 15, tzinfo=dt.timezone.utc)
    reference = fake.seed(status="Unconfirmed", created=made)

    with build(fake, {"card_hours_to_expiry": 24}) as connector:
        held = connector.find_by_confirmation(reference, table)
    with build(fake, {}) as connector:
        unknown = connector.find_by_confirmation(reference, table)

    assert held.status is BookingStatus.PENDING and held.deadline == made + dt.timedelta(hours=24)
    assert unknown.status is BookingStatus.PENDING and unknown.deadline is None


def test_an_unknown_restaurant_is_not_mapped_rather_than_missing(resdiary, table):
    elsewhere = make_item(**{**TABLE, "details": {**TABLE["details"], "restaurant_id": "Nowhere"}})
    with pytest.raises(NotMapped, match="restaurant"):
        resdiary.find_by_confirmation("RD00001", elsewhere)
