"""A booking system's pace, shared through the real Redis: requests spaced so no second holds
more than the rate whoever sends them, halving on 429/5xx with Retry-After honoured, growing
back slowly, bookings in flight bounded, and a connector that waits its turn on the wire."""

from __future__ import annotations

import bisect
import threading
import time
from email.utils import format_datetime
import datetime as dt

import pytest
from pydantic import ValidationError
from redis import Redis

from connectors.base import HttpConnector, Timeouts
from connectors.errors import RateLimited
from tests.fakes.http import FakeServer, Reply
from workflows.core.settings import Settings
from workflows.systems import pace
from workflows.systems.pace import Limiter, Pace, PaceError


def max_in_window(times: list[float], window: float = 1.0) -> int:
    times = sorted(times)
    return max((bisect.bisect_left(times, t + window) - i for i, t in enumerate(times)), default=0)


@pytest.fixture
def fresh(redis_url: str):  # type: ignore[no-untyped-def]
    def make(rate: float = 10, concurrency: int = 2, **kw) -> Limiter:  # type: ignore[no-untyped-def]
        limiter = Limiter(Redis.from_url(redis_url), "synxis", Pace(rate, concurrency), **kw)
        limiter.reset()
        return limiter
    return make


def test_requests_from_many_processes_are_spaced_to_the_rate(fresh, redis_url):
    """Eight senders, each with its own Redis connection, for 2.5 s at 20 requests/s: no 1-s
    window holds more than 20, and together they use the rate (about 47 in 2.5 s, the rate
    less its 5 % margin)."""
    fresh(rate=20)
    granted: list[float] = []
    lock = threading.Lock()
    stop = time.monotonic() + 2.5

    def sender() -> None:
        mine = Limiter(Redis.from_url(redis_url), "synxis", Pace(20, 8))
        while time.monotonic() < stop:
            mine.before_request()
            with lock:
                granted.append(time.monotonic())

    threads = [threading.Thread(target=sender) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert max_in_window(granted) <= 20, max_in_window(granted)
    assert len(granted) >= 44  # 2.5 s × 20/s / 1.05, less the last turns that fell after the stop


def test_a_429_halves_the_rate_and_nothing_goes_before_retry_after_ends(fresh):
    limiter = fresh(rate=10)
    t = 1_000_000.0
    assert limiter.take(now=t) == 0
    assert limiter.slow_down(2.0, now=t + 0.05) == pytest.approx(5.0)
    assert limiter.take(now=t + 1.0) == pytest.approx(1.05, abs=0.01)  # blocked until t + 2.05
    assert limiter.take(now=t + 2.0) > 0
    assert limiter.take(now=t + 2.06) == 0
    assert limiter.take(now=t + 2.1) == pytest.approx(0.14, abs=0.01)  # now 5/s: at least 0.18 s apart


def test_answers_in_flight_halve_once_then_a_floor(fresh):
    limiter = fresh(rate=10)
    t = 2_000_000.0
    rates = [limiter.slow_down(now=t + d) for d in (0.0, 0.1, 0.2)]  # three 503s from requests in flight
    assert rates == [pytest.approx(5.0)] * 3
    assert limiter.slow_down(now=t + 1.5) == pytest.approx(2.5)
    for n in range(10):
        rate = limiter.slow_down(now=t + 3 + n * 1.1)
    assert rate == pytest.approx(10 / 32, abs=1e-5)  # still asked, slowly


def test_successes_grow_the_rate_back_slowly(fresh):
    limiter = fresh(rate=10, ramp_seconds=60)
    t = 3_000_000.0
    limiter.slow_down(now=t)
    assert limiter.speed_up(now=t + 6) == pytest.approx(6.0)  # +10/s per 60 s of successes
    assert limiter.speed_up(now=t + 18) == pytest.approx(8.0)
    assert limiter.speed_up(now=t + 60) == pytest.approx(10.0)  # never above the configured rate


def test_the_real_clock_a_429_blocks_real_requests_for_retry_after(fresh):
    limiter = fresh(rate=50, max_wait=5)
    limiter.before_request()
    limiter.after_response(429, "1")
    began = time.monotonic()
    limiter.before_request()
    assert time.monotonic() - began >= 0.95
    assert limiter.state().rate == pytest.approx(25.0)


def test_a_request_that_would_wait_too_long_is_refused_as_rate_limited(fresh):
    limiter = fresh(rate=10, max_wait=0.5)
    limiter.after_response(429, "30")
    began = time.monotonic()
    with pytest.raises(RateLimited) as refused:
        limiter.before_request()
    assert time.monotonic() - began < 0.2  # told at once, not after sleeping
    assert refused.value.transient and "SynXis" in refused.value.message


def test_retry_after_as_seconds_or_an_http_date():
    assert pace.retry_after_seconds("120") == 120
    later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=30)
    assert pace.retry_after_seconds(format_datetime(later, usegmt=True)) == pytest.approx(30, abs=1.5)
    assert pace.retry_after_seconds("soon") is None and pace.retry_after_seconds(None) is None


def test_bookings_in_flight_are_bounded_and_a_dead_holders_lease_expires(fresh):
    limiter = fresh(rate=10, concurrency=2, max_wait=0.3)
    with limiter.slot(), limiter.slot():
        assert limiter.state().in_flight == 2
        with pytest.raises(RateLimited):
            with limiter.slot():
                pass
    assert limiter.state().in_flight == 0
    abandoned = limiter.slot(lease_seconds=0.2)
    abandoned.__enter__()  # its process dies holding it: never released
    with limiter.slot():
        assert limiter.state().in_flight == 2
    time.sleep(0.3)
    assert limiter.state().in_flight == 0


def test_pace_settings_are_read_per_system_and_bad_ones_named():
    s = Settings(_env_file=None, system_pace="synxis=20/8, resdiary=2.5/1", system_pace_default="5/4")
    assert pace.pace_for(s, "synxis") == Pace(20, 8)
    assert pace.pace_for(s, "ResDiary") == Pace(2.5, 1)
    assert pace.pace_for(s, "pms") == Pace(5, 4)
    for bad, named in (("synxis=fast", "SYSTEM_PACE synxis"), ("synxis=0/2", "SYSTEM_PACE synxis"),
                       ("synxis", "SYSTEM_PACE"), ("synxis=20/0", "SYSTEM_PACE synxis")):
        with pytest.raises(ValidationError, match="system_pace"):  # refused when the settings are read
            Settings(_env_file=None, system_pace=bad)
        with pytest.raises(PaceError, match=named):
            pace.paces(Settings.model_construct(system_pace=bad))


class _Api(HttpConnector):
    name = "SynXis"


def test_a_connector_sends_nothing_until_retry_after_has_passed(fresh):
    limiter = fresh(rate=50, max_wait=5)
    answers = iter([Reply(429, {"errors": [{"message": "slow down"}]}, headers={"Retry-After": "1"}),
                    Reply(200, {"ok": True})])
    with FakeServer() as server:
        arrived: list[float] = []

        def handler(req, match):  # type: ignore[no-untyped-def]
            arrived.append(time.monotonic())
            return next(answers)
        server.route("GET", r"/ping", handler)
        api = _Api(server.url, timeouts=Timeouts(connect=1, read=2))
        api.pace_with(limiter)
        with pytest.raises(RateLimited):
            api.request("GET", "/ping")
        refused_at = time.monotonic()
        assert api.request("GET", "/ping") == {"ok": True}
        api.close()
    assert len(arrived) == 2 and arrived[1] - refused_at >= 0.95
