"""How often an outage message is re-rendered: at most once per incident every
OUTAGE_REFRESH_SECONDS, whatever asks for it (a storm of failures, a recovery's progress), and never
less than once after a change (STYLE 10: bursts collapse; Grafana OnCall rate-limits its
message updates the same way).

Each change asks for `workflows.outage.jobs.refresh_incident` under its own job id (a job id
per time slot would be refused while a finished job of that slot is still kept, and that
change would never be shown). The job then takes its turn (`workflows.core.turns`): asked too
soon, it asks for one refresh at the end of the turn, however many ask meanwhile.
"""

from __future__ import annotations

import logging

from redis import Redis
from sqlalchemy.orm import Session

from workflows.core import queue, turns
from workflows.core.settings import Settings

log = logging.getLogger(__name__)

REFRESH = "workflows.outage.jobs.refresh_incident"


def request_refresh(session: Session, incident_id: int, cause: object) -> None:
    """Ask, with this transaction, for the outage message to follow; `cause` names the change
    (it makes the job id: the same cause asks once)."""
    queue.add(session, REFRESH, queue.job_id("incident", incident_id, cause), incident_id=incident_id)


def refresh_soon(settings: Settings, incident_id: int, cause: object) -> None:
    """The same, outside a transaction (a recovery lane after each item)."""
    try:
        queue.enqueue(settings, REFRESH, queue.job_id("incident", incident_id, cause), incident_id=incident_id)
    except Exception:  # outermost boundary: only a refresh; the next change asks again
        log.warning("could not ask for outage %s's refresh; the next change asks again", incident_id)


def take_turn(settings: Settings, redis: Redis, incident_id: int) -> bool:
    """True when the outage message may be re-rendered now (`workflows.core.turns`)."""
    return turns.take_turn(settings, redis, f"syncdesk:outage:{incident_id}:shown", settings.outage_refresh_seconds, REFRESH,
                           "incident", incident_id, incident_id=incident_id)
