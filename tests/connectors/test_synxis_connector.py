"""SynXis connector against the fake CRS: check first, create confirmed, confirm pending ones."""

from __future__ import annotations

import pytest

from connectors.errors import (
    MissingField,
    NoAvailability,
    NotMapped,
    Timeout,
    UnknownFailure,
)
from connectors.types import BookingStatus, Guest


def test_create_posts_a_confirmed_reservation_with_our_reference(synxis, synxis_fake, item):
    result = synxis.create(item)

    assert result.action == "created"
    assert result.confirmation.startswith("13098CU")
    (post,) = synxis_fake.requests_to("POST", "/v1/api/reservation")
    body = post.json
    assert body["Chain"] == {"Id": 12723}
    assert body["Hotel"] == {"Id": 13098}
    assert body["Channels"] == {"PrimaryChannel": {"Code": "SYNXISWS_BE"}, "SecondaryChannel": {"Code": "WEB"}}
    assert body["RoomStay"]["StartDate"] == "2026-12-01"
    assert body["RoomStay"]["EndDate"] == "2026-12-02"
    assert body["RoomStay"]["GuestCount"] == [{"AgeQualifyingCode": "Adult", "NumGuests": 2}]
    assert body["RoomStay"]["NumRooms"] == 1
    assert body["RoomStay"]["Products"] == [{"Primary": True, "Product": {"RateCode": "BAR", "RoomCode": "LUXT"}}]
    (guest,) = body["Guests"]
    assert guest["PersonName"] == {"GivenName": "Larry", "Surname": "Walker"}
    assert guest["EmailAddress"] == [{"Type": "Primary", "Value": "larry.walker@example.com"}]
    assert guest["ContactNumbers"][0]["Number"] == "+44 5551234567"
    assert guest["Role"] == "Primary"
    assert body["ExternalReferenceNumber"] == "ORD-10042/ITEM-1"
    assert body["status"] == "Confirmed"
    assert post.header("Authorization").startswith("Bearer tok-")
    assert synxis_fake.reservation(result.confirmation)["Status"] == "Confirmed"


def test_find_existing_finds_the_reservation_by_our_reference(synxis, synxis_fake, item):
    number = synxis_fake.seed_reservation(reference=item.reference, surname="Someone-Else")

    found = synxis.find_existing(item)

    assert (found.confirmation, found.status, found.raw_status, found.reference) == (
        number, BookingStatus.BOOKED, "Confirmed", item.reference)
    search, by_guest = synxis_fake.requests_to("GET", "/v1/api/reservation")  # both check-first keys are asked
    assert search.param("hotel") == "13098" and search.param("chain") == "12723" and search.param("view") == "full"
    assert search.param("externalReferenceNumber") == "ORD-10042/ITEM-1"
    assert by_guest.param("guestLastName") == "Walker" and by_guest.param("startDate") == "2026-12-01"


def test_find_existing_returns_none_when_nothing_matches(synxis, item):
    assert synxis.find_existing(item) is None


def test_a_reservation_made_by_hand_is_found_by_surname_arrival_and_hotel(synxis, synxis_fake, item):
    number = synxis_fake.seed_reservation(reference=None, surname="WALKER", start="2026-12-01")

    found = synxis.find_existing(item)

    assert found is not None and found.confirmation == number
    by_guest = synxis_fake.requests_to("GET", "/v1/api/reservation")[-1]
    assert by_guest.param("guestLastName") == "Walker" and by_guest.param("startDate") == "2026-12-01"


def test_broad_search_results_that_do_not_match_are_ignored(synxis, synxis_fake, item):
    synxis_fake.broad_search = True  # the CRS ignores our filters and returns the whole hotel
    synxis_fake.seed_reservation(reference="ORD-99999/ITEM-1", surname="Walker", start="2026-12-01")
    synxis_fake.seed_reservation(reference=None, surname="Walker", start="2026-12-05")
    synxis_fake.seed_reservation(reference=None, surname="Walkerson", start="2026-12-01")

    assert synxis.find_existing(item) is None


def test_broad_search_still_finds_the_one_that_matches(synxis, synxis_fake, item):
    synxis_fake.broad_search = True
    synxis_fake.seed_reservation(reference="ORD-99999/ITEM-1")
    ours = synxis_fake.seed_reservation(reference=item.reference, status="Booked")

    found = synxis.find_existing(item)

    assert found is not None and found.confirmation == ours and found.status is BookingStatus.PENDING


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Confirmed", BookingStatus.BOOKED),
        ("Booked", BookingStatus.PENDING),
        ("OnHold", BookingStatus.PENDING),
        ("PendingModify", BookingStatus.BOOKED),
        ("Waitlisted", BookingStatus.NO_AVAILABILITY),
        ("Cancelled", BookingStatus.ABSENT),
        ("Ignored", BookingStatus.ABSENT),
        ("Stored", BookingStatus.ABSENT),
        ("PendingCancel", BookingStatus.REVIEW),
        ("PaymentPending", BookingStatus.REVIEW),
        ("Released", BookingStatus.REVIEW),
    ],
)
def test_each_synxis_status_maps_to_ours(synxis, synxis_fake, item, raw, expected):
    synxis_fake.seed_reservation(reference=item.reference, status=raw)

    found = synxis.find_existing(item)

    assert found is not None and found.status is expected and found.raw_status == raw
    assert found.meaning  # every status has its explicit meaning


def test_an_unknown_status_is_an_error_not_a_guess(synxis, synxis_fake, item):
    synxis_fake.seed_reservation(reference=item.reference, status="Teleported")

    with pytest.raises(UnknownFailure, match="Teleported"):
        synxis.find_existing(item)


def test_a_confirmed_one_wins_over_a_cancelled_duplicate(synxis, synxis_fake, item):
    synxis_fake.seed_reservation(reference=item.reference, status="Cancelled")
    confirmed = synxis_fake.seed_reservation(reference=item.reference, status="Confirmed")

    assert synxis.find_existing(item).confirmation == confirmed


def test_a_booked_reservation_is_confirmed_with_a_patch_carrying_the_guest(synxis, synxis_fake, item):
    number = synxis_fake.seed_reservation(reference=item.reference, status="Booked")
    existing = synxis.find_existing(item)

    result = synxis.confirm(existing, item)

    assert result.action == "confirmed" and result.confirmation == number
    (patch,) = synxis_fake.requests_to("PATCH", "/v1/api/reservation")
    assert patch.json["CrsConfirmationNumber"] == number
    assert patch.json["status"] == "Confirmed"
    assert patch.json["Guests"][0]["PersonName"] == {"GivenName": "Larry", "Surname": "Walker"}
    assert patch.json["Hotel"] == {"Id": 13098} and patch.json["Chain"] == {"Id": 12723}
    assert synxis_fake.reservation(number)["Status"] == "Confirmed"


def test_confirming_a_confirmed_one_sends_nothing(synxis, synxis_fake, item):
    number = synxis_fake.seed_reservation(reference=item.reference)

    result = synxis.confirm(synxis.find_existing(item), item)

    assert result.action == "found" and result.confirmation == number
    assert synxis_fake.requests_to("PATCH") == []


def test_a_waitlisted_create_is_no_availability(synxis, synxis_fake, item):
    synxis_fake.mode = "waitlist"

    with pytest.raises(NoAvailability) as caught:
        synxis.create(item)

    assert "waitlisted" in caught.value.message
    assert "13098CU" in caught.value.detail


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"details": {"chain_id": 12723, "room_code": "LUXT", "rate_code": "BAR"}}, "hotel_id"),
        ({"details": {"hotel_id": 13098, "chain_id": 12723, "rate_code": "BAR"}}, "room_code"),
        ({"guest": Guest("Larry", "")}, "surname"),
    ],
)
def test_missing_fields_fail_before_any_request(synxis, synxis_fake, item_with, changes, named):
    with pytest.raises(MissingField, match=named):
        synxis.create(item_with(**changes))

    assert synxis_fake.requests == []


def test_an_unknown_hotel_is_not_mapped(synxis, item_with):
    item = item_with(details={"hotel_id": 99999, "chain_id": 12723, "room_code": "LUXT", "rate_code": "BAR"})

    with pytest.raises(NotMapped):
        synxis.find_existing(item)


def test_a_create_that_times_out_before_booking_leaves_nothing(synxis, synxis_fake, item):
    synxis_fake.mode = "timeout_before_create"

    with pytest.raises(Timeout):
        synxis.create(item)

    synxis_fake.mode = None
    assert synxis.find_existing(item) is None
    assert len(synxis_fake.requests_to("POST", "/v1/api/reservation")) == 1  # never retried


def test_a_create_that_times_out_after_booking_is_found_by_the_check_first(synxis, synxis_fake, item):
    synxis_fake.mode = "timeout_after_create"

    with pytest.raises(Timeout):
        synxis.create(item)

    synxis_fake.mode = None
    found = synxis.find_existing(item)
    assert found is not None and found.status is BookingStatus.BOOKED
    assert len(synxis_fake.reservations()) == 1


def test_describe_names_the_system(synxis):
    description = synxis.describe()
    assert description.system == "synxis" and "Confirmed" in description.booked_means


def test_the_fake_serves_a_connector_running_in_another_process(synxis_fake, item):
    """The job tests run an RQ worker in a subprocess; the fake's state stays here."""
    import os
    import subprocess
    import sys

    script = (
        "import datetime as dt\n"
        "from workflows.systems.registry import connector_for\n"
        "from connectors.types import BookingRequest, Guest\n"
        "from workflows.core.settings import Settings\n"
        "item = BookingRequest('ORD-7', 'ITEM-1', 'room', 'synxis', '', dt.date(2026, 12, 1), dt.date(2026, 12, 2),"
        " 1, 1, Guest('Ann', 'Lee'), {'hotel_id': 13098, 'chain_id': 12723, 'room_code': 'LUXT', 'rate_code': 'BAR'})\n"
        "print(connector_for(item, Settings(_env_file=None)).create(item).confirmation)\n"
    )
    env = {
        **os.environ,
        "SYNXIS_API_URL": synxis_fake.url,
        "SYNXIS_TOKEN_URL": synxis_fake.token_url,
        "SYNXIS_CLIENT_ID": synxis_fake.client_id,
        "SYNXIS_CLIENT_SECRET": synxis_fake.client_secret,
    }
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)

    assert done.returncode == 0, done.stderr
    number = done.stdout.strip()
    assert synxis_fake.reservation(number)["ExternalReferenceNumber"] == "ORD-7/ITEM-1"
