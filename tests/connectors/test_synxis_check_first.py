"""SynXis check-first that cannot miss: every page of a search, a search answer that cannot be
read is never "nothing there", a Stored reservation without its number, and packages added
before confirming (source 004, step 2)."""

from __future__ import annotations

import json

import pytest

from connectors.errors import DataFormat, MissingField, NeedsReview, UnknownFailure
from connectors.types import BookingStatus

SEARCH = "/v1/api/reservation"


def seed_others(fake, n: int) -> None:
    for k in range(n):
        fake.seed_reservation(reference=f"ORD-9{k:04d}/ITEM-1", surname="Other", start="2026-12-03")


def test_check_first_reads_every_page_of_the_search(synxis, synxis_fake, item):
    synxis_fake.broad_search = True  # the CRS answers the whole hotel, two per page
    synxis_fake.page_size = 2
    seed_others(synxis_fake, 5)
    ours = synxis_fake.seed_reservation(reference=item.reference, surname="Someone-Else")

    found = synxis.find_existing(item)

    assert found is not None and found.confirmation == ours
    pages = [r.param("pageStart") for r in synxis_fake.requests_to("GET", SEARCH)
             if r.param("externalReferenceNumber")]  # the search by our reference (the guest's follows)
    assert pages == [None, "3", "5"]  # Sabre's Start counts from 1; the third page holds ours


def test_a_search_that_says_it_holds_more_but_will_not_page_refuses_to_create(synxis, synxis_fake, item):
    synxis_fake.broad_search = True
    synxis_fake.page_size = 2
    synxis_fake.ignore_paging = True  # every "next page" is the first one again
    seed_others(synxis_fake, 4)
    synxis_fake.seed_reservation(reference=item.reference)

    with pytest.raises(UnknownFailure, match="will not create one"):
        synxis.find_existing(item)


@pytest.mark.parametrize("answer", [
    b"",  # an empty 200
    json.dumps({"Errors": [{"ErrorCode": "500", "Message": "Search timed out"}], "reservations": []}),
    json.dumps({"Result": "Failed"}),  # no reservation list at all
])
def test_a_search_answer_that_cannot_be_read_is_an_error_never_nothing_found(synxis, synxis_fake, item, answer):
    synxis_fake.answer_garbage(answer, status=200, method="GET", path=SEARCH)

    with pytest.raises(UnknownFailure):
        synxis.find_existing(item)
    assert len(synxis_fake.requests_to("GET", SEARCH)) == 1  # and no search by guest after it


def test_a_stored_reservation_may_have_no_number_and_counts_as_absent(synxis, synxis_fake, item):
    synxis_fake.seed_reservation(reference=item.reference, status="Stored", numbered=False)

    found = synxis.find_existing(item)

    assert found is not None and found.status is BookingStatus.ABSENT
    assert found.confirmation == "" and found.raw_status == "Stored"


def test_only_a_stored_reservation_may_lack_its_number(synxis, synxis_fake, item):
    synxis_fake.seed_reservation(reference=item.reference, status="Booked", numbered=False)

    with pytest.raises(UnknownFailure, match="without a CrsConfirmationNumber"):
        synxis.find_existing(item)


def test_a_pending_modify_reservation_is_booked_and_never_patched(synxis, synxis_fake, item):
    number = synxis_fake.seed_reservation(reference=item.reference, status="PendingModify")
    found = synxis.find_existing(item)

    result = synxis.confirm(found, item)

    assert (result.action, result.confirmation) == ("found", number)
    assert synxis_fake.requests_to("PATCH") == []
    assert synxis_fake.reservation(number)["Status"] == "PendingModify"


@pytest.mark.parametrize("raw", ["PendingCancel", "PaymentPending", "Released"])
def test_a_reservation_in_a_state_for_a_person_is_neither_confirmed_nor_replaced(synxis, synxis_fake, item, raw):
    synxis_fake.seed_reservation(reference=item.reference, status=raw)
    found = synxis.find_existing(item)

    with pytest.raises(NeedsReview, match=raw):
        synxis.confirm(found, item)
    assert synxis_fake.requests_to("PATCH") == []


PACKAGES = [{"code": "SPA", "quantity": 1, "guests": 1}, {"code": "DINNER", "date": "2026-12-01", "quantity": 2}]


def test_packages_are_added_before_the_reservation_is_confirmed(synxis, synxis_fake, item_with, item):
    with_packages = item_with(details={**item.details, "packages": PACKAGES})

    result = synxis.create(with_packages)

    post = synxis_fake.requests_to("POST", SEARCH)[0].json
    add, confirm = synxis_fake.requests_to("PATCH", SEARCH)
    assert post["status"] == "Booked" and post["ExternalReferenceNumber"] == item.reference  # step 1
    assert add.json["status"] == "Booked" and add.json["CrsConfirmationNumber"] == result.confirmation  # step 2
    assert add.json["Packages"] == [
        {"Code": "SPA", "Date": "2026-12-01", "Quantity": 1, "GuestCount": [{"AgeQualifyingCode": "Adult",
                                                                             "NumGuests": 1}]},
        {"Code": "DINNER", "Date": "2026-12-01", "Quantity": 2, "GuestCount": [{"AgeQualifyingCode": "Adult",
                                                                                "NumGuests": 2}]},
    ]
    assert confirm.json["status"] == "Confirmed" and confirm.json["Guests"]  # step 3
    stored = synxis_fake.reservation(result.confirmation)
    assert stored["Status"] == "Confirmed" and {p["Code"] for p in stored["Packages"]} == {"SPA", "DINNER"}
    assert result.action == "created"


def test_a_pending_reservation_gets_only_its_missing_packages_sent_whole_then_is_confirmed(
        synxis, synxis_fake, item_with, item):
    have = {"Code": "SPA", "Date": "2026-12-01T00:00:00", "Quantity": 1, "Name": "Spa day",
            "GuestCount": [{"AgeQualifyingCode": "Adult", "NumGuests": 1}]}
    number = synxis_fake.seed_reservation(reference=item.reference, status="Booked", packages=[have])
    with_packages = item_with(details={**item.details, "packages": PACKAGES})

    result = synxis.confirm(synxis.find_existing(with_packages), with_packages)

    add, confirm = synxis_fake.requests_to("PATCH", SEARCH)
    assert [p["Code"] for p in add.json["Packages"]] == ["SPA", "DINNER"]  # the node whole: theirs and ours
    assert add.json["status"] == "Booked"
    assert confirm.json["status"] == "Confirmed" and result.confirmation == number


def test_a_reservation_that_has_its_packages_gets_none_sent_again(synxis, synxis_fake, item_with, item):
    have = [{"Code": "SPA", "Date": "2026-12-01", "Quantity": 1}, {"Code": "DINNER", "Date": "2026-12-01",
                                                                   "Quantity": 2}]
    synxis_fake.seed_reservation(reference=item.reference, status="OnHold", packages=have)
    with_packages = item_with(details={**item.details, "packages": PACKAGES})

    synxis.confirm(synxis.find_existing(with_packages), with_packages)

    (confirm,) = synxis_fake.requests_to("PATCH", SEARCH)
    assert confirm.json["status"] == "Confirmed" and "Packages" not in confirm.json


@pytest.mark.parametrize(("packages", "error"), [
    ([{"quantity": 1}], MissingField),
    ([{"code": "SPA", "quantity": 0}], DataFormat),
    ([{"code": "SPA", "date": "next tuesday"}], DataFormat),
    ("SPA", DataFormat),
])
def test_a_bad_package_fails_before_anything_is_sent(synxis, synxis_fake, item_with, item, packages, error):
    with pytest.raises(error):
        synxis.create(item_with(details={**item.details, "packages": packages}))
    assert synxis_fake.requests == []


def test_the_days_arrivals_are_listed_by_start_date_and_compared_here(synxis, synxis_fake, item):
    ours = synxis_fake.seed_reservation(reference=item.reference, start=item.start, end=item.end)
    gone = synxis_fake.seed_reservation(status="Cancelled", reference="ORD-9/ITEM-1", start=item.start, end=item.end)
    synxis_fake.seed_reservation(reference="ORD-8/ITEM-1", start="2026-12-02", end="2026-12-03")  # another day
    synxis_fake.seed_reservation(hotel_id=99, start=item.start, end=item.end)  # another hotel
    synxis_fake.broad_search = True  # a CRS that ignores startDate: the comparison here still holds

    listed = synxis.bookings_on(item.start, item)

    assert sorted((b.confirmation, b.status, b.reference) for b in listed) == sorted([
        (ours, BookingStatus.BOOKED, item.reference), (gone, BookingStatus.ABSENT, "ORD-9/ITEM-1")])
    asked = synxis_fake.reservation_requests[-1]
    assert asked.param("startDate") == item.start.isoformat() and asked.param("hotel") == str(item.details["hotel_id"])
