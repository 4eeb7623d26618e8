"""CHAT_GUEST_DETAILS=masked (issue 28) in the escalation of an outage's orders: the message that
names the soonest guests names them masked, like their alerts."""

from __future__ import annotations

from tests.workflows.guests.test_retention import LARRY, record
from workflows.core.db import transaction
from workflows.core.models import Incident, utcnow
from workflows.oncall import escalation


def test_an_outages_escalation_names_its_guests_as_chat_shows_them(settings):
    record(settings, "ORD-1", 1, **LARRY)
    now = utcnow()
    with transaction(settings.database_url) as session:
        incident = Incident(system="synxis", state="open", opened_at=now, first_failure_at=now, last_failure_at=now)
        session.add(incident)
        session.flush()
        full = escalation.outage_orders(session, settings, incident, ["ORD-1"], now)
        masked = escalation.outage_orders(session, settings.model_copy(update={"chat_guest_details": "masked"}),
                                          incident, ["ORD-1"], now)
    assert full is not None and full.soonest[0].startswith("ORD-1 — Larry Walker, arriving")
    assert masked is not None and masked.soonest[0].startswith("ORD-1 — Larry W., arriving")
