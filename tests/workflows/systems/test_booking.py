"""The check-first routine (`workflows.systems.booking.book`) against the fake systems: a search
that fails never leads to a create, a booking in a state for a person stops there, and every
error names who to contact about the system."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from connectors.errors import ErrorClass, NeedsReview, NoConnector, UnknownFailure
from tests.connectors.conftest import make_item, make_settings, synxis_settings
from tests.fakes.resdiary import FakeResDiary
from workflows.systems.booking import book

SEARCH = "/v1/api/reservation"


def test_a_search_whose_answer_cannot_be_read_is_never_followed_by_a_create(synxis_fake, item):
    synxis_fake.answer_garbage(b"", status=200, method="GET", path=SEARCH)

    with pytest.raises(UnknownFailure):
        book(synxis_settings(synxis_fake), item)
    assert synxis_fake.requests_to("POST", SEARCH) == [] and synxis_fake.reservations() == {}


def test_a_search_that_fails_is_never_followed_by_a_create(synxis_fake, item):
    synxis_fake.fail_with_status(503, method="GET", path=SEARCH, times=3)  # the first try and both retries

    with pytest.raises(Exception):
        book(synxis_settings(synxis_fake), item)
    assert synxis_fake.requests_to("POST", SEARCH) == []


def test_a_paged_search_holding_ours_on_a_later_page_books_nothing_twice(synxis_fake, item):
    synxis_fake.broad_search, synxis_fake.page_size = True, 2
    for k in range(4):
        synxis_fake.seed_reservation(reference=f"ORD-9{k}/ITEM-1", surname="Other", start="2026-12-05")
    ours = synxis_fake.seed_reservation(reference=item.reference)

    result = book(synxis_settings(synxis_fake), item)

    assert (result.action, result.confirmation) == ("found", ours)
    assert synxis_fake.requests_to("POST", SEARCH) == []


def test_a_pending_modify_reservation_is_found_booked_and_not_patched(synxis_fake, item):
    number = synxis_fake.seed_reservation(reference=item.reference, status="PendingModify")

    result = book(synxis_settings(synxis_fake), item)

    assert (result.action, result.confirmation) == ("found", number)
    assert synxis_fake.requests_to("PATCH") == [] and synxis_fake.requests_to("POST", SEARCH) == []


@pytest.mark.parametrize("raw", ["PendingCancel", "PaymentPending", "Released"])
def test_a_reservation_in_a_state_for_a_person_stops_there(synxis_fake, item, raw):
    number = synxis_fake.seed_reservation(reference=item.reference, status=raw)

    with pytest.raises(NeedsReview) as caught:
        book(synxis_settings(synxis_fake), item)
    assert number in caught.value.message and raw in caught.value.message
    assert synxis_fake.requests_to("PATCH") == [] and synxis_fake.requests_to("POST", SEARCH) == []


def test_a_stored_reservation_without_a_number_is_not_a_booking_so_one_is_made(synxis_fake, item):
    synxis_fake.seed_reservation(reference=item.reference, status="Stored", numbered=False)

    result = book(synxis_settings(synxis_fake), item)

    assert result.action == "created" and synxis_fake.reservation(result.confirmation)["Status"] == "Confirmed"


def test_the_packages_of_an_item_are_on_the_reservation_before_it_is_confirmed(synxis_fake, item):
    packaged = make_item(details={**item.details, "packages": [{"code": "SPA"}]})

    result = book(synxis_settings(synxis_fake), packaged)

    reservation = synxis_fake.reservation(result.confirmation)
    assert reservation["Status"] == "Confirmed" and reservation["Packages"][0]["Code"] == "SPA"
    statuses = [r.json.get("status") for r in synxis_fake.requests_to(None, SEARCH) if r.method != "GET"]
    assert statuses == ["Booked", "Booked", "Confirmed"]


def resdiary_table(**details):
    return make_item(system="resdiary", kind="table", start=dt.date(2026, 12, 24), end=dt.date(2026, 12, 24),
                     guests=4, details={"restaurant_id": "TheGrillRoom", "visit_time": "19:30", "covers": 4,
                                        "epos_restaurant_id": 4321, **details})


def resdiary_settings(fake: FakeResDiary, **more):
    return make_settings(resdiary_api_url=fake.url, resdiary_username=fake.username,
                         resdiary_password=fake.password, **fake.epos_values(), **more)


def test_a_reprocess_of_an_unconfirmed_resdiary_booking_never_reports_it_booked(resdiary_fake):
    settings, table = resdiary_settings(resdiary_fake), resdiary_table()
    resdiary_fake.seed(status="Unconfirmed", comments=f"[syncdesk {table.reference}]")

    with pytest.raises(NeedsReview, match="Unconfirmed: not a booking"):
        book(settings, table)  # found Unconfirmed in the diary: not "found booked", and no second booking
    assert [b["Status"] for b in resdiary_fake.bookings()] == ["Unconfirmed"]


def test_a_card_requirement_books_nothing_however_often_it_is_reprocessed(resdiary_fake):
    # Consumer API payments guide: a card requirement answers a SetupIntentClientSecret and the
    # booking is made only once the card step succeeds, which syncdesk cannot do for the guest.
    resdiary_fake.card_required = True
    settings, table = resdiary_settings(resdiary_fake), resdiary_table()

    for _ in range(2):
        with pytest.raises(NeedsReview, match="made no booking"):
            book(settings, table)
    assert resdiary_fake.bookings() == []


def test_an_unknown_error_names_the_systems_support_contact(synxis_fake, item):
    synxis_fake.fail_with_status(418, method="POST", path=SEARCH)

    with pytest.raises(UnknownFailure) as caught:
        book(synxis_settings(synxis_fake), item)
    assert caught.value.error_class is ErrorClass.UNKNOWN
    assert "Sabre Hospitality (SynXis) support" in caught.value.next_step


def test_the_contact_comes_from_configuration(synxis_fake, item):
    synxis_fake.fail_with_status(418, method="POST", path=SEARCH)
    settings = synxis_settings(synxis_fake, synxis_support_contact="Hotel IT desk (it@example.com)")

    with pytest.raises(UnknownFailure) as caught:
        book(settings, item)
    assert "contact Hotel IT desk (it@example.com)" in caught.value.next_step


def test_a_garbled_resdiary_answer_names_resdiarys_contact(resdiary_fake):
    resdiary_fake.answer_garbage(json.dumps({"Status": "Teapot"}), status=200, method="POST",
                                 path=r".*/BookingWithStripeToken")

    with pytest.raises(UnknownFailure) as caught:
        book(resdiary_settings(resdiary_fake, resdiary_support_contact="ResDiary help (help@example.com)"),
             resdiary_table())
    assert "ResDiary help (help@example.com)" in caught.value.next_step


def test_no_connector_names_the_contact_of_the_system_too():
    spa = make_item(system="pms", details={"property_code": "X"})

    with pytest.raises(NoConnector) as caught:
        book(make_settings(pms_support_contact="Opera support"), spa)
    assert caught.value.support == "Opera support"
