"""Handing jobs to RQ, through the outbox.

Services write an `OutboxEntry` in the same transaction as the change that needs the job
(DESIGN §4, "nothing lost"); once it has committed, `dispatch()` enqueues it with its
deterministic job id (`unique=True`, so the same id is never queued twice). The clock's
`drain()` then marks it dispatched, in bulk with every other entry whose job RQ holds, and
enqueues what is still missing: entries written while Redis was down, or lost with it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import re
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

from redis import Redis
from redis.exceptions import RedisError
from rq import Queue, Retry
from rq.exceptions import DuplicateJobError
from rq.job import Job
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from workflows.core.db import transaction
from workflows.core.models import OutboxEntry, utcnow
from workflows.core.settings import Settings

log = logging.getLogger(__name__)

JOB_TIMEOUT_SECONDS = 300
# An abandoned job (its worker was SIGKILLed) is requeued by RQ's cleanup while it has
# retries left; our jobs are idempotent, so running one again is always safe.
ABANDONED_RETRIES = 3
_ADDED = "syncdesk.outbox"


@lru_cache(maxsize=8)
def get_redis(url: str) -> Redis:
    return Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5, health_check_interval=30)


def get_queue(settings: Settings, *, actions: bool = False) -> Queue:
    """The default queue, or the one for what people asked for (`actions`): workers take it
    first, so a click is not stuck behind a storm of alert refreshes."""
    name = f"{settings.queue_name}-actions" if actions else settings.queue_name
    return Queue(name, connection=get_redis(settings.redis_url), default_timeout=JOB_TIMEOUT_SECONDS)


def get_queues(settings: Settings) -> list[Queue]:
    """What a worker listens to, in priority order."""
    return [get_queue(settings, actions=True), get_queue(settings)]


def job_id(action: str, *parts: object) -> str:
    """The deterministic RQ job id of `action` on `parts` (RQ allows letters, digits, _ and -).

    Readable, and made unique by a hash of the exact parts, so ids that differ only in
    punctuation never collide.
    """
    raw = "\x1f".join([action, *map(str, parts)])
    readable = "__".join(re.sub(r"[^A-Za-z0-9_-]", "_", str(p))[:40] for p in (action, *parts))
    return f"{readable}__{hashlib.sha1(raw.encode()).hexdigest()[:10]}"


def add(session: Session, function: str, job_id: str, *, delay_seconds: int = 0, **kwargs: Any) -> OutboxEntry:
    """Ask for `function(**kwargs)` to run once under `job_id`, when this transaction commits."""
    new = entry(function, job_id, delay_seconds=delay_seconds, **kwargs)
    session.add(new)
    written(session, [new])
    return new


def entry(function: str, job_id: str, *, delay_seconds: int = 0, **kwargs: Any) -> OutboxEntry:
    """The entry `add` adds, not yet in a session: a hot path writes several with one INSERT
    (`workflows.core.db.insert_new`), then hands them to `written`."""
    return OutboxEntry(function=function, kwargs=kwargs, job_id=job_id, delay_seconds=delay_seconds)


def written(session: Session, entries: list[OutboxEntry]) -> None:
    """Entries this transaction has written (`add`'s, or a hot path's own INSERT): `added` gives
    them for `dispatch` once it has committed."""
    session.info.setdefault(_ADDED, []).extend(entries)


def added(session: Session) -> list[OutboxEntry]:
    """The outbox entries this session added (flushed), to dispatch after it commits."""
    session.flush()
    return list(session.info.get(_ADDED, []))


def enqueue(settings: Settings, function: str, job_id: str, *, delay_seconds: float = 0, actions: bool = False,
            **kwargs: Any) -> bool:
    """Put a job on the queue now. False when a job with that id is already there."""
    queue = get_queue(settings, actions=actions)
    options: dict[str, Any] = {
        "job_id": job_id,
        "unique": True,
        "retry": Retry(max=ABANDONED_RETRIES, interval=[5, 15, 30]),
        "result_ttl": 3600,
        "failure_ttl": 7 * 86400,
        "kwargs": kwargs,
    }
    try:
        if delay_seconds > 0:
            queue.enqueue_in(dt.timedelta(seconds=delay_seconds), function, **options)
        else:
            queue.enqueue(function, **options)
    except DuplicateJobError:
        return False
    return True


def _dispatch_entry(settings: Settings, entry: OutboxEntry) -> None:
    remaining = (entry.created_at + dt.timedelta(seconds=entry.delay_seconds) - utcnow()).total_seconds()
    enqueue(settings, entry.function, entry.job_id, delay_seconds=max(0.0, remaining), **entry.kwargs)


def dispatch(settings: Settings, entries: Iterable[OutboxEntry]) -> int:
    """Enqueue the outbox entries a request or job just committed; returns how many.

    Nothing is written back: the entries stay pending until the clock's next `drain()`, which
    finds their jobs in RQ and marks them dispatched in bulk. That spares every request a second
    transaction (bench/RESULTS.md, finding 6). Stops quietly at the first Redis error: the rest
    wait for the drain, which enqueues them. An entry enqueued twice is harmless: its job id is
    unique in RQ.
    """
    handed = 0
    for entry in entries:
        try:
            _dispatch_entry(settings, entry)
        except RedisError as exc:
            log.warning("redis unavailable, outbox entries wait for the next drain: %s", exc)
            break
        handed += 1
    return handed


def drain(settings: Settings, *, limit: int = 500, batches: int = 20) -> int:
    """The clock's part of the outbox, every tick: mark dispatched the pending entries whose job
    RQ holds (handed over by `dispatch()`), enqueue the others (written while Redis was away, or
    lost with it), oldest first, `limit` at a time; returns how many were settled.

    "RQ holds the job" is the test RQ's own `unique=True` makes (the job's hash exists), so an
    entry is marked exactly when enqueueing it again would be refused as a duplicate. A job's
    hash lives an hour after it ran (`result_ttl`), far longer than an entry waits for a tick.
    """
    redis = get_redis(settings.redis_url)
    settled = 0
    for _ in range(batches):
        with transaction(settings.database_url) as session:
            entries = list(session.scalars(
                select(OutboxEntry).where(OutboxEntry.dispatched_at.is_(None)).order_by(OutboxEntry.id).limit(limit)
            ))
        if not entries:
            break
        try:
            with redis.pipeline(transaction=False) as pipe:
                for entry in entries:
                    pipe.exists(Job.key_for(entry.job_id))
                held = pipe.execute()
        except RedisError as exc:
            log.warning("redis unavailable, outbox entries wait for the next drain: %s", exc)
            break
        done = [entry.id for entry, there in zip(entries, held) if there]
        missing = [entry for entry, there in zip(entries, held) if not there]
        enqueued = dispatch(settings, missing)
        done += [entry.id for entry in missing[:enqueued]]
        _mark_dispatched(settings, done)
        settled += len(done)
        if enqueued < len(missing) or len(entries) < limit:
            break
    return settled


def _mark_dispatched(settings: Settings, ids: list[int]) -> None:
    if ids:
        with transaction(settings.database_url) as session:
            session.execute(
                update(OutboxEntry)
                .where(OutboxEntry.id.in_(ids), OutboxEntry.dispatched_at.is_(None))
                .values(dispatched_at=utcnow())
            )


def pending_count(settings: Settings) -> int:
    with transaction(settings.database_url) as session:
        return session.scalar(select(func.count()).where(OutboxEntry.dispatched_at.is_(None))) or 0
