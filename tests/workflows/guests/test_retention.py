"""Retention (issue 28): GUEST_DATA_DAYS after a done order's last activity, the daily job erases
the guest's name, e-mail and phone from every table that holds them, search terms included, and
nothing else; an order with an open alert keeps everything. Orders come in through the real
intake; the job runs against the real database."""

from __future__ import annotations

import datetime as dt
import json
import re
import time
from collections.abc import Callable
from typing import TypeVar

from rq import Queue

from tests.workflows.clock.test_daily import at
from tests.workflows.intake.test_intake import payload
from workflows.clock.schedules import enqueue_oncall_work
from workflows.core import queue
from workflows.core.db import transaction
from workflows.core.models import AuditEvent, Base, Order, utcnow
from workflows.core.settings import Settings
from workflows.guests import retention
from workflows.orders import search

LARRY = {"order__guest__first_name": "Larry", "order__guest__last_name": "Walker",
             "order__guest__email": "larry.walker@example.com", "order__guest__phone": "+44 5551234567"}
PRIYA = {"order__guest__first_name": "Priya", "order__guest__last_name": "Raman",
             "order__guest__email": "priya@example.com", "order__guest__phone": "+1 212 555 0100"}
# what the booking system said back quotes the guest, as vendors' errors do
QUOTING = {"failure__message": "Guest LARRY.WALKER@EXAMPLE.COM rejected: phone +445551234567 invalid",
               "failure__log": '{"profile": {"name": "Walker, Larry", "phone": "+44 555 123 4567"}}'}
T = TypeVar("T")
TRACES = re.compile(r"larry|walker|example\.com|5551234567|555 123 4567|priya|raman|2125550100", re.IGNORECASE)


def record(settings: Settings, order_id: str, n: int, status: str = "In Progress", **changes: object) -> None:
    from workflows.intake import webhook
    from workflows.orders.payloads import parse_sync_failure

    data = payload(event_id=f"evt-{order_id}-{n}", order__id=order_id, order__status=status, **changes)
    webhook.record(settings, parse_sync_failure(json.dumps(data).encode()), "webhook")


def rows(settings: Settings, order_id: str) -> dict[str, list[dict[str, object]]]:
    """Every row of every table that belongs to the order, as plain values."""
    found: dict[str, list[dict[str, object]]] = {}
    with transaction(settings.database_url) as session:
        for table in Base.metadata.sorted_tables:
            column = table.c.get("order_id") if table.name != "orders" else table.c.id
            if column is None:
                continue
            result = session.execute(table.select().where(column == order_id).order_by(*table.primary_key.columns))
            found[table.name] = [dict(r._mapping) for r in result]
    return found


def guest_erased(settings: Settings, order_id: str) -> bool:
    with transaction(settings.database_url) as session:
        return session.get(Order, order_id).guest_erased_at is not None


def steady(read: Callable[[], T], quiet: float = 1.0, timeout: float = 30.0) -> T:
    """What `read()` says once it has not changed for `quiet` seconds (the worker's last
    refreshes of a message have landed)."""
    deadline, value, since = time.monotonic() + timeout, read(), time.monotonic()
    while time.monotonic() - since < quiet:
        assert time.monotonic() < deadline, f"still changing after {timeout} s: {value}"
        time.sleep(0.05)
        if (now := read()) != value:
            value, since = now, time.monotonic()
    return value


def later(days: float) -> dt.datetime:
    return utcnow() + dt.timedelta(days=days)


def test_retention_erases_exactly_the_guest_of_done_orders_and_nothing_of_open_ones(settings):
    s = settings.model_copy(update={"guest_data_days": 90})
    record(s, "ORD-DONE", 1, **LARRY, **QUOTING)
    record(s, "ORD-DONE", 2, status="Complete", **LARRY)  # the platform completed it: its alert is resolved
    record(s, "ORD-GONE", 1, **PRIYA)
    record(s, "ORD-GONE", 2, status="Cancelled", **PRIYA)
    record(s, "ORD-OPEN", 1, **LARRY, **QUOTING)  # the same guest, still failing: an open alert
    before = {o: rows(s, o) for o in ("ORD-DONE", "ORD-GONE", "ORD-OPEN")}
    assert TRACES.search(str(before["ORD-DONE"]["intake_events"])) and TRACES.search(
        str(before["ORD-DONE"]["sync_attempts"]))

    assert retention.run_daily(settings=s, now=later(89)).startswith("0 guests erased")  # not yet
    assert rows(s, "ORD-DONE") == before["ORD-DONE"]

    assert retention.run_daily(settings=s, now=later(91)).startswith("2 guests erased")
    for order_id in ("ORD-DONE", "ORD-GONE"):
        after = rows(s, order_id)
        assert not TRACES.search(str(after)), after  # the guest is nowhere in the order's rows
        [order], [was] = after["orders"], before[order_id]["orders"]
        assert order["guest_erased_at"] is not None
        changed = {k for k in order if order[k] != was[k]}
        assert changed == {"guest_first_name", "guest_last_name", "guest_email", "guest_phone", "guest_erased_at",
                           "updated_at"}
        assert {k: order[k] for k in ("guest_first_name", "guest_last_name", "guest_email", "guest_phone")} == \
            dict.fromkeys(("guest_first_name", "guest_last_name", "guest_email", "guest_phone"), "")
        # the rest stays: items, attempts (error class, times), the audit trail's who, what and when
        assert [(i["item_id"], i["status"], i["start"], i["details"]) for i in after["order_items"]] == \
            [(i["item_id"], i["status"], i["start"], i["details"]) for i in before[order_id]["order_items"]]
        assert [(a["number"], a["error_class"], a["triggered_by"]) for a in after["sync_attempts"]] == \
            [(a["number"], a["error_class"], a["triggered_by"]) for a in before[order_id]["sync_attempts"]]
        assert [(e["actor"], e["action"], e["created_at"]) for e in after["audit_events"]][:-1] == \
            [(e["actor"], e["action"], e["created_at"]) for e in before[order_id]["audit_events"]]
        assert {t["term"] for t in after["order_search"]} == {"pi_3qtest"}  # the payment reference only
    done = rows(s, "ORD-DONE")
    assert "[guest of ORD-DONE] rejected: phone [guest of ORD-DONE] invalid" in done["sync_attempts"][0]["message"]
    assert done["intake_events"][0]["payload"]["order"]["guest"] == {"first_name": "", "last_name": "",
                                                                     "email": "", "phone": ""}
    erased = done["audit_events"][-1]
    assert (erased["actor"], erased["action"], erased["detail"]["why"]) == (retention.ACTOR, "guest.erased",
                                                                            "retention")
    assert erased["detail"]["rows"]["orders"] == 1 and erased["detail"]["rows"]["order_search"] == 4

    assert rows(s, "ORD-OPEN") == before["ORD-OPEN"]  # an open alert: nothing erased, not even its search terms
    with transaction(s.database_url) as session:
        assert [r.order_id for r in search.find(session, "larry.walker@example.com")] == ["ORD-OPEN"]

    assert retention.run_daily(settings=s, now=later(200)).startswith("0 guests erased")  # nothing twice
    with transaction(s.database_url) as session:
        assert session.query(AuditEvent).filter_by(action="guest.erased").count() == 2


def test_activity_within_the_period_keeps_the_guest(settings):
    s = settings.model_copy(update={"guest_data_days": 30})
    record(s, "ORD-1", 1, **LARRY)
    record(s, "ORD-1", 2, status="Closed", **LARRY)
    with transaction(s.database_url) as session:  # a person looked at it again 20 days on (audited)
        session.add(AuditEvent(order_id="ORD-1", actor="ana", action="click.close_order",
                               created_at=later(20)))
    assert retention.run_daily(settings=s, now=later(45)).startswith("0 guests erased")
    assert not guest_erased(s, "ORD-1")
    assert retention.run_daily(settings=s, now=later(51)).startswith("1 guest erased")
    assert guest_erased(s, "ORD-1")


def test_a_later_copy_from_the_platform_does_not_bring_the_guest_back(settings):
    record(settings, "ORD-1", 1, **LARRY)
    record(settings, "ORD-1", 2, status="Complete", **LARRY)
    retention.run_daily(settings=settings, now=later(settings.guest_data_days + 1))
    record(settings, "ORD-1", 3, status="Closed", **LARRY, **QUOTING)  # the platform sends the whole order again
    with transaction(settings.database_url) as session:
        order = session.get(Order, "ORD-1")
        assert (order.platform_status, order.guest_name, order.guest_email, order.guest_phone) == ("Closed", "", "", "")
        assert search.find(session, "walker") == []
    assert TRACES.search(str(rows(settings, "ORD-1")["intake_events"]))  # its payload, as received ...
    # ... is scrubbed by the next run, which erases nothing else
    assert retention.run_daily(settings=settings, now=later(1)) == "0 guests erased; 1 later copies scrubbed"
    assert not TRACES.search(str(rows(settings, "ORD-1")))
    assert retention.run_daily(settings=settings, now=later(2)) == "0 guests erased; 0 later copies scrubbed"


def test_the_clock_enqueues_retention_once_a_day_at_its_time(settings):
    s = settings.model_copy(update={"guest_retention_time": "03:00", "local_timezone": "Europe/London"})

    def jobs() -> list[str]:
        ids = Queue(s.queue_name, connection=queue.get_redis(s.redis_url)).get_job_ids()
        return [i for i in ids if i.startswith("guest-retention")]

    enqueue_oncall_work(s, at(s, "2026-12-07T02:59:00"))
    assert jobs() == []
    enqueue_oncall_work(s, at(s, "2026-12-07T03:01:00"))
    enqueue_oncall_work(s, at(s, "2026-12-07T22:00:00"))
    assert len(jobs()) == 1
    off = s.model_copy(update={"guest_retention_time": "off", "queue_name": s.queue_name + "-off"})
    enqueue_oncall_work(off, at(off, "2026-12-08T23:00:00"))
    ids = Queue(off.queue_name, connection=queue.get_redis(off.redis_url)).get_job_ids()
    assert not [i for i in ids if i.startswith("guest-retention")]
