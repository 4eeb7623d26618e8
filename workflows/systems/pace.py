"""Each booking system's pace: a rate limiter and a concurrency limit shared, through Redis,
by every process on every machine that calls the system.

- **Rate**: a sliding-window log of the turns given (at most `rate` in any window of a second
  and 5 %, JITTER_MARGIN) and turns at least 0.9/rate apart, so no second at the system ever
  holds more than the rate, even when a request loses a few milliseconds on its way. Each
  request takes its turn in one Lua script, so processes never race
  (redis.io/docs/latest/develop/interact/programmability/eval-intro/: scripts run atomically;
  the script reads the server's `TIME`, so every machine shares one clock).
- **Adaptive**: a 429, a 5xx or a timeout halves the rate (at most once a second, so the
  answers to requests already in flight count once) and a `Retry-After` (RFC 9110 §10.2.3:
  seconds or an HTTP date) stops every request until it has passed; each success grows the
  rate back linearly, from half to full in `ramp_seconds / 2`: additive increase,
  multiplicative decrease, as TCP does (RFC 5681 §3.1).
- **Concurrency**: at most `concurrency` bookings in flight per system: leases in a sorted
  set, which expire on their own if their process dies holding one.

Configured per system with `SYSTEM_PACE` ("synxis=20/8,resdiary=5/2": requests per second /
bookings at once) and `SYSTEM_PACE_DEFAULT` for the rest. Booking connectors built by
`workflows.systems.registry` are paced here (`HttpConnector.pace_with`), so a person's
Reprocess, an automatic retry and an outage's recovery all share the system's pace.

No maintained library fitted: `limits` and `pyrate-limiter` keep fixed rates (no halving,
no Retry-After, no growth back) and have no concurrency leases; the rate must change inside
the same atomic step that spaces the requests, or two processes disagree about it.
"""

from __future__ import annotations

import email.utils
import logging
import math
import random
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from redis import Redis
from redis.exceptions import RedisError

from connectors.errors import RateLimited
from workflows.core.queue import get_redis
from workflows.core.settings import Settings, parse_pace, parse_paces
from workflows.systems.names import system_name

log = logging.getLogger(__name__)

KEY = "syncdesk:pace:{system}"
MIN_RATE_FRACTION = 1 / 32  # halving stops here: the system is still asked, slowly
# The rate is kept over a window 5 % longer than the rate's own (20/s: at most 20 in any
# 1.05 s), so the few milliseconds a request can lose between its turn and the wire never put
# 21 into one second at the system. Turns are also at least 0.9 / rate apart: smooth, not bursts.
JITTER_MARGIN = 0.05
IDLE_EXPIRY_SECONDS = 86400

# KEYS[1] the system's hash, KEYS[2] its log of recent turns (sorted set of times).
# ARGV: op, max rate, arg (retry-after s | ramp s), now override (tests; "" = Redis TIME), min
# rate fraction, idle expiry s, jitter margin.
# Hash fields: rate (current), until (Retry-After end), cut (last halving), grown (last growth),
# last (last turn), seq. Returns {granted 0|1, wait ms, current rate * 10^6, blocked ms}.
SCRIPT = """
local key, log = KEYS[1], KEYS[2]
local op, max_rate, arg = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local now
if ARGV[4] ~= '' then now = tonumber(ARGV[4]) else
  local t = redis.call('TIME'); now = tonumber(t[1]) + tonumber(t[2]) / 1000000 end
local f = redis.call('HMGET', key, 'rate', 'until', 'cut', 'grown', 'last')
local rate, till = tonumber(f[1]) or max_rate, tonumber(f[2]) or 0
local cut, grown, last = tonumber(f[3]) or 0, tonumber(f[4]) or now, tonumber(f[5]) or 0
if rate > max_rate then rate = max_rate end
local min_rate, margin = max_rate * tonumber(ARGV[5]), tonumber(ARGV[7])
local granted, wait = 0, 0
if op == 'take' then
  local cap = math.max(1, math.floor(rate))
  local window = (1 + margin) * cap / rate
  redis.call('ZREMRANGEBYSCORE', log, '-inf', now - window)
  if till > now then wait = till - now end
  if now < last + 0.9 / rate then wait = math.max(wait, last + 0.9 / rate - now) end
  if redis.call('ZCARD', log) >= cap then
    local oldest = tonumber(redis.call('ZRANGE', log, 0, 0, 'WITHSCORES')[2])
    wait = math.max(wait, oldest + window - now)
  end
  if wait <= 0 then
    granted, last = 1, now
    redis.call('ZADD', log, now, now .. ':' .. redis.call('HINCRBY', key, 'seq', 1))
    redis.call('PEXPIRE', log, math.ceil(window * 1000) + 1000)
  end
elseif op == 'slow' then
  if now - cut >= 1 then
    rate = math.max(min_rate, rate / 2); cut = now; grown = now
  end
  if arg > 0 then till = math.max(till, now + arg) end
elseif op == 'fine' then
  if rate < max_rate then
    rate = math.min(max_rate, rate + max_rate * (now - math.max(grown, cut)) / arg)
  end
  grown = now
end
if op ~= 'peek' then
  redis.call('HSET', key, 'rate', rate, 'until', till, 'cut', cut, 'grown', grown, 'last', last)
  redis.call('EXPIRE', key, tonumber(ARGV[6]))
end
return {granted, math.ceil(math.max(wait, 0) * 1000), math.floor(rate * 1000000), math.ceil(math.max(till - now, 0) * 1000)}
"""

# KEYS[1] the system's leases (sorted set, score = expiry ms). ARGV: op, limit, lease id, lease ms.
SLOTS = """
local t = redis.call('TIME'); local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if ARGV[1] == 'claim' then
  if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[2]) then
    redis.call('ZADD', KEYS[1], now + tonumber(ARGV[4]), ARGV[3])
    redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[4]))
    return 1
  end
  return 0
elseif ARGV[1] == 'release' then
  return redis.call('ZREM', KEYS[1], ARGV[3])
end
return redis.call('ZCARD', KEYS[1])
"""


class PaceError(ValueError):
    """SYSTEM_PACE or SYSTEM_PACE_DEFAULT cannot be read; the message names the entry."""


@dataclass(frozen=True)
class Pace:
    """A system's configured pace: requests per second, and bookings in flight at once."""

    rate: float
    concurrency: int

    @classmethod
    def parse(cls, text: str, where: str) -> Pace:
        try:
            return cls(*parse_pace(text))
        except ValueError as exc:
            raise PaceError(f"{where}: {exc}") from None


def paces(settings: Settings) -> dict[str, Pace]:
    """SYSTEM_PACE by system (checked when the settings were read); PaceError names a bad entry."""
    try:
        return {system: Pace(*pair) for system, pair in parse_paces(settings.system_pace).items()}
    except ValueError as exc:
        raise PaceError(str(exc)) from None


def pace_for(settings: Settings, system: str) -> Pace:
    return paces(settings).get(system.lower()) or Pace.parse(settings.system_pace_default, "SYSTEM_PACE_DEFAULT")


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """`Retry-After` (RFC 9110 §10.2.3) in seconds from now: delay-seconds or an HTTP date."""
    if not value or not value.strip():
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


@dataclass(frozen=True)
class State:
    """What the limiter holds for a system now (for the outage message and the benchmarks)."""

    rate: float
    blocked_for: float  # seconds until a Retry-After ends
    in_flight: int


class Limiter:
    """One system's pace, as seen from this process (its state lives in Redis).

    `before_request` / `after_response` are what `connectors.base.HttpConnector.pace_with`
    calls around every request; `slot()` holds one of the system's concurrent bookings.
    """

    def __init__(self, redis: Redis, system: str, pace: Pace, *, max_wait: float = 60.0,
                 ramp_seconds: float = 60.0) -> None:
        self.redis = redis
        self.system = system
        self.pace = pace
        self.max_wait = max_wait
        self.ramp_seconds = ramp_seconds
        self.key = KEY.format(system=system)
        self._script = redis.register_script(SCRIPT)
        self._slots = redis.register_script(SLOTS)
        self._rate_seen = pace.rate  # what the last turn said; successes at the full rate need no growth

    def _run(self, op: str, arg: float = 0.0, now: float | None = None) -> tuple[bool, float, float, float]:
        granted, wait_ms, rate_micro, blocked_ms = self._script(
            keys=[self.key, self.key + ":log"],
            args=[op, self.pace.rate, arg, "" if now is None else repr(now), MIN_RATE_FRACTION, IDLE_EXPIRY_SECONDS,
                  JITTER_MARGIN])
        return bool(granted), wait_ms / 1000, rate_micro / 1e6, blocked_ms / 1000

    # -- the rate ------------------------------------------------------------------------
    def take(self, now: float | None = None) -> float:
        """Take this request's turn: 0 when it may go now, else the seconds to wait first."""
        granted, wait, self._rate_seen, _ = self._run("take", now=now)
        return 0.0 if granted else max(wait, 0.001)

    def before_request(self) -> None:
        """Wait for the request's turn (at most `max_wait`; then RateLimited, a transient
        failure the job records and retries)."""
        deadline = time.monotonic() + self.max_wait
        while True:
            try:
                wait = self.take()
            except RedisError as exc:  # no shared pace without Redis: go on rather than stop booking
                log.warning("pace of %s unavailable (%s): request not paced", self.system, exc)
                return
            if wait == 0:
                return
            left = deadline - time.monotonic()
            if wait > left:
                raise RateLimited(f"{system_name(self.system)} is being paced: its next turn is {wait:.0f} s away; "
                                  "syncdesk will try again.", detail=f"pace {self.key}: wait {wait:.3f} s")
            # A little jitter so processes waiting for the same turn do not all ask at once.
            time.sleep(min(wait, 1.0) + random.uniform(0, 0.005))

    def after_response(self, status: int, retry_after: str | None) -> None:
        """Learn from an answer: 429 and 5xx slow down (honouring Retry-After), 2xx speed up."""
        try:
            if status == 429 or status >= 500:
                wait = retry_after_seconds(retry_after)
                self.slow_down(wait if wait is not None else (1.0 if status == 429 else 0.0))
            elif status < 400 and self._rate_seen < self.pace.rate:
                self._rate_seen = self._run("fine", self.ramp_seconds)[2]
        except RedisError as exc:
            log.warning("pace of %s unavailable (%s): answer %d not learned", self.system, exc, status)

    def slow_down(self, retry_after: float = 0.0, now: float | None = None) -> float:
        """Halve the rate (once a second at most); no request before `retry_after` seconds.
        Returns the rate now."""
        _, _, rate, _ = self._run("slow", retry_after, now=now)
        log.warning("%s is slowing down: %.2f requests/s%s", system_name(self.system), rate,
                    f", none for {retry_after:g} s (Retry-After)" if retry_after else "")
        return rate

    def speed_up(self, now: float | None = None) -> float:
        """A success: grow the rate back towards the configured one. Returns the rate now."""
        return self._run("fine", self.ramp_seconds, now=now)[2]

    # -- concurrency ---------------------------------------------------------------------
    @contextmanager
    def slot(self, lease_seconds: float = 300.0) -> Iterator[None]:
        """Hold one of the system's concurrent bookings (waiting at most `max_wait` for it).

        The lease expires after `lease_seconds` if its process dies holding it.
        """
        lease = uuid.uuid4().hex
        slots_key = self.key + ":slots"
        deadline = time.monotonic() + self.max_wait
        try:
            while not self._slots(keys=[slots_key], args=["claim", self.pace.concurrency, lease,
                                                            int(lease_seconds * 1000)]):
                if time.monotonic() > deadline:
                    raise RateLimited(f"{self.pace.concurrency} {system_name(self.system)} bookings are already in "
                                      "progress; syncdesk will try again.", detail=f"pace {slots_key}: full")
                time.sleep(0.05 + random.uniform(0, 0.02))
        except RedisError as exc:
            log.warning("pace of %s unavailable (%s): booking not limited", self.system, exc)
            yield
            return
        try:
            yield
        finally:
            try:
                self._slots(keys=[slots_key], args=["release", 0, lease, 0])
            except RedisError:
                pass  # the lease expires on its own

    def state(self) -> State:
        _, _, rate, blocked = self._run("peek")
        in_flight = int(self._slots(keys=[self.key + ":slots"], args=["count", 0, "", 0]))
        return State(rate, blocked, in_flight)

    def reset(self) -> None:
        """Forget what was learned (tests, and an operator after a vendor raised a limit)."""
        self.redis.delete(self.key, self.key + ":slots", self.key + ":log")


_limiters: dict[tuple[str, str, Pace], Limiter] = {}
_lock = threading.Lock()


def limiter(settings: Settings, system: str) -> Limiter:
    """The process's Limiter for `system` under these settings (one per Redis, system and pace)."""
    pace = pace_for(settings, system)
    key = (settings.redis_url, system.lower(), pace)
    with _lock:
        found = _limiters.get(key)
        if found is None:
            found = _limiters[key] = Limiter(get_redis(settings.redis_url), system.lower(), pace,
                                             max_wait=settings.pace_max_wait_seconds,
                                             ramp_seconds=settings.pace_ramp_seconds)
        return found


class Share:
    """A share of a system's pace for background work (the arrival check, issue 25): every
    request takes a turn in the share's own limiter, at `fraction` of the system's rate, and
    then one in the system's. The work never uses more than its share, and what it uses counts
    against everyone's, so a person's Reprocess keeps the rest."""

    def __init__(self, own: Limiter, whole: Limiter) -> None:
        self.own = own
        self.whole = whole

    def before_request(self) -> None:
        self.own.before_request()
        self.whole.before_request()

    def after_response(self, status: int, retry_after: str | None) -> None:
        self.own.after_response(status, retry_after)
        self.whole.after_response(status, retry_after)


def share(settings: Settings, system: str, fraction: float, purpose: str) -> Share:
    """`fraction` of `system`'s pace for `purpose` (its own key in Redis: "synxis:arrivals")."""
    whole = limiter(settings, system)
    pace = Pace(whole.pace.rate * fraction, max(1, math.floor(whole.pace.concurrency * fraction)))
    name = f"{system.lower()}:{purpose}"
    key = (settings.redis_url, name, pace)
    with _lock:
        own = _limiters.get(key)
        if own is None:
            own = _limiters[key] = Limiter(get_redis(settings.redis_url), name, pace,
                                           max_wait=settings.pace_max_wait_seconds,
                                           ramp_seconds=settings.pace_ramp_seconds)
    return Share(own, whole)

