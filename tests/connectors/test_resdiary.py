"""ResDiary connector against the fake ResDiary: check the diary first, create, map statuses and errors."""

from __future__ import annotations

import datetime as dt
from typing import Any, Iterator

import httpx
import pytest

from connectors.errors import (
    AuthFailure,
    MissingField,
    NeedsReview,
    NoAvailability,
    NotMapped,
    UnknownFailure,
)
from connectors.resdiary import STATUSES, EposConfig, ResDiaryConfig, ResDiaryConnector
from connectors.types import BookingStatus, Guest
from tests.connectors.conftest import TIMEOUTS, make_item
from tests.fakes.resdiary import FakeResDiary

TABLE = dict(system="resdiary", kind="table", description="Festive Dinner for 4, 19:30", start=dt.date(2026, 12, 24),
             end=dt.date(2026, 12, 24), guests=4,
             details={"restaurant_id": "TheGrillRoom", "visit_time": "19:30", "covers": 4, "promotion_id": 5821,
                      "special_requests": "One guest vegetarian"})


@pytest.fixture
def fake(resdiary_fake: FakeResDiary) -> FakeResDiary:
    return resdiary_fake


def epos(fake: FakeResDiary, **overrides: Any) -> EposConfig:
    values: dict[str, Any] = dict(api_url=fake.url, oauth_url=fake.oauth_url, consumer_key=fake.consumer_key,
                                  consumer_secret=fake.consumer_secret, second_secret=fake.second_secrets[4321])
    values.update(overrides)
    return EposConfig(**values)


def build(fake: FakeResDiary, options: dict[str, Any] | None = None, **overrides: Any) -> ResDiaryConnector:
    values: dict[str, Any] = dict(api_url=fake.url, username=fake.username, password=fake.password,
                                  epos=epos(fake), timeouts=TIMEOUTS)
    values.update(overrides)
    return ResDiaryConnector(ResDiaryConfig(**values), {"epos_restaurant_id": 4321} if options is None else options)


@pytest.fixture
def resdiary(fake: FakeResDiary) -> Iterator[ResDiaryConnector]:
    with build(fake) as connector:
        yield connector  # type: ignore[misc]


@pytest.fixture
def table():
    return make_item(**TABLE)


def test_create_books_through_the_consumer_api_with_our_reference(resdiary, fake, table):
    result = resdiary.create(table)

    assert result.action == "created" and result.raw_status == "Booked"
    (post,) = fake.requests_to("POST", r".*/BookingWithStripeToken")
    assert post.path == "/api/ConsumerApi/v1/Restaurant/TheGrillRoom/BookingWithStripeToken"
    assert post.json["VisitDate"] == "2026-12-24" and post.json["VisitTime"] == "19:30:00"
    assert post.json["PartySize"] == 4 and post.json["ChannelCode"] == "ONLINE" and post.json["PromotionId"] == 5821
    assert post.json["SpecialRequests"] == "One guest vegetarian [syncdesk ORD-10042/ITEM-1]"
    assert post.json["Customer"]["Surname"] == "Walker"
    assert post.header("Authorization").startswith("Bearer ")
    assert [b["BookingReference"] for b in fake.bookings()] == [result.confirmation]


def test_check_first_finds_the_booking_carrying_our_reference(resdiary, fake, table):
    reference = fake.seed(comments="[syncdesk ORD-10042/ITEM-1]", name="Someone Else", visit="2026-12-24T21:00:00")

    found = resdiary.find_existing(table)

    assert found is not None and found.confirmation == reference and found.status is BookingStatus.BOOKED
    assert found.reference == "ORD-10042/ITEM-1"
    assert found.start == dt.date(2026, 12, 24) and found.guests == 4 and found.deadline is None
    (search,) = fake.requests_to("GET", r".*/DiaryData")
    assert search.path == "/WebServices/Epos/v1/Restaurant/4321/DiaryData" and search.param("date") == "2026-12-24"


def test_a_created_booking_is_found_on_the_next_attempt_so_nothing_is_booked_twice(resdiary, fake, table):
    first = resdiary.create(table)

    found = resdiary.find_existing(table)

    assert found is not None and found.confirmation == first.confirmation
    assert len(fake.bookings()) == 1


def test_a_booking_made_by_hand_counts_only_when_surname_time_and_covers_match(resdiary, fake, table):
    fake.seed(name="Larry Walker", visit="2026-12-24T20:00:00")  # another time
    fake.seed(name="Larry Walkerson", visit="2026-12-24T19:30:00")  # another guest
    assert resdiary.find_existing(table) is None

    by_hand = fake.seed(name="Mr L WALKER", visit="2026-12-24T19:30:00", covers=4)
    assert resdiary.find_existing(table).confirmation == by_hand


def test_nothing_in_the_diary_means_none(resdiary, table):
    assert resdiary.find_existing(table) is None


@pytest.mark.parametrize(("raw", "expected"), [
    ("Unconfirmed", BookingStatus.PENDING), ("Pending", BookingStatus.PENDING),
    ("Booked", BookingStatus.BOOKED), ("Confirmed", BookingStatus.BOOKED), ("Closed", BookingStatus.BOOKED),
    ("Bumped", BookingStatus.BOOKED), ("Arrived", BookingStatus.BOOKED), ("Seated", BookingStatus.BOOKED),
    ("Left", BookingStatus.BOOKED), ("Cancelled", BookingStatus.ABSENT), ("Declined", BookingStatus.ABSENT),
    ("WaitListQueueDeclined", BookingStatus.ABSENT), ("Expired", BookingStatus.ABSENT),
    ("Wait", BookingStatus.NO_AVAILABILITY), ("WaitListQueued", BookingStatus.NO_AVAILABILITY),
    ("WaitListQueueAccepted", BookingStatus.NO_AVAILABILITY), ("WaitListQueueReAdded", BookingStatus.NO_AVAILABILITY),
    ("Locked", BookingStatus.REVIEW),
])
def test_each_resdiary_status_maps_to_ours_with_its_meaning(resdiary, fake, table, raw, expected):
    fake.seed(comments="[syncdesk ORD-10042/ITEM-1]", status=raw)

    found = resdiary.find_existing(table)

    assert found.status is expected and found.raw_status == raw and found.meaning == STATUSES[raw].meaning


def test_the_status_list_is_resdiarys_whole_list():
    official = {"Unconfirmed", "Booked", "Confirmed", "Closed", "Cancelled", "Wait", "Declined", "Bumped",
                "WaitListQueued", "WaitListQueueDeclined", "WaitListQueueAccepted", "WaitListQueueReAdded", "Locked",
                "Expired"}  # the Consumer API guide's booking-status page
    assert official <= set(STATUSES)


def test_the_diary_status_is_read_by_name_or_as_resdiarys_enum_number(resdiary, fake, table):
    fake.seed(comments="[syncdesk ORD-10042/ITEM-1]", status="Unconfirmed")
    assert resdiary.find_existing(table).raw_status == "Unconfirmed"  # the diary sent 0
    fake.numeric_status = False
    assert resdiary.find_existing(table).raw_status == "Unconfirmed"  # and now "Unconfirmed"


def test_an_unknown_status_is_an_error_not_a_guess(resdiary, fake, table):
    fake.seed(comments="[syncdesk ORD-10042/ITEM-1]", status="Teleported")

    with pytest.raises(UnknownFailure, match="Teleported"):
        resdiary.find_existing(table)


def test_a_booked_one_wins_over_a_cancelled_duplicate(resdiary, fake, table):
    fake.seed(comments="[syncdesk ORD-10042/ITEM-1]", status="Cancelled")
    booked = fake.seed(comments="[syncdesk ORD-10042/ITEM-1]", status="Booked")

    assert resdiary.find_existing(table).confirmation == booked


def test_no_availability_is_its_own_class(resdiary, fake, table):
    fake.full = True

    with pytest.raises(NoAvailability, match="No availability"):
        resdiary.create(table)


def test_a_card_requirement_holds_no_booking_and_tells_staff_to_book_by_hand(resdiary, fake, table):
    """Payments guide: CreditCardRequired comes with a SetupIntentClientSecret and the booking is
    made only at Success, so nothing exists to confirm and nothing is recorded."""
    fake.card_required = True

    with pytest.raises(NeedsReview, match="CreditCardRequired") as caught:
        resdiary.create(table)

    message = caught.value.message
    assert message.startswith("ResDiary made no booking") and "Nothing is held" in message
    assert "Book the table by hand" in message and "ask the guest" in message and "holds booking" not in message
    assert "seti_" not in message + caught.value.detail  # the Stripe secret is never logged
    assert fake.bookings() == []
    assert resdiary.find_existing(table) is None  # a Reprocess finds nothing held, and asks again
    with pytest.raises(NeedsReview, match="made no booking"):
        resdiary.create(table)
    assert fake.bookings() == []


def test_the_stand_in_answers_a_card_requirement_with_a_setup_intent_and_no_booking(fake):
    with httpx.Client(base_url=fake.url) as client:
        jwt = client.post("/api/Jwt/v2/Authenticate", json={"Username": fake.username,
                                                            "Password": fake.password}).json()["Token"]
        fake.card_required = True
        answer = client.post("/api/ConsumerApi/v1/Restaurant/TheGrillRoom/BookingWithStripeToken",
                             headers={"Authorization": f"Bearer {jwt}"},
                             json={"VisitDate": "2026-12-24", "VisitTime": "19:30:00", "PartySize": 4,
                                   "ChannelCode": "ONLINE"}).json()

    assert answer["Status"] == "CreditCardRequired" and answer["SetupIntentClientSecret"].startswith("seti_")
    assert answer["StripePublishableKey"] and answer["StripeAccountId"] and not answer.get("Booking")
    assert fake.bookings() == []


def test_an_unconfirmed_booking_found_by_the_check_is_not_reported_as_booked(resdiary, fake, table):
    """Unconfirmed is "NOT A BOOKING": a Reprocess must not say the table is booked."""
    held = fake.seed(comments="[syncdesk ORD-10042/ITEM-1]", status="Unconfirmed")
    found = resdiary.find_existing(table)

    assert found.confirmation == held and found.status is not BookingStatus.BOOKED
    with pytest.raises(NeedsReview, match="Unconfirmed: not a booking"):
        resdiary.confirm(found, table)
    assert len(fake.bookings()) == 1


def test_wrong_credentials_are_an_auth_failure_naming_the_settings(fake, table):
    with build(fake, password="wrong") as connector, pytest.raises(AuthFailure, match="RESDIARY_PASSWORD"):
        connector.create(table)
    assert fake.requests_to("POST", r".*/BookingWithStripeToken") == []


def test_a_revoked_token_is_renewed_once_and_the_request_replayed(resdiary, fake, table):
    resdiary.create(table)
    fake.expire_tokens()

    resdiary.create(item_for_another_time(table))

    assert len(fake.requests_to("POST", r"/api/Jwt/v2/Authenticate")) == 2
    assert len(fake.bookings()) == 2


def item_for_another_time(table):
    return make_item(**{**TABLE, "item_id": "ITEM-2", "details": {**TABLE["details"], "visit_time": "21:00"}})


def test_an_unknown_restaurant_is_not_mapped(resdiary, table, item_with):
    with pytest.raises(NotMapped):
        resdiary.create(item_with(**{**TABLE, "details": {**TABLE["details"], "restaurant_id": "Nowhere"}}))


def test_without_the_diary_id_it_refuses_to_create_rather_than_skip_the_check(fake, table):
    connector = ResDiaryConnector(ResDiaryConfig(fake.url, fake.username, fake.password, epos=epos(fake),
                                                 timeouts=TIMEOUTS))
    with connector, pytest.raises(NotMapped, match="epos_restaurant_id"):
        connector.find_existing(table)


def test_without_epos_or_data_extraction_it_refuses_to_create_rather_than_skip_the_check(fake, table):
    with build(fake, epos=None) as connector, pytest.raises(NotMapped) as caught:
        connector.find_existing(table)
    assert "RESDIARY_EPOS_SECOND_SECRET" in caught.value.message
    assert "deployment_id and provider_id" in caught.value.message
    assert fake.requests_to("GET", r".*/DiaryData") == [] and fake.requests_to("GET", r".*/DataExtract/.*") == []


def test_missing_visit_time_or_surname_is_a_missing_field(resdiary, item_with):
    with pytest.raises(MissingField, match="visit_time"):
        resdiary.create(item_with(**{**TABLE, "details": {"restaurant_id": "TheGrillRoom"}}))
    with pytest.raises(MissingField, match="surname"):
        resdiary.create(item_with(**TABLE, guest=Guest("Larry", "")))
