"""The manual-playbook connectors (EMS Premier, Aspenware RTP|One, Siriusware): steps, never a call."""

from __future__ import annotations

import datetime as dt

import pytest

from connectors.errors import ErrorClass, ManualOnly
from connectors.premier import PremierPlaybook
from connectors.rtp import RtpPlaybook
from connectors.siriusware import SiriuswarePlaybook
from connectors.types import BookingStatus, ExistingBooking
from tests.connectors.conftest import make_item, make_settings
from workflows.systems.registry import premier_payment_methods

SPA = dict(system="premier", kind="spa", description="Signature Hot Stone Massage, 90 min",
           start=dt.date(2026, 12, 12), end=dt.date(2026, 12, 12), guests=1,
           details={"site_code": "MAINSPA", "treatment_code": "HSM90", "start_time": "14:30", "deposit_minor": 19000})
LIFT = dict(system="rtp", kind="ticket", description="2-Day Adult Lift Ticket", start=dt.date(2026, 12, 19),
            end=dt.date(2026, 12, 20), quantity=2, details={"product_code": "LT-ADULT-2DAY"})
RENTAL = dict(system="siriusware", kind="ticket", description="Performance Ski Rental Package, 3 days",
              start=dt.date(2026, 12, 27), end=dt.date(2026, 12, 29),
              details={"item_code": "RNT-PERF-3D", "department": "RENTAL", "rental_profile": {"height_cm": 182}})
CASES = [(PremierPlaybook, SPA, "offline"), (RtpPlaybook, LIFT, "Set Ready"), (SiriuswarePlaybook, RENTAL, "RNT-PERF-3D")]


@pytest.mark.parametrize(("cls", "fields", "says"), CASES)
def test_a_playbook_system_describes_itself_as_manual_with_its_steps(cls, fields, says):
    description = cls().describe()

    assert description.automatic is False and description.system == fields["system"]
    assert len(description.playbook) >= 3 and all(step.endswith(".") for step in description.playbook)
    assert "Booked manually" in description.playbook[-1]


@pytest.mark.parametrize(("cls", "fields", "says"), CASES)
def test_the_steps_for_an_item_carry_its_facts(cls, fields, says):
    item = make_item(**fields)

    steps = "\n".join(cls().describe_item(item).playbook)

    assert says in steps and "Larry Walker" in steps and "larry.walker@example.com" in steps
    assert fields["start"].isoformat() in steps


@pytest.mark.parametrize(("cls", "fields", "says"), CASES)
def test_reprocess_is_told_to_book_by_hand_with_the_steps_never_retried(cls, fields, says):
    connector = cls()
    item = make_item(**fields)
    existing = ExistingBooking("X1", BookingStatus.PENDING, "Pending")

    for call in (lambda: connector.find_existing(item), lambda: connector.create(item),
                 lambda: connector.confirm(existing, item)):
        with pytest.raises(ManualOnly) as err:
            call()
        assert err.value.error_class is ErrorClass.NO_CONNECTOR and not err.value.transient
        assert "book it by hand" in err.value.message and says in "\n".join(err.value.steps)


def test_premier_steps_say_offline_reservation_and_the_e_commerce_payment_method():
    description = PremierPlaybook().describe_item(make_item(**SPA))
    steps = "\n".join(description.playbook)

    assert "*offline* reservation" in steps and "HSM90" in steps and "14:30" in steps
    assert "deposit (190.00)" in steps and "onejourney / ecommerce / revspa" in steps
    assert description.manual_fields == ("reference", "payment_method")
    assert description.payment_methods == ("onejourney", "ecommerce", "revspa")


def test_premier_payment_methods_are_configurable():
    description = PremierPlaybook(premier_payment_methods(make_settings(premier_payment_methods="spaweb, giftcard"))).describe()

    assert description.payment_methods == ("spaweb", "giftcard")
    assert "spaweb / giftcard" in "\n".join(description.playbook)
