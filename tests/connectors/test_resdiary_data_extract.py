"""Check first without EPOS: Data Extraction "Get Bookings" (the bookings created on a day), read
with the Consumer API's JWT (ResDiary API Introduction; data-extract-api/booking)."""

from __future__ import annotations

import datetime as dt

import httpx
import pytest

from connectors.errors import ConnectionFailed, NotMapped
from connectors.types import BookingStatus
from connectors.types import BookingRequest
from tests.connectors.conftest import make_item
from tests.connectors.test_resdiary import TABLE, build
from tests.fakes.resdiary import FakeResDiary

CREATED = r"/api/ConsumerApi/v1/DataExtract/Restaurant/7/4321/Booking/[^/]+"
CREATE = r".*/BookingWithStripeToken"

@pytest.fixture
def fake(resdiary_fake: FakeResDiary) -> FakeResDiary:
    return resdiary_fake


@pytest.fixture
def table() -> BookingRequest:
    return make_item(**TABLE)


def without_epos(fake: FakeResDiary, **options):
    return build(fake, {**fake.data_extract_values(), **options}, epos=None)


def days_asked(fake: FakeResDiary) -> list[str]:
    return [r.path.rsplit("/", 1)[1] for r in fake.requests_to("GET", CREATED)]


def test_without_epos_check_first_reads_the_bookings_created_each_day_with_the_consumer_token(fake, table):
    reference = fake.seed(comments="[syncdesk ORD-10042/ITEM-1]", name="Someone Else", visit="2026-12-24T21:00:00")

    with without_epos(fake) as connector:
        found = connector.find_existing(table)

    assert found.confirmation == reference and found.status is BookingStatus.BOOKED
    assert found.start == dt.date(2026, 12, 24) and found.guests == 4
    today = dt.datetime.now(dt.timezone.utc).date()
    assert days_asked(fake) == [(today + dt.timedelta(days=n)).isoformat() for n in range(-7, 2)]
    assert all(r.header("Authorization").startswith("Bearer ") for r in fake.requests_to("GET", CREATED))
    assert fake.requests_to("POST", r"/OAuth/V10a") == [] and fake.requests_to("GET", r".*/DiaryData") == []


def test_a_create_whose_answer_was_lost_is_found_without_epos_so_nothing_is_booked_twice(fake, table):
    fake.close_connection(method="POST", path=CREATE, before_handler=False)  # booked, the answer lost

    with without_epos(fake) as connector:
        with pytest.raises(ConnectionFailed):
            connector.create(table)
        found = connector.find_existing(table)

    (made,) = fake.bookings()
    assert found is not None and found.confirmation == made["BookingReference"]
    assert found.reference == "ORD-10042/ITEM-1"


def test_a_booking_by_hand_counts_only_for_the_same_visit_date_time_and_covers(fake, table):
    fake.seed(name="Larry Walker", visit="2026-12-31T19:30:00")  # another visit date, same time and covers
    with without_epos(fake) as connector:
        assert connector.find_existing(table) is None
        by_hand = fake.seed(name="Mr L WALKER", visit="2026-12-24T19:30:00", covers=4)
        assert connector.find_existing(table).confirmation == by_hand


def test_a_booking_created_before_the_window_is_not_seen(fake, table):
    """What Data Extraction can prove: only the days asked. The window is a routing option."""
    long_ago = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=10)
    reference = fake.seed(comments="[syncdesk ORD-10042/ITEM-1]", created=long_ago)

    with without_epos(fake) as connector:
        assert connector.find_existing(table) is None
    with without_epos(fake, created_lookback_days=10) as connector:
        assert connector.find_existing(table).confirmation == reference


def test_epos_is_read_instead_when_it_is_configured(fake, table):
    with build(fake, {"epos_restaurant_id": 4321, **fake.data_extract_values()}) as connector:
        connector.find_existing(table)

    assert fake.requests_to("GET", r".*/DiaryData") and fake.requests_to("GET", CREATED) == []


def test_the_restaurant_may_come_with_the_item(fake):
    dinner = make_item(**{**TABLE, "details": {**TABLE["details"], **fake.data_extract_values()}})
    with build(fake, {}, epos=None) as connector:
        assert connector.find_existing(dinner) is None
    assert len(fake.requests_to("GET", CREATED)) == 9


def test_check_credentials_without_epos_reads_data_extraction_once(fake):
    with without_epos(fake) as connector:
        connector.check_credentials()
    assert len(fake.requests_to("GET", CREATED)) == 1 and fake.requests_to("POST", r"/OAuth/V10a") == []

    with build(fake, {}, epos=None) as connector, pytest.raises(NotMapped, match="RESDIARY_EPOS_SECOND_SECRET"):
        connector.check_credentials()


def test_another_restaurant_is_not_mapped(fake, table):
    with without_epos(fake, provider_id=99) as connector, pytest.raises(NotMapped):
        connector.find_existing(table)


@pytest.mark.parametrize(("path", "auth", "status"), [
    ("/Booking/2026-12-24", None, 401),  # no token
    ("/Booking/2026-12-24", "Bearer not-a-token", 401),
    ("/Booking/2026-12-24", "OAUTH", 401),  # the EPOS API's signature is not Data Extraction's token
    ("/Booking", "JWT", 400),  # no date
    ("/Booking/", "JWT", 400),
    ("/Booking/24-12-2026", "JWT", 400),
    ("/Booking/2026-12-24T00:00:00", "JWT", 400),
])
def test_the_stand_in_refuses_the_wrong_forms(fake, path, auth, status):
    with httpx.Client(base_url=fake.url) as client:
        jwt = client.post("/api/Jwt/v2/Authenticate", json={"Username": fake.username,
                                                            "Password": fake.password}).json()["Token"]
        headers = {"JWT": {"Authorization": f"Bearer {jwt}"}, None: {},
                   "OAUTH": {"Authorization": 'OAuth oauth_consumer_key="epos-key", oauth_token="x", '
                                              'oauth_signature_method="HMAC-SHA1", oauth_signature="bad"'}
                   }.get(auth, {"Authorization": auth or ""})
        answer = client.get(f"/api/ConsumerApi/v1/DataExtract/Restaurant/7/4321{path}", headers=headers)
        right = client.get("/api/ConsumerApi/v1/DataExtract/Restaurant/7/4321/Booking/2026-12-24",
                           headers={"Authorization": f"Bearer {jwt}"})
        elsewhere = client.get("/api/ConsumerApi/v1/DataExtract/Restaurant/8/4321/Booking/2026-12-24",
                               headers={"Authorization": f"Bearer {jwt}"})

    assert answer.status_code == status
    assert right.status_code == 200 and right.json() == [] and elsewhere.status_code == 404
