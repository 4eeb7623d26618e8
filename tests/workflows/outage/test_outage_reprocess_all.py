"""Reprocess all, end to end: after an outage's all-clear, one press rebooks every order that
failed during it exactly once, soonest arrival first, at the booking system's pace, through
real worker processes against a fake SynXis behind a rate-limiting gateway, the platform and
Stripe; a 429 with Retry-After stops every lane until it has passed; when the system fails
again the recovery pauses, the incident re-opens, and the next all-clear resumes it."""

from __future__ import annotations

import bisect
import copy
import datetime as dt
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import func, select

from tests.conftest import wait_for
from tests.fakes import FakePlatform, FakeStripe
from tests.fakes.paced import IsolatedSynxis
from tests.workflows.actions.test_jobs import PLATFORM_KEY, ROOM, STRIPE_KEY
from workflows.core import states
from workflows.core.queue import get_redis
from workflows.core.db import transaction
from workflows.core.models import AuditEvent, Incident, OrderItem, SyncAttempt, utcnow
from workflows.core.settings import Settings
from workflows.intake import webhook as intake
from workflows.orders.payloads import parse_sync_failure
from workflows.outage import jobs as outage_jobs
from workflows.outage import requests as outage_requests
from workflows.outage import views as outage_views
from workflows.systems.pace import Limiter, Pace

pytestmark = pytest.mark.slow  # started first (tests/conftest.py)

RESERVATION = "/v1/api/reservation"


@dataclass
class Recovery:
    settings: Settings
    synxis: IsolatedSynxis
    platform: FakePlatform
    stripe: FakeStripe
    workers: list[Any]

    def creates(self) -> list[tuple[float, str, str, int]]:
        return [a for a in self.synxis.arrivals if a[1] == "POST" and a[2] == RESERVATION]


@pytest.fixture
def paced(settings: Settings, worker_factory: Any, request: pytest.FixtureRequest) -> Iterator[Recovery]:
    options = getattr(request, "param", {})
    with IsolatedSynxis(stall_seconds=30, **options) as synxis, FakePlatform(api_key=PLATFORM_KEY) as platform, \
            FakeStripe(api_key=STRIPE_KEY) as stripe_fake:
        configured = settings.model_copy(update=dict(
            synxis_api_url=synxis.url, synxis_token_url=synxis.token_url, synxis_client_id=synxis.client_id,
            synxis_client_secret=SecretStr(synxis.client_secret), platform_api_url=platform.url,
            platform_api_key=SecretStr(PLATFORM_KEY), stripe_api_key=SecretStr(STRIPE_KEY),
            stripe_api_base=stripe_fake.url, connect_timeout_seconds=2.0, read_timeout_seconds=2.0,
            poll_interval_seconds=3600, auto_retry_after_seconds=3600, outage_threshold=3,
            system_pace="synxis=8/3", pace_ramp_seconds=6))
        Limiter(get_redis(settings.redis_url), "synxis", Pace(8, 3)).reset()
        world = Recovery(configured, synxis, platform, stripe_fake, [])
        yield world
        for worker in world.workers:
            worker.stop()


def record(world: Recovery, order_id: str, arrival: dt.date, occurred: dt.datetime) -> None:
    intent = world.stripe.add_payment_intent(amount=24000, currency="gbp", status="succeeded")
    room = copy.deepcopy(ROOM) | {"start": arrival.isoformat(), "end": (arrival + dt.timedelta(days=1)).isoformat()}
    order = {"id": order_id, "status": "In Progress", "placed_at": "2026-11-22T09:57:10Z", "currency": "GBP",
             "total_minor": 24000,
             "guest": {"first_name": "Larry", "last_name": f"Walker{order_id[-2:]}", "email": "larry@example.com"},
             "payment": {"provider": "stripe", "reference": intent, "amount_minor": 24000}, "items": [room]}
    world.platform.seed(order, updated_at=utcnow().isoformat())
    event = {"event_id": f"evt-{order_id}", "occurred_at": occurred.strftime("%Y-%m-%dT%H:%M:%SZ"), "order": order,
             "failure": {"item_id": "ITEM-1", "system": "synxis", "message": "Read timed out after 30 s",
                         "code": "timeout"}}
    intake.record(world.settings, parse_sync_failure(json.dumps(event).encode()), "webhook")


def outage(world: Recovery, count: int) -> tuple[int, dict[str, dt.date]]:
    """`count` failed orders in one outage, arrivals one day apart in a shuffled order; the all-clear given."""
    s = world.settings
    start = utcnow().replace(microsecond=0) - dt.timedelta(minutes=3)
    today = dt.datetime.now(dt.timezone.utc).date()
    arrivals = {f"ORD-REC-{n:02d}": today + dt.timedelta(days=1 + (n * 7) % count) for n in range(count)}
    for n, (order_id, arrival) in enumerate(arrivals.items()):
        record(world, order_id, arrival, start + dt.timedelta(seconds=n))
    with transaction(s.database_url) as session:
        [incident] = session.scalars(select(Incident)).all()
        last = incident.last_failure_at
    assert outage_jobs.check_quiet(s, last + dt.timedelta(minutes=10, seconds=1)) == [incident.id]
    return incident.id, arrivals


def items(world: Recovery, order_ids: list[str]) -> list[OrderItem]:
    with transaction(world.settings.database_url) as session:
        return list(session.scalars(select(OrderItem).where(OrderItem.order_id.in_(order_ids))))


def start_workers(world: Recovery, worker_factory: Any) -> None:
    for _ in range(3):  # three workers share the lanes, at one pace through Redis
        world.workers.append(worker_factory(world.settings))


def max_in_window(times: list[float], window: float = 1.0) -> int:
    times = sorted(times)
    return max((bisect.bisect_left(times, t + window) - i for i, t in enumerate(times)), default=0)


@pytest.mark.timeout(240)
@pytest.mark.parametrize("paced", [{"limit": 8, "latency": 0.05}], indirect=True)
def test_reprocess_all_rebooks_each_order_once_soonest_arrival_first_at_the_systems_pace(paced, worker_factory):
    world = paced
    incident_id, arrivals = outage(world, 16)
    pressed = outage_requests.reprocess_all(world.settings, incident_id, "slack:U0ALICE (alice)")
    assert pressed.accepted and "8 requests/s, 3 at once" in pressed.message
    start_workers(world, worker_factory)
    wait_for(lambda: all(i.status == states.CONFIRMED for i in items(world, list(arrivals))), timeout=180)

    assert world.synxis.too_many() == 0  # the gateway never had to refuse anything
    requests = [a[0] for a in world.synxis.arrivals]
    assert max_in_window(requests) <= 8
    creates = world.creates()
    assert len(creates) == 16 and len(world.synxis.reservations()) == 16  # one booking per order
    references = sorted(r.get("ExternalReferenceNumber", "") for r in world.synxis.reservations().values())
    assert references == sorted(f"{o}/ITEM-1" for o in arrivals)
    # Soonest arrival first: the jobs are taken in arrival order, three at once (the pace's 8/3),
    # so a booking may start before one at most two places earlier that was taken at the same
    # moment, never before one further ahead; and no guest is confirmed before one arriving
    # earlier was even started (those in flight at once may finish in any order).
    with transaction(world.settings.database_url) as session:
        started = dict(session.execute(select(SyncAttempt.order_id, func.min(SyncAttempt.started_at)).where(
            SyncAttempt.triggered_by == "slack:U0ALICE (alice)").group_by(SyncAttempt.order_id)).all())
    by_arrival = sorted(arrivals, key=arrivals.get)
    assert set(started) == set(by_arrival)
    overtaken = [(early, late) for i, early in enumerate(by_arrival) for late in by_arrival[i + 3:]
                 if started[late] < started[early]]
    assert not overtaken, f"started before an order three or more arrivals ahead of it: {overtaken}"
    for item in items(world, list(arrivals)):
        assert all(started[o] <= item.confirmed_at for o in arrivals if arrivals[o] < arrivals[item.order_id])
    with transaction(world.settings.database_url) as session:
        progress = outage_views.view(session, incident_id).progress
    assert progress is not None and progress.text == "16/16 rebooked"


@pytest.mark.timeout(240)
@pytest.mark.parametrize("paced", [{"latency": 0.05, "throttle_after_creates": 5, "throttle_seconds": 2}],
                         indirect=True)
def test_a_429_with_retry_after_stops_every_lane_until_it_has_passed_then_recovery_goes_on(paced, worker_factory):
    world = paced
    incident_id, arrivals = outage(world, 12)
    assert outage_requests.reprocess_all(world.settings, incident_id, "slack:U0ALICE (alice)").accepted
    start_workers(world, worker_factory)
    wait_for(lambda: all(i.status == states.CONFIRMED for i in items(world, list(arrivals))), timeout=180)

    assert world.synxis.answered_429, "the gateway never throttled"
    first_refusal = min(world.synxis.answered_429)
    throttle_began, throttle_ended = world.synxis.throttled_between
    after = [t for t, *_ in world.synxis.arrivals if first_refusal < t < throttle_ended]
    assert after == []  # nothing sent between the first 429's answer and the end of its Retry-After
    assert len([c for c in world.creates() if c[3] == 200]) == 12 and len(world.synxis.reservations()) == 12
    with transaction(world.settings.database_url) as session:
        rate_limited = session.scalars(select(AuditEvent).where(AuditEvent.action == "reprocess.failed")).all()
    assert all(e.detail["error_class"] == "rate_limited" for e in rate_limited)  # no other failure


@pytest.mark.timeout(240)
@pytest.mark.parametrize("paced", [{"latency": 0.02}], indirect=True)
def test_failures_during_recovery_pause_it_and_reopen_the_incident_the_next_all_clear_resumes_it(
        paced, worker_factory):
    world = paced
    s = world.settings
    incident_id, arrivals = outage(world, 10)
    world.synxis.fail_with_status(503, method="POST", path=RESERVATION, times=-1)  # down again
    assert outage_requests.reprocess_all(s, incident_id, "slack:U0ALICE (alice)").accepted
    start_workers(world, worker_factory)

    def reopened() -> bool:
        with transaction(s.database_url) as session:
            return session.get(Incident, incident_id).state == states.INCIDENT_OPEN
    wait_for(reopened, timeout=120)
    tried = len(world.creates())
    time.sleep(3)  # the lanes stop at their next step
    assert len(world.creates()) == tried <= 3 + 3  # the threshold, and what was in flight: not all ten
    with transaction(s.database_url) as session:
        shown = outage_views.view(session, incident_id)
        assert session.scalar(select(AuditEvent).where(AuditEvent.action == "outage.reopened")) is not None
    assert shown.recovery_paused and shown.progress.paused and "paused" in shown.progress.text
    assert all(i.status == states.IN_PROGRESS for i in items(world, list(arrivals)))

    world.synxis.clear_faults()  # back up; quiet for the window
    assert outage_jobs.check_quiet(s, utcnow() + dt.timedelta(minutes=10, seconds=1)) == [incident_id]
    wait_for(lambda: all(i.status == states.CONFIRMED for i in items(world, list(arrivals))), timeout=180)
    assert len(world.synxis.reservations()) == 10  # each once, the failed creates made nothing
    with transaction(s.database_url) as session:
        assert session.scalar(select(AuditEvent).where(AuditEvent.action == "outage.recovery_resumed")) is not None
