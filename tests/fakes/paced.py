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

`IsolatedSynxis` runs it in a process of its own, for every test and benchmark that holds the
workers to the gateway's limit: in the test's process, whose other servers and threads share
the GIL, an arrival could be stamped late and a second look fuller than it was on the wire.
"""

from __future__ import annotations

import copy
import math
import multiprocessing
import re
import time
from collections import deque
from multiprocessing.connection import Connection
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


class IsolatedSynxis:
    """A `PacedSynxis` in its own process (started with `spawn`: nothing of this process's
    threads or locks is copied into it), driven through a pipe. Arrival times are the child's
    `time.monotonic()`, the same clock as this process's (Linux CLOCK_MONOTONIC), so they
    compare with times taken here. Offers what the recovery tests and `bench/recovery.py` read."""

    def __init__(self, **options: Any) -> None:
        self.options = options

    def __enter__(self) -> IsolatedSynxis:
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._proc = context.Process(target=_serve_isolated, args=(child, self.options), daemon=True,
                                     name="IsolatedSynxis")
        self._proc.start()
        child.close()
        found = self._conn.recv()
        self.url: str = found["url"]
        self.token_url: str = found["token_url"]
        self.client_id: str = found["client_id"]
        self.client_secret: str = found["client_secret"]
        return self

    def __exit__(self, *exc: object) -> None:
        self._conn.close()  # the child's recv() ends: it stops its server and exits
        self._proc.join(timeout=10)
        if self._proc.is_alive():
            self._proc.kill()

    def _ask(self, name: str, *args: Any, **kw: Any) -> Any:
        self._conn.send((name, args, kw))
        failed, value = self._conn.recv()
        if failed:
            raise RuntimeError(f"IsolatedSynxis.{name} failed in the fake's process: {value}")
        return value

    @property
    def arrivals(self) -> list[tuple[float, str, str, int]]:
        return self._ask("arrivals")

    @property
    def answered_429(self) -> list[float]:
        return self._ask("answered_429")

    @property
    def throttled_between(self) -> tuple[float, float] | None:
        return self._ask("throttled_between")

    def too_many(self) -> int:
        return self._ask("too_many")

    def reservations(self) -> dict[str, dict[str, Any]]:
        return self._ask("reservations")

    def fail_with_status(self, status: int, **kw: Any) -> None:
        self._ask("fail_with_status", status, **kw)

    def clear_faults(self) -> None:
        self._ask("clear_faults")


def _serve_isolated(conn: Connection, options: dict[str, Any]) -> None:
    """The child's side: start the fake, then answer each (name, args, kwargs) with
    (failed, value) until the parent closes the pipe."""
    fake = PacedSynxis(**options).start()
    conn.send({"url": fake.url, "token_url": fake.token_url, "client_id": fake.client_id,
               "client_secret": fake.client_secret})
    try:
        while True:
            try:
                name, args, kw = conn.recv()
            except EOFError:
                return
            try:
                with fake.lock:  # a copy, taken between two requests
                    member = getattr(fake, name)
                    value = member(*args, **kw) if callable(member) else copy.deepcopy(member)
                conn.send((False, None if name == "fail_with_status" else value))
            except Exception as exc:  # noqa: BLE001 - reported to the parent, which raises it
                conn.send((True, repr(exc)))
    finally:
        fake.stop()
