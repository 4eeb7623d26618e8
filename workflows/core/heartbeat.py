"""Signs of life in Redis, for the dead man's switch (`workflows.oncall.deadman`): when the
clock last ticked, and how many times in a row the poller has failed (with its last error).
Workers need nothing here: RQ keeps each worker's own heartbeat (`Worker.last_heartbeat`).

Keys: `syncdesk:{queue}:beat:{who}` (a UNIX time) and `syncdesk:{queue}:poller:failures`
(a count) / `…:poller:error`, all expiring after a day so a retired deployment leaves nothing.
"""

from __future__ import annotations

import time

from redis import Redis

CLOCK = "clock"
TTL_SECONDS = 86400


def _key(queue_name: str, *parts: str) -> str:
    return ":".join(("syncdesk", queue_name, *parts))


def beat(redis: Redis, queue_name: str, who: str, now: float | None = None) -> None:
    redis.set(_key(queue_name, "beat", who), repr(time.time() if now is None else now), ex=TTL_SECONDS)


def last_beat(redis: Redis, queue_name: str, who: str) -> float | None:
    value = redis.get(_key(queue_name, "beat", who))
    return float(value) if value is not None else None


def poller_result(redis: Redis, queue_name: str, error: str | None) -> int:
    """Record one poll: None when it worked (the streak ends), else its error. Returns the
    number of failures in a row now."""
    failures, last = _key(queue_name, "poller", "failures"), _key(queue_name, "poller", "error")
    if error is None:
        redis.delete(failures, last)
        return 0
    pipe = redis.pipeline()
    pipe.incr(failures)
    pipe.expire(failures, TTL_SECONDS)
    pipe.set(last, error[:500], ex=TTL_SECONDS)
    return int(pipe.execute()[0])


def poller_streak(redis: Redis, queue_name: str) -> tuple[int, str]:
    """(failures in a row, the last one's error)."""
    count, error = redis.mget(_key(queue_name, "poller", "failures"), _key(queue_name, "poller", "error"))
    return int(count or 0), (error or b"").decode()
