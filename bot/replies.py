"""What each surface's notifier remembers about its thread replies, in Redis: one reply per
job outcome however often the alert is re-rendered, and where each reply is, so an erasure
(issue 28) can rewrite it in place. Slack and Teams differ only in how they post.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from typing import Any

from redis import Redis

from workflows.orders.snapshot import AuditView

# How long "this outcome was replied" is kept: longer than any alert stays open.
REPLY_MEMORY_SECONDS = 90 * 86400


class Replies:
    """The replies of one surface (`slack`, `teams`)."""

    def __init__(self, redis: Redis, surface: str, keep_where_seconds: int) -> None:
        self.redis = redis
        self.surface = surface
        # where each reply is, kept until retention has erased its order's guest (issue 28)
        self.keep_where_seconds = keep_where_seconds

    def key(self, order_id: str, event: AuditView) -> str:
        """The Redis key that says a job outcome was replied (set before the reply is posted)."""
        identity = f"{order_id}|{event.at.isoformat()}|{event.action}|{event.item_id}"
        return f"syncdesk:{self.surface}:replied:" + hashlib.sha256(identity.encode()).hexdigest()[:32]

    def _where_key(self, order_id: str) -> str:
        return f"syncdesk:{self.surface}:replies:{order_id}"

    def once(self, order_id: str, event: AuditView, thread: str, send: Callable[[], Sequence[Any]]) -> None:
        """Post the reply to `event` with `send` unless it was posted before; remember where
        it went (`send`'s answer). A failed `send` leaves it unsaid, so the job's retry says it."""
        key = self.key(order_id, event)
        if not self.redis.set(key, thread, nx=True, ex=REPLY_MEMORY_SECONDS):
            return
        try:
            where = send()
        except Exception:
            self.redis.delete(key)
            raise
        self.redis.hset(self._where_key(order_id), key, json.dumps(list(where)))
        self.redis.expire(self._where_key(order_id), self.keep_where_seconds)

    def where(self, order_id: str) -> dict[str, list[Any]]:
        """Where each remembered reply of the order is, by its key."""
        return {k.decode() if isinstance(k, bytes) else k: json.loads(v)
                for k, v in self.redis.hgetall(self._where_key(order_id)).items()}
