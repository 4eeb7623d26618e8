"""Reconciliation against the fake platform and fake Stripe: each planted mismatch is found,
with a link, and a consistent order reports nothing."""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select

from tests.conftest import settings_env
from tests.fakes.platform import FakePlatform
from tests.fakes.stripe import FakeStripe
from tests.syncdesk.test_cli import syncdesk
from tests.workflows.intake.test_intake import BASE
from workflows.core.db import transaction
from workflows.core.models import AuditEvent, Order, OrderItem, utcnow
from workflows.core.settings import Settings
from workflows.reports.reconcile import MismatchKind, reconcile

PLACED = utcnow().replace(microsecond=0) - dt.timedelta(hours=3)


@pytest.fixture
def world(settings: Settings) -> Iterator[tuple[Settings, FakePlatform, FakeStripe]]:
    with FakePlatform(api_key="pk") as platform, FakeStripe(api_key="sk_test_fake") as stripe:
        s = settings.model_copy(update={
            "platform_api_url": platform.url, "platform_api_key": "pk", "stripe_api_key": "sk_test_fake",
            "stripe_api_base": stripe.url, "platform_order_url": "https://admin.example.com/orders/{order_id}",
        })
        yield s, platform, stripe


def plant(s: Settings, platform: FakePlatform, stripe: FakeStripe, order_id: str, *, ours: tuple[str, str, str | None],
          theirs: tuple[str, str, str | None], refunded: bool = False, kind: str = "room") -> None:
    """One order: (order status, item status, external reference) on our side and the platform's."""
    intent = stripe.add_payment_intent(amount=24000, currency="gbp")
    if refunded:
        stripe.add_refund(intent, 24000)
    data = copy.deepcopy(BASE["order"])
    data.update(id=order_id, status=theirs[0], placed_at=PLACED.strftime("%Y-%m-%dT%H:%M:%SZ"))
    data["payment"]["reference"] = intent
    data["items"][0].update(status=theirs[1], kind=kind)
    if theirs[2]:
        data["items"][0]["external_reference"] = theirs[2]
    platform.seed(data)
    with transaction(s.database_url) as session:
        order = Order(id=order_id, platform_status=ours[0], placed_at=PLACED, currency="GBP", total_minor=24000,
                      guest_first_name="Larry", guest_last_name="Walker", payment_provider="stripe",
                      payment_reference=intent, payment_amount_minor=24000)
        order.items.append(OrderItem(item_id="ITEM-1", kind=kind, system="synxis", status=ours[1],
                                     external_reference=ours[2]))
        session.add(order)


def test_each_planted_mismatch_is_found_and_nothing_else(world):
    s, platform, stripe = world
    plant(s, platform, stripe, "ORD-OK", ours=("Complete", "Confirmed", "CONF1"), theirs=("Complete", "Confirmed", "CONF1"))
    plant(s, platform, stripe, "ORD-PAID", ours=("In Progress", "In Progress", None),
          theirs=("In Progress", "In Progress", None))
    plant(s, platform, stripe, "ORD-HALF", ours=("Complete", "In Progress", None), theirs=("Complete", "In Progress", None))
    plant(s, platform, stripe, "ORD-NOREF", ours=("Complete", "Confirmed", None), theirs=("Complete", "Confirmed", None))
    plant(s, platform, stripe, "ORD-REFUND", ours=("Complete", "Confirmed", "CONF2"),
          theirs=("Complete", "Confirmed", "CONF2"), refunded=True)
    plant(s, platform, stripe, "ORD-DIFF", ours=("In Progress", "In Progress", None),
          theirs=("Complete", "Confirmed", "CONF3"))
    plant(s, platform, stripe, "ORD-RETAIL", kind="retail", ours=("Complete", "Dispatched", None),
          theirs=("Complete", "Dispatched", None))
    with transaction(s.database_url) as session:
        audit_before = session.scalar(select(func.count()).select_from(AuditEvent))

    report = reconcile(s)

    found = {(m.kind, m.order_id, m.item_id) for m in report.mismatches}
    assert found == {
        (MismatchKind.PAID_STILL_IN_PROGRESS, "ORD-PAID", None),
        (MismatchKind.COMPLETE_ITEM_NOT_CONFIRMED, "ORD-HALF", "ITEM-1"),
        (MismatchKind.CONFIRMED_WITHOUT_REFERENCE, "ORD-NOREF", "ITEM-1"),
        (MismatchKind.REFUNDED_BUT_COMPLETE, "ORD-REFUND", None),
        (MismatchKind.STATE_DIFFERS, "ORD-DIFF", None),
        (MismatchKind.STATE_DIFFERS, "ORD-DIFF", "ITEM-1"),
    }
    assert len(report.mismatches) == len(found) and report.problems == ()
    assert report.checked == 7
    [paid] = report.of_kind(MismatchKind.PAID_STILL_IN_PROGRESS)
    assert paid.link == "https://admin.example.com/orders/ORD-PAID"
    assert "captured" in paid.detail and " h ago and still In Progress" in paid.detail
    [diff] = [m for m in report.of_kind(MismatchKind.STATE_DIFFERS) if m.item_id is None]
    assert diff.detail == "syncdesk says In Progress, the platform Complete"
    # Read-only: nothing was written here, and the platform was only read.
    assert platform.patches == []
    with transaction(s.database_url) as session:
        assert session.scalar(select(func.count()).select_from(AuditEvent)) == audit_before


def test_a_consistent_order_reports_nothing(world):
    s, platform, stripe = world
    plant(s, platform, stripe, "ORD-OK", ours=("Complete", "Confirmed", "CONF1"), theirs=("Complete", "Confirmed", "CONF1"))
    report = reconcile(s)
    assert report.mismatches == () and report.problems == () and report.checked == 1


def test_an_order_the_platform_has_stuck_but_syncdesk_never_heard_of_is_listed(world):
    s, platform, stripe = world
    intent = stripe.add_payment_intent(amount=24000)
    data = copy.deepcopy(BASE["order"])
    data.update(id="ORD-LOST", placed_at=PLACED.strftime("%Y-%m-%dT%H:%M:%SZ"))
    data["payment"]["reference"] = intent
    platform.seed(data)
    found = {(m.kind, m.order_id) for m in reconcile(s).mismatches}
    assert found == {(MismatchKind.PAID_STILL_IN_PROGRESS, "ORD-LOST"), (MismatchKind.STATE_DIFFERS, "ORD-LOST")}


def test_cli_reconcile_prints_the_mismatches(world):
    s, platform, stripe = world
    plant(s, platform, stripe, "ORD-REFUND", ours=("Complete", "Confirmed", "CONF2"),
          theirs=("Complete", "Confirmed", "CONF2"), refunded=True)
    result = syncdesk(settings_env(s), "reconcile")
    assert result.returncode == 1, result.stderr
    assert "1 order checked, 1 mismatch" in result.stdout
    assert ("Refunded but Complete: ORD-REFUND — payment" in result.stdout
            and "<https://admin.example.com/orders/ORD-REFUND>" in result.stdout)
