"""The Mews profile as Mews documents it: returning guests reused by e-mail, PersonCounts,
Requested is a waitlist, only Optional is confirmed (and the answer must say so), every page
of the check-first search, and the Request-Id kept for Mews' support."""

from __future__ import annotations

import json

import pytest

from connectors.errors import DataFormat, MissingField, NoAvailability, NotMapped, UnknownFailure
from connectors.pms import PmsConnector
from connectors.types import BookingStatus
from tests.connectors.conftest import TIMEOUTS
from tests.connectors.test_pms import ROOM, fake, mews, mews_options, room  # noqa: F401  (fixtures)

ADD_CUSTOMER = r".*/customers/add"
GET_CUSTOMERS = r".*/customers/getAll"


def test_a_returning_guest_is_looked_up_by_email_and_reused(mews, fake, room):
    known = fake.seed_customer(email="LARRY.WALKER@example.com")

    mews.create(room)

    (lookup,) = fake.requests_to("POST", GET_CUSTOMERS)
    assert lookup.json["Emails"] == ["larry.walker@example.com"] and lookup.json["Limitation"]["Count"] == 10
    assert fake.requests_to("POST", ADD_CUSTOMER) == []
    (add,) = fake.requests_to("POST", r".*/reservations/add")
    assert add.json["Reservations"][0]["CustomerId"] == known
    assert len(fake.customers) == 1


def test_a_new_guest_is_added_once_and_found_next_time(mews, fake, room, item_with):
    mews.create(room)
    mews.create(item_with(**{**ROOM, "item_id": "ITEM-2"}))

    assert len(fake.requests_to("POST", ADD_CUSTOMER)) == 1
    assert len(fake.customers) == 1
    first, second = (r.json["Reservations"][0]["CustomerId"] for r in fake.requests_to("POST", r".*/reservations/add"))
    assert first == second


def test_the_fake_refuses_a_duplicate_email_on_customers_add(fake):
    import httpx

    fake.seed_customer(email="larry.walker@example.com")
    body = {"ClientToken": fake.client_token, "AccessToken": fake.access_token, "Client": "test",
            "LastName": "Walker", "Email": "larry.walker@example.com", "OverwriteExisting": False}
    answer = httpx.post(fake.url + "/api/connector/v1/customers/add", json=body)
    assert answer.status_code == 403 and "already exists" in answer.json()["Message"]


def test_a_profile_added_meanwhile_is_reused_when_add_refuses_the_duplicate(mews, fake, room):
    fake.seed_customer(email="larry.walker@example.com")
    # the first lookup races with another booking: it does not see the profile yet
    fake.answer_garbage(json.dumps({"Customers": [], "Cursor": None}), status=200, method="POST", path=GET_CUSTOMERS)

    result = mews.create(room)

    assert result.action == "created"
    assert len(fake.requests_to("POST", GET_CUSTOMERS)) == 2 and len(fake.requests_to("POST", ADD_CUSTOMER)) == 1
    assert len(fake.customers) == 1


def test_children_are_counted_in_their_own_age_category(mews, fake, item_with):
    mews.create(item_with(**{**ROOM, "guests": 3, "details": {**ROOM["details"], "children": 1}}))

    (add,) = fake.requests_to("POST", r".*/reservations/add")
    assert add.json["Reservations"][0]["PersonCounts"] == [{"AgeCategoryId": "age-adult", "Count": 2},
                                                           {"AgeCategoryId": "age-child", "Count": 1}]


@pytest.mark.parametrize(("categories", "children", "error"), [
    ({}, 0, NotMapped),
    ({"adult": "age-adult"}, 1, NotMapped),
    ({"adult": "age-adult", "child": "age-child"}, 2, DataFormat),  # two guests, both children
])
def test_person_counts_that_cannot_be_made_fail_before_anything_is_sent(fake, item_with, categories, children, error):
    room = item_with(**{**ROOM, "details": {**ROOM["details"], "children": children}})
    with PmsConnector(mews_options(fake, age_categories=categories), timeouts=TIMEOUTS) as connector, \
            pytest.raises(error):
        connector.create(room)
    assert fake.requests == []


def test_a_requested_reservation_is_a_waitlist_never_confirmed(mews, fake, room):
    fake.seed(channel_number="ORD-10042/ITEM-1", state="Requested")
    found = mews.find_existing(room)

    assert found.status is BookingStatus.NO_AVAILABILITY
    with pytest.raises(NoAvailability, match="waitlist"):
        mews.confirm(found, room)
    assert fake.requests_to("POST", r".*/reservations/confirm") == []


def test_the_confirmation_answer_must_list_the_reservation(mews, fake, room):
    fake.seed(channel_number="ORD-10042/ITEM-1", state="Optional")
    fake.answer_garbage(json.dumps({"ReservationIds": []}), status=200, method="POST",
                        path=r".*/reservations/confirm")

    with pytest.raises(UnknownFailure, match="without listing it as confirmed"):
        mews.confirm(mews.find_existing(room), room)


def test_the_add_answer_is_read_as_the_added_reservation_mews_documents(mews, fake, room):
    result = mews.create(room)

    (reservation,) = fake.reservations()
    assert result.confirmation == reservation["Number"]  # from Reservations[0].Reservation.Number


def test_check_first_reads_every_page_of_the_mews_search(mews, fake, room):
    fake.broad_search = True  # Mews answers reservations that are not ours, 100 a page
    for k in range(150):
        fake.seed(channel_number=f"ORD-9{k:04d}/ITEM-1")
    ours = fake.seed(channel_number="ORD-10042/ITEM-1")

    assert mews.find_existing(room).confirmation == ours

    first, second = fake.requests_to("POST", r".*/reservations/getAll/2023-06-06")
    assert "Cursor" not in first.json["Limitation"] and second.json["Limitation"]["Cursor"]


def test_a_mews_error_keeps_its_request_id_for_support(mews, fake, room):
    fake.full = True

    with pytest.raises(NoAvailability) as caught:
        mews.create(room)
    assert "Request-Id" in caught.value.detail


def test_the_mews_profile_names_mews_support(mews):
    assert "partnersuccess@mews.com" in mews.describe().support


def test_a_site_may_name_its_own_support_contact(fake):
    with PmsConnector(mews_options(fake, support="Harbourview IT, +44 20 0000 0000"), timeouts=TIMEOUTS,
                      support="the PMS vendor's support") as connector:
        assert connector.describe().support == "Harbourview IT, +44 20 0000 0000"


def test_an_inline_profile_without_a_contact_gets_the_systems(fake):
    options = {"name": "Middleware", "base_url": fake.url, "search": {"path": "/x"}, "create": {"path": "/y"},
               "statuses": {"OK": "booked"}}
    with PmsConnector(options, system="premier", timeouts=TIMEOUTS, support="EMS Premier support") as connector:
        assert connector.describe().support == "EMS Premier support"


def test_an_item_without_email_skips_the_lookup(mews, fake, item_with):
    from connectors.types import Guest

    mews.create(item_with(**ROOM, guest=Guest("Larry", "Walker")))

    assert fake.requests_to("POST", GET_CUSTOMERS) == [] and len(fake.requests_to("POST", ADD_CUSTOMER)) == 1




def test_the_days_arrivals_are_listed_by_scheduled_start_in_the_propertys_day(fake, room):
    # Sydney is UTC+11 in December: its 8 December runs from 7 Dec 13:00Z to 8 Dec 13:00Z.
    arriving = fake.seed(channel_number="ORD-1/ITEM-1", start_utc="2026-12-08T03:00:00Z", end_utc="2026-12-09T23:00:00Z")
    cancelled = fake.seed(channel_number="", state="Canceled", start_utc="2026-12-07T20:00:00Z",
                          end_utc="2026-12-09T23:00:00Z")
    fake.seed(channel_number="ORD-2/ITEM-1", start_utc="2026-12-08T14:00:00Z")  # the 9th in Sydney
    with PmsConnector(mews_options(fake), timeouts=TIMEOUTS, timezone="Australia/Sydney") as connector:
        listed = connector.bookings_on(room.start, room)

    assert sorted((b.confirmation, b.status, b.reference) for b in listed) == sorted([
        (arriving, BookingStatus.BOOKED, "ORD-1/ITEM-1"), (cancelled, BookingStatus.ABSENT, "")])
    body = fake.requests_to("POST", r".*/reservations/getAll/2023-06-06")[-1].json
    assert body["ScheduledStartUtc"] == {"StartUtc": "2026-12-07T13:00:00Z", "EndUtc": "2026-12-08T13:00:00Z"}
    assert "CollidingUtc" not in body and "ChannelNumbers" not in body


def test_the_stand_in_refuses_a_listing_without_its_interval(fake, room):
    with PmsConnector(mews_options(fake, day_list={
            "path": "/api/connector/v1/reservations/getAll/2023-06-06", "result": "Reservations",
            "body": {"ClientToken": "{secret:MEWS_CLIENT_TOKEN}", "AccessToken": "{secret:MEWS_ACCESS_TOKEN}",
                     "Client": "syncdesk 1.0", "ScheduledStartUtc": {"StartUtc": "{arrival_from_utc}"},
                     "Limitation": {"Count": 100}}}), timeouts=TIMEOUTS) as connector:
        with pytest.raises(MissingField, match="StartUtc and EndUtc"):
            connector.bookings_on(room.start, room)
