"""The daily digest's figures against a hand-computed fixture (day 22 Nov 2026, UTC)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from sqlalchemy.orm import Session

from tests.conftest import logged
from workflows.core.db import transaction
from workflows.core.models import Alert, Order, OrderItem, SyncAttempt
from workflows.reports import digest

DAY = dt.date(2026, 11, 22)


def at(day_offset: int, hhmm: str) -> dt.datetime:
    h, m = map(int, hhmm.split(":"))
    return dt.datetime.combine(DAY + dt.timedelta(days=day_offset), dt.time(h, m), dt.timezone.utc)


def order(session: Session, order_id: str, *, system: str = "synxis", start: dt.date | None = None,
          status: str = "In Progress", confirmed_by: str | None = None, confirmed_at: dt.datetime | None = None,
          reference: str | None = None, guest: str = "Guest") -> OrderItem:
    o = Order(id=order_id, platform_status="In Progress", currency="GBP", total_minor=1000,
              guest_first_name=guest, guest_last_name="Test")
    item = OrderItem(item_id="ITEM-1", kind="room", system=system, status=status, sync_status="failed",
                     start=start, confirmed_by=confirmed_by, confirmed_at=confirmed_at, external_reference=reference)
    o.items.append(item)
    session.add(o)
    session.flush()
    return item


def failure(session: Session, item: OrderItem, when: dt.datetime, error_class: str, *,
            by: str = "platform", number: int = 1) -> None:
    session.add(SyncAttempt(item_pk=item.pk, order_id=item.order_id, number=number, status="failed",
                            error_class=error_class, triggered_by=by, started_at=when, finished_at=when))


def alert(session: Session, order_id: str, opened: dt.datetime, *, resolved: dt.datetime | None = None,
          state: str | None = None, surface: str = "slack", acknowledged_by: str | None = None) -> None:
    session.add(Alert(order_id=order_id, surface=surface, created_at=opened, resolved_at=resolved,
                      state=state or ("resolved" if resolved else "open"), acknowledged_by=acknowledged_by))


@pytest.fixture
def seeded(settings) -> Iterator[object]:
    with transaction(settings.database_url) as session:
        # Failures reported on the day: SynXis 3 timeouts + 1 no availability, EMS Premier 2 auth failures.
        for n, (system, cls, when) in enumerate([
            ("synxis", "timeout", at(0, "00:00")), ("synxis", "timeout", at(0, "09:30")),
            ("synxis", "timeout", at(0, "23:59")), ("synxis", "no_availability", at(0, "12:00")),
            ("premier", "auth_failure", at(0, "08:00")), ("premier", "auth_failure", at(0, "08:05")),
        ]):
            failure(session, order(session, f"ORD-F{n}", system=system), when, cls)
        reprocessed = order(session, "ORD-F9")
        failure(session, reprocessed, at(0, "10:00"), "timeout", by="U0ALICE")  # our retry: not a reported failure
        # Earlier days: SynXis timeouts also on the 21st and the 19th (a theme: 3 of 7 days);
        # SynXis no availability also on the 17th (2 days: not a theme); one on the 15th is out of range.
        failure(session, order(session, "ORD-H1"), at(-1, "23:59"), "timeout")
        failure(session, order(session, "ORD-H2"), at(-3, "10:00"), "timeout")
        failure(session, order(session, "ORD-H3"), at(-5, "10:00"), "no_availability")
        failure(session, order(session, "ORD-H4"), at(-7, "10:00"), "timeout")
        # Resolved on the day after 5, 12, 30, 45 and 240 minutes: median 30, p90 (nearest rank 5 of 5) 240.
        for n, minutes in enumerate([45, 5, 240, 12, 30]):
            opened = at(0, "10:00")
            item = order(session, f"ORD-R{n}", status="Confirmed", reference=f"CONF{n}",
                         confirmed_by=["U0ALICE", "U0ALICE", "syncdesk (automatic retry)", None, None][n],
                         confirmed_at=opened + dt.timedelta(minutes=minutes - 1))
            alert(session, item.order_id, opened, resolved=opened + dt.timedelta(minutes=minutes))
        alert(session, "ORD-R0", at(0, "10:00"), resolved=at(0, "11:00"), surface="teams")  # same order: once
        late = order(session, "ORD-R9", status="Confirmed", confirmed_by="U0BOB", confirmed_at=at(1, "00:30"))
        alert(session, late.order_id, at(0, "23:00"), resolved=at(1, "00:30"))  # resolved the next day
        # Still open: B arrives tomorrow (Bob is on it), A in five days, C has no date.
        order(session, "ORD-A", start=DAY + dt.timedelta(days=5), guest="Ana")
        order(session, "ORD-B", start=DAY + dt.timedelta(days=1), guest="Ben")
        order(session, "ORD-C", guest="Cy")
        alert(session, "ORD-A", at(0, "09:00"))
        alert(session, "ORD-B", at(0, "09:10"), state="acknowledged", acknowledged_by="U0BOB")
        alert(session, "ORD-C", at(0, "09:20"))
    return settings


def test_digest_figures_match_the_hand_computed_fixture(seeded):
    with transaction(seeded.database_url) as session:
        d = digest.build(session, DAY)
    assert [(f.system, f.error_class, f.count) for f in d.failures] == [
        ("premier", "auth_failure", 2), ("synxis", "timeout", 3), ("synxis", "no_availability", 1)]
    assert d.total_failures == 6 and d.by_system == (("synxis", 4), ("premier", 2))
    assert d.resolved == 5
    assert d.resolution_median == dt.timedelta(minutes=30)
    assert d.resolution_p90 == dt.timedelta(minutes=240)
    assert [o.order_id for o in d.open_orders] == ["ORD-B", "ORD-A", "ORD-C"]
    assert d.open_orders[0].acknowledged_by == "U0BOB"
    assert [(t.system, t.error_class, t.days) for t in d.themes] == [
        ("synxis", "timeout", (DAY - dt.timedelta(days=3), DAY - dt.timedelta(days=1), DAY))]
    assert [(actor, [f.order_id for f in fixes]) for actor, fixes in d.fixes_by_person] == [
        ("U0ALICE", ["ORD-R1", "ORD-R0"]), ("syncdesk (automatic retry)", ["ORD-R2"])]


def test_digest_text_reads_plainly(seeded):
    with transaction(seeded.database_url) as session:
        text = digest.build(session, DAY).render_text()
    assert text.splitlines()[0] == "syncdesk digest for Sun 22 Nov 2026 (UTC)"
    assert "Failures: 6 — SynXis 4 (Timeout 3, No availability 1); EMS Premier 2 (Authentication failure 2)" in text
    assert "Time to resolution: median 30 min, 90th percentile 4 h 0 min (5 resolved)" in text
    assert "  • ORD-B Ben Test — arriving Mon 23 Nov — SynXis: failed — U0BOB is on it" in text
    assert "Recurring: SynXis timeout on 3 of the last 7 days (5 failures)" in text
    assert "  • U0ALICE: ORD-R1/ITEM-1 (CONF1), ORD-R0/ITEM-1 (CONF0)" in text


def test_percentiles_use_the_nearest_rank():
    minutes = [dt.timedelta(minutes=m) for m in (1, 2, 3, 4, 5, 6, 7, 8, 9, 10)]
    assert digest.percentile(minutes, 90) == dt.timedelta(minutes=9)
    assert digest.median(minutes) == dt.timedelta(minutes=5, seconds=30)
    assert digest.percentile([], 90) is None


def test_the_daily_digest_posts_once(seeded):
    assert digest.post_daily(DAY.isoformat(), settings=seeded) == "posted"
    assert digest.post_daily(DAY.isoformat(), settings=seeded) == "already posted"
    assert len(logged("slack").of_kind("digest")) == 1


def test_response_times_by_system_and_property_against_last_week(settings):
    from workflows.core.models import AuditEvent

    def hotel_order(session: Session, order_id: str) -> None:
        o = Order(id=order_id, platform_status="In Progress", currency="GBP", total_minor=1000,
                  guest_first_name="G", guest_last_name="T")
        o.items.append(OrderItem(item_id="ITEM-1", kind="room", system="synxis", status="In Progress",
                                 sync_status="failed", details={"hotel_id": 13098}))
        session.add(o)

    with transaction(settings.database_url) as session:
        for order_id in ("ORD-T1", "ORD-T2", "ORD-W1"):
            hotel_order(session, order_id)
        session.flush()
        # On the day: T1 acknowledged ("I'm on it") after 10 min; T2's first human action is a
        # Teams click after 20 min (syncdesk's own retry at 5 min is not a person); T2 resolved at 60 min.
        session.add(Alert(order_id="ORD-T1", surface="slack", created_at=at(0, "09:00"), state="acknowledged",
                          acknowledged_by="slack:U0ANA (ana)", acknowledged_at=at(0, "09:10")))
        session.add(Alert(order_id="ORD-T2", surface="slack", created_at=at(0, "10:00"), state="resolved",
                          resolved_at=at(0, "11:00")))
        session.add(AuditEvent(order_id="ORD-T2", actor="syncdesk (automatic retry)", action="reprocess.requested",
                               created_at=at(0, "10:05")))
        session.add(AuditEvent(order_id="ORD-T2", actor="teams:29:ben (Ben)", action="reprocess.requested",
                               created_at=at(0, "10:20")))
        # A week before: acted on after 30 min, resolved after 90.
        session.add(Alert(order_id="ORD-W1", surface="slack", created_at=at(-7, "10:00"), state="resolved",
                          resolved_at=at(-7, "11:30")))
        session.add(AuditEvent(order_id="ORD-W1", actor="cli:ops", action="booked_manually.requested",
                               created_at=at(-7, "10:30")))

    with transaction(settings.database_url) as session:
        d = digest.build(session, DAY)

    [row] = d.response
    assert (row.system, row.property, row.acted, row.resolved) == ("synxis", "13098", 2, 1)
    assert row.text() == ("SynXis at 13098: first action 15 min (last week 30 min) (2), "
                          "resolution 1 h 0 min (last week 1 h 30 min) (1)")
    assert "Response times (medians; count): SynXis at 13098" in d.render_text()
