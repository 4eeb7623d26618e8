"""Failure intake: `POST /webhooks/sync-failures` (DESIGN §3.1), independent of the web framework.

verify signature → parse → one transaction (intake event, order, attempt, alert, outbox)
→ hand the outbox to RQ. The answer is decided before anything is written, and a bad
request writes nothing. The database being down is a 503 so the platform retries.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError

from connectors.errors import ErrorClass
from workflows.core import metrics, queue, states
from workflows.core.db import transaction
from workflows.core.models import OutboxEntry
from workflows.core.settings import Settings
from workflows.core.signature import BadSignature, verify
from workflows.oncall import escalation, snooze
from workflows.orders import service
from workflows.orders.payloads import PayloadError, SyncFailure, parse_sync_failure
from workflows.outage import detect as outage
from workflows.systems.booking import booking_request
from workflows.systems.registry import books_automatically, not_bookable

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any] = field(default_factory=dict)


def _store(settings: Settings, failure: SyncFailure, source: str) -> tuple[service.IntakeOutcome, list[OutboxEntry]]:
    with transaction(settings.database_url) as session:
        outcome = service.record_failure(
            session, failure, source=source, surfaces=service.surfaces_for(True, bool(settings.teams_conversation_id)))
        if outcome.duplicate:
            return outcome, []
        attempt = outcome.attempt
        if attempt is not None:
            snooze.end(session, attempt.item.order, actor=service.PLATFORM_ACTOR, reason="new failure")
            incident = outage.on_failure(session, attempt.item.order, attempt.item, attempt,
                                         outage.Policy.from_settings(settings))
            # In an outage the recovery is its Reprocess all, not one retry each; a system with no
            # booking API (a manual playbook) is never retried: people book it by hand; nor is one
            # syncdesk has no connector or credentials for (the retry would only record that,
            # hiding the platform's own error).
            request = booking_request(attempt.item.order, attempt.item)
            if incident is None and books_automatically(request, settings):
                blocked = not_bookable(request, settings)
                if blocked is None:
                    service.schedule_auto_retry(session, attempt.item, attempt, settings.auto_retry_after_seconds)
                elif attempt.error_class and ErrorClass(attempt.error_class).transient:
                    states.audit(session, actor="syncdesk", action="retry.not_scheduled", order_id=attempt.order_id,
                                 item_id=attempt.item.item_id, reason=blocked)
        if outcome.resolved:
            escalation.request_resolve(session, outcome.order_id)  # and its page, if it was paged
        return outcome, queue.added(session)


def record(settings: Settings, failure: SyncFailure, source: str) -> service.IntakeOutcome:
    """Store a failure durably (retrying once on a concurrent insert), then dispatch its jobs."""
    for attempt in range(3):
        try:
            outcome, entries = _store(settings, failure, source)
            break
        except IntegrityError:
            # A concurrent request inserted the same order first: run again, and find it (or,
            # had that request carried this very event, find the event and answer duplicate).
            if attempt == 2:
                raise
    if outcome.attempt is not None:
        # The item was loaded by _store: its system is known without another query.
        metrics.FAILURES_RECEIVED.labels(outcome.attempt.item.system or "none",
                                         outcome.attempt.error_class or "unknown").inc()
    try:
        queue.dispatch(settings, entries)
    except Exception:  # outermost boundary: the failure is stored; the worker's drain will dispatch it
        log.exception("dispatch after intake failed; the outbox keeps the jobs for the next drain")
    return outcome


def handle(settings: Settings, raw: bytes, signature: str | None) -> Answer:
    """The whole webhook: the status and JSON body to answer with."""
    if len(raw) > settings.ingest_max_bytes:
        return Answer(413, {"error": f"body larger than {settings.ingest_max_bytes} bytes"})
    try:
        verify(settings.secret("ingest_secret"), raw, signature, tolerance=settings.signature_tolerance_seconds)
    except BadSignature as exc:
        return Answer(401, {"error": str(exc)})
    try:
        failure = parse_sync_failure(raw)
    except PayloadError as exc:
        return Answer(400, {"error": exc.message, "field": exc.field})
    try:
        outcome = record(settings, failure, "webhook")
    except (OperationalError, InterfaceError) as exc:
        log.warning("database unavailable during intake of %s: %s", failure.event_id, exc.__class__.__name__)
        return Answer(503, {"error": "database unavailable, retry later"})
    except DBAPIError as exc:
        if exc.connection_invalidated:
            return Answer(503, {"error": "database unavailable, retry later"})
        raise
    if outcome.duplicate:
        return Answer(200, {"order_id": outcome.order_id, "duplicate": True})
    body: dict[str, Any] = {"order_id": outcome.order_id, "alert": outcome.alert}
    if outcome.reason:
        body["note"] = outcome.reason
    return Answer(202, body)


def dumps(answer: Answer) -> bytes:
    return json.dumps(answer.body).encode()

