"""End to end, on both databases: failures over HTTP → real workers → the fake Slack.

1. A burst of SynXis failures is one outage message, not a thread storm: the failures before
   it opened keep their own alerts, those after are listed in it (counts, the most urgent
   guests, totals by property), every order stays tracked (`/syncdesk order X`), the message
   is rewritten at most once per 5 s, Slack's writes stay paced, and "Show all" opens a
   modal that pages through every order.
2. "Reprocess all" clicked in Slack rebooks every order exactly once, soonest arrival first,
   at SynXis' configured rate (a gateway in front of the fake SynXis refuses anything faster),
   and a 429 with Retry-After halfway stops every lane until it has passed.
"""

from __future__ import annotations

import bisect
import copy
import datetime as dt
import json
import re
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import func, select

from tests.bot.conftest import ANA, click, command, failure, interaction
from tests.conftest import post_failure, wait_for
from tests.fakes import FakePlatform, FakeStripe
from tests.fakes.http import RecordedRequest, Reply
from tests.fakes.paced import IsolatedSynxis
from tests.fakes.slack import FakeSlack
from tests.workflows.actions.test_jobs import PLATFORM_KEY, STRIPE_KEY
from workflows.core import states
from workflows.core.db import transaction
from workflows.core.models import Alert, Incident, OrderItem, utcnow
from workflows.outage import jobs as outage_jobs

pytestmark = pytest.mark.slow  # started first (tests/conftest.py)

RESERVATION = "/v1/api/reservation"


class TimedSlack(FakeSlack):
    """The fake Slack, also noting when each call arrived."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.times: list[tuple[float, str, dict[str, Any]]] = []

    def _api(self, req: RecordedRequest, match: re.Match[str]) -> Reply:
        with self.lock:
            self.times.append((time.monotonic(), match.group("method"), self._args(req)))
        return super()._api(req, match)


@pytest.fixture
def fake_slack() -> Iterator[TimedSlack]:  # replaces tests.bot.conftest's, with arrival times
    from tests.bot.conftest import BOT_TOKEN, RESERVATIONS, BEN

    with TimedSlack(token=BOT_TOKEN, usergroups={RESERVATIONS: [ANA["id"], BEN["id"]]}) as slack:
        yield slack


def fail(app, n: int, *, arrival: dt.date, hotel: int = 13098, code: str = "timeout",  # type: ignore[no-untyped-def]
         intent: str | None = None, platform: FakePlatform | None = None) -> None:
    data = failure(event_id=f"evt-outage-{n}", occurred_at=utcnow().strftime("%Y-%m-%dT%H:%M:%SZ"),
                   order__id=f"ORD-{n:03d}", failure__code=code, failure__message="Read timed out after 30 s",
                   order__items__0__start=arrival.isoformat(),
                   order__items__0__end=(arrival + dt.timedelta(days=1)).isoformat(),
                   order__items__0__details__hotel_id=hotel, order__guest__last_name=f"Guest{n}")
    if intent:
        data["order"]["payment"]["reference"] = intent
    if platform is not None:
        platform.seed(copy.deepcopy(data["order"]), updated_at=utcnow().isoformat())
    assert post_failure(app.url, data).status_code == 202


def alerts(fake_slack) -> dict[str, dict]:  # type: ignore[type-arg]
    """The alert posts by order id (their header names the order)."""
    out = {}
    for call in fake_slack.calls("chat.postMessage"):
        head = (call.get("blocks") or [{}])[0].get("text", {}).get("text", "")
        if "booking failed · " in head:
            out[head.split(" · ")[1]] = call
    return out


def outage_message(fake_slack) -> tuple[str, str, dict]:  # type: ignore[no-untyped-def,type-arg]
    """The outage message as it is now ((None, None, {}) before it is posted)."""
    return next(((ch, ts, m) for (ch, ts), m in fake_slack.messages.items()
                 if m["text"].startswith("Possible outage: SynXis")), (None, None, {"text": "", "blocks": []}))


def max_in_window(times: list[float], window: float = 1.0) -> int:
    times = sorted(times)
    return max((bisect.bisect_left(times, t + window) - i for i, t in enumerate(times)), default=0)


def in_view(view_call: dict[str, Any]) -> str:
    return json.dumps(view_call["view"]["blocks"])


@pytest.mark.timeout(300)
def test_a_burst_is_one_outage_message_listing_every_order_and_show_all_pages_through_them(
        slack_app, slack_settings, fake_slack, worker_factory):
    # Its own paces, to check the ratios: the outage message rewritten at most once per R, one
    # write per P in the channel.
    R, P = 2.0, 0.1
    s = slack_settings.model_copy(update={"outage_refresh_seconds": R, "chat_pace_seconds": P})
    for _ in range(2):  # two workers share the storm's jobs
        worker_factory(s)
    today = dt.datetime.now(dt.timezone.utc).date()
    for n in range(1, 5):  # below the threshold: four ordinary alerts
        fail(slack_app, n, arrival=today + dt.timedelta(days=30 + n))
    wait_for(lambda: len(alerts(fake_slack)) == 4, timeout=90)
    for n in range(5, 31):  # the fifth opens the outage; the rest join it, the soonest guests last
        fail(slack_app, n, arrival=today + dt.timedelta(days=31 - n), hotel=13098 if n % 3 else 13099)

    def listed_all() -> bool:
        return outage_message(fake_slack)[2]["text"].startswith("Possible outage: SynXis — 30 failures")
    wait_for(listed_all, timeout=90)
    channel, ts, message = outage_message(fake_slack)
    # Nothing is posted late (a fixed wait: it proves an absence). Anything coalesced lands
    # within one outage turn R, an alert's within its own refresh interval: wait that, no more.
    time.sleep(R + 10 * s.alert_refresh_seconds)
    assert len(alerts(fake_slack)) == 4  # the outage's failures are listed in it, not posted one by one
    tops = [c for c in fake_slack.calls("chat.postMessage") if c["text"].startswith("Possible outage")]
    assert len(tops) == 1 and len([c for c in fake_slack.calls("chat.postMessage")
                                   if "Nobody is on call" in c["text"]]) == 1  # one message, one page
    blocks = json.dumps(message["blocks"], ensure_ascii=False)
    urgent = next(b["text"]["text"] for b in message["blocks"] if b.get("block_id") == "urgent")
    assert urgent.splitlines()[1].startswith("❌ ") and "ORD-030" in urgent.splitlines()[1]  # arriving tomorrow
    assert "arriving tomorrow" in urgent.splitlines()[1] and "…and 20 more" in urgent
    assert "*By property:* hotel 13098 21 · hotel 13099 9" in blocks and "Show all 30" in blocks
    with transaction(slack_settings.database_url) as session:
        assert session.scalar(select(func.count()).select_from(Incident)) == 1
        assert session.scalar(select(func.count()).select_from(Alert).where(Alert.incident_id.is_not(None))) == 30

    # The outage message is rewritten in place, at most once per R; the channel's writes are paced.
    # A rewrite takes its turn, then waits for the channel's next free slot, so two rewrites can
    # land closer than R by the pacing of the writes queued between them: the gaps are read with
    # half of R to spare. Without the coalescing they are the channel's pace, P (20 times less).
    updates = [t for t, m, a in fake_slack.times if m == "chat.update" and a.get("ts") == ts]
    assert updates and all(b - a >= R / 2 for a, b in zip(updates, updates[1:])), updates
    writes = [t for t, m, a in fake_slack.times if m in ("chat.postMessage", "chat.update")
              and a.get("channel") in (channel, "#reservations-alerts")]
    assert max_in_window(writes, window=5 * P) <= 5 + 2
    span = max(writes) - min(writes)
    assert len(writes) <= span / P + 2  # one per P, sustained

    # Each order stays tracked: its own alert, with its buttons, on request.
    answer = command(slack_app, "order ORD-017")
    assert answer.status_code == 200 and "ORD-017" in answer.text and "booked_manually" in answer.text

    # Show all: a modal, 25 a page, open ones soonest arrival first; Next turns the page in place.
    interaction(slack_app, click("outage_show_all", "x", None) | {
        "actions": [{"action_id": "outage_show_all", "block_id": "outage_actions", "type": "button",
                     "value": str(_incident_id(slack_settings)), "action_ts": f"{time.time():.6f}"}]})
    [opened] = wait_for(lambda: fake_slack.calls("views.open"), timeout=30)
    first_page = in_view(opened)
    assert "Page 1 of 2" in first_page and first_page.index("ORD-030") < first_page.index("ORD-029")
    assert len(re.findall(r"ORD-0\d\d", first_page)) == 25
    view = next(iter(fake_slack.views.values()))
    interaction(slack_app, {
        "type": "block_actions", "user": ANA, "api_app_id": "A0SYNCDESK", "token": "legacy",
        "container": {"type": "view", "view_id": view["id"]}, "trigger_id": f"{time.time_ns()}.trigger",
        "team": {"id": "T0SYNCDESK"}, "view": {"id": view["id"], "hash": view["hash"], "type": "modal"},
        "actions": [{"action_id": "outage_page", "block_id": "pages", "type": "button",
                     "value": f"{_incident_id(slack_settings)}:1", "action_ts": f"{time.time():.6f}"}]})
    [turned] = wait_for(lambda: fake_slack.calls("views.update"), timeout=30)
    second_page = in_view(turned)
    assert "Page 2 of 2" in second_page and len(re.findall(r"ORD-0\d\d", second_page)) == 5
    assert set(re.findall(r"ORD-0\d\d", first_page + second_page)) == {f"ORD-{n:03d}" for n in range(1, 31)}


def _incident_id(s) -> int:  # type: ignore[no-untyped-def]
    with transaction(s.database_url) as session:
        return session.scalar(select(Incident.id))


@pytest.fixture
def recovery_settings(slack_settings) -> Iterator[tuple[Any, IsolatedSynxis, FakePlatform, FakeStripe]]:  # type: ignore[no-untyped-def]
    with IsolatedSynxis(limit=6, latency=0.05, throttle_after_creates=5, throttle_seconds=2) as synxis, \
            FakePlatform(api_key=PLATFORM_KEY) as platform, FakeStripe(api_key=STRIPE_KEY) as stripe_fake:
        s = slack_settings.model_copy(update=dict(
            synxis_api_url=synxis.url, synxis_token_url=synxis.token_url, synxis_client_id=synxis.client_id,
            synxis_client_secret=SecretStr(synxis.client_secret), platform_api_url=platform.url,
            platform_api_key=SecretStr(PLATFORM_KEY), stripe_api_key=SecretStr(STRIPE_KEY),
            stripe_api_base=stripe_fake.url, connect_timeout_seconds=2.0, read_timeout_seconds=2.0,
            poll_interval_seconds=3600, auto_retry_after_seconds=3600, system_pace="synxis=6/3", pace_ramp_seconds=6))
        from workflows.core.queue import get_redis
        from workflows.systems.pace import Limiter, Pace

        Limiter(get_redis(s.redis_url), "synxis", Pace(6, 3)).reset()
        yield s, synxis, platform, stripe_fake


@pytest.mark.timeout(300)
def test_reprocess_all_from_slack_rebooks_at_the_systems_pace_and_waits_out_a_429(
        recovery_settings, fake_slack, worker_factory):
    from syncdesk.web import create_app
    from tests.conftest import LiveServer

    s, synxis, platform, stripe_fake = recovery_settings
    today = dt.datetime.now(dt.timezone.utc).date()
    with LiveServer(create_app(s)) as app:
        for n in range(1, 13):
            intent = stripe_fake.add_payment_intent(amount=24000, currency="gbp", status="succeeded")
            fail(app, n, arrival=today + dt.timedelta(days=1 + (n * 5) % 12), intent=intent, platform=platform)
        incident_id = _incident_id(s)
        with transaction(s.database_url) as session:
            last = session.get(Incident, incident_id).last_failure_at
        assert outage_jobs.check_quiet(s, last + dt.timedelta(minutes=10, seconds=1)) == [incident_id]
        for _ in range(3):  # three workers share the lanes, at one pace through Redis
            worker_factory(s)
        wait_for(lambda: "Reprocess all 12" in json.dumps(outage_message(fake_slack)[2]["blocks"]), timeout=90)
        pressed = interaction(app, click("reprocess_all", "x", None, response_url=fake_slack.response_url()) | {
            "actions": [{"action_id": "reprocess_all", "block_id": "outage_actions", "type": "button",
                         "value": str(incident_id), "action_ts": f"{time.time():.6f}"}]})
        assert pressed.status_code == 200

        def rebooked() -> list[OrderItem]:
            with transaction(s.database_url) as session:
                return list(session.scalars(select(OrderItem).where(OrderItem.status == states.CONFIRMED)))
        wait_for(lambda: len(rebooked()) == 12, timeout=200)
        try:
            wait_for(lambda: "12/12 rebooked" in json.dumps(outage_message(fake_slack)[2]["blocks"]), timeout=60)
        except AssertionError:
            posts = [c for c in fake_slack.calls("chat.postMessage") if c["text"].startswith("Possible outage")]
            pytest.fail(f"the outage message never showed 12/12 rebooked ({len(posts)} outage posts); it shows: "
                        + json.dumps(outage_message(fake_slack)[2]["blocks"], ensure_ascii=False)[:300])

    said = wait_for(lambda: [h for h in fake_slack.hooks if "Reprocessing 12 items" in h.get("text", "")], timeout=10)
    assert "6 requests/s, 3 at once" in said[0]["text"]
    assert len(synxis.reservations()) == 12  # each order booked exactly once
    arrivals = [t for t, *_ in synxis.arrivals]
    assert max_in_window(arrivals) <= 6  # never faster than SynXis' configured rate
    throttle_began, throttle_ended = synxis.throttled_between
    refused = [t for t, *_, status in synxis.arrivals if status == 429]
    assert refused and all(throttle_began <= t < throttle_ended for t in refused)  # the gateway's limit never hit
    assert len(refused) <= 3  # only requests already on their way when the throttle began (one per lane at most)
    first_refusal = min(synxis.answered_429)
    assert [t for t in arrivals if first_refusal < t < throttle_ended] == []  # nothing before Retry-After ended


def test_refreshes_racing_a_slow_first_post_make_one_outage_message(slack_settings, fake_slack):
    """The first post waits for the channel's turn; a second refresh whose own turn comes
    meanwhile must update that message, not post another (CI under load found two)."""
    from bot.slack.notifier import Pacer
    from syncdesk.surfaces import register_surfaces
    from syncdesk.web import create_app
    from tests.conftest import LiveServer
    from workflows.core.queue import get_redis
    from workflows.outage.jobs import refresh_incident

    s = slack_settings.model_copy(update={"outage_refresh_seconds": 0.3, "chat_pace_seconds": 1.5,
                                          "outage_threshold": 3})
    today = dt.datetime.now(dt.timezone.utc).date()
    with LiveServer(create_app(s)) as app:
        for n in range(1, 4):
            fail(app, n, arrival=today + dt.timedelta(days=10))
    incident_id = _incident_id(s)
    register_surfaces(s)
    Pacer(get_redis(s.redis_url), s.chat_pace_seconds).wait("#reservations-alerts")  # the channel is busy
    turn = f"syncdesk:outage:{incident_id}:shown"
    first = threading.Thread(target=refresh_incident, args=(incident_id, s))
    first.start()
    wait_for(lambda: get_redis(s.redis_url).exists(turn), timeout=5, interval=0.01)  # the first took its turn
    wait_for(lambda: not get_redis(s.redis_url).exists(turn), timeout=5, interval=0.01)  # which is over
    assert first.is_alive()  # while its post still waits for the channel
    refresh_incident(incident_id, s)
    first.join(10)
    posts = [c for c in fake_slack.calls("chat.postMessage") if c["text"].startswith("Possible outage")]
    assert len(posts) == 1 and len(fake_slack.calls("chat.update")) == 1
