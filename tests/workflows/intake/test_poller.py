"""The poller: a lost webhook must not mean a lost guest. Runs in a real worker process
whose clock enqueues the poll, against the local fake platform."""

from __future__ import annotations

import copy
import datetime as dt

from sqlalchemy import select

from tests.conftest import post_failure, wait_for
from tests.fakes.platform import FakePlatform
from tests.workflows.intake.test_intake import BASE
from workflows.core.db import transaction
from workflows.core.models import Alert, IntakeEvent, Order, SyncAttempt


def platform_order(order_id: str, **changes: object) -> dict:
    order = copy.deepcopy(BASE["order"])
    order["id"] = order_id
    order.update(changes)
    return order


def iso(minutes_ago: int) -> str:
    return (dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=minutes_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_poller_records_a_stuck_order_that_never_had_a_webhook(settings, live_app, worker_factory):
    with FakePlatform(api_key="pk") as platform:
        platform.seed(platform_order("ORD-LOST"), updated_at=iso(40))
        platform.seed(platform_order("ORD-FRESH"), updated_at=iso(2))  # not stuck yet
        platform.seed(platform_order("ORD-10042"), updated_at=iso(40))  # stuck, but its webhook arrived
        platform.seed(platform_order("ORD-DONE", status="Complete"), updated_at=iso(40))
        assert post_failure(live_app.url, BASE).status_code == 202
        s = settings.model_copy(update={"platform_api_url": platform.url, "platform_api_key": "pk",
                                        "poll_interval_seconds": 1})
        worker_factory(s)

        def lost_order_recorded() -> bool:
            with transaction(settings.database_url) as session:
                return session.get(Order, "ORD-LOST") is not None
        wait_for(lost_order_recorded, timeout=30)
        wait_for(lambda: len(platform.requests_to("GET", "/orders")) >= 2, timeout=10)  # polled again

    with transaction(settings.database_url) as session:
        assert session.get(Order, "ORD-FRESH") is None
        assert session.get(Order, "ORD-DONE") is None
        lost = session.scalars(select(SyncAttempt).where(SyncAttempt.order_id == "ORD-LOST")).all()
        assert [(a.status, a.triggered_by) for a in lost] == [("failed", "syncdesk (poller)")]
        assert "webhook may have been lost" in lost[0].message
        assert session.scalar(select(Alert).where(Alert.order_id == "ORD-LOST")).state == "open"
        webhook_covered = session.scalars(select(SyncAttempt).where(SyncAttempt.order_id == "ORD-10042")).all()
        assert len(webhook_covered) == 1  # the poller did not add a second failure
        sources = sorted(e.source for e in session.scalars(select(IntakeEvent)))
        assert sources == ["poller", "webhook"]
