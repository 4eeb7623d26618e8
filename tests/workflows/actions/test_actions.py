"""What a click asks for (`workflows.actions.requests`): validated, authorized by state, enqueued once
under a deterministic job id on real Redis, audited, answered at once. No worker runs here:
the jobs themselves are tested in test_jobs.py.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import time

import pytest
from rq import Queue
from sqlalchemy import select

from tests.workflows.actions.test_jobs import ROOM
from tests.workflows.intake.test_intake import SYNXIS_SET
from workflows.actions import requests as actions
from workflows.core import queue, states
from workflows.core.db import transaction
from workflows.core.models import AuditEvent, OrderItem, SyncAttempt, utcnow
from workflows.intake import webhook as intake
from workflows.orders.payloads import parse_sync_failure

ORDER = "ORD-10042"
SPA = {  # test_jobs' spa item without its service code
    "id": "ITEM-2", "kind": "spa", "system": "premier", "status": "In Progress",
    "description": "Deep tissue massage, 60 min", "start": "2026-12-01", "end": "2026-12-01",
    "quantity": 1, "guests": 1, "details": {"site_id": "SPA1"},
}


@pytest.fixture
def settings(settings):
    """The shared settings with SynXis credentials (`SYNXIS_SET`): its timeouts get their automatic retry."""
    return settings.model_copy(update=SYNXIS_SET)


@pytest.fixture
def recorded(settings):
    """ORD-10042 recorded through intake: ITEM-1 (SynXis) timed out, ITEM-2 (Premier) pending."""
    event = {
        "event_id": "evt_01", "occurred_at": "2026-11-22T09:58:00Z",
        "order": {"id": ORDER, "status": "In Progress", "placed_at": "2026-11-22T09:57:10Z", "currency": "GBP",
                  "total_minor": 24000,
                  "guest": {"first_name": "Larry", "last_name": "Walker", "email": "larry@example.com", "phone": ""},
                  "payment": {"provider": "stripe", "reference": "pi_1", "amount_minor": 24000},
                  "items": [copy.deepcopy(ROOM), copy.deepcopy(SPA)]},
        "failure": {"item_id": "ITEM-1", "system": "synxis", "message": "Read timed out after 30 s",
                    "code": "timeout", "log": ""},
    }
    intake.record(settings, parse_sync_failure(json.dumps(event).encode()), "webhook")
    return ORDER


def jobs(settings, prefix: str) -> list[str]:
    ids = []
    for q in queue.get_queues(settings):
        ids += q.get_job_ids() + q.scheduled_job_registry.get_job_ids()
    return [i for i in ids if i.startswith(prefix)]


def clicks(settings, action: str) -> list[AuditEvent]:
    with transaction(settings.database_url) as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


def hold_lock(settings, who: str, started: dt.datetime | None = None) -> None:
    """ITEM-1 as a running Reprocess leaves it: `processing`, with an open attempt."""
    with transaction(settings.database_url) as session:
        item = session.scalar(select(OrderItem).where(OrderItem.item_id == "ITEM-1"))
        item.sync_status = states.Q_PROCESSING
        session.add(SyncAttempt(item_pk=item.pk, order_id=ORDER, number=2, status=states.Q_PROCESSING,
                                triggered_by=who, job_id="someone-elses-job", started_at=started or utcnow()))


# -- Reprocess ----------------------------------------------------------------------------

def test_reprocess_is_queued_at_once_and_audited(settings, recorded):
    started = time.perf_counter()
    ack = actions.request_reprocess(settings, ORDER, "ITEM-1", "slack:U0ANA (ana)")
    assert time.perf_counter() - started < 0.5
    assert (ack.accepted, ack.message) == (True, "Reprocess queued.")
    assert ack.job_id in jobs(settings, "reprocess")
    [click] = clicks(settings, "click.reprocess")
    assert (click.actor, click.result, click.detail["job_id"]) == ("slack:U0ANA (ana)", "queued", ack.job_id)


def test_a_click_runs_now_even_with_the_automatic_retry_scheduled(settings, recorded):
    automatic = queue.job_id("reprocess", ORDER, "ITEM-1", 2)
    assert jobs(settings, "reprocess") == [automatic]  # intake scheduled it, in 120 s
    ack = actions.request_reprocess(settings, ORDER, "ITEM-1", "ana")
    assert ack.accepted and ack.job_id != automatic
    q = queue.get_queue(settings, actions=True)
    assert ack.job_id in q.get_job_ids()  # queued to run now, not behind the retry
    assert q.fetch_job(ack.job_id).kwargs["attempt"] == 2  # the retry will find attempt 2 made and stand down


def test_double_click_enqueues_once_and_tells_the_second_person_who_asked(settings, recorded):
    first = actions.request_reprocess(settings, ORDER, "ITEM-1", "ana")
    second = actions.request_reprocess(settings, ORDER, "ITEM-1", "ben")
    again = actions.request_reprocess(settings, ORDER, "ITEM-1", "ana")
    assert first.accepted and not second.accepted and not again.accepted
    assert first.job_id == second.job_id == again.job_id
    assert second.message == "That reprocess is already queued (asked by ana)."
    assert again.message == "That reprocess is already queued."
    assert len(jobs(settings, "reprocess")) == 2  # the click's job and the automatic retry
    assert [c.result for c in clicks(settings, "click.reprocess")] == ["queued", "duplicate", "duplicate"]


def test_reprocess_while_someone_is_on_it_says_who(settings, recorded):
    hold_lock(settings, "slack:U0BEN (ben)")
    ack = actions.request_reprocess(settings, ORDER, "ITEM-1", "ana")
    assert (ack.accepted, ack.message) == (False, "slack:U0BEN (ben) is already reprocessing ITEM-1.")
    assert clicks(settings, "click.reprocess")[0].detail["holder"] == "slack:U0BEN (ben)"


def test_a_stale_lock_does_not_block_reprocess_forever(settings, recorded):
    hold_lock(settings, "ben", started=utcnow() - dt.timedelta(hours=2))  # its worker died unnoticed
    assert actions.request_reprocess(settings, ORDER, "ITEM-1", "ana").accepted


def test_asking_again_after_a_refusal_is_a_new_job(settings, recorded):
    first = actions.request_reprocess(settings, ORDER, "ITEM-1", "ana")
    with transaction(settings.database_url) as session:  # what the job writes when payment stops it
        states.audit(session, actor="ana", action="reprocess.refused", order_id=ORDER, item_id="ITEM-1",
                     result="refused", reason="payment refunded: no booking attempted")
    second = actions.request_reprocess(settings, ORDER, "ITEM-1", "ana")
    assert second.accepted and second.job_id != first.job_id


def test_reprocess_of_a_confirmed_or_unknown_item_is_refused(settings, recorded):
    with transaction(settings.database_url) as session:
        session.scalar(select(OrderItem).where(OrderItem.item_id == "ITEM-1")).status = states.CONFIRMED
    assert actions.request_reprocess(settings, ORDER, "ITEM-1", "ana").message == "ITEM-1 is already Confirmed."
    assert actions.request_reprocess(settings, ORDER, "ITEM-9", "ana").message == f"Order {ORDER} has no item ITEM-9."


def test_queue_down_is_said_plainly_and_nothing_is_started(settings, recorded):
    down = settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"})
    ack = actions.request_reprocess(down, ORDER, "ITEM-1", "ana")
    assert not ack.accepted and "queue is unavailable" in ack.message
    assert clicks(settings, "click.reprocess") == []


# -- Booked manually ----------------------------------------------------------------------

@pytest.mark.parametrize("reference, says", [
    ("", "The external confirmation number is required."),
    ("   ", "The external confirmation number is required."),
    ("x", "'x' does not look like a confirmation number"),
    ("13098 CU 1", "'13098 CU 1' does not look like a confirmation number"),
    ("<b>ref</b>", "'<b>ref</b>' does not look like a confirmation number"),
])
def test_booked_manually_refuses_an_empty_or_malformed_reference(settings, recorded, reference, says):
    ack = actions.request_booked_manually(settings, ORDER, "ITEM-1", "ana", reference)
    assert not ack.accepted and ack.message.startswith(says)
    assert jobs(settings, "manual") == []


def test_premier_needs_the_payment_method_the_deposit_went_to(settings, recorded):
    refused = actions.request_booked_manually(settings, ORDER, "ITEM-2", "ana", "PRM-1")
    assert not refused.accepted
    assert refused.message.startswith("EMS Premier needs the payment method the deposit was assigned to")
    assert "onejourney / ecommerce / revspa" in refused.message
    assert not actions.request_booked_manually(settings, ORDER, "ITEM-2", "ana", "PRM-1", "cash").accepted
    ok = actions.request_booked_manually(settings, ORDER, "ITEM-2", "ana", " PRM-1 ", "revspa")
    assert ok.accepted
    job = queue.get_queue(settings, actions=True).fetch_job(ok.job_id)
    assert (job.kwargs["reference"], job.kwargs["payment_method"]) == ("PRM-1", "revspa")


def test_booked_manually_waits_while_a_reprocess_is_running(settings, recorded):
    hold_lock(settings, "ben")
    ack = actions.request_booked_manually(settings, ORDER, "ITEM-1", "ana", "13098CU000001")
    assert not ack.accepted and ack.message.startswith("ben is reprocessing ITEM-1 right now")


# -- Mark complete ------------------------------------------------------------------------

def test_mark_complete_says_what_is_missing(settings, recorded):
    ack = actions.request_complete(settings, ORDER, "ana")
    assert (ack.accepted, ack.message) == (False, "Not yet: ITEM-1 still In Progress; ITEM-2 still In Progress.")
    assert actions.request_complete(settings, "ORD-404", "ana").message == "Order ORD-404 is not known to syncdesk."


def test_mark_complete_is_queued_once_per_try(settings, recorded):
    with transaction(settings.database_url) as session:
        for item in session.scalars(select(OrderItem)):
            item.status = states.CONFIRMED
    first = actions.request_complete(settings, ORDER, "ana")
    assert first.accepted and not actions.request_complete(settings, ORDER, "ben").accepted
    with transaction(settings.database_url) as session:  # the job ran and the platform said 409
        states.audit(session, actor="ana", action="complete.failed", order_id=ORDER, result="failed",
                     message="The platform refused: unpaid balance")
    retry = actions.request_complete(settings, ORDER, "ana")
    assert retry.accepted and retry.job_id != first.job_id


def test_an_accepted_click_acknowledges_the_alert_and_stops_escalation(settings, recorded):
    from workflows.core.models import Alert

    ack = actions.request_reprocess(settings, ORDER, "ITEM-1", "slack:U1 (ana)")
    assert ack.accepted
    with transaction(settings.database_url) as session:
        alert = session.scalars(select(Alert).where(Alert.order_id == ORDER)).one()
        assert (alert.state, alert.acknowledged_by) == ("acknowledged", "slack:U1 (ana)")
        assert alert.last_human_action_at is not None


def test_a_refused_click_does_not_acknowledge(settings, recorded):
    from workflows.core.models import Alert

    ack = actions.request_booked_manually(settings, ORDER, "ITEM-1", "slack:U1 (ana)", "")
    assert not ack.accepted
    with transaction(settings.database_url) as session:
        assert session.scalars(select(Alert).where(Alert.order_id == ORDER)).one().state == "open"


def test_premier_payment_methods_come_from_settings(settings, recorded):
    custom = settings.model_copy(update={"premier_payment_methods": "spa-online"})
    refused = actions.request_booked_manually(custom, ORDER, "ITEM-2", "U1", "PRM-12345", "ecommerce")
    assert not refused.accepted and "spa-online" in refused.message
    assert actions.request_booked_manually(custom, ORDER, "ITEM-2", "U1", "PRM-12345", "spa-online").accepted
