"""The lanes of an outage's recovery ("Reprocess all", `workflows.outage.recovery`): each step
takes the next item in arrival order, runs the same check-first Reprocess a person's click
runs, and asks for the lane's next step. Here because the Reprocess job is this domain's.
"""

from __future__ import annotations

import logging

from rq import get_current_job

from workflows.actions.jobs import reprocess
from workflows.core import queue
from workflows.core.db import transaction
from workflows.core.settings import get_settings
from workflows.outage import recovery
from workflows.outage.refresh import refresh_soon

log = logging.getLogger(__name__)


def advance(incident_id: int, round: int, lane: int, step: int = 0) -> str:  # noqa: A002 - the job's kwarg
    """Job: one step of one lane — claim the next item, rebook it, ask for the next step."""
    settings = get_settings()
    job = get_current_job()
    job_id = job.id if job is not None else queue.job_id("recovery", incident_id, round, lane, step)
    redis = queue.get_redis(settings.redis_url)
    with transaction(settings.database_url) as session:
        claim = recovery.claim_next(session, redis, incident_id, round, lane, job_id)
    if isinstance(claim, str):
        refresh_soon(settings, incident_id, f"lane {job_id}: {claim}")
        return claim
    # Inline, under this step's job id: a re-run of the step (its worker died) takes over its
    # own lock and finds the booking it may have made (check first).
    reprocess(claim.order_id, claim.item_id, claim.actor)
    with transaction(settings.database_url) as session:
        outcome = recovery.learn(session, redis, settings, incident_id, round, lane, claim)
        entries = queue.added(session)
    queue.dispatch(settings, entries)
    queue.enqueue(settings, recovery.ADVANCE, queue.job_id("recovery", incident_id, round, lane, "step", step + 1),
                  incident_id=incident_id, round=round, lane=lane, step=step + 1)
    refresh_soon(settings, incident_id, f"lane {job_id}")
    return f"{claim.order_id}/{claim.item_id}: {outcome}"
