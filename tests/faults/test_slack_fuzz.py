"""Hostile and broken Slack requests, signed correctly so they reach our handlers:
malformed JSON in `payload`, unknown action ids, oversized and wrongly typed values.
Never a 500, never a job enqueued or a state changed by a request that makes no sense."""

from __future__ import annotations

import copy
import json
from urllib.parse import urlencode

from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from rq import Queue
from sqlalchemy import func, select

from tests.bot.conftest import (  # noqa: F401 - the Slack fixtures
    ANA,
    click,
    fake_slack,
    interaction,
    recorded_order,
    send,
    slack_app,
    slack_settings,
    submission,
)
from workflows.core.db import transaction
from workflows.core.models import Alert, AuditEvent, OrderItem, SyncAttempt
from workflows.core.queue import get_queues, get_redis

scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=60)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) |
                      st.dictionaries(st.text(max_size=10), inner, max_size=3), max_leaves=8)
fuzz = hsettings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def state(settings) -> tuple:  # type: ignore[no-untyped-def]
    """Everything a bad request must leave alone (audit refusals aside)."""
    with transaction(settings.database_url) as session:
        items = tuple(session.execute(select(OrderItem.item_id, OrderItem.status, OrderItem.sync_status)).all())
        attempts = session.scalar(select(func.count()).select_from(SyncAttempt))
        alerts = tuple(session.execute(select(Alert.state)).scalars())
    jobs = tuple(j for q in get_queues(settings) for j in q.get_job_ids() if not j.startswith("refresh"))
    return items, attempts, alerts, jobs


def clicks_accepted(settings) -> int:  # type: ignore[no-untyped-def]
    with transaction(settings.database_url) as session:
        return session.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.action.like("click.%"), AuditEvent.result == "queued")) or 0


@fuzz
@given(raw=st.text(max_size=300))
def test_malformed_payload_json_is_refused_cleanly(slack_app, slack_settings, recorded_order, raw):
    before = state(slack_settings)
    response = send(slack_app, urlencode({"payload": raw}), "application/x-www-form-urlencoded")
    assert response.status_code < 500, response.text
    assert state(slack_settings) == before


@fuzz
@given(action_id=st.text(max_size=300), value=st.text(max_size=3000))
def test_unknown_action_ids_and_values_change_nothing(slack_app, slack_settings, recorded_order, action_id, value):
    payload = click("reprocess", recorded_order, "ITEM-1")
    payload["actions"][0]["action_id"] = action_id
    payload["actions"][0]["value"] = value
    before, accepted = state(slack_settings), clicks_accepted(slack_settings)
    response = interaction(slack_app, payload)
    assert response.status_code < 500, response.text
    if action_id != "reprocess" or value != json.dumps([recorded_order, "ITEM-1"], separators=(",", ":")):
        assert clicks_accepted(slack_settings) == accepted


@fuzz
@given(path=st.sampled_from([("user",), ("user", "id"), ("actions",), ("actions", 0), ("actions", 0, "value"),
                             ("container",), ("channel",), ("type",), ("trigger_id",)]),
       value=values)
def test_wrong_types_in_a_click_never_fail_badly(slack_app, slack_settings, recorded_order, path, value):
    payload = copy.deepcopy(click("reprocess", recorded_order, "ITEM-1"))
    target = payload
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    response = interaction(slack_app, payload)
    assert response.status_code < 500, response.text


@fuzz
@given(reference=st.text(max_size=5000) | st.none(), notes=values)
def test_hostile_modal_submissions_never_fail_badly(slack_app, slack_settings, recorded_order, reference, notes):
    payload = submission(recorded_order, "ITEM-1", "synxis", reference, user=ANA)
    payload["view"]["state"]["values"]["notes"]["value"]["value"] = notes
    response = interaction(slack_app, payload)
    assert response.status_code < 500, response.text
