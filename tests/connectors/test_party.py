"""Issue 24.7: children are booked as children. An item's party is `guests` (the total) with
`details.children` of them children (DESIGN §3.1); SynXis gets an Adult and a Child GuestCount
(Room Stay), Mews a PersonCounts entry per age category. The stand-ins check the party."""

from __future__ import annotations

import pytest

from connectors.errors import ConnectorError, DataFormat
from connectors.pms import PmsConnector
from tests.connectors.conftest import TIMEOUTS, make_item
from tests.connectors.test_pms import ROOM, mews_options

SEARCH = "/v1/api/reservation"
FAMILY = {"guests": 3}  # two adults and a child


def family(item_with, item, **changes):
    return item_with(**{**FAMILY, "details": {**item.details, "children": 1}, **changes})


@pytest.mark.parametrize(("guests", "children", "adults"), [(3, 1, 2), (2, 0, 2), (0, None, 1), (2, "2", 0)])
def test_a_request_splits_its_party_into_adults_and_children(item_with, guests, children, adults):
    details = {} if children is None else {"children": children}
    request = item_with(guests=guests, details=details)
    assert (request.adults, request.children) == (adults, int(children or 0))


@pytest.mark.parametrize("children", [-1, 4, "two", 1.5, True])
def test_a_children_count_that_is_not_one_of_the_party_is_a_data_error(item_with, children):
    with pytest.raises(DataFormat, match="children"):
        item_with(guests=3, details={"children": children}).children


def test_synxis_gets_the_children_as_a_child_count_beside_the_adults(synxis, synxis_fake, item_with, item):
    synxis_fake.expected_party = {"Adult": 2, "Child": 1}  # the stand-in refuses any other party

    result = synxis.create(family(item_with, item))

    (post,) = synxis_fake.requests_to("POST", SEARCH)
    assert post.json["RoomStay"]["GuestCount"] == [{"AgeQualifyingCode": "Adult", "NumGuests": 2},
                                                   {"AgeQualifyingCode": "Child", "NumGuests": 1}]
    assert synxis_fake.reservation(result.confirmation)["Status"] == "Confirmed"


def test_the_synxis_stand_in_refuses_a_party_without_its_children(synxis, synxis_fake, item_with):
    synxis_fake.expected_party = {"Adult": 2, "Child": 1}

    with pytest.raises(ConnectorError) as caught:
        synxis.create(item_with(guests=3))  # three adults: the old way of sending a family

    assert caught.value.status == 400 and synxis_fake.reservations() == {}


def test_a_package_without_its_own_count_is_for_the_whole_family(synxis, synxis_fake, item_with, item):
    synxis.create(family(item_with, item, details={**item.details, "children": 1, "packages": [{"code": "SPA"}]}))

    add = synxis_fake.requests_to("PATCH", SEARCH)[0].json
    assert add["Packages"][0]["GuestCount"] == [{"AgeQualifyingCode": "Adult", "NumGuests": 2},
                                                {"AgeQualifyingCode": "Child", "NumGuests": 1}]


def test_mews_gets_a_person_count_per_age_category_and_its_stand_in_checks_the_party(mews_fake):
    mews_fake.expected_people = {"age-adult": 2, "age-child": 1}

    with PmsConnector(mews_options(mews_fake), timeouts=TIMEOUTS) as mews:
        mews.create(make_item(**{**ROOM, "guests": 3, "details": {**ROOM["details"], "children": 1}}))

    (add,) = mews_fake.requests_to("POST", r".*/reservations/add")
    assert add.json["Reservations"][0]["PersonCounts"] == [{"AgeCategoryId": "age-adult", "Count": 2},
                                                           {"AgeCategoryId": "age-child", "Count": 1}]


def test_the_mews_stand_in_refuses_a_party_without_its_children(mews_fake):
    mews_fake.expected_people = {"age-adult": 2, "age-child": 1}

    with PmsConnector(mews_options(mews_fake), timeouts=TIMEOUTS) as mews, pytest.raises(DataFormat,
                                                                                          match="PersonCounts"):
        mews.create(make_item(**{**ROOM, "guests": 3}))

    assert mews_fake.reservations() == []
