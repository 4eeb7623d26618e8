"""Issue 24: check first by two independent keys, our reference and the guest + arrival + property.

Every connector asks by both, whatever the first one found, and a booking found by one key only
is still the booking (never a second one made beside it) but is logged and carried as a warning.
Each stand-in can ignore one key (`ignore_key`), as a system that does not keep or cannot search
it would: the warning names the key that found nothing."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from connectors.pms import PmsConnector
from connectors.resdiary import ResDiaryConnector
from connectors.types import BookingRequest, BookingStatus
from tests.connectors.conftest import TIMEOUTS, make_item
from tests.connectors.test_pms import ROOM, mews_options
from tests.connectors.test_resdiary import TABLE, build
from tests.fakes.pms import FakeMews
from tests.fakes.resdiary import FakeResDiary

SEARCH = "/v1/api/reservation"


@pytest.fixture
def mews_stand_in(mews_fake: FakeMews) -> FakeMews:
    return mews_fake


@pytest.fixture
def mews(mews_fake: FakeMews) -> Iterator[PmsConnector]:
    with PmsConnector(mews_options(mews_fake), timeouts=TIMEOUTS) as connector:
        yield connector  # type: ignore[misc]


@pytest.fixture
def room() -> BookingRequest:
    return make_item(**ROOM)


@pytest.fixture
def fake(resdiary_fake: FakeResDiary) -> FakeResDiary:
    return resdiary_fake


@pytest.fixture
def resdiary(resdiary_fake: FakeResDiary) -> Iterator[ResDiaryConnector]:
    with build(resdiary_fake) as connector:
        yield connector  # type: ignore[misc]


@pytest.fixture
def table() -> BookingRequest:
    return make_item(**TABLE)


# -- SynXis ------------------------------------------------------------------------------------

def test_synxis_asks_both_keys_even_when_our_reference_finds_the_reservation(synxis, synxis_fake, item, caplog):
    number = synxis_fake.seed_reservation(reference=item.reference)

    with caplog.at_level(logging.WARNING):
        found = synxis.find_existing(item)

    assert found.confirmation == number and found.warning == ""
    asked = [(r.param("externalReferenceNumber"), r.param("guestLastName"))
             for r in synxis_fake.requests_to("GET", SEARCH)]
    assert asked == [(item.reference, None), (None, "Walker")]
    assert "check-first" not in caplog.text


def test_a_synxis_that_cannot_search_our_reference_is_caught_by_the_guest_key_and_warned(synxis, synxis_fake, item,
                                                                                        caplog):
    synxis_fake.ignore_key = "reference"  # a CRS that matches nothing on externalReferenceNumber
    number = synxis_fake.seed_reservation(reference=item.reference, status="Booked")

    with caplog.at_level(logging.WARNING, logger="connectors.base"):
        found = synxis.find_existing(item)

    assert (found.confirmation, found.status) == (number, BookingStatus.PENDING)
    assert f"found {number} by the guest (Walker, arriving 2026-12-01) but not by our reference {item.reference}" \
        in found.warning
    assert found.warning in caplog.text


def test_a_synxis_reservation_whose_guest_differs_is_found_by_reference_and_warned(synxis, synxis_fake, item):
    synxis_fake.ignore_key = "guest"
    number = synxis_fake.seed_reservation(reference=item.reference)

    found = synxis.find_existing(item)

    assert found.confirmation == number
    assert f"found {number} by our reference {item.reference} but not by the guest (Walker" in found.warning


def test_a_cancelled_reservation_by_reference_does_not_hide_a_confirmed_one_made_by_hand(synxis, synxis_fake, item):
    # Before, a reservation by our reference (even Cancelled) stopped the search: a second booking followed.
    synxis_fake.seed_reservation(reference=item.reference, status="Cancelled")
    by_hand = synxis_fake.seed_reservation(reference=None, surname="Walker", start="2026-12-01")

    found = synxis.find_existing(item)

    assert (found.confirmation, found.status) == (by_hand, BookingStatus.BOOKED)
    assert f"found {by_hand} by the guest" in found.warning


# -- Mews (the PMS connector's built-in profile) -------------------------------------------------

def test_a_mews_that_keeps_no_channel_number_still_finds_our_reservation_by_the_guest(mews, mews_stand_in, room,
                                                                                      caplog):
    mews_stand_in.ignore_key = "reference"  # issue 24's unknown: Mews keeps, or filters on, no ChannelNumber
    made = mews.create(room)

    with caplog.at_level(logging.WARNING, logger="connectors.base"):
        found = mews.find_existing(room)

    assert found is not None and found.confirmation == made.confirmation
    assert "by the guest (Walker, arriving 2026-12-08) but not by our reference ORD-10042/ITEM-1" in found.warning
    by_guest = mews_stand_in.requests_to("POST", r".*/reservations/getAll/2023-06-06")[-1].json
    assert by_guest["ScheduledStartUtc"] == {"StartUtc": "2026-12-08T00:00:00Z", "EndUtc": "2026-12-09T00:00:00Z"}
    assert by_guest["AccountIds"] == [next(iter(mews_stand_in.customers))]
    assert found.warning in caplog.text


def test_a_mews_reservation_made_by_hand_is_found_by_the_guest(mews, mews_stand_in, room):
    walker = mews_stand_in.seed_customer(email="larry.walker@example.com")
    number = mews_stand_in.seed(channel_number=None, account_id=walker, start_utc="2026-12-08T14:00:00Z")
    mews_stand_in.seed(channel_number=None, account_id=walker, start_utc="2026-12-09T14:00:00Z")  # another night

    found = mews.find_existing(room)

    assert found is not None and found.confirmation == number
    assert "not by our reference" in found.warning


def test_mews_both_keys_agree_on_our_reservation(mews, mews_stand_in, room):
    made = mews.create(room)

    found = mews.find_existing(room)

    assert found.confirmation == made.confirmation and found.warning == ""


# -- ResDiary ----------------------------------------------------------------------------------

@pytest.mark.parametrize("ignored, said", [
    ("reference", "by the guest (Walker, arriving 2026-12-24) but not by our reference ORD-10042/ITEM-1"),
    ("guest", "by our reference ORD-10042/ITEM-1 but not by the guest (Walker, arriving 2026-12-24)"),
])
def test_a_resdiary_read_without_one_keys_field_finds_the_booking_and_warns(resdiary, fake, table, ignored, said):
    made = resdiary.create(table)
    fake.ignore_key = ignored

    found = resdiary.find_existing(table)

    assert found.confirmation == made.confirmation and said in found.warning


def test_resdiary_both_keys_agree_on_our_booking(resdiary, fake, table):
    made = resdiary.create(table)

    assert resdiary.find_existing(table).confirmation == made.confirmation
    assert resdiary.find_existing(table).warning == ""
