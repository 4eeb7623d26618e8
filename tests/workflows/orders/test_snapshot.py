"""`snapshot.load` records what rendering cannot look up itself: how each item's system is
booked (automatic, a playbook with its fields and configured payment methods, or no
connector) and the outage thread the order's alert belongs in."""

from __future__ import annotations

from sqlalchemy import select

from tests.conftest import post_failure
from tests.workflows.intake.test_intake import payload
from tests.workflows.retail.test_retail import add_order
from workflows.core.db import transaction
from workflows.core.models import Alert, Incident, utcnow
from workflows.orders.snapshot import load


def loaded(settings, order_id: str):  # type: ignore[no-untyped-def]
    with transaction(settings.database_url) as session:
        return load(session, order_id, settings=settings)


def test_a_premier_item_carries_its_playbook_and_the_configured_payment_methods(settings, live_app):
    post_failure(live_app.url, payload(order__items__0__system="premier", order__items__0__kind="spa",
                                       failure__system="premier"))
    configured = settings.model_copy(update={"premier_payment_methods": "spa-web, revspa"})
    desc = loaded(configured, "ORD-10042").items[0].system_description
    assert desc is not None and not desc.automatic
    assert desc.manual_fields == ("reference", "payment_method") and desc.payment_methods == ("spa-web", "revspa")
    assert any("offline" in step for step in desc.playbook)


def test_an_unconfigured_system_says_to_book_it_by_hand(settings, live_app):
    post_failure(live_app.url, payload())
    desc = loaded(settings, "ORD-10042").items[0].system_description
    assert desc is not None and not desc.automatic
    assert "book it by hand" in desc.playbook[0]


def test_a_configured_system_is_automatic(settings, live_app):
    post_failure(live_app.url, payload())
    configured = settings.model_copy(update={
        "synxis_api_url": "https://synxis.invalid", "synxis_token_url": "https://synxis.invalid/token",
        "synxis_client_id": "id", "synxis_client_secret": "secret"})
    desc = loaded(configured, "ORD-10042").items[0].system_description
    assert desc is not None and desc.automatic and desc.playbook == ()


def test_retail_items_are_not_described(settings):
    add_order(settings.database_url, "ORD-R1", hours_ago=2)
    assert loaded(settings, "ORD-R1").items[0].system_description is None


def test_the_outage_thread_is_known_once_its_message_is_posted(settings, live_app):
    post_failure(live_app.url, payload())
    assert (loaded(settings, "ORD-10042").incident_id, loaded(settings, "ORD-10042").incident_thread) == (None, None)
    now = utcnow()
    with transaction(settings.database_url) as session:
        incident = Incident(system="synxis", state="open", open_for="synxis", opened_at=now, first_failure_at=now,
                            last_failure_at=now, failure_count=5, error_classes={"timeout": 5})
        session.add(incident)
        session.flush()
        session.scalar(select(Alert).where(Alert.order_id == "ORD-10042")).incident_id = incident.id
        incident_id = incident.id
    snapshot = loaded(settings, "ORD-10042")
    assert (snapshot.incident_id, snapshot.incident_thread) == (incident_id, None)  # not posted yet
    with transaction(settings.database_url) as session:
        posted = session.get(Incident, incident_id)
        posted.channel, posted.message_id = "C0ALERTS", "1700000000.000200"
    assert loaded(settings, "ORD-10042").incident_thread == ("C0ALERTS", "1700000000.000200")
