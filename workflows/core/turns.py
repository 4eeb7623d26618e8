"""Turns: at most one run of a re-render per subject every few seconds, and never none after
a change (STYLE 10, "bursts collapse"; Grafana OnCall rate-limits its message updates the
same way).

Whoever asks runs `take_turn` first. The first in an interval takes the turn (a Redis key
that lives `seconds`); the others ask for one run at the end of the turn, under a job id
that names the turn, so however many ask meanwhile, one run follows, and it reads the state
as it is then.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from redis import Redis
from rq import get_current_job

from workflows.core import queue
from workflows.core.settings import Settings


def take_turn(settings: Settings, redis: Redis, key: str, seconds: float, function: str, *job: object,
              **kwargs: Any) -> bool:
    """True when the caller may run now; else one run of `function(**kwargs)` is asked for at
    the end of the current turn (job id: `job` and the turn) and False."""
    current = get_current_job()
    for _ in range(3):
        if redis.set(key, uuid.uuid4().hex, nx=True, px=max(1, int(seconds * 1000))):
            return True
        turn, wait = redis.get(key), redis.pttl(key)
        if turn is None or wait <= 0:
            continue
        after = queue.job_id(*job, "after", turn.decode() if isinstance(turn, bytes) else turn)
        if current is not None and current.id == after:
            time.sleep(wait / 1000)  # this is the run asked for, started a moment early: wait out the turn
            continue
        # RQ keeps scheduled times in whole seconds, so it may start up to a second early: it
        # then waits out the rest of the turn itself (above).
        queue.enqueue(settings, function, after, delay_seconds=wait / 1000, **kwargs)
        return False
    return True  # the turn kept ending under our feet: run rather than risk showing nothing
