"""The arrival check (issue 25), end to end below the chat surfaces: the platform's arrivals
(a FakePlatform answering `GET /orders?arriving=`), Stripe (FakeStripe) and SynXis (FakeSynxis)
holding, lacking or changing each booking, on both databases. The summaries and new problems
go to the logging stand-ins (tests/conftest.py `logged`); Slack and Teams render them in
tests/bot/*/test_arrivals_*.py."""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pydantic import SecretStr
from sqlalchemy import select

from tests.conftest import logged, run_cli, settings_env
from tests.fakes import FakePlatform, FakeStripe, FakeSynxis
from workflows.arrivals import check
from workflows.arrivals.findings import Kind
from workflows.core.db import transaction
from workflows.core.models import Alert, ArrivalCheck, AuditEvent
from workflows.core.settings import Settings

# Tomorrow where the test properties are (LOCAL_TIMEZONE below): the summaries say "Tomorrow at …",
# and a fixed date would turn into the past (or "Today") as the calendar moves on.
DAY = (dt.datetime.now(ZoneInfo("Europe/London")) + dt.timedelta(days=1)).date()
PLATFORM_KEY, STRIPE_KEY = "platform-key", "sk_test_arrivals"


def room(item_id: str = "ITEM-1", *, start: dt.date = DAY, nights: int = 2, guests: int = 1,
         reference: str | None = None, status: str = "Confirmed") -> dict[str, Any]:
    return {"id": item_id, "kind": "room", "system": "synxis", "status": status,
            "description": "Luxury Twin, BAR", "start": start.isoformat(),
            "end": (start + dt.timedelta(days=nights)).isoformat(), "quantity": 1, "guests": guests,
            "details": {"hotel_id": 13098, "chain_id": 12723, "room_code": "LUXT", "rate_code": "BAR"},
            **({"external_reference": reference} if reference else {})}


SPA = {"id": "ITEM-9", "kind": "spa", "system": "premier", "status": "In Progress",
       "description": "Deep tissue massage, 60 min", "start": DAY.isoformat(), "end": DAY.isoformat(),
       "quantity": 1, "guests": 1, "details": {"site_id": "SPA1", "service_code": "DT60"}}


@dataclass
class World:
    settings: Settings
    platform: FakePlatform
    stripe: FakeStripe
    synxis: FakeSynxis

    def order(self, order_id: str, *items: dict[str, Any], status: str = "Complete", surname: str = "Walker",
              refunded: bool = False) -> None:
        intent = self.stripe.add_payment_intent(amount=24000, currency="gbp", status="succeeded")
        if refunded:
            self.stripe.add_refund(intent, 24000)
        self.platform.seed({
            "id": order_id, "status": status, "placed_at": "2026-12-01T09:57:10Z", "currency": "GBP",
            "total_minor": 24000,
            "guest": {"first_name": "Larry", "last_name": surname, "email": "larry@example.com", "phone": ""},
            "payment": {"provider": "stripe", "reference": intent, "amount_minor": 24000},
            "items": [copy.deepcopy(i) for i in items]})

    def booking(self, order_id: str, item_id: str = "ITEM-1", *, status: str = "Confirmed",
                start: dt.date = DAY, nights: int = 2, surname: str = "Walker") -> str:
        return self.synxis.seed_reservation(status=status, reference=f"{order_id}/{item_id}", surname=surname,
                                            start=start, end=start + dt.timedelta(days=nights))

    def rows(self) -> dict[str, ArrivalCheck]:
        with transaction(self.settings.database_url) as session:
            return {f"{r.order_id}/{r.item_id}": r for r in session.scalars(select(ArrivalCheck))}

    def kinds(self) -> dict[str, str]:
        return {key: row.kind for key, row in self.rows().items()}

    def alerts(self) -> dict[str, set[str]]:
        """Each order's alert states (every surface's), by order id."""
        with transaction(self.settings.database_url) as session:
            found: dict[str, set[str]] = {}
            for alert in session.scalars(select(Alert)):
                found.setdefault(alert.order_id, set()).add(alert.state)
            return found


@pytest.fixture
def world(settings: Settings) -> Iterator[World]:
    yield from arrivals_world(settings)


def arrivals_world(settings: Settings) -> Iterator[World]:
    """The fakes, and `settings` pointing at them (the Slack and Teams tests start from it too)."""
    with FakeSynxis() as synxis, FakePlatform(api_key=PLATFORM_KEY) as platform, \
            FakeStripe(api_key=STRIPE_KEY) as stripe_fake:
        yield World(settings.model_copy(update=dict(
            synxis_api_url=synxis.url, synxis_token_url=synxis.token_url, synxis_client_id=synxis.client_id,
            synxis_client_secret=SecretStr(synxis.client_secret),
            platform_api_url=platform.url, platform_api_key=SecretStr(PLATFORM_KEY),
            stripe_api_key=SecretStr(STRIPE_KEY), stripe_api_base=stripe_fake.url,
            connect_timeout_seconds=1.0, read_timeout_seconds=1.0, local_timezone="Europe/London",
            teams_conversation_id="19:arrivals@thread.tacv2",
        )), platform, stripe_fake, synxis)


def test_each_paid_arrival_is_found_where_the_guest_will_be_met(world: World) -> None:
    world.order("ORD-OK", room())
    world.booking("ORD-OK")
    world.order("ORD-MISSING", room())  # Complete on the platform, nothing in SynXis
    world.order("ORD-GONE", room())
    world.booking("ORD-GONE", status="Cancelled")
    world.order("ORD-HELD", room(), status="Booked")
    world.booking("ORD-HELD", status="Booked")
    world.order("ORD-MOVED", room())
    world.booking("ORD-MOVED", start=DAY + dt.timedelta(days=1))  # the property moved the dates
    world.order("ORD-SPA", SPA, status="In Progress")  # EMS Premier: no API, the front desk's list
    world.order("ORD-REFUNDED", room(), refunded=True)  # the guest got the money back: not expected
    world.order("ORD-CANCELLED", room(), status="Cancelled")
    world.order("ORD-LATER", room(start=DAY + dt.timedelta(days=3)))  # not arriving that day

    run = check.check_day(world.settings, DAY, now=dt.datetime(2026, 12, 8, 6, 0, tzinfo=dt.timezone.utc))

    assert world.kinds() == {
        "ORD-OK/ITEM-1": "confirmed", "ORD-MISSING/ITEM-1": "missing", "ORD-GONE/ITEM-1": "gone",
        "ORD-HELD/ITEM-1": "provisional", "ORD-MOVED/ITEM-1": "differs", "ORD-SPA/ITEM-9": "manual",
    }
    assert f"arrival {DAY + dt.timedelta(days=1):%d %b}, the order says {DAY:%d %b}" in world.rows()["ORD-MOVED/ITEM-1"].detail
    assert "Cancelled" in world.rows()["ORD-GONE/ITEM-1"].detail
    assert any("ORD-REFUNDED" in why and "refunded" in why for why in run.skipped)
    assert sorted(f.arrival.request.order_id for f in run.raised) == ["ORD-GONE", "ORD-HELD", "ORD-MISSING",
                                                                      "ORD-MOVED"]
    # One summary per property: the hotel (13098) and the spa (SPA1).
    headlines = [s.headline() for s in run.summaries]
    assert headlines == [
        "Tomorrow at 13098: 5 arrivals checked — 1 confirmed in SynXis, 1 cancelled or released there, "
        "1 missing, 1 held, not confirmed, 1 on other dates or party.",
        "Tomorrow at SPA1: 0 arrivals checked; 1 to check by hand (0 checked).",
    ]
    shown = logged("slack").of_kind("arrivals")
    assert [s.text for s in shown] == headlines and logged("teams").of_kind("arrivals")
    # Each problem is an alert of its own (issue 25), on the Complete orders too; none is said in the
    # channel besides: the alert shows it (tests/workflows/arrivals/test_problem_alerts.py)
    assert world.alerts() == {order: {"open"} for order in ("ORD-GONE", "ORD-HELD", "ORD-MISSING", "ORD-MOVED")}
    assert not logged("slack").of_kind("channel")


def test_a_rerun_raises_nothing_twice_and_shows_what_was_fixed(world: World) -> None:
    world.order("ORD-MISSING", room())
    world.order("ORD-GONE", room())
    world.booking("ORD-GONE", status="Cancelled")
    first = check.check_day(world.settings, DAY)
    assert len(first.raised) == 2

    world.booking("ORD-MISSING")  # someone booked it since
    again = check.check_day(world.settings, DAY)

    assert again.raised == ()
    assert world.kinds() == {"ORD-MISSING/ITEM-1": "confirmed", "ORD-GONE/ITEM-1": "gone"}
    assert world.rows()["ORD-MISSING/ITEM-1"].resolved_at is not None
    [summary] = again.summaries
    assert [summary.line_text(line) for line in summary.lines if line.resolved][0].startswith(
        "ORD-MISSING/ITEM-1: resolved")
    # the two problems were alerts; the one booked since is settled and its Complete order's alert resolved
    assert world.alerts() == {"ORD-MISSING": {"resolved"}, "ORD-GONE": {"open"}}
    with transaction(world.settings.database_url) as session:
        actions = [e.action for e in session.scalars(select(AuditEvent).order_by(AuditEvent.id))]
    assert actions.count("arrival.problem") == 2 and actions.count("arrival.resolved") == 1


def test_a_system_that_cannot_be_asked_is_said_so_and_tried_again(world: World) -> None:
    # A failing system is slowed down to 1/32 of its pace (workflows.systems.pace); a fast pace
    # and a short wait for a turn keep this test at a few seconds.
    world.settings = world.settings.model_copy(update={"system_pace_default": "200/4", "pace_max_wait_seconds": 0.5})
    world.order("ORD-OK", room())
    world.booking("ORD-OK")
    check.check_day(world.settings, DAY)
    assert world.kinds() == {"ORD-OK/ITEM-1": "confirmed"}

    world.synxis.fail_with_status(503, times=100)
    run = check.check_day(world.settings, DAY)

    row = world.rows()["ORD-OK/ITEM-1"]
    assert row.kind == "confirmed" and "could not be asked" in row.detail  # what was found stands
    assert run.raised == ()
    world.order("ORD-NEW", room())
    run = check.check_day(world.settings, DAY)
    assert world.kinds()["ORD-NEW/ITEM-1"] == "unchecked"
    assert "1 not checked yet (tried again later)" in run.summaries[0].headline()
    from workflows.core.queue import get_queue

    scheduled = get_queue(world.settings).scheduled_job_registry.get_job_ids()
    assert any(job_id.startswith("arrivals-again") for job_id in scheduled), scheduled

    world.synxis.clear_faults()
    world.booking("ORD-NEW")
    check.run_again(DAY.isoformat(), settings=world.settings)
    assert world.kinds() == {"ORD-OK/ITEM-1": "confirmed", "ORD-NEW/ITEM-1": "confirmed"}


def test_the_front_desk_ticks_manual_lines_and_a_problem_needs_a_reason(world: World) -> None:
    world.order("ORD-SPA", SPA, status="In Progress")
    world.order("ORD-MISSING", room())
    check.check_day(world.settings, DAY)

    shown = check.mark_checked(world.settings, DAY, "ORD-SPA", "ITEM-9", "slack:U0ANA (ana)")
    assert shown.headline().endswith("1 to check by hand (1 checked).")
    with pytest.raises(ValueError, match="say why it is fine"):
        check.mark_checked(world.settings, DAY, "ORD-MISSING", "ITEM-1", "slack:U0ANA (ana)", "")
    assert world.rows()["ORD-MISSING/ITEM-1"].checked_by is None
    fine = check.mark_checked(world.settings, DAY, "ORD-MISSING", "ITEM-1", "slack:U0ANA (ana)",
                              "guest rebooked by phone, CRS number on the folio")
    assert fine.open_problems == ()
    assert world.alerts()["ORD-MISSING"] == {"resolved"}  # the problem's alert is settled with it (issue 25)
    with transaction(world.settings.database_url) as session:
        reasons = [e.detail.get("reason") for e in session.scalars(
            select(AuditEvent).where(AuditEvent.action == "arrival.checked")
            .order_by(AuditEvent.id))]
    assert reasons == ["", "guest rebooked by phone, CRS number on the folio"]


def test_the_command_runs_the_check_and_exits_1_while_a_problem_is_open(world: World) -> None:
    world.order("ORD-OK", room())
    world.booking("ORD-OK")
    world.order("ORD-MISSING", room())
    env = settings_env(world.settings)

    result = run_cli(env, "arrivals", "--date", DAY.isoformat())
    assert result.returncode == 1, result.stdout + result.stderr
    assert "2 arrivals checked — 1 confirmed in SynXis, 1 missing." in result.stdout
    assert "ORD-MISSING/ITEM-1: missing — SynXis has no booking for ORD-MISSING/ITEM-1." in result.stdout

    fine = run_cli(env, "arrivals", "--date", DAY.isoformat(), "--mark", "ORD-MISSING/ITEM-1",
                   "--reason", "walk-in guest, booked at the desk")
    assert fine.returncode == 0, fine.stdout + fine.stderr
    assert run_cli(env, "arrivals", "--date", "9 Dec").stderr.strip() == (
        "syncdesk arrivals: --date '9 Dec' is not YYYY-MM-DD")


def test_an_order_with_an_open_failure_alert_gets_the_finding_in_its_thread(world: World) -> None:
    import json

    from tests.workflows.oncall.test_escalation import Jobs
    from workflows.intake import webhook
    from workflows.orders.payloads import parse_sync_failure

    world.order("ORD-OPEN", room(status="In Progress"), status="In Progress")
    event = {"event_id": "evt-open", "occurred_at": "2026-12-08T05:00:00Z", "order": world.platform.order("ORD-OPEN"),
             "failure": {"item_id": "ITEM-1", "system": "synxis", "message": "Read timed out", "code": "timeout"}}
    webhook.record(world.settings, parse_sync_failure(json.dumps(event).encode()), "webhook")
    Jobs(world.settings).run("workflows.orders.jobs.refresh_alert", verify_payment=False)  # the alert is posted

    run = check.check_day(world.settings, DAY)

    assert [f.kind for f in run.raised] == [Kind.MISSING]
    [reply] = logged("slack").of_kind("thread")
    assert reply.text.startswith("Arrival check: ORD-OPEN/ITEM-1") and reply.thread
    assert not logged("slack").of_kind("channel")  # not a second alert
