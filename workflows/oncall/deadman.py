"""The dead man's switch (issue 26): the web process, which runs apart from the workers and the
clock, notices when they have stopped, since a stopped worker cannot say so itself.

Degraded when, for `HEARTBEAT_MINUTES` (default 5):
- the clock has not ticked (`workflows.core.heartbeat`, written by every tick);
- no worker has been alive (RQ's own per-worker heartbeat, `Worker.last_heartbeat`);
- or the poller has failed `POLLER_FAILURES_ALERT` (3) times in a row, e.g. with the
  platform's credentials revoked.

`watch` says so once, on-call by direct message and the alert channel with @here, and says
so again once things recover. A Redis key holds what was last said, and only the process that
swaps it speaks, so several web processes say it once between them. `/readyz` reports the same
`assess` (status "degraded": intake itself still works, so it stays in the load balancer).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Mapping
from dataclasses import dataclass

from redis import Redis
from rq import Worker

from workflows.core import heartbeat
from workflows.core.db import transaction
from workflows.core.messages import Messenger
from workflows.core.queue import get_queues, get_redis
from workflows.core.settings import Settings
from workflows.oncall.rotation import rotation_for, who

SAID_KEY = "syncdesk:{queue}:deadman:said"


@dataclass(frozen=True)
class Health:
    problems: tuple[str, ...]  # in words
    codes: tuple[str, ...] = ()  # "clock", "workers", "poller": what changed, for saying it once

    @property
    def ok(self) -> bool:
        return not self.problems


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds >= 60 else f"{seconds:.0f} s"


def workers_alive(redis: Redis, settings: Settings, now: float) -> int:
    """Workers of this deployment's queues whose heartbeat is within HEARTBEAT_MINUTES."""
    limit = settings.heartbeat_minutes * 60
    alive = set()
    for queue in get_queues(settings):
        for worker in Worker.all(connection=redis, queue=queue):
            beat = worker.last_heartbeat
            if beat is not None and now - beat.replace(tzinfo=dt.timezone.utc).timestamp() <= limit:
                alive.add(worker.name)
    return len(alive)


def assess(settings: Settings, watching_since: float, now: float | None = None) -> Health:
    """What is wrong with the processes behind the web one now (nothing: `Health.ok`). Silence
    counts only from `watching_since` (when the web process started): right after a start the
    clock and the workers have not had HEARTBEAT_MINUTES to show themselves yet."""
    now = time.time() if now is None else now
    redis = get_redis(settings.redis_url)
    limit = settings.heartbeat_minutes * 60
    if now - watching_since <= limit:
        return Health(())
    problems, codes = [], []
    ticked = heartbeat.last_beat(redis, settings.queue_name, heartbeat.CLOCK)
    if ticked is None or now - ticked > limit:
        since = "has never ticked" if ticked is None else f"has not ticked for {_minutes(now - ticked)}"
        problems.append(f"the clock {since}: nothing is polled, retried or escalated (start `syncdesk clock`)")
        codes.append("clock")
    if workers_alive(redis, settings, now) == 0:
        problems.append(f"no worker has been alive for {_minutes(limit)}: no Reprocess, alert or message is "
                        "processed (start `syncdesk worker`)")
        codes.append("workers")
    failures, error = heartbeat.poller_streak(redis, settings.queue_name)
    if failures >= settings.poller_failures_alert:
        problems.append(f"the poller has failed {failures} times in a row ({error}): lost webhooks go unnoticed")
        codes.append("poller")
    return Health(tuple(problems), tuple(codes))


def text_of(health: Health) -> str:
    if health.ok:
        return "✅ syncdesk has recovered: the clock, the workers and the poller are running again."
    return "🚨 syncdesk is degraded: " + "; ".join(health.problems) + "."


def watch(settings: Settings, messengers: Mapping[str, Messenger], watching_since: float,
          now: float | None = None) -> Health:
    """Assess, and when the state changed since it was last said, say it (once across processes)."""
    health = assess(settings, watching_since, now)
    said = "ok" if health.ok else "degraded:" + ",".join(health.codes)
    redis = get_redis(settings.redis_url)
    previous = redis.set(SAID_KEY.format(queue=settings.queue_name), said, get=True)
    before = previous.decode() if previous is not None else "ok"
    was = set(before.split(":", 1)[1].split(",")) if before.startswith("degraded:") else set()
    # Said once: a problem not said before, or the recovery from all of them. One of several
    # problems clearing (a worker back, the clock still stopped) is not news.
    if (health.ok and was) or set(health.codes) - was:
        announce(settings, messengers, text_of(health))
    return health


def announce(settings: Settings, messengers: Mapping[str, Messenger], text: str) -> None:
    """To the on-call person directly, and to the alert channel with @here, on every surface."""
    with transaction(settings.database_url) as session:
        current, _ = who(session, rotation=rotation_for(settings))
    for surface, messenger in messengers.items():
        messenger.channel_message(text, "@here")
        person = current.person.id_on(surface) if current is not None else None
        if person:
            messenger.direct_message([person], text)
