"""Redis restarted (losing everything) while failures arrive: every accepted failure is
still alerted. Intake writes the database first; the outbox holds jobs while Redis is
away, and the recovery sweep re-enqueues what Redis lost."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from syncdesk.web import create_app
from tests.conftest import LiveServer, post_failure, wait_for
from tests.workflows.intake.test_intake import SYNXIS_SET, payload
from workflows.clock import recovery
from workflows.core import queue
from workflows.core.db import transaction
from workflows.core.models import Alert, OutboxEntry


def test_every_failure_accepted_across_a_redis_restart_is_alerted(settings, private_redis, worker_factory):
    # SynXis credentials set: each timeout gets its automatic retry (none without them, issue 27)
    s = settings.model_copy(update={"redis_url": private_redis.url, **SYNXIS_SET})
    accepted = []
    with LiveServer(create_app(s)) as server:
        for n in range(30):
            if n == 10:
                assert queue.drain(s) == 20  # the clock's tick: the first ten's jobs are in RQ, marked
                private_redis.stop()  # everything queued so far is lost with it
            if n == 20:
                private_redis.start()
            response = post_failure(server.url, payload(event_id=f"evt-{n}", order__id=f"ORD-{n}"))
            assert response.status_code == 202, response.text
            accepted.append(f"ORD-{n}")

    with transaction(s.database_url) as session:
        waiting = session.scalars(select(OutboxEntry).where(OutboxEntry.dispatched_at.is_(None))).all()
        # refresh + automatic retry for each failure while Redis was down (never enqueued) and
        # after it came back (enqueued, marked at the clock's next tick)
        assert len(waiting) == 2 * 20

    later = dt.datetime.now(dt.timezone.utc) + recovery.GRACE * 2
    assert queue.drain(s) == 40  # what the clock does every tick
    assert recovery.sweep(s, now=later) >= 10  # the first ten were in Redis when it died

    worker_factory(s)

    def all_shown() -> bool:
        with transaction(s.database_url) as session:
            shown = session.scalars(select(Alert.order_id).where(Alert.message_id.is_not(None))).all()
        return sorted(shown) == sorted(accepted)
    wait_for(all_shown, timeout=60)
