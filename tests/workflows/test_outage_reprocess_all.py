"""Reprocess all, end to end: after an outage's all-clear, one press rebooks every order
that failed during it exactly once, through a real worker against the fake SynXis,
platform and Stripe, and the incident reports the progress from the database."""

from __future__ import annotations

import copy
import datetime as dt
import json

from sqlalchemy import select

from tests.conftest import wait_for
from tests.workflows.test_jobs import ROOM, World, world  # noqa: F401 - the fixture
from workflows import intake, outage
from workflows.db import transaction
from workflows.models import Incident, OrderItem, utcnow
from workflows.payloads import parse_sync_failure

ORDERS = [f"ORD-OUT-{n}" for n in range(4)]


def record_failure(w: World, settings, order_id: str, occurred: dt.datetime) -> None:  # type: ignore[no-untyped-def]
    intent = w.stripe.add_payment_intent(amount=24000, currency="gbp", status="succeeded")
    order = {"id": order_id, "status": "In Progress", "placed_at": "2026-11-22T09:57:10Z", "currency": "GBP",
             "total_minor": 24000,
             "guest": {"first_name": "Larry", "last_name": f"Walker{order_id[-1]}", "email": "larry@example.com"},
             "payment": {"provider": "stripe", "reference": intent, "amount_minor": 24000},
             "items": [copy.deepcopy(ROOM)]}
    w.platform.seed(order, updated_at=utcnow().isoformat())
    event = {"event_id": f"evt-{order_id}", "occurred_at": occurred.strftime("%Y-%m-%dT%H:%M:%SZ"), "order": order,
             "failure": {"item_id": "ITEM-1", "system": "synxis", "message": "Read timed out after 30 s",
                         "code": "timeout"}}
    intake.record(settings, parse_sync_failure(json.dumps(event).encode()), "webhook")


def test_reprocess_all_rebooks_every_order_of_the_outage_exactly_once(world: World):  # noqa: F811
    s = world.but(outage_threshold=3, outage_reprocess_pace_seconds=1, auto_retry_after_seconds=3600)
    start = utcnow().replace(microsecond=0) - dt.timedelta(minutes=3)
    for n, order_id in enumerate(ORDERS):
        record_failure(world, s, order_id, start + dt.timedelta(seconds=20 * n))
    with transaction(s.database_url) as session:
        [incident] = session.scalars(select(Incident)).all()
        last = incident.last_failure_at
    assert outage.check_quiet(s, last + dt.timedelta(minutes=10, seconds=1)) == [incident.id]

    pressed = outage.reprocess_all(s, incident.id, "slack:U0ALICE (alice)")
    assert pressed.accepted, pressed.message
    world.start_worker(s)  # the clock hands the paced rest of the outbox to RQ

    def all_confirmed() -> bool:
        with transaction(s.database_url) as session:
            items = session.scalars(select(OrderItem).where(OrderItem.order_id.in_(ORDERS))).all()
            return len(items) == 4 and all(i.status == "Confirmed" for i in items)
    wait_for(all_confirmed, timeout=60)

    assert len(world.posts) == 4 and len(world.synxis.reservations()) == 4  # one booking per order
    references = sorted(r.get("ExternalReferenceNumber", "") for r in world.synxis.reservations().values())
    assert references == sorted(f"{o}/ITEM-1" for o in ORDERS)
    with transaction(s.database_url) as session:
        progress = outage.view(session, incident.id).progress
    assert progress is not None and progress.text.startswith("4/4 rebooked")
