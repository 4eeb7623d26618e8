"""The three buttons as real RQ jobs: a real `syncdesk worker` process (with its scheduler) on
real Redis and the real database, calling local servers that speak SynXis', the platform's
and Stripe's wire formats. Nothing of ours is monkeypatched; faults are the fakes' own.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from pydantic import SecretStr
from rq.job import Job, JobStatus
from rq.registry import StartedJobRegistry
from sqlalchemy import select

from connectors.errors import ErrorClass
from tests.conftest import WorkerProcess, run_cli, settings_env, wait_for
from tests.fakes import FakePlatform, FakeStripe, FakeSynxis
from workflows.actions import requests as actions
from workflows.core import queue
from workflows.core.db import transaction
from workflows.core.models import Alert, AuditEvent, Order, OrderItem, OrderSearch, SyncAttempt
from workflows.core.settings import Settings
from workflows.intake import webhook as intake
from workflows.orders import search
from workflows.orders.payloads import parse_sync_failure

RESERVATION = "/v1/api/reservation"
PLATFORM_KEY = "platform-key"
STRIPE_KEY = "sk_test_fake"
ORDER = "ORD-10042"
ROOM = {
    "id": "ITEM-1", "kind": "room", "system": "synxis", "status": "In Progress",
    "description": "Luxury Twin, BAR, 1 night", "start": "2026-12-01", "end": "2026-12-02",
    "quantity": 1, "guests": 2,
    "details": {"hotel_id": 13098, "chain_id": 12723, "room_code": "LUXT", "rate_code": "BAR"},
}
SPA = {
    "id": "ITEM-2", "kind": "spa", "system": "premier", "status": "In Progress",
    "description": "Deep tissue massage, 60 min", "start": "2026-12-01", "end": "2026-12-01",
    "quantity": 1, "guests": 1, "details": {"site_id": "SPA1", "service_code": "DT60"},
}


# -- the world: fakes, settings, a worker ---------------------------------------------------

@dataclass
class World:
    settings: Settings
    synxis: FakeSynxis
    platform: FakePlatform
    stripe: FakeStripe
    start_worker: Any

    def but(self, **changes: Any) -> Settings:
        """These settings with some fields changed (for a worker configured differently)."""
        return self.settings.model_copy(update=changes)

    @property
    def posts(self) -> list:
        return self.synxis.requests_to("POST", RESERVATION)

    @property
    def searches(self) -> list:
        return self.synxis.requests_to("GET", RESERVATION)

    @property
    def patches(self) -> list:
        return self.synxis.requests_to("PATCH", RESERVATION)

    def item_patches(self, item_id: str = "ITEM-1") -> list:
        return self.platform.requests_to("PATCH", rf"/orders/{ORDER}/items/{item_id}")

    @property
    def order_patches(self) -> list:
        return self.platform.requests_to("PATCH", rf"/orders/{ORDER}")


@pytest.fixture
def world(settings: Settings, worker_factory: Any) -> Iterator[World]:
    with FakeSynxis(stall_seconds=30) as synxis, FakePlatform(api_key=PLATFORM_KEY) as platform, \
            FakeStripe(api_key=STRIPE_KEY) as stripe_fake:
        configured = settings.model_copy(update=dict(
            synxis_api_url=synxis.url, synxis_token_url=synxis.token_url,
            synxis_client_id=synxis.client_id, synxis_client_secret=SecretStr(synxis.client_secret),
            platform_api_url=platform.url, platform_api_key=SecretStr(PLATFORM_KEY),
            stripe_api_key=SecretStr(STRIPE_KEY), stripe_api_base=stripe_fake.url,
            connect_timeout_seconds=1.0, read_timeout_seconds=1.0,
            poll_interval_seconds=3600,
        ))
        started: list[Any] = []

        def start_worker(s: Settings, process: bool = False) -> Any:
            started.append(worker_factory(s, process=process))
            return started[-1]

        yield World(configured, synxis, platform, stripe_fake, start_worker)
        for worker in started:  # before the fakes go; nothing is under test any more, so no warm shutdown
            if isinstance(worker, WorkerProcess):
                kill_tree(worker.proc.pid)


def seed(w: World, *items: dict, code: str = "timeout", refunded: int = 0, intent_status: str = "succeeded",
         auto_retry_after: int = 120) -> str:
    """An order whose first item failed to sync, recorded through intake; paid with Stripe."""
    items = items or (ROOM,)
    total = 24000
    intent = w.stripe.add_payment_intent(amount=total, currency="gbp", status=intent_status)
    if refunded:
        w.stripe.add_refund(intent, refunded)
    order = {
        "id": ORDER, "status": "In Progress", "placed_at": "2026-11-22T09:57:10Z", "currency": "GBP",
        "total_minor": total,
        "guest": {"first_name": "Larry", "last_name": "Walker", "email": "larry.walker@example.com",
                  "phone": "+44 5551234567"},
        "payment": {"provider": "stripe", "reference": intent, "amount_minor": total},
        "items": [copy.deepcopy(i) for i in items],
    }
    # Updated just now, so the worker's poller does not take it for a lost webhook.
    w.platform.seed(order, updated_at=dt.datetime.now(dt.timezone.utc).isoformat())
    event = {"event_id": f"evt-{time.monotonic_ns()}", "occurred_at": "2026-11-22T09:58:00Z", "order": order,
             "failure": {"item_id": items[0]["id"], "system": items[0]["system"],
                         "message": "Read timed out after 30 s", "code": code, "log": "httpx.ReadTimeout"}}
    intake.record(w.settings.model_copy(update={"auto_retry_after_seconds": auto_retry_after}),
                  parse_sync_failure(json.dumps(event).encode()), "webhook")
    return ORDER


# -- reading the outcome ------------------------------------------------------------------

def outcome(w: World, job_id: str | None, timeout: float = 45) -> str:
    """The job's return value once the worker finished it."""
    assert job_id is not None
    job = Job.fetch(job_id, connection=queue.get_redis(w.settings.redis_url))

    def done() -> bool:
        return job.get_status(refresh=True) in (JobStatus.FINISHED, JobStatus.FAILED)

    wait_for(done, timeout=timeout)
    assert job.get_status() == JobStatus.FINISHED, job.latest_result().exc_string if job.latest_result() else job
    return str(job.return_value())


def enqueue(w: World, function: str, job_id: str, **kwargs: Any) -> str:
    """A job put on the queue directly (as a stale click or a second surface might)."""
    assert queue.enqueue(w.settings, f"workflows.actions.jobs.{function}", job_id, **kwargs)
    return job_id


def item(w: World, item_id: str = "ITEM-1") -> OrderItem:
    with transaction(w.settings.database_url) as session:
        return session.scalar(select(OrderItem).where(OrderItem.order_id == ORDER, OrderItem.item_id == item_id))


def attempts(w: World, item_id: str = "ITEM-1") -> list[SyncAttempt]:
    with transaction(w.settings.database_url) as session:
        return list(session.scalars(select(SyncAttempt).join(OrderItem).where(
            OrderItem.order_id == ORDER, OrderItem.item_id == item_id).order_by(SyncAttempt.number)))


def audit(w: World, action: str) -> list[AuditEvent]:
    with transaction(w.settings.database_url) as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.order_id == ORDER,
                                                             AuditEvent.action == action).order_by(AuditEvent.id)))


def alert(w: World) -> Alert:
    with transaction(w.settings.database_url) as session:
        return session.scalar(select(Alert).where(Alert.order_id == ORDER, Alert.surface == "slack"))


@contextmanager
def rerendered(w: World) -> Iterator[None]:
    """The block must end with the alert shown again from state (LogNotifier without a Slack
    token sets the message id to `log:<order>`): cleared before, set again after."""
    wait_for(lambda: alert(w).message_id)  # the intake's own refresh has run
    with transaction(w.settings.database_url) as session:
        session.get(Alert, alert(w).id).message_id = None
    yield
    wait_for(lambda: alert(w).message_id == f"log:{ORDER}", timeout=60)


# -- Reprocess ----------------------------------------------------------------------------

def test_reprocess_searches_creates_once_confirms_on_the_platform_and_records_success(world):
    seed(world)
    world.start_worker(world.settings)
    with rerendered(world):
        ack = actions.request_reprocess(world.settings, ORDER, "ITEM-1", "slack:U0ANA (ana)")
        assert ack.accepted, ack.message
        result = outcome(world, ack.job_id)
    [post] = world.posts
    number = world.synxis.reservation(next(iter(world.synxis.reservations())))["CrsConfirmationNumber"]
    assert result == f"success: created {number}"
    assert post.json["ExternalReferenceNumber"] == f"{ORDER}/ITEM-1"
    by_reference = [r for r in world.searches if r.param("externalReferenceNumber") == f"{ORDER}/ITEM-1"]
    assert len(by_reference) == 1 and world.synxis.requests.index(by_reference[0]) < world.synxis.requests.index(post)
    assert len(world.synxis.reservations()) == 1
    [patch] = world.item_patches()
    assert patch.json == {"status": "Confirmed", "external_reference": number}
    assert world.platform.order(ORDER)["items"][0]["status"] == "Confirmed"
    last = attempts(world)[-1]
    assert (last.number, last.status, last.confirmation, last.triggered_by) == (2, "success", number,
                                                                                "slack:U0ANA (ana)")
    row = item(world)
    assert (row.status, row.sync_status, row.external_reference) == ("Confirmed", "success", number)
    with transaction(world.settings.database_url) as session:  # `find` by the new confirmation number
        assert [r.order_id for r in search.find(session, number)] == [ORDER]
        stored = sorted(session.scalars(select(OrderSearch.term).where(OrderSearch.order_id == ORDER)))
        search.reindex(session, session.get(Order, ORDER))  # the whole rewrite changes nothing
        session.flush()
        assert sorted(session.scalars(select(OrderSearch.term).where(OrderSearch.order_id == ORDER))) == stored
    assert len(stored) == len(set(stored))


def test_existing_confirmed_reservation_is_found_not_created_again(world):
    seed(world)
    number = world.synxis.seed_reservation(status="Confirmed", reference=f"{ORDER}/ITEM-1")
    world.start_worker(world.settings)
    ack = actions.request_reprocess(world.settings, ORDER, "ITEM-1", "ana")
    assert outcome(world, ack.job_id) == f"success: found {number}"
    assert world.posts == [] and world.patches == []
    assert len(world.synxis.reservations()) == 1
    assert item(world).external_reference == number
    assert world.item_patches()[0].json["external_reference"] == number


def test_existing_booked_reservation_gets_one_patch_to_confirmed(world):
    seed(world)
    number = world.synxis.seed_reservation(status="Booked", reference=f"{ORDER}/ITEM-1")
    world.start_worker(world.settings)
    ack = actions.request_reprocess(world.settings, ORDER, "ITEM-1", "ana")
    assert outcome(world, ack.job_id) == f"success: confirmed {number}"
    [patch] = world.patches
    assert patch.json["CrsConfirmationNumber"] == number and patch.json["status"] == "Confirmed"
    assert world.posts == []
    assert world.synxis.reservation(number)["Status"] == "Confirmed"
    assert (item(world).status, attempts(world)[-1].confirmation) == ("Confirmed", number)


def test_waitlisted_reservation_fails_as_no_availability_and_is_not_retried(world):
    number = world.synxis.seed_reservation(status="Waitlisted", reference=f"{ORDER}/ITEM-1")
    world.start_worker(world.settings)
    seed(world, auto_retry_after=3)  # a timeout: intake schedules one automatic retry, in 3 s
    with rerendered(world):
        ack = actions.request_reprocess(world.settings, ORDER, "ITEM-1", "ana")
        assert outcome(world, ack.job_id) == (f"failed: no_availability: Sabre SynXis CRS reservation {number} is "
                                              "Waitlisted: no availability.")
    last = attempts(world)[-1]
    assert (last.status, last.error_class) == ("failed", "no_availability")
    assert number in last.message and "no availability" in last.message
    assert world.posts == [] and world.patches == [] and world.item_patches() == []
    assert (item(world).status, item(world).sync_status) == ("In Progress", "failed")
    [failed] = audit(world, "reprocess.failed")
    assert failed.detail["next_step"] == ErrorClass.NO_AVAILABILITY.next_step
    # The intake's automatic retry finds attempt 2 already made (by ana, just now) and stands down.
    wait_for(lambda: audit(world, "reprocess.skipped"), timeout=45)
    assert "attempt 2 was already made by ana" in audit(world, "reprocess.skipped")[0].detail["reason"]
    assert len(attempts(world)) == 2 and world.posts == []


def test_timeout_then_success_makes_exactly_one_reservation_after_the_automatic_retry(world):
    seed(world, code="data_format")  # a permanent class at intake: no automatic retry from there
    world.synxis.mode = "timeout_before_create"
    world.start_worker(world.but(auto_retry_after_seconds=1))
    ack = actions.request_reprocess(world.settings, ORDER, "ITEM-1", "ana")
    assert outcome(world, ack.job_id) == ("failed: timeout: SynXis did not answer within 1 s; the request may or "
                                          "may not have been carried out.")
    world.synxis.mode = None
    assert audit(world, "retry.scheduled")
    wait_for(lambda: item(world).status == "Confirmed", timeout=60)
    assert len(world.posts) == 2 and len(world.synxis.reservations()) == 1
    timed_out, retried = attempts(world)[-2:]
    assert (timed_out.status, timed_out.error_class, timed_out.triggered_by) == ("failed", "timeout", "ana")
    assert (retried.status, retried.triggered_by) == ("success", "syncdesk (automatic retry)")
    assert retried.confirmation == item(world).external_reference == next(iter(world.synxis.reservations()))


def test_timeout_after_the_crs_created_it_still_makes_exactly_one_reservation(world):
    seed(world, code="data_format")
    world.synxis.mode = "timeout_after_create"  # the ambiguous outcome: created, answer lost
    world.start_worker(world.but(auto_retry_after_seconds=1))
    ack = actions.request_reprocess(world.settings, ORDER, "ITEM-1", "ana")
    assert outcome(world, ack.job_id) == ("failed: timeout: SynXis did not answer within 1 s; the request may or "
                                          "may not have been carried out.")
    assert len(world.synxis.reservations()) == 1  # it was made, though we never heard back
    wait_for(lambda: item(world).status == "Confirmed", timeout=60)
    [number] = world.synxis.reservations()
    assert len(world.posts) == 1  # the retry found it by our reference; nothing was re-created
    assert attempts(world)[-1].confirmation == number and attempts(world)[-1].status == "success"
    assert audit(world, "item.confirmed")[0].detail["how"] == "found"


def test_twenty_concurrent_reprocess_requests_make_exactly_one_booking(world):
    seed(world)
    world.synxis.delay_next(0.5, method="POST", path=RESERVATION, before_handler=False)  # a slow create
    world.start_worker(world.settings)
    world.start_worker(world.settings)
    people = [f"slack:U{n:04d} (user{n})" for n in range(20)]
    with ThreadPoolExecutor(20) as pool:
        acks = list(pool.map(lambda who: actions.request_reprocess(world.settings, ORDER, "ITEM-1", who), people))
    # and twenty more under distinct job ids, as if clicked on several surfaces at once
    stray = [enqueue(world, "reprocess", f"stray-{n}", order_id=ORDER, item_id="ITEM-1", actor=f"stray-{n}")
             for n in range(20)]
    accepted = [a for a in acks if a.accepted]
    assert len(accepted) == 1, [a.message for a in acks]
    assert all("already" in a.message for a in acks if not a.accepted)
    results = [outcome(world, job_id, timeout=60) for job_id in [accepted[0].job_id, *stray]]
    assert sum(r.startswith("success") for r in results) == 1, results
    assert all(r == "skipped" for r in results if not r.startswith("success"))
    assert len(world.posts) == 1 and len(world.synxis.reservations()) == 1
    assert len(world.item_patches()) == 1
    assert [a.status for a in attempts(world)] == ["failed", "success"]
    assert item(world).status == "Confirmed"


@pytest.mark.parametrize("payment, reason", [
    ({"refunded": 24000}, "payment refunded: no booking attempted"),
    ({"intent_status": "requires_capture"}, "payment not captured: no booking attempted"),
])
def test_refunded_or_uncaptured_payment_books_nothing_and_says_why(world, payment, reason):
    seed(world, **payment)
    world.start_worker(world.settings)
    with rerendered(world):
        ack = actions.request_reprocess(world.settings, ORDER, "ITEM-1", "ana")
        assert outcome(world, ack.job_id) == f"refused: {reason}"
    assert world.synxis.requests == []  # not even a search
    assert world.item_patches() == []
    [refused] = audit(world, "reprocess.refused")
    assert (refused.actor, refused.result, refused.detail["reason"]) == ("ana", "refused", reason)
    assert (item(world).status, len(attempts(world))) == ("In Progress", 1)
    again = actions.request_reprocess(world.settings, ORDER, "ITEM-1", "ana")
    assert again.accepted and again.job_id != ack.job_id  # asking again after a refusal is a new job


def _process_tree(pid: int) -> list[int]:
    """`pid` and all its descendants (a worker, its work horse, its scheduler)."""
    tree = [pid]
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except FileNotFoundError:
        return []
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                children = [int(c) for c in f.read().split()]
        except FileNotFoundError:
            continue
        for child in children:
            tree += _process_tree(child)
    return tree


def kill_tree(pid: int) -> None:
    """SIGKILL a worker and every process it forked: no handler runs, nothing is cleaned up."""
    for member in _process_tree(pid):
        try:
            os.kill(member, signal.SIGKILL)
        except ProcessLookupError:
            pass


def test_worker_killed_mid_create_is_recovered_with_exactly_one_booking(world):
    seed(world)
    # The create is made at once but its answer never comes: the job is inside the call.
    world.synxis.delay_next(30, method="POST", path=RESERVATION, before_handler=False)
    slow = world.but(read_timeout_seconds=20.0)
    first = world.start_worker(slow, process=True)  # the subject: a process killed mid-job
    ack = actions.request_reprocess(world.settings, ORDER, "ITEM-1", "ana")
    wait_for(lambda: world.posts, interval=0.02)
    kill_tree(first.proc.pid)
    first.proc.wait(timeout=5)
    assert (item(world).sync_status, attempts(world)[-1].status) == ("processing", "processing")
    redis = queue.get_redis(world.settings.redis_url)
    rq_queue = queue.get_queue(world.settings, actions=True)  # a click's job
    started = StartedJobRegistry(queue=rq_queue)
    assert Job.fetch(ack.job_id, connection=redis).get_status() == JobStatus.STARTED
    # RQ calls an execution abandoned once its heartbeat lapses (at least 60 s after the last
    # one) and the dead worker's scheduler lock expires after 61 s; let that time pass.
    for member in redis.zrange(started.key, 0, -1):
        redis.zadd(started.key, {member: 1})
    for q in queue.get_queues(world.settings):
        redis.delete(f"rq:scheduler-lock:{q.name}")
    world.start_worker(slow, process=True)  # its start-up maintenance finds the abandoned job and retries it
    assert outcome(world, ack.job_id, timeout=60).startswith("success: found ")
    assert len(world.posts) == 1 and len(world.synxis.reservations()) == 1
    [number] = world.synxis.reservations()
    abandoned, recovered = attempts(world)[-2:]
    assert (abandoned.status, recovered.status, recovered.confirmation) == ("failed", "success", number)
    assert "abandoned" in abandoned.message and abandoned.job_id == recovered.job_id == ack.job_id
    assert audit(world, "reprocess.took_over")
    assert (item(world).status, item(world).external_reference) == ("Confirmed", number)
    assert len(world.item_patches()) == 1


def test_expired_token_is_refreshed_once_then_the_booking_succeeds(world):
    seed(world)
    world.synxis.delay_next(0.5, method="GET", path=RESERVATION)  # the first search waits a moment …
    world.start_worker(world.settings)
    ack = actions.request_reprocess(world.settings, ORDER, "ITEM-1", "ana")
    wait_for(lambda: world.searches, interval=0.01)
    world.synxis.expire_tokens()  # … during which SynXis revokes the token it issued
    assert outcome(world, ack.job_id).startswith("success: created ")
    assert len(world.synxis.token_requests) == 2  # the first token, and one refresh
    assert [r.method for r in world.synxis.reservation_requests].count("POST") == 1
    assert item(world).status == "Confirmed"


def test_wrong_credentials_fail_as_authentication_failure_with_the_next_step(world):
    seed(world, code="data_format")
    world.start_worker(world.but(synxis_client_secret=SecretStr("changed-by-someone"),
                                 auto_retry_after_seconds=1))
    ack = actions.request_reprocess(world.settings, ORDER, "ITEM-1", "ana")
    assert outcome(world, ack.job_id) == (
        "failed: auth_failure: SynXis refused syncdesk's API credentials (SYNXIS_CLIENT_ID / SYNXIS_CLIENT_SECRET: the "
        "API user name and password) when asked for a token.")
    last = attempts(world)[-1]
    assert (last.status, last.error_class) == ("failed", "auth_failure")
    assert "SYNXIS_CLIENT_ID / SYNXIS_CLIENT_SECRET" in last.message
    assert ErrorClass(last.error_class).label == "Authentication failure"
    [failed] = audit(world, "reprocess.failed")
    assert "Update the API credentials" in failed.detail["next_step"]
    assert world.posts == [] and audit(world, "retry.scheduled") == []  # permanent: never retried by itself


# -- Booked manually ----------------------------------------------------------------------

def test_booked_manually_records_the_reference_and_the_premier_payment_method(world):
    seed(world, SPA, code="no_connector")
    world.start_worker(world.settings)
    with rerendered(world):
        ack = actions.request_booked_manually(world.settings, ORDER, "ITEM-2", "ana", " PRM-88412 ", "revspa",
                                              "offline booking, deposit on revspa")
        assert outcome(world, ack.job_id) == "confirmed: PRM-88412"
    [patch] = world.item_patches("ITEM-2")
    assert patch.json == {"status": "Confirmed", "external_reference": "PRM-88412"}
    row = item(world, "ITEM-2")
    assert (row.status, row.sync_status, row.external_reference, row.payment_method, row.confirmed_by) == (
        "Confirmed", "success", "PRM-88412", "revspa", "ana")
    assert attempts(world, "ITEM-2")[-1].message == "booked manually"
    assert world.synxis.requests == []


def test_booked_manually_job_refuses_a_malformed_reference_or_a_missing_payment_method(world):
    seed(world, SPA, code="no_connector")
    world.start_worker(world.settings)
    bad = enqueue(world, "booked_manually", "manual-bad", order_id=ORDER, item_id="ITEM-2", actor="ana",
                  reference="<script>", payment_method="revspa")
    assert outcome(world, bad).startswith("refused: '<script>' does not look like a confirmation number")
    no_method = enqueue(world, "booked_manually", "manual-no-method", order_id=ORDER, item_id="ITEM-2",
                        actor="ana", reference="PRM-1")
    assert "EMS Premier needs the payment method" in outcome(world, no_method)
    assert len(audit(world, "booked_manually.refused")) == 2
    assert world.item_patches("ITEM-2") == [] and item(world, "ITEM-2").status == "In Progress"


def test_booked_manually_after_a_reprocess_confirmed_it_does_not_overwrite_the_reference(world):
    seed(world)
    world.start_worker(world.settings)
    ack = actions.request_reprocess(world.settings, ORDER, "ITEM-1", "ana")
    booked = outcome(world, ack.job_id).split()[-1]
    late = enqueue(world, "booked_manually", "manual-late", order_id=ORDER, item_id="ITEM-1", actor="ben",
                   reference="HANDMADE-1")
    assert outcome(world, late) == f"refused: ITEM-1 is already Confirmed ({booked})"
    assert [p.json["external_reference"] for p in world.item_patches()] == [booked]
    assert item(world).external_reference == booked


# -- Mark complete ------------------------------------------------------------------------

def test_mark_complete_is_refused_with_what_is_missing(world):
    seed(world, ROOM, SPA)
    world.start_worker(world.settings)
    ack = actions.request_complete(world.settings, ORDER, "ana")
    assert not ack.accepted and ack.message == "Not yet: ITEM-1 still In Progress; ITEM-2 still In Progress."
    with rerendered(world):  # the job checks again itself (state may have moved since the click)
        job = enqueue(world, "mark_complete", "complete-early", order_id=ORDER, actor="ana")
        assert outcome(world, job) == "refused: ITEM-1 still In Progress; ITEM-2 still In Progress"
    [refused] = audit(world, "complete.refused")
    assert refused.detail["reason"] == "ITEM-1 still In Progress; ITEM-2 still In Progress"
    assert world.order_patches == [] and world.platform.order(ORDER)["status"] == "In Progress"


def test_mark_complete_is_refused_when_the_payment_was_refunded(world):
    seed(world, SPA, code="no_connector", refunded=24000)
    world.start_worker(world.settings)
    manual = actions.request_booked_manually(world.settings, ORDER, "ITEM-2", "ana", "PRM-1", "revspa")
    assert outcome(world, manual.job_id) == "confirmed: PRM-1"
    ack = actions.request_complete(world.settings, ORDER, "ana")
    assert outcome(world, ack.job_id) == "refused: payment refunded"
    assert world.order_patches == []


def test_platform_409_is_shown_as_a_clear_error_and_a_later_retry_completes(world):
    seed(world, SPA, code="no_connector")
    world.platform.refuse_completion(ORDER, "Order has an outstanding balance of £20.00")
    world.start_worker(world.settings)
    manual = actions.request_booked_manually(world.settings, ORDER, "ITEM-2", "ana", "PRM-1", "revspa")
    assert outcome(world, manual.job_id) == "confirmed: PRM-1"
    with rerendered(world):
        ack = actions.request_complete(world.settings, ORDER, "ana")
        result = outcome(world, ack.job_id)
    assert result == "failed: The platform refused: Order has an outstanding balance of £20.00"
    [failed] = audit(world, "complete.failed")
    assert failed.detail["error_class"] == "platform_refused"
    assert "Order has an outstanding balance of £20.00" in failed.detail["message"]
    with transaction(world.settings.database_url) as session:
        assert session.get(Order, ORDER).platform_status == "In Progress"
    assert alert(world).state == "acknowledged"  # still unresolved: someone is on it, the order is not done
    world.platform.allow_completion(ORDER)
    again = actions.request_complete(world.settings, ORDER, "ana")
    assert again.accepted and again.job_id != ack.job_id, again.message
    assert outcome(world, again.job_id) == "complete"
    assert world.platform.order(ORDER)["status"] == "Complete"
    assert alert(world).state == "resolved"
    with transaction(world.settings.database_url) as session:
        assert session.get(Order, ORDER).platform_status == "Complete"


# -- the command line ---------------------------------------------------------------------

def _cli(w: World, *args: str) -> subprocess.CompletedProcess:
    return run_cli(settings_env(w.settings), *args, "--actor", "cli:ops", "--wait", "20")


def test_cli_commands_enqueue_the_same_jobs_and_print_the_outcome(world):
    seed(world, ROOM, SPA)
    world.start_worker(world.settings)
    reprocess = _cli(world, "reprocess", ORDER, "ITEM-1")
    [number] = world.synxis.reservations()
    assert reprocess.returncode == 0, reprocess.stderr
    assert reprocess.stdout.splitlines() == ["Reprocess queued.", f"outcome: success: created {number}"]
    manual = _cli(world, "booked-manually", ORDER, "ITEM-2", "PRM-77", "--payment-method", "onejourney")
    assert manual.returncode == 0, manual.stderr
    assert manual.stdout.splitlines() == ["Booked manually queued.", "outcome: confirmed: PRM-77"]
    too_soon = _cli(world, "close", ORDER)  # Close order is for a Complete order only
    assert (too_soon.returncode, too_soon.stderr.strip()) == (
        1, f"syncdesk: {ORDER} is In Progress: only a Complete order can be closed (Mark complete first).")
    complete = _cli(world, "complete", ORDER)
    assert complete.returncode == 0, complete.stderr
    assert complete.stdout.splitlines() == ["Mark complete queued.", "outcome: complete"]
    assert world.platform.order(ORDER)["status"] == "Complete"
    close = _cli(world, "close", ORDER)
    assert close.returncode == 0, close.stderr
    assert close.stdout.splitlines() == ["Close queued.", "outcome: closed"]
    assert world.platform.order(ORDER)["status"] == "Closed" and world.order_patches[-1].json == {"status": "Closed"}
    with transaction(world.settings.database_url) as session:
        assert session.get(Order, ORDER).platform_status == "Closed"
    [closed] = audit(world, "order.closed")
    assert (closed.actor, closed.detail["from"]) == ("cli:ops", "Complete")
    again = _cli(world, "close", ORDER)
    assert (again.returncode, again.stderr.strip()) == (1, f"syncdesk: {ORDER} is already Closed.")
    assert {e.actor for e in audit(world, "click.reprocess") + audit(world, "click.mark_complete")
            + audit(world, "click.close_order")} == {"cli:ops"}
