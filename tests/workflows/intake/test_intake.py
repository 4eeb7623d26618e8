"""Failure intake over real HTTP (uvicorn), into the real database, enqueueing on real Redis."""

from __future__ import annotations

import copy
import json
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from pydantic import SecretStr
from rq import Queue
from sqlalchemy import func, select

from tests.conftest import INGEST_SECRET, post_failure
from workflows.core import queue as outbox
from workflows.core.db import transaction
from workflows.core.models import (
    Alert,
    AuditEvent,
    IntakeEvent,
    Order,
    OrderItem,
    OrderSearch,
    OutboxEntry,
    SyncAttempt,
)
from workflows.core.queue import get_redis, job_id
from workflows.core.signature import sign

BASE = {
    "event_id": "evt_01",
    "occurred_at": "2026-11-22T09:58:00Z",
    "order": {
        "id": "ORD-10042", "status": "In Progress", "placed_at": "2026-11-22T09:57:10Z",
        "currency": "GBP", "total_minor": 24000,
        "guest": {"first_name": "Larry", "last_name": "Walker", "email": "larry.walker@example.com",
                  "phone": "+44 5551234567"},
        "payment": {"provider": "stripe", "reference": "pi_3Qtest", "amount_minor": 24000},
        "items": [{
            "id": "ITEM-1", "kind": "room", "system": "synxis", "status": "In Progress",
            "description": "Luxury Twin, BAR, 1 night", "start": "2026-12-01", "end": "2026-12-02",
            "quantity": 1, "guests": 2,
            "details": {"hotel_id": 13098, "chain_id": 12723, "room_code": "LUXT", "rate_code": "BAR"},
        }],
    },
    "failure": {"item_id": "ITEM-1", "system": "synxis", "message": "Read timed out after 30 s",
                "code": "timeout", "log": "httpx.ReadTimeout: The read operation timed out"},
}


# SynXis credentials (nothing answers at the URL): a transient failure of a SynXis item then gets
# its automatic retry; with none set it gets none (issue 27, `test_a_system_without_credentials_...`).
SYNXIS_SET = {"synxis_api_url": "http://127.0.0.1:9", "synxis_token_url": "http://127.0.0.1:9/v1/auth/token",
              "synxis_client_id": "syncdesk", "synxis_client_secret": SecretStr("not-used")}


@pytest.fixture
def settings(settings):
    """The shared settings with SynXis credentials: this module's timeouts are retried."""
    return settings.model_copy(update=SYNXIS_SET)


def payload(**changes: object) -> dict:
    data = copy.deepcopy(BASE)
    for path, value in changes.items():
        target = data
        keys = path.split("__")
        for key in keys[:-1]:
            target = target[int(key)] if isinstance(target, list) else target[key]
        target[keys[-1]] = value
    return data


def counts(url: str) -> dict[str, int]:
    with transaction(url) as session:
        return {model.__tablename__: session.scalar(select(func.count()).select_from(model))
                for model in (Order, OrderItem, SyncAttempt, Alert, IntakeEvent, OutboxEntry, AuditEvent)}


NOTHING = {"orders": 0, "order_items": 0, "sync_attempts": 0, "alerts": 0, "intake_events": 0, "outbox": 0,
           "audit_events": 0}


def test_valid_failure_is_recorded_alerted_and_its_jobs_enqueued(live_app, settings):
    response = post_failure(live_app.url, payload())
    assert response.status_code == 202, response.text
    assert response.json() == {"order_id": "ORD-10042", "alert": "created"}
    with transaction(settings.database_url) as session:
        order = session.get(Order, "ORD-10042")
        assert order.guest_last_name == "Walker" and order.total_minor == 24000
        item = order.items[0]
        assert (item.status, item.sync_status, item.details["hotel_id"]) == ("In Progress", "failed", 13098)
        attempt = session.scalars(select(SyncAttempt)).one()
        assert (attempt.number, attempt.status, attempt.error_class) == (1, "failed", "timeout")
        assert session.scalars(select(Alert)).one().state == "open"
        assert [e.dispatched_at for e in session.scalars(select(OutboxEntry))] == [None, None]  # until the clock
    queue = Queue(settings.queue_name, connection=get_redis(settings.redis_url))
    assert queue.count == 1  # the alert refresh, now
    scheduled = queue.scheduled_job_registry.get_job_ids()
    assert scheduled == [job_id("reprocess", "ORD-10042", "ITEM-1", 2)]  # one automatic retry for a timeout
    # The clock's drain finds both jobs in RQ and marks their entries, enqueueing nothing again.
    assert outbox.drain(settings) == 2 and outbox.pending_count(settings) == 0
    assert queue.count == 1 and queue.scheduled_job_registry.get_job_ids() == scheduled


def test_same_event_twice_is_one_order_and_one_alert(live_app, settings):
    first = post_failure(live_app.url, payload())
    second = post_failure(live_app.url, payload())
    assert first.status_code == 202
    assert second.status_code == 200 and second.json()["duplicate"] is True
    c = counts(settings.database_url)
    assert (c["orders"], c["alerts"], c["sync_attempts"], c["intake_events"]) == (1, 1, 1, 1)


def test_the_same_event_delivered_eight_times_at_once_is_recorded_once(live_app, settings):
    # The platform retrying while the first delivery is still in flight: one INSERT … ON
    # CONFLICT DO NOTHING decides, the others wait for it and answer duplicate.
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: post_failure(live_app.url, payload()), range(8)))
    assert sorted(a.status_code for a in answers) == [200] * 7 + [202], [a.text for a in answers]
    assert all(a.json()["duplicate"] is True for a in answers if a.status_code == 200)
    c = counts(settings.database_url)
    assert (c["orders"], c["alerts"], c["sync_attempts"], c["intake_events"]) == (1, 1, 1, 1)


def test_different_events_for_one_new_order_at_once_are_all_recorded_on_one_order(live_app, settings):
    events = [payload(event_id=f"evt_c{n}", occurred_at=f"2026-11-22T09:58:0{n}Z") for n in range(6)]
    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(lambda event: post_failure(live_app.url, event), events))
    assert [a.status_code for a in answers] == [202] * 6, [a.text for a in answers]
    with transaction(settings.database_url) as session:
        numbers = sorted(session.scalars(select(SyncAttempt.number)))
    assert numbers == [1, 2, 3, 4, 5, 6]  # each failure its own attempt, numbered without a gap or a clash
    c = counts(settings.database_url)
    assert (c["orders"], c["order_items"], c["alerts"], c["intake_events"]) == (1, 1, 1, 6)


def test_second_failure_for_an_open_order_updates_its_alert(live_app, settings):
    post_failure(live_app.url, payload())
    response = post_failure(live_app.url, payload(event_id="evt_02", failure__message="No Availability",
                                                  failure__code=None))
    assert response.json() == {"order_id": "ORD-10042", "alert": "updated"}
    with transaction(settings.database_url) as session:
        assert session.scalar(select(func.count()).select_from(Alert)) == 1
        attempts = session.scalars(select(SyncAttempt).order_by(SyncAttempt.number)).all()
        assert [(a.number, a.error_class) for a in attempts] == [(1, "timeout"), (2, "no_availability")]


@pytest.mark.parametrize("how", ["wrong_secret", "stale", "future", "garbled", "missing"])
def test_bad_signature_is_401_and_writes_nothing(live_app, settings, how):
    body = json.dumps(payload()).encode()
    header = {
        "wrong_secret": sign("not-the-secret", body),
        "stale": sign(INGEST_SECRET, body, int(time.time()) - 330),
        "future": sign(INGEST_SECRET, body, int(time.time()) + 330),
        "garbled": "t=abc,v1=zz",
        "missing": "",
    }[how]
    response = post_failure(live_app.url, body, signature=header)
    assert response.status_code == 401
    assert counts(settings.database_url) == NOTHING


def test_signature_within_clock_skew_tolerance_is_accepted(live_app):
    body = json.dumps(payload()).encode()
    response = post_failure(live_app.url, body, signature=sign(INGEST_SECRET, body, int(time.time()) - 250))
    assert response.status_code == 202


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b'{"event_id": "evt_01", "order": ', "body"),
        (b"[1, 2]", "body"),
        (json.dumps({k: v for k, v in BASE.items() if k != "order"}).encode(), "order"),
        (json.dumps(payload(order__id=None)).encode(), "order.id"),
        (json.dumps(payload(order__total_minor="24000")).encode(), "order.total_minor"),
        (json.dumps(payload(order__items__0__start="tomorrow")).encode(), "order.items[0].start"),
        (json.dumps(payload(order__items__0__kind="castle")).encode(), "order.items[0].kind"),
        (json.dumps(payload(order__currency="pounds")).encode(), "order.currency"),
        (json.dumps(payload(failure__item_id="ITEM-9")).encode(), "failure.item_id"),
        (json.dumps(payload(occurred_at="2026-11-22T09:58:00")).encode(), "occurred_at"),
    ],
)
def test_malformed_body_is_400_naming_the_field_and_writes_nothing(live_app, settings, body, field):
    response = post_failure(live_app.url, body)
    assert response.status_code == 400, response.text
    assert response.json()["field"] == field
    assert counts(settings.database_url) == NOTHING


def test_missing_order_id_is_named(live_app, settings):
    data = payload()
    del data["order"]["id"]
    response = post_failure(live_app.url, data)
    assert (response.status_code, response.json()["field"]) == (400, "order.id")
    assert counts(settings.database_url) == NOTHING


def test_body_over_256_kib_is_413(live_app, settings):
    data = payload(failure__log="x" * (300 * 1024))
    response = post_failure(live_app.url, data)
    assert response.status_code == 413
    assert counts(settings.database_url) == NOTHING


def test_test_order_is_recorded_but_never_alerted(live_app, settings):
    response = post_failure(live_app.url, payload(order__status="Test"))
    assert response.status_code == 202 and response.json()["alert"] == "none"
    c = counts(settings.database_url)
    assert (c["orders"], c["intake_events"], c["alerts"], c["sync_attempts"], c["outbox"]) == (1, 1, 0, 0, 0)


def test_retail_item_in_progress_is_not_a_sync_failure(live_app, settings):
    retail = {"id": "ITEM-R", "kind": "retail", "status": "In Progress", "description": "Robe", "quantity": 1}
    data = payload(failure__item_id="ITEM-R", failure__system=None)
    data["order"]["items"].append(retail)
    response = post_failure(live_app.url, data)
    assert response.status_code == 202 and response.json()["alert"] == "none"
    c = counts(settings.database_url)
    assert (c["alerts"], c["sync_attempts"]) == (0, 0)


def test_cancelled_order_resolves_its_alert(live_app, settings):
    post_failure(live_app.url, payload())
    post_failure(live_app.url, payload(event_id="evt_02", order__status="Cancelled"))
    with transaction(settings.database_url) as session:
        assert session.scalars(select(Alert)).one().state == "resolved"


def test_permanent_failure_gets_no_automatic_retry(live_app, settings):
    post_failure(live_app.url, payload(failure__code=None, failure__message="401 Unauthorized: invalid_client"))
    queue = Queue(settings.queue_name, connection=get_redis(settings.redis_url))
    assert queue.scheduled_job_registry.get_job_ids() == []
    with transaction(settings.database_url) as session:
        assert session.scalars(select(SyncAttempt)).one().error_class == "auth_failure"


def test_database_down_is_503(settings, redis_url):
    from syncdesk.web import create_app
    from tests.conftest import LiveServer

    down = settings.model_copy(update={"database_url": "postgresql+psycopg://nobody@127.0.0.1:1/none"})
    with LiveServer(create_app(down)) as server:
        response = post_failure(server.url, payload())
        assert response.status_code == 503
        assert httpx.get(f"{server.url}/readyz").status_code == 503
        assert httpx.get(f"{server.url}/healthz").status_code == 200


def test_readyz_reports_database_and_redis(live_app):
    response = httpx.get(f"{live_app.url}/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "database": "ok", "redis": "ok"}


def test_redis_down_keeps_the_failure_in_the_outbox_until_drained(settings):
    from syncdesk.web import create_app
    from tests.conftest import LiveServer
    from workflows.core import queue

    no_redis = settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"})
    with LiveServer(create_app(no_redis)) as server:
        assert post_failure(server.url, payload()).status_code == 202
    assert queue.pending_count(settings) == 2  # alert refresh + automatic retry, both kept
    assert queue.drain(settings) == 2
    assert queue.pending_count(settings) == 0
    rq_queue = Queue(settings.queue_name, connection=get_redis(settings.redis_url))
    assert rq_queue.count == 1 and len(rq_queue.scheduled_job_registry) == 1


def test_a_system_without_credentials_gets_no_automatic_retry_and_the_alert_names_the_settings(settings):
    """Issue 27: the retry could only fail with no_connector, hiding the platform's timeout."""
    from bot.slack import render
    from syncdesk.web import create_app
    from tests.conftest import LiveServer
    from workflows.orders.snapshot import load

    bare = settings.model_copy(update={name: None for name in SYNXIS_SET})
    with LiveServer(create_app(bare)) as server:
        assert post_failure(server.url, payload()).status_code == 202
    queue = Queue(bare.queue_name, connection=get_redis(bare.redis_url))
    assert queue.scheduled_job_registry.get_job_ids() == []
    missing = ("the synxis connector is not configured (missing required settings: SYNXIS_API_URL, SYNXIS_TOKEN_URL, "
               "SYNXIS_CLIENT_ID, SYNXIS_CLIENT_SECRET (set them in the environment or in .env)): book it by hand, then "
               "use Booked manually")
    with transaction(bare.database_url) as session:
        [skipped] = session.scalars(select(AuditEvent).where(AuditEvent.action == "retry.not_scheduled")).all()
        assert skipped.detail == {"reason": missing}
        assert session.scalars(select(SyncAttempt)).one().error_class == "timeout"  # the platform's cause stays
        snapshot = load(session, "ORD-10042")
    assert missing in json.dumps(render.alert_blocks(snapshot))


def _rows_of(url: str, order_id: str, event_id: str) -> dict[str, list[dict]]:
    """Every row intake wrote for the order, keys and times left out, its ids as placeholders."""
    volatile = {"id", "pk", "item_pk", "created_at", "updated_at", "received_at", "job_id"}

    def plain(row: object) -> dict:
        values = {c.key: getattr(row, c.key) for c in row.__table__.columns if c.key not in volatile}
        if isinstance(values.get("detail"), dict):  # the retry's time: now, in either
            values["detail"] = {k: v for k, v in values["detail"].items() if k != "at"}
        text = json.dumps(values, default=str, sort_keys=True)
        return json.loads(text.replace(order_id, "<order>").replace(event_id, "<event>"))

    with transaction(url) as session:
        tables: dict[str, list[dict]] = {}
        for model in (Order, OrderItem, SyncAttempt, Alert, AuditEvent, OrderSearch):
            key = model.id if model is Order else model.order_id
            order_by = [model.id] if hasattr(model, "id") else [model.pk]
            tables[model.__tablename__] = [plain(r) for r in session.scalars(
                select(model).where(key == order_id).order_by(*order_by))]
        tables["outbox"] = sorted((plain(e) for e in session.scalars(select(OutboxEntry).order_by(OutboxEntry.id))
                                   if e.kwargs.get("order_id") == order_id), key=json.dumps)
        return tables


def test_a_new_orders_first_failure_is_written_as_the_general_path_writes_it(settings, monkeypatch):
    # Issue 29: a new order's first failure is written with one INSERT per table
    # (`service._record_first_failure`). Every row must be the one the unit of work wrote before:
    # an order of three items failing on the second, alerted on Slack and Teams, with its retry.
    from workflows.intake import webhook
    from workflows.orders import service

    settings = settings.model_copy(update={"teams_conversation_id": "19:alerts@thread.tacv2"})
    second = copy.deepcopy(BASE["order"]["items"][0]) | {"id": "ITEM-2", "external_reference": None}
    third = copy.deepcopy(BASE["order"]["items"][0]) | {"id": "ITEM-3", "status": "Confirmed",
                                                        "external_reference": "13098CU000379"}

    def record(order_id: str, event_id: str) -> webhook.Answer:
        data = payload(event_id=event_id, order__id=order_id, failure__item_id="ITEM-2")
        data["order"]["items"] += [second, third]
        body = json.dumps(data).encode()
        return webhook.handle(settings, body, sign(INGEST_SECRET, body))

    taken: list[object] = []
    first = service._record_first_failure
    with monkeypatch.context() as patched:
        patched.setattr(service, "_record_first_failure", lambda *a, **k: taken.append(first(*a, **k)) or taken[-1])
        fast = record("ORD-FAST", "evt_fast")
    assert taken and taken[0] is not None  # the new order's path, not the general one
    with monkeypatch.context() as patched:
        patched.setattr(service, "_record_first_failure", lambda *args, **kwargs: None)
        general = record("ORD-UOW", "evt_uow")
    assert (fast.status, fast.body["alert"]) == (general.status, general.body["alert"]) == (202, "created")
    written = _rows_of(settings.database_url, "ORD-FAST", "evt_fast")
    assert written == _rows_of(settings.database_url, "ORD-UOW", "evt_uow")
    assert [(i["item_id"], i["sync_status"]) for i in written["order_items"]] == [
        ("ITEM-1", "created"), ("ITEM-2", "failed"), ("ITEM-3", "success")]
    assert [a["surface"] for a in written["alerts"]] == ["slack", "teams"]
    assert len(written["outbox"]) == 3  # the two alerts' refreshes and the automatic retry
    with transaction(settings.database_url) as session:  # the attempt is the failing item's
        attempt = session.scalars(select(SyncAttempt).where(SyncAttempt.order_id == "ORD-FAST")).one()
        assert session.get(OrderItem, attempt.item_pk).item_id == "ITEM-2"
