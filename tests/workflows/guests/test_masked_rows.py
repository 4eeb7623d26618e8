"""CHAT_GUEST_DETAILS=masked (issue 28) beyond the alert: every chat row that names a guest names
them as the alert does ("Larry W."): the order queue and `find` (Slack, Teams, the Home tab),
the outage message and its "Show all", the daily digest, the retail reminder and the arrival
check's messages. The command line still shows the operator the guest in full. A masked order's
view also carries a booking system's error that quotes the guest scrubbed: "View log" and the
alert's reason show `[guest of ORD-…]`, never the e-mail or phone."""

from __future__ import annotations

import datetime as dt
import json
import re

from sqlalchemy import select

from tests.conftest import logged
from tests.workflows.arrivals.test_arrival_check import DAY, arrivals_world, room
from tests.workflows.guests.test_retention import LARRY, QUOTING, record
from tests.workflows.oncall.test_escalation import Jobs
from tests.workflows.retail.test_retail import NOW, add_order
from workflows.arrivals import check
from workflows.core.db import transaction
from workflows.core.models import Alert, Incident, utcnow
from workflows.core.settings import Settings
from workflows.intake import webhook
from workflows.orders import masking, reads, search
from workflows.orders.payloads import parse_sync_failure
from workflows.orders.snapshot import load
from workflows.outage import views
from workflows.reports import digest
from workflows.retail import service as retail

SURNAME = re.compile(r"walker", re.IGNORECASE)


def masked(settings: Settings) -> Settings:
    return settings.model_copy(update={"chat_guest_details": masking.MASKED})


def test_the_queue_and_find_name_the_guest_as_chat_shows_them_and_the_cli_in_full(settings):
    record(settings, "ORD-1", 1, **LARRY)
    assert [r.guest_name for r in reads.queue(masked(settings))] == ["Larry W."]
    assert [r.guest_name for r in reads.queue(settings)] == ["Larry Walker"]
    assert [r.guest_name for r in search.find_orders(masked(settings), "walker", "slack:U0ANA", via="slack").rows] \
        == ["Larry W."]
    assert [r.guest_name for r in search.find_orders(masked(settings), "walker", "teams:ana", via="teams").rows] \
        == ["Larry W."]
    assert [r.guest_name for r in search.find_orders(masked(settings), "walker", "cli:ops", via="cli").rows] \
        == ["Larry Walker"]


def test_the_outage_message_and_show_all_name_the_guests_masked(settings):
    record(settings, "ORD-1", 1, **LARRY)
    now = utcnow()
    with transaction(settings.database_url) as session:
        incident = Incident(system="synxis", state="open", opened_at=now, first_failure_at=now, last_failure_at=now)
        session.add(incident)
        session.flush()
        for alert in session.scalars(select(Alert).where(Alert.order_id == "ORD-1")):
            alert.incident_id = incident.id
        incident_id = incident.id
    shown = views.shown(masked(settings), incident_id)
    page = views.incident_page(masked(settings), incident_id, 0)
    assert shown is not None and [i.guest_name for i in shown.urgent] == ["Larry W."]
    assert page is not None and [i.guest_name for i in page.items] == ["Larry W."]
    assert [i.guest_name for i in views.incident_page(settings, incident_id, 0).items] == ["Larry Walker"]


def test_the_digest_names_the_open_orders_guests_masked(settings):
    record(settings, "ORD-1", 1, **LARRY)
    now = utcnow()
    assert digest.post_daily(settings=masked(settings), now=now) == "posted"
    [posted] = logged("slack").of_kind("digest")
    assert "ORD-1 Larry W. —" in posted.text and not SURNAME.search(posted.text)
    with transaction(settings.database_url) as session:
        assert [o.guest_name for o in digest.build(session, now.date()).open_orders] == ["Larry Walker"]


def test_the_retail_reminder_names_its_guests_masked(settings):
    add_order(settings.database_url, "ORD-R", hours_ago=30)
    with transaction(settings.database_url) as session:
        reminder = retail.overdue_retail(session, now=NOW, after_hours=24, guest_details=masking.MASKED)
        full = retail.overdue_retail(session, now=NOW, after_hours=24)
    assert reminder is not None and [o.guest_name for o in reminder.orders] == ["Ada L."]
    assert "ORD-R (Ada L.), waiting 30 h" in reminder.summary and "Lovelace" not in reminder.summary
    assert full is not None and [o.guest_name for o in full.orders] == ["Ada Lovelace"]
    with transaction(settings.database_url) as session:
        for item in session.get(retail.Order, "ORD-R").items:
            item.status = "Dispatched"
        ready = retail.ready_to_complete(session, "ORD-R", NOW + dt.timedelta(hours=1), masking.MASKED)
    assert ready is not None and ready.guest_name == "Ada L."


def test_the_arrival_checks_message_names_the_guest_masked(settings):
    for world in arrivals_world(masked(settings)):
        # an arrival with an open failure alert and nothing in SynXis: the finding is said in the alert's thread
        world.order("ORD-OPEN", room(status="In Progress"), status="In Progress")
        event = {"event_id": "evt-open", "occurred_at": "2026-12-08T05:00:00Z",
                 "order": world.platform.order("ORD-OPEN"),
                 "failure": {"item_id": "ITEM-1", "system": "synxis", "message": "Read timed out", "code": "timeout"}}
        webhook.record(world.settings, parse_sync_failure(json.dumps(event).encode()), "webhook")
        Jobs(world.settings).run("workflows.orders.jobs.refresh_alert", verify_payment=False)
        check.check_day(world.settings, DAY)
        [said] = logged("slack").of_kind("thread")
        assert said.text.startswith("Arrival check: ORD-OPEN/ITEM-1 (Luxury Twin, BAR, Larry W., arriving")
        assert not SURNAME.search(said.text)


def test_a_masked_order_shows_a_vendors_error_that_quotes_the_guest_scrubbed(settings):
    record(settings, "ORD-1", 1, **LARRY, **QUOTING)
    with transaction(settings.database_url) as session:
        shown = load(session, "ORD-1", settings=settings, guest_details=masking.MASKED)
        full = load(session, "ORD-1", settings=settings, guest_details=masking.FULL)
    assert shown is not None and full is not None
    [attempt] = shown.items[0].attempts
    assert attempt.message == "Guest [guest of ORD-1] rejected: phone [guest of ORD-1] invalid"
    assert attempt.raw_log == '{"profile": {"name": "[guest of ORD-1], [guest of ORD-1]", "phone": "[guest of ORD-1]"}}'
    assert (shown.guest_name, shown.guest_email, shown.guest_phone) == ("Larry W.", "l***@example.com",
                                                                        "+44 ••• ••• 4567")
    assert full.items[0].attempts[0].message == QUOTING["failure__message"]  # in full, as stored
    assert full.masked() == shown  # what the log stand-ins write: the same, whatever the setting
