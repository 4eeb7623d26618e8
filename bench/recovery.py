"""Recovery: "Reprocess all" on an outage of N failed SynXis items, against a fake SynXis that
answers in `--latency` seconds and whose gateway refuses anything faster than `--limit`
requests per second (429 + Retry-After), through real `syncdesk worker` and `syncdesk clock`
processes. Baseline in the same run: the limit's own minimum (requests made / limit).

    .venv/bin/python bench/recovery.py [--items 1000] [--limit 20] [--latency 0.2] [--processes 8]
                                       [--concurrency 8] [--throttle-after 500 --throttle-seconds 10]

Measured at the fake (arrival times, stamped in the fake's own process, `IsolatedSynxis`):
- requests per second: the most in any sliding second (must not exceed the limit), the mean
  from the first request to the last, and the gateway's own refusals (must be 0);
- with `--throttle-after N`: after the N-th booking the gateway answers 429 with Retry-After
  for `--throttle-seconds`; requests that arrived between the first 429's answer and the end
  of its Retry-After (must be 0), and whether recovery went on;
- bookings: one reservation per order (its external reference) and every item Confirmed;
- order: items confirmed before another guest arriving at least a day earlier was even
  started (must be 0; "modulo concurrency": bookings already in flight may finish in any order);
- time: from the press to the last item confirmed, against the minimum the limit allows.

Results: bench/results/recovery.json (or recovery_throttled.json).
"""

from __future__ import annotations

import argparse
import bisect
import contextlib
import datetime as dt
import json
import os
import random
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pydantic import SecretStr  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from bench.harness import (  # noqa: E402
    PeakRss,
    fresh_postgres,
    load_average,
    print_table,
    redis_db,
    server_env,
    start_process,
    stop_process,
    write_results,
)
from tests.fakes import FakePlatform, FakeStripe  # noqa: E402
from tests.fakes.paced import IsolatedSynxis  # noqa: E402
from workflows.core.db import transaction  # noqa: E402
from workflows.core.models import Incident, OrderItem, SyncAttempt  # noqa: E402
from workflows.core.settings import Settings  # noqa: E402

RESERVATION = "/v1/api/reservation"
PLATFORM_KEY = "platform-key"
STRIPE_KEY = "sk_test_fake"
ROOM = {"id": "ITEM-1", "kind": "room", "system": "synxis", "status": "In Progress",
        "description": "Luxury Twin, BAR, 1 night", "quantity": 1, "guests": 2,
        "details": {"hotel_id": 13098, "chain_id": 12723, "room_code": "LUXT", "rate_code": "BAR"}}


def max_in_window(times: list[float], window: float = 1.0) -> int:
    times = sorted(times)
    return max((bisect.bisect_left(times, t + window) - i for i, t in enumerate(times)), default=0)


def seed(settings: Settings, items: int, platform: FakePlatform, stripe: FakeStripe) -> dict[str, dt.date]:
    """`items` failed orders in one SynXis outage, arrivals spread over 60 days; the all-clear given."""
    from workflows.intake import webhook as intake
    from workflows.orders.payloads import parse_sync_failure
    from workflows.outage import jobs as outage_jobs

    rng = random.Random(15)
    today = dt.datetime.now(dt.timezone.utc).date()
    start = dt.datetime.now(dt.timezone.utc).replace(microsecond=0) - dt.timedelta(minutes=4)
    arrivals = {}
    for n in range(items):
        order_id = f"ORD-R{n:05d}"
        arrival = today + dt.timedelta(days=rng.randrange(60))
        arrivals[order_id] = arrival
        intent = stripe.add_payment_intent(amount=24000, currency="gbp", status="succeeded", intent_id=f"pi_{order_id}")
        order = {"id": order_id, "status": "In Progress", "placed_at": start.isoformat(), "currency": "GBP",
                 "total_minor": 24000,
                 "guest": {"first_name": "Rec", "last_name": f"Guest{n}", "email": f"g{n}@example.com"},
                 "payment": {"provider": "stripe", "reference": intent, "amount_minor": 24000},
                 "items": [ROOM | {"start": arrival.isoformat(), "end": (arrival + dt.timedelta(days=1)).isoformat()}]}
        platform.seed(order, updated_at=dt.datetime.now(dt.timezone.utc).isoformat())
        occurred = start + dt.timedelta(seconds=120 * n / items)
        event = {"event_id": f"evt-{order_id}", "occurred_at": occurred.strftime("%Y-%m-%dT%H:%M:%SZ"),
                 "order": order, "failure": {"item_id": "ITEM-1", "system": "synxis", "code": "timeout",
                                             "message": "Read timed out after 30 s"}}
        intake.record(settings, parse_sync_failure(json.dumps(event).encode()), "webhook")
    with transaction(settings.database_url) as session:
        [incident] = session.scalars(select(Incident)).all()
        last = incident.last_failure_at
    assert outage_jobs.check_quiet(settings, last + dt.timedelta(minutes=10, seconds=1)) == [incident.id]
    return arrivals


def booking_times(settings: Settings, actor: str) -> dict[str, tuple[dt.datetime, dt.datetime | None]]:
    """For each order: when the recovery first started booking it, and when it was confirmed."""
    with transaction(settings.database_url) as session:
        started = dict(session.execute(select(SyncAttempt.order_id, func.min(SyncAttempt.started_at)).where(
            SyncAttempt.triggered_by == actor).group_by(SyncAttempt.order_id)).all())
        confirmed = dict(session.execute(select(OrderItem.order_id, OrderItem.confirmed_at)).all())
    return {o: (t, confirmed.get(o)) for o, t in started.items()}


def order_violations(times: dict[str, tuple[dt.datetime, dt.datetime | None]], arrivals: dict[str, dt.date]
                     ) -> list[dict[str, object]]:
    """"Modulo concurrency": an item may be confirmed before one arriving a day earlier only if
    that one was already being booked. A violation is an item confirmed before a guest arriving
    at least a day earlier was even started."""
    by_start = sorted((s, o) for o, (s, _) in times.items())
    starts = [s for s, _ in by_start]
    # the soonest arrival among the items started at or after each position
    soonest: list[tuple[dt.date, str]] = []
    best = (dt.date.max, "")
    for _, order_id in reversed(by_start):
        best = min(best, (arrivals[order_id], order_id))
        soonest.append(best)
    soonest.reverse()
    violations = []
    for order_id, (_, confirmed) in times.items():
        if confirmed is None:
            continue
        later = bisect.bisect_right(starts, confirmed)
        if later < len(by_start) and soonest[later][0] <= arrivals[order_id] - dt.timedelta(days=1):
            violations.append({"confirmed": order_id, "arrival": arrivals[order_id].isoformat(),
                               "at": confirmed.isoformat(), "before_start_of": soonest[later][1],
                               "its_arrival": soonest[later][0].isoformat()})
    return violations


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--limit", type=int, default=20, help="the gateway's requests per second")
    parser.add_argument("--latency", type=float, default=0.2, help="seconds the fake SynXis takes to answer")
    parser.add_argument("--processes", type=int, default=8, help="`syncdesk worker --processes`")
    parser.add_argument("--concurrency", type=int, default=8, help="SYSTEM_PACE's bookings at once for SynXis")
    parser.add_argument("--throttle-after", type=int, default=None, help="bookings before the gateway throttles")
    parser.add_argument("--throttle-seconds", type=float, default=10)
    parser.add_argument("--timeout", type=float, default=900)
    args = parser.parse_args()
    load_before = load_average()
    print(f"load average before: {load_before} ({os.cpu_count()} cores)")
    name = "recovery_throttled" if args.throttle_after else "recovery"
    logs = Path(tempfile.mkdtemp(prefix="syncdesk-bench-recovery-"))
    with contextlib.ExitStack() as stack:
        database_url = stack.enter_context(fresh_postgres())
        redis_url = stack.enter_context(redis_db())
        synxis = stack.enter_context(IsolatedSynxis(limit=args.limit, latency=args.latency, stall_seconds=30,
                                                    throttle_after_creates=args.throttle_after,
                                                    throttle_seconds=args.throttle_seconds))
        platform = stack.enter_context(FakePlatform(api_key=PLATFORM_KEY))
        stripe = stack.enter_context(FakeStripe(api_key=STRIPE_KEY))
        from syncdesk.cli import _migrate

        queue_name = f"bench-recovery-{uuid.uuid4().hex[:6]}"
        pace = f"synxis={args.limit}/{args.concurrency}"
        settings = Settings(_env_file=None, database_url=database_url, redis_url=redis_url, queue_name=queue_name,
                            ingest_secret="bench", synxis_api_url=synxis.url, synxis_token_url=synxis.token_url,
                            synxis_client_id=synxis.client_id, synxis_client_secret=SecretStr(synxis.client_secret),
                            platform_api_url=platform.url, platform_api_key=SecretStr(PLATFORM_KEY),
                            stripe_api_key=SecretStr(STRIPE_KEY), stripe_api_base=stripe.url,
                            auto_retry_after_seconds=3600, poll_interval_seconds=3600, system_pace=pace)
        _migrate(settings)
        began = time.perf_counter()
        arrivals = seed(settings, args.items, platform, stripe)
        print(f"{args.items} failed items recorded in one outage in {time.perf_counter() - began:.0f} s")
        env = server_env(database_url, redis_url, QUEUE_NAME=queue_name, INGEST_SECRET="bench",
                         SYNXIS_API_URL=synxis.url, SYNXIS_TOKEN_URL=synxis.token_url,
                         SYNXIS_CLIENT_ID=synxis.client_id, SYNXIS_CLIENT_SECRET=synxis.client_secret,
                         PLATFORM_API_URL=platform.url, PLATFORM_API_KEY=PLATFORM_KEY, STRIPE_API_KEY=STRIPE_KEY,
                         STRIPE_API_BASE=stripe.url, AUTO_RETRY_AFTER_SECONDS="3600", POLL_INTERVAL_SECONDS="3600",
                         DIGEST_TIME="23:59:59", RECONCILE_TIME="23:59:59", SYSTEM_PACE=pace)
        workers = start_process([sys.executable, "-m", "syncdesk.cli", "worker", "--processes", str(args.processes)],
                                env, log=logs / "worker.log")
        stack.callback(stop_process, workers)
        clock = start_process([sys.executable, "-m", "syncdesk.cli", "clock", "--tick", "1"], env,
                              log=logs / "clock.log")
        stack.callback(stop_process, clock)
        rss = stack.enter_context(PeakRss(workers.pid, interval=0.5))
        time.sleep(3)  # the workers are up before the press

        from workflows.outage import requests as outage_requests

        with transaction(database_url) as session:
            incident_id = session.scalar(select(Incident.id))
        pressed_at = time.monotonic()
        pressed = outage_requests.reprocess_all(settings, incident_id, "bench")
        assert pressed.accepted, pressed.message
        deadline = pressed_at + args.timeout
        done = 0
        while time.monotonic() < deadline:
            with transaction(database_url) as session:
                done = session.scalar(select(func.count()).select_from(OrderItem).where(
                    OrderItem.status == "Confirmed")) or 0
            if done == args.items:
                break
            time.sleep(0.5)
        finished_at = time.monotonic()
        booked = booking_times(settings, "bench")
        with transaction(database_url) as session:
            from workflows.outage.views import view
            progress = view(session, incident_id).progress
        fake = {"arrivals": synxis.arrivals, "answered_429": synxis.answered_429,
                "throttled_between": synxis.throttled_between, "reservations": synxis.reservations()}

    arrivals_at = [a for a in fake["arrivals"] if a[0] >= pressed_at]
    times = [a[0] for a in arrivals_at]
    refused = [a for a in arrivals_at if a[3] == 429]
    throttle = fake["throttled_between"]
    limit_refusals = [a for a in refused if throttle is None or not (throttle[0] <= a[0] < throttle[1])]
    reservations = fake["reservations"]
    refs = [r.get("ExternalReferenceNumber") for r in reservations.values()]
    span = (max(times) - min(times)) if len(times) > 1 else 0.0
    # Healthy: the whole run, or before the throttle (after it the pace grows back on purpose).
    healthy = [t for t in times if throttle is None or t < throttle[0]]
    healthy_span = (max(healthy) - min(healthy)) if len(healthy) > 1 else 0.0
    mean_rate = (len(healthy) - 1) / healthy_span if healthy_span > 0 else 0.0
    minimum = len(times) / args.limit
    total = finished_at - pressed_at
    violations = order_violations(booked, arrivals)
    during, during_after_ms = None, []
    if throttle is not None and fake["answered_429"]:
        first_answer = min(t for t in fake["answered_429"] if t >= throttle[0])
        during_after_ms = [round((t - first_answer) * 1000) for t in times if first_answer < t < throttle[1]]
        during = len(during_after_ms)
    result: dict[str, Any] = {
        "items": args.items, "limit_rps": args.limit, "latency_s": args.latency, "processes": args.processes,
        "pace": pace, "load_average_before": load_before, "confirmed": done,
        "reservations": len(reservations), "unique_references": len(set(refs)),
        "requests": len(times), "max_requests_in_any_1s": max_in_window(times),
        "mean_rps_healthy": round(mean_rate, 2), "gateway_limit_refusals": len(limit_refusals),
        "total_s": round(total, 1), "minimum_s_at_limit": round(minimum, 1),
        "order_violations": len(violations), "order_violation_detail": violations[:20], "progress_text": progress.text if progress else None,
        "throttle": {"after_bookings": args.throttle_after, "seconds": args.throttle_seconds,
                     "requests_refused_429": len(refused), "requests_before_retry_after_ended": during,
                     "their_ms_after_the_first_429_left": during_after_ms}
        if args.throttle_after else None,
        "worker_peak_mb": rss.result, "logs": str(logs),
    }
    rows = [
        ["items confirmed / reservations / unique references", f"{done} / {len(reservations)} / {len(set(refs))}",
         f"of {args.items}"],
        ["time from the press to the last confirmed", f"{total:.1f} s",
         f"minimum at {args.limit} req/s: {minimum:.1f} s ({len(times)} requests); {total / minimum:.2f}x"
         if minimum else ""],
        ["requests per second, most in any 1 s", str(max_in_window(times)), f"limit {args.limit}"],
        ["requests per second, mean while healthy" + (" (before the throttle)" if throttle else ""),
         f"{mean_rate:.2f}",
         f"{100 * mean_rate / args.limit:.0f} % of the limit"],
        ["refused by the gateway's limit (429)", str(len(limit_refusals)), "must be 0"],
        ["confirmed before a guest arriving a day earlier was even started", str(len(violations)), "must be 0"],
        ["outage message progress at the end", progress.text if progress else "-", ""],
        ["worker pool peak RSS (parent / largest worker)", f"{rss.result['parent_peak_mb']:.0f} / "
                                                         f"{rss.result['child_peak_mb']:.0f} MB", ""],
    ]
    if args.throttle_after:
        rows.insert(4, ["throttled: requests refused 429 / sent before Retry-After ended",
                        f"{len(refused)} / {during}", f"after {args.throttle_after} bookings, "
                                                      f"Retry-After {args.throttle_seconds:g} s; must be - / 0"])
    print_table([name, "value", "note"], rows)
    path = write_results(name, result)
    print(f"results: {path.relative_to(ROOT)}; logs in {logs}")
    ok = done == args.items and len(reservations) == args.items == len(set(refs)) and not limit_refusals \
        and not violations and (during in (None, 0))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
