"""The arrival check at scale (issue 25): `--arrivals` paid arrivals on one day, each already
Confirmed with its SynXis number, against a stand-in SynXis whose gateway refuses anything
faster than `--limit` requests per second (429) and answers in `--latency` seconds, in a
process of its own (`IsolatedSynxis`), with the check at ARRIVALS_SHARE (0.5) of that limit.

    .venv/bin/python bench/arrivals.py [--arrivals 2000] [--limit 20] [--latency 0.2] [--share 0.5]

Baseline in the same run: the limit's own minimum, `arrivals / (limit × share)` seconds (the
fastest any client could do it at that share), beside the time the check took. Measured at the
stand-in: the most requests in any sliding second (must stay ≤ limit × share) and its 429s
(must be 0). Targets: 2,000 arrivals at 20/s and 200 ms within 4 minutes, never above 50 %.

Results: bench/results/arrivals.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pydantic import SecretStr  # noqa: E402

from bench.harness import fresh_postgres, load_average, print_table, redis_db, write_results  # noqa: E402
from bench.recovery import max_in_window  # noqa: E402
from tests.fakes import FakePlatform, FakeStripe  # noqa: E402
from tests.fakes.paced import IsolatedSynxis  # noqa: E402
from workflows.core.settings import Settings  # noqa: E402

DAY = dt.date(2026, 12, 9)
PLATFORM_KEY, STRIPE_KEY = "platform-key", "sk_test_fake"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--arrivals", type=int, default=2000)
    parser.add_argument("--limit", type=int, default=20)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--share", type=float, default=0.5)
    args = parser.parse_args()

    from syncdesk.surfaces import register_log_surface
    from workflows.arrivals import check
    from workflows.core.db import get_engine
    from workflows.core.models import Base

    with fresh_postgres() as database_url, redis_db() as redis_url, \
            IsolatedSynxis(limit=args.limit, latency=args.latency) as synxis, \
            FakePlatform(api_key=PLATFORM_KEY, page_size=200) as platform, FakeStripe(api_key=STRIPE_KEY) as stripe:
        Base.metadata.create_all(get_engine(database_url))
        for surface in ("slack", "teams"):
            register_log_surface(surface)
        settings = Settings(_env_file=None, database_url=database_url, redis_url=redis_url, ingest_secret="bench",
                            synxis_api_url=synxis.url, synxis_token_url=synxis.token_url,
                            synxis_client_id=synxis.client_id, synxis_client_secret=SecretStr(synxis.client_secret),
                            platform_api_url=platform.url, platform_api_key=SecretStr(PLATFORM_KEY),
                            stripe_api_key=SecretStr(STRIPE_KEY), stripe_api_base=stripe.url,
                            system_pace=f"synxis={args.limit}/8", arrivals_share=args.share,
                            arrivals_check_at="off", digest_time="off", reconcile_time="off")
        print(f"seeding {args.arrivals} paid arrivals, each Confirmed in SynXis…", flush=True)
        for n in range(args.arrivals):
            order_id = f"ORD-{n:05d}"
            number = synxis._ask("seed_reservation", reference=f"{order_id}/ITEM-1", surname=f"Guest{n}",
                                 start=DAY, end=DAY + dt.timedelta(days=1))
            intent = stripe.add_payment_intent(amount=24000, currency="gbp", status="succeeded")
            platform.seed({"id": order_id, "status": "Complete", "placed_at": "2026-12-01T09:00:00Z",
                           "currency": "GBP", "total_minor": 24000,
                           "guest": {"first_name": "Guest", "last_name": f"Guest{n}"},
                           "payment": {"provider": "stripe", "reference": intent, "amount_minor": 24000},
                           "items": [{"id": "ITEM-1", "kind": "room", "system": "synxis", "status": "Confirmed",
                                      "start": DAY.isoformat(), "end": (DAY + dt.timedelta(days=1)).isoformat(),
                                      "guests": 1, "external_reference": number,
                                      "details": {"hotel_id": 13098, "chain_id": 12723}}]})
        started = time.monotonic()
        run = check.check_day(settings, DAY)
        took = time.monotonic() - started
        lookups = [t for t, method, _, _ in synxis.arrivals if method == "GET"]
        too_many = synxis.too_many()
        kinds: dict[str, int] = {}
        for summary in run.summaries:
            for line in summary.lines:
                kinds[line.kind.value] = kinds.get(line.kind.value, 0) + 1

    floor = args.arrivals / (args.limit * args.share)
    busiest = max_in_window(lookups)
    rows = [["arrivals checked", str(sum(kinds.values())), f"{args.arrivals} expected"],
            ["findings", ", ".join(f"{k} {v}" for k, v in sorted(kinds.items())), "all confirmed"],
            ["time to check all", f"{took:.1f} s", "≤ 240 s (4 min)"],
            ["baseline: the share's own minimum", f"{floor:.1f} s", f"{args.arrivals} / ({args.limit}/s × {args.share})"],
            ["most requests in any second", str(busiest), f"≤ {args.limit * args.share:g} ({args.share:.0%} of {args.limit})"],
            ["gateway 429s", str(too_many), "0"]]
    print_table(["", "measured", "target"], rows)
    write_results("arrivals", {"arrivals": args.arrivals, "limit": args.limit, "latency": args.latency,
                               "share": args.share, "seconds": round(took, 2), "baseline_seconds": round(floor, 2),
                               "most_in_a_second": busiest, "too_many": too_many, "findings": kinds,
                               "load_average": load_average()})
    return 0


if __name__ == "__main__":
    sys.exit(main())
