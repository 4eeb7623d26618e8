"""PostgreSQL restarted during intake: 503 while it is down (the platform retries), then
every failure accepted, none lost and none half-written."""

from __future__ import annotations

import json

from sqlalchemy import func, select

from syncdesk.web import create_app
from tests.conftest import LiveServer, post_failure
from tests.faults.conftest import wait_until_accepting
from tests.workflows.intake.test_intake import payload
from workflows.core.db import transaction
from workflows.core.models import Alert, IntakeEvent, Order, SyncAttempt


def test_intake_answers_503_while_postgres_is_down_and_loses_nothing(settings, private_postgres):
    s = settings.model_copy(update={"database_url": private_postgres.url})
    bodies = [payload(event_id=f"pg-evt-{n}", order__id=f"PG-{n}") for n in range(12)]
    statuses: dict[str, list[int]] = {}
    with LiveServer(create_app(s)) as server:
        for n, body in enumerate(bodies):
            if n == 4:
                private_postgres.stop()
            if n == 8:
                private_postgres.start()
                wait_until_accepting(private_postgres.url)
            statuses.setdefault(body["event_id"], []).append(post_failure(server.url, body).status_code)
        down = [e for e, codes in statuses.items() if codes[-1] == 503]
        assert down == [f"pg-evt-{n}" for n in range(4, 8)]
        for body in bodies:  # the platform retries what was refused
            if body["event_id"] in down:
                statuses[body["event_id"]].append(post_failure(server.url, body).status_code)
        assert all(codes[-1] == 202 for codes in statuses.values()), statuses

    with transaction(s.database_url) as session:
        for model in (Order, IntakeEvent, SyncAttempt, Alert):
            assert session.scalar(select(func.count()).select_from(model)) == 12, model.__name__
        stored = sorted(json.dumps(e.payload, sort_keys=True) for e in session.scalars(select(IntakeEvent)))
    assert len(set(stored)) == 12
