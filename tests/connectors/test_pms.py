"""The configurable PMS connector with the Mews profile, against a fake Mews Connector API."""

from __future__ import annotations

import datetime as dt
from typing import Any, Iterator

import pytest

from connectors.errors import (
    AuthFailure,
    DataFormat,
    ErrorClass,
    NoAvailability,
    NotMapped,
    Timeout,
    UnknownFailure,
)
from connectors.pms import PmsConnector, load_profile, required_env
from connectors.types import BookingStatus, ExistingBooking
from tests.connectors.conftest import TIMEOUTS, make_item
from tests.fakes.middleware import FakeMiddleware
from tests.fakes.pms import FakeMews

ROOM = dict(system="pms", description="Superior Double, Room Only, 2 nights", start=dt.date(2026, 12, 8),
            end=dt.date(2026, 12, 10), guests=2,
            details={"property_code": "HARBOURVIEW", "room_type": "SUPD", "rate_plan": "RO"})


def mews_options(fake: FakeMews, **overrides: Any) -> dict[str, Any]:
    options: dict[str, Any] = {
        "profile": "mews", "base_url": fake.url, "constants": {"service_id": "svc-1"},
        "maps": {"room_type": {"SUPD": "cat-supd"}, "rate_plan": {"RO": "rate-ro"}},
        "age_categories": dict(fake.age_categories),
    }
    options.update(overrides)
    return options


@pytest.fixture
def fake(mews_fake: FakeMews) -> FakeMews:
    return mews_fake


@pytest.fixture
def mews(fake: FakeMews) -> Iterator[PmsConnector]:
    with PmsConnector(mews_options(fake), timeouts=TIMEOUTS) as connector:
        yield connector  # type: ignore[misc]


@pytest.fixture
def room():
    return make_item(**ROOM)


def test_create_adds_the_guest_then_a_confirmed_reservation_carrying_our_reference(mews, fake, room):
    result = mews.create(room)

    assert result.action == "created" and result.raw_status == "Confirmed"
    (add,) = fake.requests_to("POST", r".*/reservations/add")
    body = add.json
    assert body["ClientToken"] == "client-tok" and body["AccessToken"] == "access-tok" and body["Client"]
    assert body["ServiceId"] == "svc-1"
    (params,) = body["Reservations"]
    assert params["StartUtc"] == "2026-12-08T14:00:00Z" and params["EndUtc"] == "2026-12-10T10:00:00Z"
    assert params["RequestedCategoryId"] == "cat-supd" and params["RateId"] == "rate-ro"
    assert params["PersonCounts"] == [{"AgeCategoryId": "age-adult", "Count": 2}]
    assert "AdultCount" not in params and "ChildCount" not in params  # deprecated: "Use PersonCounts instead"
    assert params["ChannelNumber"] == "ORD-10042/ITEM-1"
    assert params["CustomerId"] in fake.customers
    assert "Authorization" not in add.headers  # Mews: the tokens travel in the body


@pytest.mark.parametrize("zone, start_utc, end_utc", [
    ("Australia/Sydney", "2026-12-08T03:00:00Z", "2026-12-09T23:00:00Z"),  # UTC+11 in December
    ("Pacific/Auckland", "2026-12-08T01:00:00Z", "2026-12-09T21:00:00Z"),  # UTC+13
    ("America/Chicago", "2026-12-08T20:00:00Z", "2026-12-10T16:00:00Z"),  # UTC-6
])
def test_the_stay_is_the_guests_nights_in_the_propertys_time_zone(fake, room, zone, start_utc, end_utc):
    """Issue 24.1: StartUtc/EndUtc are the property's local check-in/check-out as UTC instants.
    Fixed 14:00Z/10:00Z put a Sydney guest's check-in at 01:00 the next day: the stand-in, like
    the enterprise, refuses it."""
    fake.timezone = zone
    with PmsConnector(mews_options(fake), timeouts=TIMEOUTS, timezone=zone) as mews:
        mews.create(room)
    (params,) = fake.requests_to("POST", r".*/reservations/add")[-1].json["Reservations"]
    assert (params["StartUtc"], params["EndUtc"]) == (start_utc, end_utc)
    assert (fake.local_date(params["StartUtc"]), fake.local_date(params["EndUtc"])) == (room.start, room.end)

    with PmsConnector(mews_options(fake), timeouts=TIMEOUTS) as in_utc:  # the old behaviour: a night off
        with pytest.raises(DataFormat, match="Invalid StartUtc"):
            in_utc.create(room)


def test_a_408_is_a_timeout_so_it_is_retried_not_an_unknown_error(mews, fake, room):
    """Issue 24.4: Mews answers 408 when a request is too heavy to finish; nothing was done."""
    fake.fail_with_status(408, method="POST", path=r".*/reservations/getAll.*", times=-1)
    with pytest.raises(Timeout) as caught:
        mews.find_existing(room)
    assert caught.value.error_class is ErrorClass.TIMEOUT and caught.value.status == 408


def test_check_first_finds_the_reservation_by_our_reference(mews, fake, room):
    number = fake.seed(channel_number="ORD-10042/ITEM-1")

    found = mews.find_existing(room)

    assert found is not None and found.confirmation == number and found.status is BookingStatus.BOOKED
    (search,) = fake.requests_to("POST", r".*/reservations/getAll/2023-06-06")
    assert search.json["ChannelNumbers"] == ["ORD-10042/ITEM-1"] and search.json["Limitation"]["Count"] == 100


def test_a_created_reservation_is_found_next_time_so_nothing_is_booked_twice(mews, fake, room):
    created = mews.create(room)

    assert mews.find_existing(room).confirmation == created.confirmation
    assert len(fake.reservations()) == 1


def test_results_the_pms_did_not_filter_are_verified_here(mews, fake, room):
    fake.broad_search = True
    fake.seed(channel_number="ORD-99999/ITEM-1")
    fake.seed(channel_number=None)

    assert mews.find_existing(room) is None


@pytest.mark.parametrize(("raw", "expected"), [
    ("Confirmed", BookingStatus.BOOKED), ("Started", BookingStatus.BOOKED), ("Processed", BookingStatus.BOOKED),
    ("Optional", BookingStatus.PENDING), ("Requested", BookingStatus.NO_AVAILABILITY),
    ("Canceled", BookingStatus.ABSENT), ("Enquired", BookingStatus.ABSENT), ("Inquired", BookingStatus.ABSENT),
])
def test_each_mews_state_maps_to_ours_with_its_meaning(mews, fake, room, raw, expected):
    fake.seed(channel_number="ORD-10042/ITEM-1", state=raw)

    found = mews.find_existing(room)

    assert found.status is expected and found.meaning


def test_an_optional_reservation_is_confirmed(mews, fake, room):
    number = fake.seed(channel_number="ORD-10042/ITEM-1", state="Optional")

    result = mews.confirm(mews.find_existing(room), room)

    assert (result.action, result.confirmation) == ("confirmed", number)
    (confirm,) = fake.requests_to("POST", r".*/reservations/confirm")
    assert confirm.json["ReservationIds"] == [fake.reservations()[0]["Id"]]
    assert fake.reservations()[0]["State"] == "Confirmed"


def test_an_unknown_state_is_an_error_not_a_guess(mews, fake, room):
    fake.seed(channel_number="ORD-10042/ITEM-1", state="Teleported")

    with pytest.raises(UnknownFailure, match="Teleported"):
        mews.find_existing(room)


def test_no_availability_from_a_business_rule_is_its_own_class(mews, fake, room):
    fake.full = True

    with pytest.raises(NoAvailability, match="no availability"):
        mews.create(room)


def test_other_business_rule_refusals_are_data_problems_not_permissions(mews, fake, room):
    number = fake.seed(channel_number="ORD-10042/ITEM-1", state="Confirmed")  # Mews refuses to confirm it again

    with pytest.raises(DataFormat, match="not Optional"):
        mews.confirm(ExistingBooking(number, BookingStatus.PENDING, "Optional"), room)


def test_a_reservation_the_pms_creates_optional_is_confirmed_at_once(mews, fake, room):
    fake.state_on_add = "Optional"

    result = mews.create(room)

    assert result.action == "created" and fake.reservations()[0]["State"] == "Confirmed"


def test_invalid_tokens_are_an_auth_failure(fake, room, monkeypatch):
    monkeypatch.setenv("MEWS_ACCESS_TOKEN", "revoked")
    with PmsConnector(mews_options(fake), timeouts=TIMEOUTS) as connector, pytest.raises(AuthFailure):
        connector.find_existing(room)


def test_a_room_type_the_site_did_not_map_is_not_mapped(mews, fake, item_with):
    with pytest.raises(NotMapped, match="room_type 'PENT'"):
        mews.create(item_with(**{**ROOM, "details": {**ROOM["details"], "room_type": "PENT"}}))
    assert fake.requests_to("POST", r".*/reservations/add") == []


def test_the_live_check_calls_configuration_get(mews, fake):
    mews.check_credentials()

    assert fake.requests_to("POST", r".*/configuration/get")


def test_a_profile_names_every_variable_it_reads_credentials_from(fake):
    profile = load_profile(mews_options(fake, secret_env={"MEWS_ACCESS_TOKEN": "HARBOURVIEW_MEWS_TOKEN"}))

    assert required_env(profile) == ["HARBOURVIEW_MEWS_TOKEN", "MEWS_CLIENT_TOKEN"]


def test_an_inline_profile_with_oauth2_renews_its_token(monkeypatch, item):
    """Middleware in front of any system, with OAuth 2.0 client credentials (RFC 6749 §4.4)."""
    with FakeMiddleware() as middleware:
        monkeypatch.setenv("MW_ID", middleware.client_id)
        monkeypatch.setenv("MW_SECRET", middleware.client_secret)
        middleware.seed(reference=item.reference, status="Confirmed")
        options = {
            "name": "Middleware", "base_url": middleware.url,
            "auth": {"type": "oauth2", "token_url": middleware.token_url, "client_id_env": "MW_ID",
                     "client_secret_env": "MW_SECRET"},
            "search": {"method": "GET", "path": "/bookings", "result": "bookings",
                       "params": {"reference": "{reference}"}},
            "create": {"path": "/bookings", "body": {}},
            "fields": {"id": "id", "confirmation": "number", "status": "status", "reference": "reference"},
            "statuses": {"Confirmed": "booked", "Cancelled": "absent"},
        }
        with PmsConnector(options, system="premier", timeouts=TIMEOUTS) as connector:
            assert connector.find_existing(item).status is BookingStatus.BOOKED
            middleware.expire_tokens()
            assert connector.find_existing(item).status is BookingStatus.BOOKED
            assert connector.describe().automatic and connector.describe().system == "premier"
        assert len(middleware.token_requests) == 2
        assert middleware.token_requests[0].form["grant_type"] == "client_credentials"
