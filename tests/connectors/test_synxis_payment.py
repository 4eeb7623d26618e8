"""Issue 24.6: source 004's step 3 confirms with the guest *and the payment*.

Sabre's Payment Methods page: the payment a rate needs to be confirmed is the hotelier's
setting, sent in `Guests[].Payments[]`. Which one a booking already paid on the platform carries
is not published, so it is a per-chain setting (`payments` in the SynXis routing options)."""

from __future__ import annotations

import pytest

from connectors.errors import ConnectorError, NotMapped
from connectors.synxis import SynxisPayment, payments_from

SEARCH = "/v1/api/reservation"
DIRECT_BILL = {"payments": {"12723": {"type": "DirectBill", "account_number": "8365920440", "source": "Local"}}}
DIRECT_BILL_WIRE = [{"Role": "Primary", "Type": "DirectBill",
                     "DirectBill": {"AccountNumber": "8365920440", "Source": "Local"}}]


def test_without_the_chains_payment_a_confirmation_the_rate_refuses_names_the_setting(synxis, synxis_fake, item):
    synxis_fake.payment_required = True  # the rate's booking policy wants a payment to confirm
    number = synxis_fake.seed_reservation(reference=item.reference, status="Booked")

    with pytest.raises(NotMapped, match="payments"):
        synxis.confirm(synxis.find_existing(item), item)

    assert synxis_fake.reservation(number)["Status"] == "Booked"


def test_the_chains_payment_goes_with_the_confirming_patch(synxis_with, synxis_fake, item):
    synxis_fake.payment_required = True
    number = synxis_fake.seed_reservation(reference=item.reference, status="Booked")
    synxis = synxis_with(payments=payments_from(DIRECT_BILL))

    result = synxis.confirm(synxis.find_existing(item), item)

    (patch,) = synxis_fake.requests_to("PATCH", SEARCH)
    assert patch.json["status"] == "Confirmed" and patch.json["Guests"][0]["Payments"] == DIRECT_BILL_WIRE
    assert (result.action, synxis_fake.reservation(number)["Status"]) == ("confirmed", "Confirmed")


def test_a_confirmed_create_carries_the_payment_and_the_booked_steps_do_not(synxis_with, synxis_fake, item_with,
                                                                              item):
    synxis_fake.payment_required = True
    synxis = synxis_with(payments=payments_from(DIRECT_BILL))

    synxis.create(item)
    synxis.create(item_with(item_id="ITEM-2", details={**item.details, "packages": [{"code": "SPA"}]}))

    plain, booked = (r.json for r in synxis_fake.requests_to("POST", SEARCH))
    assert plain["status"] == "Confirmed" and plain["Guests"][0]["Payments"] == DIRECT_BILL_WIRE
    assert booked["status"] == "Booked" and "Payments" not in booked["Guests"][0]  # step 1
    add, confirm = (r.json for r in synxis_fake.requests_to("PATCH", SEARCH))
    assert "Guests" not in add  # step 2: the packages only
    assert confirm["Guests"][0]["Payments"] == DIRECT_BILL_WIRE  # step 3: guest and payment, Confirmed


def test_a_chain_without_its_own_entry_takes_the_default_one(synxis_with, synxis_fake, item):
    synxis = synxis_with(payments=payments_from({"payments": {"99999": {"type": "Check"}, "*": {"type": "Cash"}}}))

    synxis.create(item)

    (post,) = synxis_fake.requests_to("POST", SEARCH)
    assert post.json["Guests"][0]["Payments"] == [{"Role": "Primary", "Type": "Cash"}]


def test_an_on_hold_reservation_is_confirmed_without_a_payment(synxis, synxis_fake, item):
    """On - Hold Reservation: OnHold overrides the guarantee policy, so it confirms without one."""
    synxis_fake.payment_required = True
    number = synxis_fake.seed_reservation(reference=item.reference, status="OnHold")

    synxis.confirm(synxis.find_existing(item), item)

    assert synxis_fake.reservation(number)["Status"] == "Confirmed"


@pytest.mark.parametrize(("entry", "named"), [
    ({"type": "CreditCard"}, "CreditCard"),  # needs the card, which syncdesk never holds
    ({"type": "DirectBill"}, "account_number"),
    ({"type": "Cash", "acount": "x"}, "acount"),
    ("Cash", "expected"),
])
def test_a_payment_setting_syncdesk_cannot_send_is_refused_when_read(entry, named):
    with pytest.raises(ValueError, match=named):
        payments_from({"payments": {"12723": entry}})


@pytest.mark.parametrize("payment", [
    {"Role": "Primary", "Type": "Voucher"},
    {"Role": "Primary", "Type": "DirectBill"},  # without its account
    {"Role": "Primary", "Type": "CreditCard"},  # without the card
    {"Role": "Guest", "Type": "Cash"},
])
def test_the_stand_in_refuses_a_payment_of_no_documented_form(synxis, synxis_fake, item, payment):
    number = synxis_fake.seed_reservation(reference=item.reference, status="Booked")
    body = {"Chain": {"Id": 12723}, "Hotel": {"Id": 13098}, "CrsConfirmationNumber": number, "status": "Confirmed",
            "Guests": [{"PersonName": {"GivenName": "Larry", "Surname": "Walker"}, "Payments": [payment]}]}

    with pytest.raises(ConnectorError) as caught:
        synxis.request("PATCH", SEARCH, json=body)

    assert caught.value.status == 400 and synxis_fake.reservation(number)["Status"] == "Booked"


def test_a_payment_wire_is_the_documented_partial_request():
    assert SynxisPayment("Check", role="Personal").wire() == {"Role": "Personal", "Type": "Check"}
