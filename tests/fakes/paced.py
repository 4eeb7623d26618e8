"""The fake SynXis behind a rate-limiting gateway, for recovery tests and benchmarks.

- More than `limit` requests arriving within any sliding second: 429 Too Many Requests with
  `Retry-After: 1` (RFC 6585 §4; Retry-After as delay-seconds, RFC 9110 §10.2.3). Sabre
  publishes no numeric throttle or throttling response for SynXis (unverified: the status and
  header are the HTTP standard's, the body is SynXis' error shape).
- `throttle(seconds)`, or `throttle_after_creates=N`: every request answered 429 with
  `Retry-After: <seconds left, rounded up>` for that long, as a gateway asking its clients to
  back off.
- `latency`: every answer takes that long (the CRS's own time), after its effect.
- `arrivals`: (time.monotonic() at arrival, method, path, status) of every request, and
  `answered_429`: when each 429 left, so a test can look at what arrived in between.
"""

from __future__ import annotations

import math
import re
import time
from collections import deque
from typing import Any

from tests.fakes.http import RecordedRequest, Reply
from tests.fakes.synxis import RESERVATION, FakeSynxis


class PacedSynxis(FakeSynxis):
    def __init__(self, *, limit: int | None = None, latency: float = 0.0, throttle_after_creates: int | None = None,
                 throttle_seconds: float = 0.0, **kw: Any) -> None:
        super().__init__(**kw)
        self.limit = limit
        self.latency = latency
        self.throttle_after_creates = throttle_after_creates
        self.throttle_seconds = throttle_seconds
        self.arrivals: list[tuple[float, str, str, int]] = []
        self.answered_429: list[float] = []
        self.throttled_between: tuple[float, float] | None = None
        self._window: deque[float] = deque()
        self._creates = 0
        self._throttled_until = 0.0

    def throttle(self, seconds: float) -> None:
        with self.lock:
            now = time.monotonic()
            self._throttled_until = now + seconds
            self.throttled_between = (now, self._throttled_until)

    def too_many(self) -> int:
        with self.lock:
            return sum(1 for a in self.arrivals if a[3] == 429)

    def _dispatch(self, req: RecordedRequest) -> Reply:
        with self.lock:
            now = time.monotonic()
            while self._window and self._window[0] <= now - 1.0:
                self._window.popleft()
            self._window.append(now)
            if now < self._throttled_until:
                reply = self._too_many(math.ceil(self._throttled_until - now))
            elif self.limit is not None and len(self._window) > self.limit:
                reply = self._too_many(1)
            else:
                reply = super()._dispatch(req)
                if req.method == "POST" and re.fullmatch(RESERVATION, req.path) and reply.status == 200:
                    self._creates += 1
                    if self._creates == self.throttle_after_creates:
                        self._throttled_until = now + self.throttle_seconds
                        self.throttled_between = (now, self._throttled_until)
            self.arrivals.append((now, req.method, req.path, reply.status))
        reply.delay = max(reply.delay, self.latency)
        if reply.status == 429:
            self.answered_429.append(now + reply.delay)
        return reply

    @staticmethod
    def _too_many(retry_after: int) -> Reply:
        return Reply(429, {"errors": [{"code": "429", "message": "Too Many Requests"}]},
                     headers={"Retry-After": str(max(1, retry_after))})
