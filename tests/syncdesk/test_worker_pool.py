"""Workers that scale out: two `syncdesk worker --processes 2` pools (four worker processes, as
on two machines) and a `syncdesk clock` against one Redis and one database book 30 orders,
and one worker SIGKILLed in the middle of a booking changes nothing: its pool hands its job
back at once, and every order is booked exactly once in SynXis and confirmed once."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal

import pytest
from pydantic import SecretStr
from rq import Worker
from sqlalchemy import func, select

from tests.conftest import wait_for
from tests.fakes import FakePlatform, FakeStripe
from tests.fakes.paced import PacedSynxis
from tests.workflows.actions.test_jobs import PLATFORM_KEY, STRIPE_KEY
from tests.workflows.outage.test_outage_reprocess_all import RESERVATION
from workflows.actions import requests as actions
from workflows.core import queue
from workflows.core.db import transaction
from workflows.core.models import AuditEvent, OrderItem
from workflows.core.settings import Settings
from workflows.intake import webhook as intake
from workflows.orders.payloads import parse_sync_failure

pytestmark = pytest.mark.slow  # started first (tests/conftest.py)

ORDERS = [f"ORD-POOL-{n:02d}" for n in range(30)]


def record(s, synxis_room: dict, platform: FakePlatform, stripe: FakeStripe, order_id: str) -> None:  # type: ignore[no-untyped-def]
    intent = stripe.add_payment_intent(amount=24000, currency="gbp", status="succeeded")
    order = {"id": order_id, "status": "In Progress", "placed_at": "2026-11-22T09:57:10Z", "currency": "GBP",
             "total_minor": 24000,
             "guest": {"first_name": "Pat", "last_name": f"Pool{order_id[-2:]}", "email": "pat@example.com"},
             "payment": {"provider": "stripe", "reference": intent, "amount_minor": 24000}, "items": [synxis_room]}
    platform.seed(order, updated_at=dt.datetime.now(dt.timezone.utc).isoformat())
    event = {"event_id": f"evt-{order_id}", "occurred_at": "2026-11-22T09:58:00Z", "order": order,
             "failure": {"item_id": "ITEM-1", "system": "synxis", "message": "room type not mapped",
                         "code": "not_mapped"}}  # not transient: no automatic retry, the clicks are the only jobs
    intake.record(s, parse_sync_failure(json.dumps(event).encode()), "webhook")


def booking(settings: Settings, synxis: PacedSynxis, platform: FakePlatform, stripe: FakeStripe) -> Settings:
    return settings.model_copy(update=dict(
        synxis_api_url=synxis.url, synxis_token_url=synxis.token_url, synxis_client_id=synxis.client_id,
        synxis_client_secret=SecretStr(synxis.client_secret), platform_api_url=platform.url,
        platform_api_key=SecretStr(PLATFORM_KEY), stripe_api_key=SecretStr(STRIPE_KEY),
        stripe_api_base=stripe.url, connect_timeout_seconds=2.0, read_timeout_seconds=5.0,
        poll_interval_seconds=3600, auto_retry_after_seconds=3600, system_pace="synxis=100/8"))


def took_over(s: Settings) -> int:
    """How many times a re-run of a job took over the lock its killed run held."""
    with transaction(s.database_url) as session:
        return session.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.action == "reprocess.took_over")) or 0


def confirmed(s: Settings, orders: list[str]) -> bool:
    with transaction(s.database_url) as session:
        return session.scalar(select(func.count()).select_from(OrderItem).where(
            OrderItem.order_id.in_(orders), OrderItem.status == "Confirmed")) == len(orders)


@pytest.mark.timeout(300)
def test_four_workers_and_a_killed_one_book_every_order_exactly_once(settings, worker_factory):
    from tests.workflows.actions.test_jobs import ROOM

    with PacedSynxis(stall_seconds=30, latency=0.3) as synxis, FakePlatform(api_key=PLATFORM_KEY) as platform, \
            FakeStripe(api_key=STRIPE_KEY) as stripe_fake:
        s = booking(settings, synxis, platform, stripe_fake)
        for order_id in ORDERS:
            record(s, dict(ROOM), platform, stripe_fake, order_id)
        pools = [worker_factory(s, args=["worker", "--processes", "2"]) for _ in range(2)]
        worker_factory(s, args=["clock", "--tick", "0.5"])
        actions_queue = queue.get_queue(s, actions=True)
        wait_for(lambda: len(Worker.all(queue=actions_queue)) == 4, timeout=60)
        acks = [actions.request_reprocess(s, order_id, "ITEM-1", "ana") for order_id in ORDERS]
        assert all(a.accepted for a in acks)

        # A worker in the middle of a booking (its create sent, the answer 0.3 s away) is killed.
        wait_for(lambda: len(synxis.requests_to("POST", RESERVATION)) >= 8, timeout=90, interval=0.01)
        busy = [w for w in Worker.all(queue=actions_queue) if w.get_state() == "busy"]
        assert busy
        os.kill(busy[0].pid, signal.SIGKILL)
        assert busy[0].pid not in {p.proc.pid for p in pools}  # a pool's worker, not the pool

        # Its pool sees it die and hands its job back to RQ as abandoned at once: RQ retries it
        # (first retry after 5 s, moved by the clock). Left to RQ, the job would wait for its
        # heartbeat to lapse, the job timeout plus 60 s.
        wait_for(lambda: took_over(s), timeout=30)
        wait_for(lambda: confirmed(s, ORDERS), timeout=180)

        reservations = synxis.reservations().values()
        assert len(reservations) == len(ORDERS)  # one booking per order, none twice
        assert sorted(r["ExternalReferenceNumber"] for r in reservations) == sorted(f"{o}/ITEM-1" for o in ORDERS)
        with transaction(s.database_url) as session:
            confirmations = session.execute(select(AuditEvent.order_id, func.count()).where(
                AuditEvent.action == "item.confirmed").group_by(AuditEvent.order_id)).all()
        assert sorted(o for o, _ in confirmations) == ORDERS and {n for _, n in confirmations} == {1}
        assert took_over(s) == 1  # the killed worker's job, run again, took over its own lock
        # the pools respawned their killed worker: four of theirs listen again
        wait_for(lambda: len([w for w in Worker.all(queue=actions_queue) if w.pid != busy[0].pid]) >= 4, timeout=30)


@pytest.mark.timeout(180)
def test_a_lone_worker_killed_mid_booking_has_its_job_handed_back_by_the_clock(settings, worker_factory):
    from tests.workflows.actions.test_jobs import ROOM

    with PacedSynxis(stall_seconds=30, latency=2.0) as synxis, FakePlatform(api_key=PLATFORM_KEY) as platform, \
            FakeStripe(api_key=STRIPE_KEY) as stripe_fake:
        s = booking(settings, synxis, platform, stripe_fake)
        record(s, dict(ROOM), platform, stripe_fake, "ORD-LONE-01")
        worker_factory(s, args=["clock", "--tick", "0.5"])
        lone = worker_factory(s, args=["worker"])  # `syncdesk worker`, no pool watching it
        wait_for(lambda: Worker.all(queue=queue.get_queue(s, actions=True)), timeout=60)
        assert actions.request_reprocess(s, "ORD-LONE-01", "ITEM-1", "ana").accepted
        wait_for(lambda: synxis.requests_to("POST", RESERVATION), timeout=60, interval=0.01)  # the answer 2 s away
        os.kill(lone.proc.pid, signal.SIGKILL)
        worker_factory(s, args=["worker"])  # its supervisor starts it again

        # The clock finds the worker's process gone and hands its job back to RQ, which retries
        # it after 5 s; left to RQ, it would wait for the heartbeat, the job timeout plus 60 s.
        wait_for(lambda: took_over(s), timeout=30)
        wait_for(lambda: confirmed(s, ["ORD-LONE-01"]), timeout=60)
        assert len(synxis.reservations()) == 1  # the killed run's create was found, not made again
