"""Outage detection and storm control: a burst of failures at one system is an outage, not N
separate problems — tell on-call once, group the rest (DESIGN §1, issue 6).

- `on_failure` runs inside intake's transaction (`service.record_failure`): when at least
  `OUTAGE_THRESHOLD` failures for one system occurred within `OUTAGE_WINDOW_MINUTES`, it
  opens one incident ("Possible outage: SynXis — 7 failures in 6 minutes, mostly
  timeouts") and asks for one page. While the incident is open, every further failure for
  that system is attached to it (`alerts.incident_id`): the chat layer posts it as a thread
  reply under the parent, and it stays individually tracked; the parent's counts follow.
  One open incident per system is a database fact (`incidents.open_for` is unique).
- `check_quiet` (the clock) closes an incident whose system has been quiet for the window
  and posts the all-clear once, offering "Reprocess all N".
- `reprocess_all` enqueues one check-first Reprocess per still-failed item, paced so the
  recovering system is not hammered; `view(...).progress` reads "12/30 rebooked, 2 no
  availability" from the database.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from workflows import queue, states
from workflows.announce import announcer_for
from workflows.db import transaction
from workflows.models import Alert, Incident, Order, OrderItem, SyncAttempt, utcnow
from workflows.settings import Settings, get_settings

log = logging.getLogger(__name__)

ACTOR = "syncdesk (outage)"
OPEN = "open"
QUIET = "quiet"  # the all-clear was posted
REPROCESS_FOLLOWED_FOR = dt.timedelta(hours=6)  # how long the parent's progress line is kept current
# Who records an intake failure (workflows.service.PLATFORM_ACTOR / POLLER_ACTOR): only
# failures the platform reported count towards an outage, not our own retries.
INTAKE_ACTORS = ("platform", "syncdesk (poller)")
SYSTEM_NAMES = {
    "synxis": "SynXis", "premier": "EMS Premier", "resdiary": "ResDiary", "rtp": "RTP|One",
    "siriusware": "Siriusware", "pms": "the PMS",
}
# "mostly timeouts": an error class in the plural, as the outage message says it.
CLASS_PLURALS = {
    "timeout": "timeouts", "connection": "connection failures", "server_error": "server errors",
    "rate_limited": "rate limiting", "no_availability": "no availability", "auth_failure": "authentication failures",
    "permission_denied": "permission refusals", "not_mapped": "unmapped properties",
    "data_format": "data format mismatches", "missing_field": "missing fields", "unknown": "unknown errors",
}


def system_name(system: str) -> str:
    return SYSTEM_NAMES.get(system, system or "unknown system")


@dataclass(frozen=True)
class Policy:
    threshold: int = 5
    window: dt.timedelta = dt.timedelta(minutes=10)
    pace_seconds: int = 10

    @classmethod
    def from_settings(cls, settings: Settings) -> Policy:
        return cls(settings.outage_threshold, dt.timedelta(minutes=settings.outage_window_minutes),
                   settings.outage_reprocess_pace_seconds)


# -- what the chat layer shows -----------------------------------------------------------

@dataclass(frozen=True)
class Progress:
    total: int
    rebooked: int
    no_availability: int
    failed: int
    pending: int

    @property
    def text(self) -> str:
        parts = [f"{self.rebooked}/{self.total} rebooked"]
        if self.no_availability:
            parts.append(f"{self.no_availability} no availability")
        if self.failed:
            parts.append(f"{self.failed} failed again")
        return ", ".join(parts)


@dataclass(frozen=True)
class IncidentView:
    incident_id: int
    system: str
    system_name: str
    state: str  # "open" | "quiet"
    opened_at: dt.datetime
    first_failure_at: dt.datetime
    last_failure_at: dt.datetime
    all_clear_at: dt.datetime | None
    failure_count: int
    error_classes: tuple[tuple[str, int], ...]  # most frequent first
    order_ids: tuple[str, ...]  # the orders whose alerts are attached
    still_failed: int  # items of this system still failed, what "Reprocess all" would retry
    reprocess_requested_by: str | None
    reprocess_requested_at: dt.datetime | None
    progress: Progress | None
    channel: str | None
    message_id: str | None

    @property
    def span_text(self) -> str:
        minutes = round((self.last_failure_at - self.first_failure_at).total_seconds() / 60)
        return "in under a minute" if minutes < 1 else f"in {minutes} minute{'s' if minutes != 1 else ''}"

    @property
    def summary(self) -> str:
        """"Possible outage: SynXis — 7 failures in 6 minutes, mostly timeouts"."""
        mostly = ""
        if self.error_classes:
            top = self.error_classes[0][0]
            mostly = f", mostly {CLASS_PLURALS.get(top, top.replace('_', ' '))}"
        return f"Possible outage: {self.system_name} — {self.failure_count} failures {self.span_text}{mostly}"

    @property
    def reprocess_all_offered(self) -> bool:
        return self.state == QUIET and self.reprocess_requested_at is None and self.still_failed > 0

    @property
    def all_clear_text(self) -> str:
        quiet = f"All clear: no {self.system_name} failures since {self.last_failure_at:%H:%M} UTC."
        if self.still_failed:
            return f"{quiet} {self.still_failed} still failed — Reprocess all {self.still_failed} from the outage message."
        return f"{quiet} Nothing is left to reprocess."


def _still_failed(session: Session, incident: Incident) -> list[OrderItem]:
    order_ids = select(Alert.order_id).where(Alert.incident_id == incident.id)
    return list(session.scalars(
        select(OrderItem).where(OrderItem.order_id.in_(order_ids), OrderItem.system == incident.system,
                                OrderItem.kind != "retail", OrderItem.status == states.IN_PROGRESS,
                                OrderItem.sync_status.in_((states.Q_FAILED, states.Q_READY)))
        .order_by(OrderItem.order_id, OrderItem.item_id)))


def _progress(session: Session, incident: Incident) -> Progress | None:
    if incident.reprocess_requested_at is None or not incident.reprocess_items:
        return None
    rebooked = no_avail = failed = pending = 0
    wanted = [tuple(pair) for pair in incident.reprocess_items.get("items", [])]
    for order_id, item_id in wanted:
        item = session.scalar(select(OrderItem).where(OrderItem.order_id == order_id, OrderItem.item_id == item_id))
        if item is None:
            continue
        if item.status == states.CONFIRMED:
            rebooked += 1
            continue
        last = session.scalar(select(SyncAttempt).where(
            SyncAttempt.item_pk == item.pk, SyncAttempt.started_at >= incident.reprocess_requested_at)
            .order_by(SyncAttempt.number.desc()))
        if last is None or last.status in (states.Q_PROCESSING, states.Q_CREATED):
            pending += 1
        elif last.error_class == "no_availability":
            no_avail += 1
        else:
            failed += 1
    return Progress(len(wanted), rebooked, no_avail, failed, pending)


def view(session: Session, incident_id: int) -> IncidentView | None:
    incident = session.get(Incident, incident_id)
    if incident is None:
        return None
    order_ids = tuple(sorted(set(session.scalars(select(Alert.order_id).where(Alert.incident_id == incident_id)))))
    classes = tuple(sorted((incident.error_classes or {}).items(), key=lambda kv: (-kv[1], kv[0])))
    return IncidentView(
        incident.id, incident.system, system_name(incident.system), incident.state, incident.opened_at,
        incident.first_failure_at, incident.last_failure_at, incident.all_clear_at, incident.failure_count,
        classes, order_ids, len(_still_failed(session, incident)), incident.reprocess_requested_by,
        incident.reprocess_requested_at, _progress(session, incident), incident.channel, incident.message_id,
    )


def open_incident_for(session: Session, system: str) -> Incident | None:
    return session.scalar(select(Incident).where(Incident.open_for == system))


# -- intake's hook -----------------------------------------------------------------------

def _insert_open(session: Session, values: dict[str, object]) -> bool:
    """INSERT the incident unless one is already open for the system; True if this one was."""
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    stmt = insert(Incident).values(**values).on_conflict_do_nothing(index_elements=["open_for"])
    # RETURNING, not rowcount: psycopg's rowcount for an ORM-enabled INSERT is not reliable.
    return session.execute(stmt.returning(Incident.id)).scalar_one_or_none() is not None


def _attach(session: Session, incident_id: int, order_ids: list[str]) -> None:
    session.execute(
        update(Alert).where(Alert.order_id.in_(order_ids), Alert.incident_id.is_(None),
                            Alert.state != states.A_RESOLVED)
        .values(incident_id=incident_id).execution_options(synchronize_session=False))


def on_failure(session: Session, order: Order, item: OrderItem, attempt: SyncAttempt,
               policy: Policy | None = None, *, now: dt.datetime | None = None) -> Incident | None:
    """Called by intake after recording a failure (and opening its alert), in its transaction.

    Returns the open incident the failure belongs to, or None when it is not part of one.
    """
    policy = policy or Policy()
    now = now or utcnow()
    system = item.system
    if not system or item.kind == "retail":
        return None
    occurred = attempt.started_at
    error_class = attempt.error_class or "unknown"
    incident = session.scalar(select(Incident).where(Incident.open_for == system).with_for_update())
    if incident is None:
        if now - occurred > policy.window:
            return None  # old news (a late webhook, the poller catching up): not a burst happening now
        burst = session.execute(
            select(SyncAttempt.order_id, SyncAttempt.started_at, SyncAttempt.error_class)
            .join(OrderItem, OrderItem.pk == SyncAttempt.item_pk)
            .where(OrderItem.system == system, SyncAttempt.triggered_by.in_(INTAKE_ACTORS),
                   SyncAttempt.started_at > occurred - policy.window, SyncAttempt.started_at <= occurred)
        ).all()
        if len(burst) < policy.threshold:
            return None
        classes = Counter(c or "unknown" for _, _, c in burst)
        created = _insert_open(session, dict(
            system=system, state=OPEN, open_for=system, opened_at=now,
            first_failure_at=min(t for _, t, _ in burst), last_failure_at=max(t for _, t, _ in burst),
            failure_count=len(burst), error_classes=dict(classes), created_at=now, updated_at=now,
        ))
        incident = session.scalar(select(Incident).where(Incident.open_for == system).with_for_update())
        assert incident is not None
        if created:
            _attach(session, incident.id, sorted({o for o, _, _ in burst}))
            states.audit(session, actor=ACTOR, action="outage.opened", order_id=order.id, item_id=item.item_id,
                         incident_id=incident.id, system=system, failures=len(burst))
            queue.add(session, "workflows.outage.refresh_incident", queue.job_id("incident", incident.id, "opened"),
                      incident_id=incident.id)
            queue.add(session, "workflows.outage.page_incident", queue.job_id("incident-page", incident.id),
                      incident_id=incident.id)
            return incident
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
    queue.add(session, "workflows.outage.refresh_incident",
              queue.job_id("incident", incident.id, incident.failure_count), incident_id=incident.id)
    return incident


# -- the jobs ----------------------------------------------------------------------------

def dedup_key(incident_id: int) -> str:
    return f"syncdesk:outage:{incident_id}"


def refresh_incident(incident_id: int, settings: Settings | None = None) -> str:
    """Job: post or update the outage parent message as the database says it is."""
    settings = settings or get_settings()
    with transaction(settings.database_url) as session:
        shown = view(session, incident_id)
    if shown is None:
        return "gone"
    ref = announcer_for("slack").show_incident(shown, (shown.channel, shown.message_id))
    if ref != (shown.channel, shown.message_id):
        with transaction(settings.database_url) as session:
            session.execute(update(Incident).where(Incident.id == incident_id)
                            .values(channel=ref[0], message_id=ref[1]).execution_options(synchronize_session=False))
    return "shown"


def page_incident(incident_id: int, settings: Settings | None = None, now: dt.datetime | None = None) -> str:
    """Job: page on-call once for the incident (direct message, and PagerDuty when configured)."""
    from workflows.oncall import rotation_for, who

    settings = settings or get_settings()
    now = now or utcnow()
    with transaction(settings.database_url) as session:
        won = session.execute(update(Incident).where(Incident.id == incident_id, Incident.paged_at.is_(None))
                              .values(paged_at=now).execution_options(synchronize_session=False)).rowcount
        if not won:
            return "already paged"
        shown = view(session, incident_id)
        current, _ = who(session, now, rotation_for(settings))
    assert shown is not None
    text = f"{shown.summary}. Its alerts are grouped under one message in the channel; I'll post the all-clear."
    try:
        slack_id = current.person.id_on("slack") if current else None
        if slack_id:
            announcer_for("slack").direct_message([slack_id], text, None)
        else:
            announcer_for("slack").channel_message(f"{text} Nobody is on call.", settings.escalation_mention)
        if settings.pagerduty_routing_key is not None:
            from connectors.pagerduty import PagerDuty

            with PagerDuty(settings) as pagerduty:
                pagerduty.trigger(dedup_key(incident_id), shown.summary, severity="critical",
                                  custom_details={"system": shown.system, "failures": shown.failure_count,
                                                  "error_classes": dict(shown.error_classes)})
    except Exception:
        # Let the page be tried again (RQ retries the job): un-claim it first.
        with transaction(settings.database_url) as session:
            session.execute(update(Incident).where(Incident.id == incident_id).values(paged_at=None)
                            .execution_options(synchronize_session=False))
        raise
    with transaction(settings.database_url) as session:
        states.audit(session, actor=ACTOR, action="outage.paged", incident_id=incident_id,
                     to=current.person.name if current else None, summary=shown.summary)
    return "paged"


def check_quiet(settings: Settings | None = None, now: dt.datetime | None = None) -> list[int]:
    """Close every incident whose system has been quiet for the window; the all-clear goes out once."""
    settings = settings or get_settings()
    now = now or utcnow()
    policy = Policy.from_settings(settings)
    closed: list[int] = []
    with transaction(settings.database_url) as session:
        quiet = session.scalars(select(Incident).where(
            Incident.state == OPEN, Incident.last_failure_at <= now - policy.window)).all()
        for incident in quiet:
            won = session.execute(
                update(Incident).where(Incident.id == incident.id, Incident.state == OPEN)
                .values(state=QUIET, open_for=None, all_clear_at=now).execution_options(synchronize_session=False)
            ).rowcount
            if not won:
                continue
            queue.add(session, "workflows.outage.refresh_incident", queue.job_id("incident", incident.id, "quiet"),
                      incident_id=incident.id)
            queue.add(session, "workflows.outage.announce_all_clear", queue.job_id("all-clear", incident.id),
                      incident_id=incident.id)
            if incident.paged_at is not None:
                queue.add(session, "workflows.escalation.page_event",
                          queue.job_id("pd", "resolve", dedup_key(incident.id)),
                          action="resolve", dedup_key=dedup_key(incident.id))
            states.audit(session, actor=ACTOR, action="outage.all_clear", incident_id=incident.id,
                         system=incident.system)
            closed.append(incident.id)
        entry_ids = queue.added(session)
        recovering = session.scalars(select(Incident).where(
            Incident.state == QUIET, Incident.reprocess_requested_at >= now - REPROCESS_FOLLOWED_FOR)).all()
        progress = {i.id: _progress(session, i) for i in recovering}
    for incident_id, shown in progress.items():
        if shown is not None:  # re-render the parent as the Reprocess jobs finish; a missed one is redone next tick
            _enqueue_quietly(settings, "workflows.outage.refresh_incident",
                             queue.job_id("incident", incident_id, "progress", shown.text), incident_id=incident_id)
    try:
        queue.dispatch(settings, entry_ids)
    except Exception:  # outermost boundary: the outbox keeps the jobs for the clock's next drain
        log.exception("dispatch after the all-clear failed; the outbox keeps the jobs")
    return closed


def _enqueue_quietly(settings: Settings, function: str, job_id: str, **kwargs: object) -> None:
    try:
        queue.enqueue(settings, function, job_id, **kwargs)
    except Exception:  # outermost boundary: only a progress refresh, redone on the next check
        log.warning("could not enqueue %s; the next check tries again", job_id)


def announce_all_clear(incident_id: int, settings: Settings | None = None) -> str:
    """Job: post the all-clear in the channel (the parent message carries the button)."""
    settings = settings or get_settings()
    with transaction(settings.database_url) as session:
        shown = view(session, incident_id)
    if shown is None:
        return "gone"
    announcer_for("slack").channel_message(shown.all_clear_text, None)
    return "posted"


# -- Reprocess all -----------------------------------------------------------------------

@dataclass(frozen=True)
class ReprocessAll:
    accepted: bool
    message: str
    job_ids: tuple[str, ...] = ()


def reprocess_all(settings: Settings, incident_id: int, actor: str, *, now: dt.datetime | None = None
                  ) -> ReprocessAll:
    """The "Reprocess all N" button: one check-first Reprocess per still-failed item, paced.

    Job ids are per (order, item, attempt number, incident), so a second press never queues an
    item twice (it is refused anyway); a pending automatic retry stands down once the paced
    Reprocess made its attempt.
    """
    from workflows import escalation, service

    now = now or utcnow()
    pace = Policy.from_settings(settings).pace_seconds
    with transaction(settings.database_url) as session:
        incident = session.get(Incident, incident_id, with_for_update=True)
        if incident is None:
            return ReprocessAll(False, f"There is no outage {incident_id}.")
        if incident.state == OPEN:
            return ReprocessAll(False, f"{system_name(incident.system)} is still failing; "
                                       "wait for the all-clear so the recovering system is not hammered.")
        won = session.execute(
            update(Incident).where(Incident.id == incident_id, Incident.reprocess_requested_at.is_(None))
            .values(reprocess_requested_at=now, reprocess_requested_by=actor)
            .execution_options(synchronize_session=False)).rowcount
        if not won:
            session.refresh(incident)
            return ReprocessAll(False, f"{incident.reprocess_requested_by} already asked to reprocess all "
                                       f"at {incident.reprocess_requested_at:%H:%M}.")
        items = _still_failed(session, incident)
        job_ids = []
        for n, item in enumerate(items):
            number = service.next_attempt_number(session, item)
            # Its own id, not the automatic retry's (reprocess, order, item, number): a pending
            # automatic retry may be scheduled minutes away; finding attempt `number` made, it
            # stands down.
            jid = queue.job_id("reprocess", item.order_id, item.item_id, number, "outage", incident_id)
            queue.add(session, "workflows.jobs.reprocess", jid, delay_seconds=n * pace, order_id=item.order_id,
                      item_id=item.item_id, actor=actor, attempt=number)
            states.audit(session, actor=actor, action="click.reprocess", order_id=item.order_id,
                         item_id=item.item_id, result="queued", job_id=jid, via=f"outage {incident_id}")
            job_ids.append(jid)
        for order_id in sorted({i.order_id for i in items}):
            escalation.acknowledge(session, order_id, actor, now=now)
        session.execute(update(Incident).where(Incident.id == incident_id)
                        .values(reprocess_items={"items": [[i.order_id, i.item_id] for i in items]})
                        .execution_options(synchronize_session=False))
        states.audit(session, actor=actor, action="outage.reprocess_all", incident_id=incident_id, items=len(items))
        queue.add(session, "workflows.outage.refresh_incident", queue.job_id("incident", incident_id, "reprocess-all"),
                  incident_id=incident_id)
        entries = queue.added(session)
    try:
        # Only what is due now (the first Reprocess and the parent's refresh): this runs in a
        # chat request. The rest are paced anyway; the worker's clock hands them to RQ, with
        # their delay still counted from now.
        queue.dispatch(settings, [entries[0], entries[-1]] if len(entries) > 1 else entries)
    except Exception:  # outermost boundary: the outbox keeps the jobs for the clock's next drain
        log.exception("dispatch after Reprocess all failed; the outbox keeps the jobs")
    return ReprocessAll(True, f"Reprocessing {len(items)} item{'s' if len(items) != 1 else ''}, "
                              f"one every {pace} s.", tuple(job_ids))
