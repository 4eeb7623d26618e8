"""Recovery after an outage: "Reprocess all" rebooks every still-failed item of the incident
at the system's own pace, soonest arrival first, and stops if the system fails again.

- **Rounds.** A press starts a round (`round_started`: the press, or the all-clear after a
  pause). `start` snapshots the items, acknowledges their alerts (a person is on it) and
  asks for the lanes.
- **Lanes.** `SYSTEM_PACE`'s concurrency many chains of `workflows.actions.recovery.advance`
  jobs (the actions domain owns the Reprocess job they run); each takes the next item in
  arrival order (`claim_next`: a Redis claim per item and round, so two lanes never take the
  same one), books it inline, then asks for its own next step. The requests themselves are
  paced by `workflows.systems.pace`, so the system sees its configured rate, halved on 429s
  and honouring Retry-After, whatever the number of lanes and workers.
- **Pause.** `learn` counts consecutive transient failures of the round (timeouts, lost
  connections, 5xx; not 429s, which the pace absorbs): at the outage threshold the incident
  re-opens (`reopen`) and the lanes stop at their next step instead of burning through every
  order. The all-clear after it starts a new round (`workflows.outage.jobs.check_quiet`).
- **Progress** is read from the database (`workflows.outage.views.Progress`) and shown in the
  outage message, refreshed at most every few seconds (`workflows.outage.refresh`).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from redis import Redis
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from connectors.errors import ErrorClass
from workflows.core import queue, states
from workflows.core.models import Alert, Incident, OrderItem, SyncAttempt, utcnow
from workflows.core.settings import Settings
from workflows.oncall import escalation
from workflows.outage.detect import ACTOR, Policy, open_incident_for
from workflows.outage.refresh import request_refresh
from workflows.outage.views import round_started, still_failed
from workflows.systems import pace

log = logging.getLogger(__name__)

ADVANCE = "workflows.actions.recovery.advance"
CLAIM_SECONDS = 900  # longer than one booking can take; a lane that died frees its item after this
# A lane step within this long: the recovery is running. Longer than one step can take (a
# booking's requests each waiting up to PACE_MAX_WAIT_SECONDS), so a slow lane is never
# doubled by `kick`: two chains of one lane would share its item.
ALIVE_SECONDS = 600
CANDIDATES = 64  # items looked at per claim, in arrival order
# A failure the system caused (it is down again), as opposed to one about the booking itself.
SYSTEM_FAILURES = frozenset({ErrorClass.TIMEOUT.value, ErrorClass.CONNECTION.value, ErrorClass.SERVER_ERROR.value})


def _claim_key(incident_id: int, round_: int, order_id: str, item_id: str) -> str:
    return f"syncdesk:recovery:{incident_id}:{round_}:item:{order_id}\x1f{item_id}"


def _lane_key(incident_id: int, round_: int, lane: int) -> str:
    return f"syncdesk:recovery:{incident_id}:{round_}:lane:{lane}"


def _fails_key(incident_id: int, round_: int) -> str:
    return f"syncdesk:recovery:{incident_id}:{round_}:fails"


def _alive_key(incident_id: int) -> str:
    return f"syncdesk:recovery:{incident_id}:alive"


def round_of(incident: Incident) -> int | None:
    started = round_started(incident)
    return int(started.timestamp()) if started else None


def lanes(settings: Settings, system: str) -> int:
    return pace.pace_for(settings, system).concurrency


# -- starting and resuming ----------------------------------------------------------------

def start(session: Session, settings: Settings, incident: Incident, *, now: dt.datetime | None = None) -> int:
    """The round's items (those still failed, joined to the ones already asked for), their
    alerts acknowledged, one audit event each, and the lanes asked for (via the outbox).
    Returns how many items the round has to do."""
    now = now or utcnow()
    actor = incident.reprocess_requested_by or ACTOR
    items = still_failed(session, incident)
    known = [tuple(p) for p in (incident.reprocess_items or {}).get("items", [])]
    wanted = list(dict.fromkeys(known + [(i.order_id, i.item_id) for i in items]))
    incident.reprocess_items = {"items": [list(p) for p in wanted]}
    for item in items:
        states.audit(session, actor=actor, action="click.reprocess", order_id=item.order_id, item_id=item.item_id,
                     result="queued", via=f"outage {incident.id}", round=round_of(incident))
    for order_id in sorted({i.order_id for i in items}):
        escalation.acknowledge(session, order_id, actor, now=now)
    seed(session, settings, incident, "start")
    return len(items)


def seed(session: Session, settings: Settings, incident: Incident, cause: str) -> None:
    """Ask for the round's lanes (through the outbox, with this transaction)."""
    round_ = round_of(incident)
    if round_ is None:
        return
    for lane in range(lanes(settings, incident.system)):
        queue.add(session, ADVANCE, queue.job_id("recovery", incident.id, round_, lane, cause),
                  incident_id=incident.id, round=round_, lane=lane, step=0)


def kick(settings: Settings, redis: Redis, incident: Incident, slot: int) -> int:
    """Lanes again if none has taken a step lately (their jobs were lost with Redis, say);
    returns how many were asked for."""
    round_ = round_of(incident)
    started = round_started(incident)
    if round_ is None or started is None or redis.exists(_alive_key(incident.id)) \
            or utcnow() - started < dt.timedelta(seconds=ALIVE_SECONDS):
        return 0  # its lanes are running, or were asked for moments ago and have not started yet
    return sum(queue.enqueue(settings, ADVANCE, queue.job_id("recovery", incident.id, round_, lane, "kick", slot),
                             incident_id=incident.id, round=round_, lane=lane, step=0)
               for lane in range(lanes(settings, incident.system)))


def unfinished(session: Session, incident: Incident) -> bool:
    """Whether the incident's recovery still has an item to take (so lanes lost would matter)."""
    since = round_started(incident)
    return since is not None and bool(_candidates(session, incident, since, limit=1))


# -- a lane's step ------------------------------------------------------------------------

@dataclass(frozen=True)
class Claim:
    order_id: str
    item_id: str
    actor: str


def _candidates(session: Session, incident: Incident, since: dt.datetime, limit: int = CANDIDATES
                ) -> list[tuple[str, str]]:
    """Still-failed items of the incident not tried this round, soonest arrival first (a try
    refused with 429 does not count: the pace makes it wait, the item keeps its place)."""
    attached = select(Alert.order_id).where(Alert.incident_id == incident.id)
    tried = select(SyncAttempt.id).where(
        SyncAttempt.item_pk == OrderItem.pk, SyncAttempt.started_at >= since,
        or_(SyncAttempt.error_class.is_(None), SyncAttempt.error_class != ErrorClass.RATE_LIMITED.value)).exists()
    return [(o, i) for o, i in session.execute(
        select(OrderItem.order_id, OrderItem.item_id).where(
            OrderItem.order_id.in_(attached), OrderItem.system == incident.system, OrderItem.kind != "retail",
            OrderItem.status == states.IN_PROGRESS, OrderItem.sync_status.in_((states.Q_FAILED, states.Q_READY)),
            ~tried)
        .order_by(OrderItem.start.asc().nulls_last(), OrderItem.order_id, OrderItem.item_id).limit(limit))]


def claim_next(session: Session, redis: Redis, incident_id: int, round_: int, lane: int, job_id: str
               ) -> Claim | str:
    """The item this lane step books, or why there is none ("paused", "done", …).

    The lane's item is kept until it is done: a re-run of a step (its worker died mid-booking)
    gets it again, so the Reprocess it runs takes over its own lock and checks first; and an
    item the system turned away with a 429 is tried again by the same lane once the pace lets
    it, keeping its place in line.
    """
    incident = session.get(Incident, incident_id)
    if incident is None or incident.reprocess_requested_at is None:
        return "nothing to recover"
    if incident.state == states.INCIDENT_OPEN or open_incident_for(session, incident.system) is not None:
        return "paused"
    if round_of(incident) != round_:
        return "an earlier round"
    actor = incident.reprocess_requested_by or ACTOR
    redis.set(_alive_key(incident_id), job_id, ex=ALIVE_SECONDS)
    mine = redis.get(_lane_key(incident_id, round_, lane))
    if mine:
        order_id, _, item_id = (mine.decode() if isinstance(mine, bytes) else str(mine)).partition("\x1f")
        return Claim(order_id, item_id, actor)
    since = round_started(incident)
    assert since is not None
    for order_id, item_id in _candidates(session, incident, since):
        if redis.set(_claim_key(incident_id, round_, order_id, item_id), job_id, nx=True, ex=CLAIM_SECONDS):
            redis.set(_lane_key(incident_id, round_, lane), f"{order_id}\x1f{item_id}", ex=CLAIM_SECONDS)
            return Claim(order_id, item_id, actor)
    return "done"


def learn(session: Session, redis: Redis, settings: Settings, incident_id: int, round_: int, lane: int,
          claim: Claim, *, now: dt.datetime | None = None) -> str:
    """After a lane booked its item: count the system's failures, keep an item the pace turned
    away for the lane's next step, and re-open the incident when the system is down again.
    Returns what happened to the item: "rebooked", "rate limited", "failed: <class>", …"""
    item = session.scalar(select(OrderItem).where(OrderItem.order_id == claim.order_id,
                                                  OrderItem.item_id == claim.item_id))
    last = session.scalar(select(SyncAttempt).where(SyncAttempt.item_pk == item.pk)
                          .order_by(SyncAttempt.number.desc()).limit(1)) if item else None
    if last is not None and last.status == states.Q_FAILED and last.error_class == ErrorClass.RATE_LIMITED.value \
            and item is not None and item.status == states.IN_PROGRESS:
        return "rate limited"  # the lane tries it again at its next step, once the pace lets it
    redis.delete(_lane_key(incident_id, round_, lane))
    if item is not None and item.status == states.CONFIRMED:
        redis.delete(_fails_key(incident_id, round_))
        return "rebooked"
    if last is None or last.status != states.Q_FAILED:
        return "skipped"
    if last.error_class not in SYSTEM_FAILURES:
        redis.delete(_fails_key(incident_id, round_))  # the system answered; the booking itself failed
        return f"failed: {last.error_class}"
    fails = redis.incr(_fails_key(incident_id, round_))
    redis.expire(_fails_key(incident_id, round_), 6 * 3600)
    if fails >= Policy.from_settings(settings).threshold:
        reopen(session, incident_id, f"{fails} Reprocess attempts in a row failed ({last.error_class})", now=now)
    return f"failed: {last.error_class}"


def reopen(session: Session, incident_id: int, why: str, *, now: dt.datetime | None = None) -> bool:
    """The system is down again during its recovery: the incident is open again (the lanes stop
    at their next step) and on-call is paged again. False when it was open already."""
    now = now or utcnow()
    incident = session.get(Incident, incident_id, with_for_update=True)
    if incident is None or incident.state == states.INCIDENT_OPEN:
        return False
    if open_incident_for(session, incident.system) is not None:
        return False  # intake opened another incident for the system meanwhile: it pauses the lanes too
    incident.state, incident.open_for = states.INCIDENT_OPEN, incident.system
    incident.last_failure_at, incident.paged_at = now, None
    session.flush()
    states.audit(session, actor=ACTOR, action="outage.reopened", incident_id=incident.id, system=incident.system,
                 reason=why)
    queue.add(session, "workflows.outage.jobs.page_incident",
              queue.job_id("incident-page", incident.id, "reopened", now.isoformat()), incident_id=incident.id)
    request_refresh(session, incident.id, f"reopened {now.isoformat()}")
    log.warning("outage %s re-opened during its recovery: %s", incident.id, why)
    return True


def recovering(session: Session, system: str, since: dt.datetime) -> Incident | None:
    """The system's quiet incident whose recovery was asked for since `since`, if any."""
    return session.scalar(select(Incident).where(
        Incident.system == system, Incident.state == states.INCIDENT_QUIET,
        Incident.reprocess_requested_at.is_not(None), Incident.all_clear_at >= since)
        .order_by(Incident.id.desc()).limit(1))


def asked(session: Session, incident_id: int, actor: str, now: dt.datetime) -> bool:
    """Record the press once (compare-and-set); False when someone pressed first."""
    return bool(session.execute(
        update(Incident).where(Incident.id == incident_id, Incident.reprocess_requested_at.is_(None))
        .values(reprocess_requested_at=now, reprocess_requested_by=actor)
        .execution_options(synchronize_session=False)).rowcount)
