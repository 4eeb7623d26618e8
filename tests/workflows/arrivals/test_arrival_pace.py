"""The arrival check takes at most ARRIVALS_SHARE of a system's pace (issue 25), so people's
Reprocesses keep the rest: measured at a stand-in SynXis that answers in 50 ms and stamps
each request's arrival in a process of its own (`IsolatedSynxis`: stamped in the test's own
process, a request could be stamped late behind the GIL and a window look fuller than it was)."""

from __future__ import annotations

import copy
import datetime as dt

from pydantic import SecretStr

from tests.fakes import FakePlatform, FakeStripe
from tests.fakes.paced import IsolatedSynxis
from tests.workflows.arrivals.test_arrival_check import DAY, PLATFORM_KEY, STRIPE_KEY, World, room
from workflows.arrivals import check
from workflows.core.settings import Settings

WINDOW = 1.05  # the limiter's window (workflows.systems.pace.JITTER_MARGIN)


def most_in_a_window(stamps: list[float]) -> int:
    stamps = sorted(stamps)
    return max(sum(1 for t in stamps[i:] if t - first < WINDOW) for i, first in enumerate(stamps))


def test_the_check_uses_at_most_half_of_the_systems_pace(settings: Settings) -> None:
    with IsolatedSynxis(latency=0.05) as synxis, FakePlatform(api_key=PLATFORM_KEY, page_size=50) as platform, \
            FakeStripe(api_key=STRIPE_KEY) as stripe_fake:
        s = settings.model_copy(update=dict(
            synxis_api_url=synxis.url, synxis_token_url=synxis.token_url, synxis_client_id=synxis.client_id,
            synxis_client_secret=SecretStr(synxis.client_secret), platform_api_url=platform.url,
            platform_api_key=SecretStr(PLATFORM_KEY), stripe_api_key=SecretStr(STRIPE_KEY),
            stripe_api_base=stripe_fake.url, system_pace="synxis=10/4", arrivals_share=0.5))
        world = World(s, platform, stripe_fake, synxis)
        for n in range(9):  # two searches each: check-first's two keys (issue 24)
            world.order(f"ORD-{n:03d}", copy.deepcopy(room()))
            synxis._ask("seed_reservation", reference=f"ORD-{n:03d}/ITEM-1", surname="Walker", start=DAY,
                        end=DAY + dt.timedelta(days=2))

        run = check.check_day(s, DAY)

        assert [line.kind.value for line in run.summaries[0].lines] == ["confirmed"] * 9
        searches = [t for t, method, path, _ in synxis.arrivals if method == "GET"]
        assert len(searches) == 18
        # The limiter gives at most 5 turns in any 1.05 s at Redis' clock; at the stand-in a request can
        # arrive a little late behind the one before it (scheduling, the connection), so one more may
        # share a window there. At the system's full pace (10/s) it would be 10 or 11.
        assert most_in_a_window(searches) <= 6
        assert max(searches) - min(searches) >= 17 / 5 * 0.9  # and it did go at about that pace
