"""Outage detection: a burst of failures at one system is an outage, not N separate
problems — tell on-call once, group the rest (DESIGN §1).

`on_failure` runs inside intake's transaction (`workflows.intake.webhook`): when at least
`OUTAGE_THRESHOLD` failures for one system occurred within `OUTAGE_WINDOW_MINUTES`, it opens
one incident ("Possible outage: SynXis — 7 failures in 6 minutes, mostly timeouts") and
asks for one page. The failures of the burst that arrived before it opened are attached to
it, and while it is open every further failure for that system is too (`alerts.incident_id`):
none is posted on its own; the outage message lists them (`workflows.outage.views`) and is
re-rendered at most every few seconds (`workflows.outage.refresh`). Each order stays
individually tracked. One open incident per system is a database fact (`incidents.open_for`
is unique). A burst while the system's last outage is still being recovered re-opens that
incident, which pauses its recovery (`workflows.outage.recovery`). A failure inside a maintenance
window is held under the window's incident instead, and counts towards no burst
(`workflows.outage.maintenance`, issue 26).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from workflows.core import queue, states
from workflows.core.db import insert_unless_present
from workflows.core.models import Alert, Incident, Order, OrderItem, SyncAttempt, utcnow
from workflows.core.settings import Settings
from workflows.orders.service import INTAKE_ACTORS
from workflows.outage import maintenance
from workflows.outage.refresh import request_refresh

ACTOR = "syncdesk (outage)"


@dataclass(frozen=True)
class Policy:
    threshold: int = 5
    window: dt.timedelta = dt.timedelta(minutes=10)
    pace_seconds: int = 10
    maintenance: tuple[maintenance.Recurring, ...] = ()  # the routing file's recurring windows (issue 26)

    @classmethod
    def from_settings(cls, settings: Settings) -> Policy:
        return cls(settings.outage_threshold, dt.timedelta(minutes=settings.outage_window_minutes),
                   settings.outage_reprocess_pace_seconds, maintenance.recurring(settings))


def open_incident_for(session: Session, system: str) -> Incident | None:
    return session.scalar(select(Incident).where(Incident.open_for == system))


# -- intake's hook -----------------------------------------------------------------------

def _insert_open(session: Session, values: dict[str, object]) -> bool:
    """INSERT the incident unless one is already open for the system; True if this one was."""
    return insert_unless_present(session, Incident, values, unique=["open_for"], returning=Incident.id) is not None


def _attach(session: Session, incident_id: int, order_ids: list[str]) -> None:
    session.execute(
        update(Alert).where(Alert.order_id.in_(order_ids), Alert.incident_id.is_(None),
                            Alert.state != states.A_RESOLVED)
        .values(incident_id=incident_id).execution_options(synchronize_session=False))


# Built once: every intake asks it, and building it cost more CPU than running it (issue 29).
_OPEN_INCIDENT_LOCKED = select(Incident).where(Incident.open_for == bindparam("system")).with_for_update()


def on_failure(session: Session, order: Order, item: OrderItem, attempt: SyncAttempt,
               policy: Policy | None = None, *, now: dt.datetime | None = None) -> Incident | None:
    """Called by intake after recording a failure (and opening its alert), in its transaction.

    Returns the open incident the failure belongs to (or the maintenance window's it is held
    in), or None when it is not part of one.
    """
    policy = policy or Policy()
    now = now or utcnow()
    system = item.system
    if not system or item.kind == "retail":
        return None
    held = maintenance.hold_if_covered(session, order, item, attempt, policy.maintenance, now=now)
    if held is not None:
        return held  # planned: listed under its window, nobody paged
    occurred = attempt.started_at
    error_class = attempt.error_class or "unknown"
    incident = session.scalar(_OPEN_INCIDENT_LOCKED, {"system": system})
    if incident is None:
        if now - occurred > policy.window:
            return None  # old news (a late webhook, the poller catching up): not a burst happening now
        burst = session.execute(
            select(SyncAttempt.order_id, SyncAttempt.started_at, SyncAttempt.error_class)
            .join(OrderItem, OrderItem.pk == SyncAttempt.item_pk)
            .where(OrderItem.system == system, SyncAttempt.triggered_by.in_(INTAKE_ACTORS),
                   SyncAttempt.started_at > occurred - policy.window, SyncAttempt.started_at <= occurred,
                   ~maintenance.held_attempt())
        ).all()
        if len(burst) < policy.threshold:
            return None
        resumed = _reopen_recovering(session, system, now, policy)
        if resumed is not None:
            incident = resumed
            _attach(session, incident.id, sorted({o for o, _, _ in burst}))
        else:
            classes = Counter(c or "unknown" for _, _, c in burst)
            created = _open_new(session, order, item, system, burst, classes, now)
            if created is not None:
                return created
            incident = session.scalar(select(Incident).where(Incident.open_for == system).with_for_update())
            assert incident is not None
    # An incident is open for this system: this failure is one more of it.
    _attach(session, incident.id, [order.id])
    classes = dict(incident.error_classes or {})
    classes[error_class] = classes.get(error_class, 0) + 1
    incident.error_classes = classes
    incident.failure_count += 1
    incident.last_failure_at = max(incident.last_failure_at, occurred)
    incident.first_failure_at = min(incident.first_failure_at, occurred)
    session.flush()
    states.audit(session, actor=ACTOR, action="outage.attached", order_id=order.id, item_id=item.item_id,
                 incident_id=incident.id)
    request_refresh(session, incident.id, f"failure {incident.failure_count}")
    return incident


def _open_new(session: Session, order: Order, item: OrderItem, system: str,
              burst: list[tuple[str, dt.datetime, str | None]], classes: Counter[str], now: dt.datetime
              ) -> Incident | None:
    """Open the system's incident with the burst attached; None when another request opened it first."""
    created = _insert_open(session, dict(
            system=system, state=states.INCIDENT_OPEN, open_for=system, opened_at=now,
            first_failure_at=min(t for _, t, _ in burst), last_failure_at=max(t for _, t, _ in burst),
        failure_count=len(burst), error_classes=dict(classes), created_at=now, updated_at=now,
    ))
    if not created:
        return None
    incident = session.scalar(select(Incident).where(Incident.open_for == system).with_for_update())
    assert incident is not None
    _attach(session, incident.id, sorted({o for o, _, _ in burst}))
    states.audit(session, actor=ACTOR, action="outage.opened", order_id=order.id, item_id=item.item_id,
                 incident_id=incident.id, system=system, failures=len(burst))
    queue.add(session, "workflows.outage.jobs.refresh_incident", queue.job_id("incident", incident.id, "opened"),
              incident_id=incident.id)
    queue.add(session, "workflows.outage.jobs.page_incident", queue.job_id("incident-page", incident.id),
              incident_id=incident.id)
    return incident


RECOVERY_FOLLOWED_FOR = dt.timedelta(hours=6)


def _reopen_recovering(session: Session, system: str, now: dt.datetime, policy: Policy) -> Incident | None:
    """The system's incident being recovered, open again (its recovery pauses); None if there is none."""
    recovering = session.scalar(select(Incident).where(
        Incident.system == system, Incident.state == states.INCIDENT_QUIET,
        Incident.reprocess_requested_at.is_not(None), Incident.all_clear_at >= now - RECOVERY_FOLLOWED_FOR)
        .order_by(Incident.id.desc()).limit(1).with_for_update())
    if recovering is None:
        return None
    won = session.execute(update(Incident).where(Incident.id == recovering.id,
                                                 Incident.state == states.INCIDENT_QUIET)
                          .values(state=states.INCIDENT_OPEN, open_for=system, last_failure_at=now, paged_at=None)
                          .execution_options(synchronize_session=False)).rowcount
    if not won:
        return None
    session.refresh(recovering)
    states.audit(session, actor=ACTOR, action="outage.reopened", incident_id=recovering.id, system=system,
                 reason=f"{policy.threshold} or more failures again during its recovery")
    queue.add(session, "workflows.outage.jobs.page_incident",
              queue.job_id("incident-page", recovering.id, "reopened", now.isoformat()), incident_id=recovering.id)
    return recovering
