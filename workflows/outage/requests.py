"""The outage's button, "Reprocess all N": rebook every still-failed item of the incident at
the system's pace, soonest arrival first (`workflows.outage.recovery`).

Answered at once (a chat request): the press is recorded once (compare-and-set, so a second
press is told who pressed first) and one job, `start_recovery`, does the rest: the round's
items, their alerts acknowledged and audited, the lanes.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from workflows.core import queue, states
from workflows.core.db import transaction
from workflows.core.models import Incident, utcnow
from workflows.core.settings import Settings
from workflows.outage import recovery
from workflows.outage.views import still_failed
from workflows.systems import pace
from workflows.systems.names import system_name

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReprocessAll:
    accepted: bool
    message: str
    job_ids: tuple[str, ...] = ()


def reprocess_all(settings: Settings, incident_id: int, actor: str, *, now: dt.datetime | None = None
                  ) -> ReprocessAll:
    """The "Reprocess all N" button: recorded once, then `workflows.outage.jobs.start_recovery`."""
    now = now or utcnow()
    with transaction(settings.database_url) as session:
        incident = session.get(Incident, incident_id, with_for_update=True)
        if incident is None:
            return ReprocessAll(False, f"There is no outage {incident_id}.")
        if incident.state == states.INCIDENT_MAINTENANCE:
            return ReprocessAll(False, f"{system_name(incident.system)} is in a maintenance window; Reprocess all "
                                       "is offered when it ends (or end it early: `maintenance end ID`).")
        if incident.state == states.INCIDENT_OPEN:
            return ReprocessAll(False, f"{system_name(incident.system)} is still failing; "
                                       "wait for the all-clear so the recovering system is not hammered.")
        if not recovery.asked(session, incident_id, actor, now):
            session.refresh(incident)
            return ReprocessAll(False, f"{incident.reprocess_requested_by} already asked to reprocess all "
                                       f"at {incident.reprocess_requested_at:%H:%M}.")
        count = len(still_failed(session, incident))
        states.audit(session, actor=actor, action="click.reprocess_all", incident_id=incident_id, items=count)
        job = queue.job_id("recovery-start", incident_id)
        queue.add(session, "workflows.outage.jobs.start_recovery", job, incident_id=incident_id)
        entries = queue.added(session)
    try:
        queue.dispatch(settings, entries)
    except Exception:  # outermost boundary: the outbox keeps the job for the clock's next drain
        log.exception("dispatch after Reprocess all failed; the outbox keeps the job")
    speed = pace.pace_for(settings, incident.system)
    return ReprocessAll(True, f"Reprocessing {count:,} item{'s' if count != 1 else ''} at "
                              f"{system_name(incident.system)}'s pace ({speed.rate:g} requests/s, "
                              f"{speed.concurrency} at once), soonest arrival first.", (job,))
