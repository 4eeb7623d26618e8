"""Issue 25: the arrival check looks a Confirmed item's booking up by its number and compares
what the system holds (status, dates, party, a hold's deadline) with the order."""

from __future__ import annotations

import datetime as dt

import pytest

from connectors.errors import NoConnector
from connectors.pms import PmsConnector
from connectors.types import BookingStatus
from tests.connectors.conftest import TIMEOUTS, make_item
from tests.connectors.test_pms import ROOM, mews_options

SEARCH = "/v1/api/reservation"
GET_ALL = r".*/reservations/getAll/2023-06-06"


# -- SynXis ---------------------------------------------------------------------------------
def test_synxis_finds_a_confirmed_reservation_with_its_dates_and_party(synxis, synxis_fake, item):
    number = synxis_fake.seed_reservation(reference=None, adults=2, children=1)

    found = synxis.find_by_confirmation(number, item)

    assert (found.confirmation, found.status, found.raw_status) == (number, BookingStatus.BOOKED, "Confirmed")
    assert (found.start, found.end, found.guests, found.deadline) == (item.start, item.end, 3, None)
    (search,) = synxis_fake.requests_to("GET", SEARCH)
    assert (search.param("crsConfirmationNumber"), search.param("hotel"), search.param("chain")) == (
        number, "13098", "12723")


def test_synxis_answers_none_for_a_number_the_hotel_does_not_have(synxis, synxis_fake, item):
    synxis_fake.seed_reservation(reference=item.reference)

    assert synxis.find_by_confirmation("13098CU999999", item) is None


def test_synxis_shows_a_cancelled_reservation_as_cancelled(synxis, synxis_fake, item):
    number = synxis_fake.seed_reservation(status="Cancelled")

    found = synxis.find_by_confirmation(number, item)

    assert (found.status, found.raw_status) == (BookingStatus.ABSENT, "Cancelled")


def test_synxis_shows_the_dates_the_property_moved_the_stay_to(synxis, synxis_fake, item):
    number = synxis_fake.seed_reservation(start="2026-12-03", end="2026-12-05")

    found = synxis.find_by_confirmation(number, item)

    assert (found.start, found.end) == (dt.date(2026, 12, 3), dt.date(2026, 12, 5)) != (item.start, item.end)


def test_synxis_gives_a_holds_deadline_where_the_answer_carries_one(synxis, synxis_fake, item):
    held = synxis_fake.seed_reservation(status="OnHold", hold_release="2026-11-30T18:00:00Z")
    booked = synxis_fake.seed_reservation(status="Booked")  # the chain's timeout: not in the answer

    assert synxis.find_by_confirmation(held, item).deadline == dt.datetime(2026, 11, 30, 18, tzinfo=dt.timezone.utc)
    assert synxis.find_by_confirmation(booked, item).deadline is None


def test_synxis_believes_only_the_number_asked_for(synxis, synxis_fake, item):
    synxis_fake.broad_search = True  # the CRS ignores crsConfirmationNumber and answers the hotel
    synxis_fake.seed_reservation()
    number = synxis_fake.seed_reservation(status="Booked")

    assert synxis.find_by_confirmation(number, item).confirmation == number
    assert synxis.find_by_confirmation("13098CU999999", item) is None


# -- Mews -----------------------------------------------------------------------------------
ROOM_ITEM = make_item(**ROOM)


def mews_in(fake, zone: str = "UTC") -> PmsConnector:
    return PmsConnector(mews_options(fake), timeouts=TIMEOUTS, timezone=zone)


SYDNEY_STAY = dict(start_utc="2026-12-08T03:00:00Z", end_utc="2026-12-09T23:00:00Z",  # 14:00 / 10:00 local
                   person_counts=[{"AgeCategoryId": "age-adult", "Count": 2},
                                  {"AgeCategoryId": "age-child", "Count": 1}])


def test_mews_finds_a_reservation_by_its_number_with_local_dates_and_party(mews_fake):
    number = mews_fake.seed(channel_number=None, **SYDNEY_STAY)

    with mews_in(mews_fake, "Australia/Sydney") as mews:
        found = mews.find_by_confirmation(number, ROOM_ITEM)

    assert (found.confirmation, found.status) == (number, BookingStatus.BOOKED)
    assert (found.start, found.end, found.guests) == (ROOM_ITEM.start, ROOM_ITEM.end, 3)  # 23:00Z: the 10th there
    (lookup,) = mews_fake.requests_to("POST", GET_ALL)
    assert lookup.json["Numbers"] == [number] and "ChannelNumbers" not in lookup.json


def test_mews_answers_none_for_a_number_it_does_not_have(mews_fake):
    mews_fake.seed(channel_number="ORD-10042/ITEM-1")

    with mews_in(mews_fake) as mews:
        assert mews.find_by_confirmation("99999", ROOM_ITEM) is None


def test_mews_shows_a_canceled_reservation_as_canceled(mews_fake):
    number = mews_fake.seed(channel_number=None, state="Canceled")

    with mews_in(mews_fake) as mews:
        found = mews.find_by_confirmation(number, ROOM_ITEM)

    assert (found.status, found.raw_status) == (BookingStatus.ABSENT, "Canceled")


def test_mews_shows_the_dates_the_property_moved_the_stay_to(mews_fake):
    number = mews_fake.seed(channel_number=None, start_utc="2026-12-09T14:00:00Z", end_utc="2026-12-11T10:00:00Z")

    with mews_in(mews_fake) as mews:
        found = mews.find_by_confirmation(number, ROOM_ITEM)

    assert (found.start, found.end) == (dt.date(2026, 12, 9), dt.date(2026, 12, 11)) != (ROOM_ITEM.start,
                                                                                          ROOM_ITEM.end)


def test_a_profile_without_a_lookup_cannot_check_and_says_so(mews_fake):
    options = {"name": "Middleware", "base_url": mews_fake.url, "search": {"path": "/x"}, "create": {"path": "/y"},
               "statuses": {"OK": "booked"}}
    with PmsConnector(options, timeouts=TIMEOUTS) as middleware, pytest.raises(NoConnector, match="could not check"):
        middleware.find_by_confirmation("870", ROOM_ITEM)
    assert mews_fake.requests == []
