"""Issue 24.7 at the intake webhook (DESIGN §3.1): an item's `guests` is a count (all adults), or
`{"adults", "children"}`, stored as the total with the children in `details.children`, and a
malformed object is a 400 naming the field. The family then reaches the booking system whole."""

from __future__ import annotations

import json

import pytest

from connectors.synxis import SynxisConnector
from tests.conftest import post_failure
from tests.connectors.conftest import synxis_config
from tests.fakes.synxis import FakeSynxis
from tests.workflows.intake.test_intake import NOTHING, counts, payload
from workflows.core.db import transaction
from workflows.core.models import Order
from workflows.systems.booking import booking_request


def stored_request(url: str):
    with transaction(url) as session:
        order = session.get(Order, "ORD-10042")
        item = order.items[0]
        return item.guests, dict(item.details), booking_request(order, item)


def test_a_family_is_stored_as_its_total_with_the_children_in_details(live_app, settings):
    response = post_failure(live_app.url, payload(order__items__0__guests={"adults": 2, "children": 1}))

    assert response.status_code == 202, response.text
    guests, details, request = stored_request(settings.database_url)
    assert (guests, details["children"], details["hotel_id"]) == (3, 1, 13098)
    assert (request.guests, request.adults, request.children) == (3, 2, 1)


def test_a_count_is_still_a_party_of_adults(live_app, settings):
    response = post_failure(live_app.url, payload(order__items__0__guests=2))

    assert response.status_code == 202, response.text
    guests, details, request = stored_request(settings.database_url)
    assert (guests, "children" in details, request.adults, request.children) == (2, False, 2, 0)


@pytest.mark.parametrize(("guests", "field"), [
    ({"adults": "2"}, "order.items[0].guests.adults"),
    ({"children": 1}, "order.items[0].guests.adults"),  # adults are required
    ({"adults": 2, "children": -1}, "order.items[0].guests.children"),
    ({"adults": 2, "kids": 1}, "order.items[0].guests.kids"),  # a misspelt key is not dropped
    ("2", "order.items[0].guests"),
    (2.5, "order.items[0].guests"),
])
def test_a_malformed_party_is_400_naming_the_field_and_writes_nothing(live_app, settings, guests, field):
    response = post_failure(live_app.url, json.dumps(payload(order__items__0__guests=guests)).encode())

    assert response.status_code == 400, response.text
    assert response.json()["field"] == field
    assert counts(settings.database_url) == NOTHING


def test_the_family_reaches_synxis_as_adults_and_a_child(live_app, settings):
    assert post_failure(live_app.url, payload(order__items__0__guests={"adults": 2, "children": 1})).status_code == 202
    _, _, request = stored_request(settings.database_url)

    with FakeSynxis() as fake, SynxisConnector(synxis_config(fake)) as synxis:
        fake.expected_party = {"Adult": 2, "Child": 1}  # the stand-in refuses any other party
        synxis.create(request)
        (post,) = fake.requests_to("POST", "/v1/api/reservation")

    assert post.json["RoomStay"]["GuestCount"] == [{"AgeQualifyingCode": "Adult", "NumGuests": 2},
                                                   {"AgeQualifyingCode": "Child", "NumGuests": 1}]
