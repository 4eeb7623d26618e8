"""The order lifecycle as the platform runs it (issue 13, source 003): one table decides, per
platform status, whether syncdesk alerts, never alerts, resolves, or resolves and watches the
refund. Every row is walked through the real web app and a real worker."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from sqlalchemy import func, select

from bot.slack import render
from tests.conftest import post_failure, wait_for
from tests.fakes.platform import FakePlatform
from tests.workflows.intake.test_intake import payload
from workflows.core import states
from workflows.core.db import transaction
from workflows.core.lifecycle import RULES, OnStatus, rule_for
from workflows.core.models import Alert, AuditEvent, Order, OrderItem, OutboxEntry
from workflows.core.settings import Settings
from workflows.intake import poller
from workflows.oncall import escalation, requests as oncall_requests
from workflows.orders import service
from workflows.orders.snapshot import load

UNKNOWN = "Awaiting Fulfilment"  # a status no document names: alerted, naming it


def alerts(settings: Settings, order_id: str) -> list[Alert]:
    with transaction(settings.database_url) as session:
        return list(session.scalars(select(Alert).where(Alert.order_id == order_id)))


def event(order_id: str, status: str, n: int, item_status: str = "In Progress") -> dict:
    return payload(event_id=f"evt-{order_id}-{n}", order__id=order_id, order__status=status,
                   order__items__0__status=item_status)


def test_the_table_names_every_status_of_source_003():
    assert set(RULES) == {"In cart", "Reopened", "Request", "Draft", "Offer", "Booked", "In Progress", "Complete",
                          "Closed", "Cancelled", "Test", "Dropped"}
    assert {s for s, r in RULES.items() if r.on is OnStatus.ALERT} == {"In Progress", "Booked"}
    assert rule_for(UNKNOWN).on is OnStatus.ALERT and not rule_for(UNKNOWN).known


def test_every_status_row_through_the_web_app_and_a_worker(settings, live_app, worker_factory):
    worker_factory(settings)
    rows = sorted(RULES) + [UNKNOWN]
    answers = {}
    for n, status in enumerate(rows):
        # a new order arriving in this status ...
        answers[status] = post_failure(live_app.url, event(f"ORD-NEW-{n}", status, 1))
        # ... and an alerted order the platform then reports in this status
        assert post_failure(live_app.url, event(f"ORD-OLD-{n}", "In Progress", 1)).json()["alert"] == "created"
        assert post_failure(live_app.url, event(f"ORD-OLD-{n}", status, 2)).status_code == 202

    for n, status in enumerate(rows):
        rule, answer = rule_for(status), answers[status]
        assert answer.status_code == 202, answer.text
        fresh, known = alerts(settings, f"ORD-NEW-{n}"), alerts(settings, f"ORD-OLD-{n}")
        if rule.on is OnStatus.ALERT:
            assert answer.json()["alert"] == "created", status
            assert [a.state for a in fresh] == ["open"] and [a.state for a in known] == ["open"], status
        else:
            assert answer.json()["alert"] == "none" and fresh == [], status
            assert status in answer.json()["note"] and "not alerted" in answer.json()["note"], status
            assert [a.state for a in known] == ["resolved"], status
    # the worker showed every alert, the resolved ones from their final state
    wait_for(lambda: all(a.message_id for n in range(len(rows)) for a in alerts(settings, f"ORD-OLD-{n}")))
    with transaction(settings.database_url) as session:
        unknown = load(session, f"ORD-NEW-{rows.index(UNKNOWN)}", settings=settings)
        closed = load(session, f"ORD-OLD-{rows.index('Complete')}", settings=settings)
        never_escalating = session.scalar(select(func.count()).select_from(Alert).where(
            Alert.order_id.like("ORD-NEW-%"), Alert.state != states.A_RESOLVED))
    assert never_escalating == 2 + 1  # In Progress, Booked and the unknown status: nothing else can escalate
    assert f"“{UNKNOWN}”, a status syncdesk does not know" in str(render.alert_blocks(unknown))
    done = render.alert_blocks(closed)
    # the alert's buttons gone; a Complete order offers only Close order (issue 23)
    assert [e["action_id"] for b in done if b["type"] == "actions" for e in b["elements"]] == ["close_order"]
    assert "order completed on the platform ·" in str(done)


def test_a_cancelled_order_still_charged_says_so_and_reconciliation_lists_it(settings):
    from tests.fakes.stripe import FakeStripe
    from workflows.orders.payment import check_payment
    from workflows.reports.reconcile import MismatchKind, reconcile

    with FakeStripe(api_key="sk_test_fake") as stripe:
        pi = stripe.add_payment_intent(amount=24000)
        s = settings.model_copy(update={"stripe_api_key": "sk_test_fake", "stripe_api_base": stripe.url})
        data = event("ORD-C", "In Progress", 1)
        data["order"]["payment"]["reference"] = pi
        record(s, data)
        data = event("ORD-C", "Cancelled", 2)
        data["order"]["payment"]["reference"] = pi
        assert record(s, data).resolved
        check_payment(s, "ORD-C")  # what the alert's refresh job asks Stripe first
        with transaction(s.database_url) as session:
            snapshot = load(session, "ORD-C", settings=s)
        assert "Cancelled but still charged: refund with Cancel Deliveries on the platform" in str(
            render.alert_blocks(snapshot))
        [charged] = reconcile(s).of_kind(MismatchKind.CANCELLED_BUT_CHARGED)
        assert charged.order_id == "ORD-C"
        stripe.add_refund(pi, 24000)
        assert reconcile(s).of_kind(MismatchKind.CANCELLED_BUT_CHARGED) == ()


def record(settings: Settings, data: dict) -> service.IntakeOutcome:
    import json

    from workflows.intake import webhook
    from workflows.orders.payloads import parse_sync_failure

    return webhook.record(settings, parse_sync_failure(json.dumps(data).encode()), "webhook")


def test_booked_orders_complete_like_in_progress_ones_and_may_close_afterwards(settings):
    record(settings, event("ORD-B", "Booked", 1, item_status="Confirmed"))
    with transaction(settings.database_url) as session:
        order = session.get(Order, "ORD-B")
        states.move_order(session, order, states.COMPLETE, actor="ana")
    outcome = record(settings, event("ORD-B", "Closed", 2, item_status="Confirmed"))
    with transaction(settings.database_url) as session:
        assert session.get(Order, "ORD-B").platform_status == "Closed"
    assert outcome.alert == "none"


def test_a_late_in_progress_event_does_not_reopen_an_order_completed_meanwhile(settings):
    record(settings, event("ORD-L", "In Progress", 1))
    record(settings, event("ORD-L", "Complete", 2))
    late = record(settings, event("ORD-L", "In Progress", 3))
    assert late.alert == "none" and "already Complete" in late.reason
    assert [a.state for a in alerts(settings, "ORD-L")] == ["resolved"]


def test_a_click_on_an_order_completed_on_the_platform_is_told_when(settings):
    from workflows.actions import requests

    record(settings, event("ORD-K", "In Progress", 1))
    record(settings, event("ORD-K", "Complete", 2))
    for ack in (requests.request_reprocess(settings, "ORD-K", "ITEM-1", "ana"),
                requests.request_booked_manually(settings, "ORD-K", "ITEM-1", "ana", "13098CU1"),
                requests.request_complete(settings, "ORD-K", "ana")):
        assert not ack.accepted
        assert ack.message.startswith("ORD-K was already completed on the platform at ") and "UTC" in ack.message


@pytest.mark.parametrize("round_", range(15))
def test_acknowledge_and_resolve_racing_always_end_resolved(settings, round_):
    """grafana/oncall#3161: an acknowledgement landing with a resolve must never win over it."""
    order_id = f"ORD-R{round_}"
    record(settings, event(order_id, "In Progress", 1))
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def ack() -> None:
        barrier.wait()
        try:
            oncall_requests.im_on_it(settings, order_id, "ana")
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    def resolve() -> None:
        barrier.wait()
        try:
            record(settings, event(order_id, "Complete", 2))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=ack), threading.Thread(target=resolve)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    assert [a.state for a in alerts(settings, order_id)] == ["resolved"]


def test_an_acknowledgement_pauses_escalation_then_it_resumes_at_its_level(settings):
    s = settings.model_copy(update={"ack_timeout_minutes": 60, "ack_timeout_minutes_soon": 15})
    far = (dt.date.today() + dt.timedelta(days=30)).isoformat()
    data = event("ORD-A", "In Progress", 1)
    data["order"]["items"][0]["start"], data["order"]["items"][0]["end"] = far, far
    record(s, data)
    t0 = alerts(s, "ORD-A")[0].created_at
    [dm] = escalation.check_due(s, t0 + dt.timedelta(minutes=16))
    assert dm.level == escalation.LEVEL_DM
    with transaction(s.database_url) as session:
        escalation.acknowledge(session, "ORD-A", "slack:U0ANA (ana)", now=t0 + dt.timedelta(minutes=17))
    acked_at = alerts(s, "ORD-A")[0].acknowledged_at
    assert escalation.check_due(s, acked_at + dt.timedelta(minutes=59)) == []  # paused
    [resumed] = escalation.check_due(s, acked_at + dt.timedelta(minutes=61))
    assert resumed.level == escalation.LEVEL_CHANNEL  # the level it had (DM), then the next one
    [alert] = alerts(s, "ORD-A")
    assert (alert.state, alert.escalation_level) == ("open", escalation.LEVEL_CHANNEL)
    with transaction(s.database_url) as session:
        notify = session.scalars(select(OutboxEntry).where(
            OutboxEntry.function == "workflows.oncall.escalation.notify").order_by(OutboxEntry.id)).all()[-1]
        snapshot = load(session, "ORD-A", settings=s)
    assert notify.kwargs["acknowledged_by"] == "slack:U0ANA (ana)" and notify.kwargs["level"] == 2
    assert "acknowledged by <@U0ANA> 61 min ago, still not resolved" in str(render.alert_blocks(snapshot))


def test_an_acknowledgement_pauses_less_when_the_guest_arrives_within_a_day(settings):
    soon = dt.date.today().isoformat()
    data = event("ORD-S", "In Progress", 1)
    data["order"]["items"][0]["start"], data["order"]["items"][0]["end"] = soon, soon
    record(settings, data)
    with transaction(settings.database_url) as session:
        escalation.acknowledge(session, "ORD-S", "ana")
    acked_at = alerts(settings, "ORD-S")[0].acknowledged_at
    assert escalation.check_due(settings, acked_at + dt.timedelta(minutes=14)) == []
    [resumed] = escalation.check_due(settings, acked_at + dt.timedelta(minutes=16))
    assert resumed.level == escalation.LEVEL_DM


def test_a_failed_reprocess_reopens_the_alert_for_escalation_at_once(settings):
    record(settings, event("ORD-F", "In Progress", 1))
    with transaction(settings.database_url) as session:
        escalation.acknowledge(session, "ORD-F", "ana")
    assert alerts(settings, "ORD-F")[0].state == "acknowledged"
    with transaction(settings.database_url) as session:
        assert escalation.reopen(session, "ORD-F", actor="ana", reason="Reprocess failed")
    assert alerts(settings, "ORD-F")[0].state == "open"


def test_an_item_confirmed_elsewhere_shows_as_confirmed_on_the_platform(settings):
    record(settings, event("ORD-P", "In Progress", 1))
    data = event("ORD-P", "In Progress", 2, item_status="Confirmed")
    data["order"]["items"][0]["external_reference"] = "13098CU777"
    data["failure"]["item_id"] = "ITEM-1"
    record(settings, data)
    with transaction(settings.database_url) as session:
        item = session.scalar(select(OrderItem).where(OrderItem.order_id == "ORD-P"))
        assert (item.status, item.external_reference, item.sync_status) == ("Confirmed", "13098CU777", "success")
        snapshot = load(session, "ORD-P", settings=settings)
    assert "confirmed on the platform" in str(render.alert_blocks(snapshot))


def test_the_poller_resolves_an_alert_after_the_platform_completed_the_order(settings, worker_factory, live_app):
    with FakePlatform(api_key="platform-key") as platform:
        s = settings.model_copy(update={"platform_api_url": platform.url, "platform_api_key": "platform-key",
                                        "recheck_open_minutes": 0.02, "escalation_check_seconds": 1,
                                        "escalation_dm_after_minutes": 0.5})
        data = event("ORD-E2E", "In Progress", 1)
        platform.seed(data["order"])
        assert post_failure(live_app.url, data).status_code == 202
        worker_factory(s)
        wait_for(lambda: alerts(s, "ORD-E2E")[0].message_id)
        completed = platform.order("ORD-E2E") | {"status": "Complete"}
        completed["items"][0] |= {"status": "Confirmed", "external_reference": "13098CU000379"}
        platform.seed(completed)
        wait_for(lambda: alerts(s, "ORD-E2E")[0].state == "resolved", timeout=60)
        with transaction(s.database_url) as session:
            actions = [e.action for e in session.scalars(select(AuditEvent).where(AuditEvent.order_id == "ORD-E2E"))]
            snapshot = load(session, "ORD-E2E", settings=s)
        assert "order.platform_status" in actions and "item.confirmed" in actions
        # its escalation is stopped: past the DM delay, nothing escalates a resolved alert
        assert escalation.check_due(s, alerts(s, "ORD-E2E")[0].created_at + dt.timedelta(hours=2)) == []
        assert "order completed on the platform" in str(render.alert_blocks(snapshot))


def test_the_recheck_reads_the_least_recently_checked_orders_first_in_a_bounded_batch(settings):
    with FakePlatform(api_key="platform-key") as platform:
        s = settings.model_copy(update={"platform_api_url": platform.url, "platform_api_key": "platform-key",
                                        "recheck_batch": 2})
        for n in range(3):
            data = event(f"ORD-Q{n}", "In Progress", 1)
            platform.seed(data["order"])
            record(s, data)
        poller.recheck_open_alerts(s)
        poller.recheck_open_alerts(s)
        asked = [r.path for r in platform.requests_to("GET")]
    assert asked == ["/orders/ORD-Q0", "/orders/ORD-Q1", "/orders/ORD-Q2", "/orders/ORD-Q0"]


def test_the_poller_records_a_retail_only_order_without_alerting_it(settings):
    with FakePlatform(api_key="platform-key") as platform:
        s = settings.model_copy(update={"platform_api_url": platform.url, "platform_api_key": "platform-key"})
        order = payload()["order"] | {"id": "ORD-SHOP", "placed_at": "2026-11-01T09:00:00Z"}
        order["items"] = [{"id": "SHOP-1", "kind": "retail", "status": "In Progress", "description": "Robe"}]
        platform.seed(order)
        assert poller.poll_stuck_orders(s) == 1
        assert poller.poll_stuck_orders(s) == 0  # recorded once
    with transaction(s.database_url) as session:
        assert session.get(Order, "ORD-SHOP").items[0].kind == "retail"
    assert alerts(s, "ORD-SHOP") == []


def test_an_automatic_retry_never_schedules_another(settings):
    from workflows.core.models import SyncAttempt

    record(settings, event("ORD-AR", "In Progress", 1))  # a timeout: transient, one automatic retry
    with transaction(settings.database_url) as session:
        item = session.scalar(select(OrderItem).where(OrderItem.order_id == "ORD-AR"))
        first = session.scalar(select(SyncAttempt).where(SyncAttempt.item_pk == item.pk))
        retry = SyncAttempt(item=item, order_id="ORD-AR", number=2, status="failed", error_class="timeout",
                            triggered_by=service.AUTO_ACTOR)
        session.add(retry)
        session.flush()
        assert service.schedule_auto_retry(session, item, retry, 120) is False
        assert service.schedule_auto_retry(session, item, first, 120) is True


def test_arrival_urgency_and_escalation_count_days_in_the_propertys_timezone(settings, tmp_path):
    """A hotel at UTC+14: at 12:00 UTC on 1 Dec it is already 2 Dec there."""
    from connectors.routing import RoutingError
    from connectors.routing import load as load_routing
    from workflows.systems import registry

    routes = tmp_path / "routes.yaml"
    routes.write_text("synxis:\n  properties:\n    '13098': {connector: synxis, timezone: Pacific/Kiritimati}\n")
    s = settings.model_copy(update={"connectors_file": str(routes)})
    data = event("ORD-TZ", "In Progress", 1)
    data["order"]["items"][0]["start"], data["order"]["items"][0]["end"] = "2026-12-02", "2026-12-03"
    record(s, data)
    now = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.timezone.utc)
    with transaction(s.database_url) as session:
        there = load(session, "ORD-TZ", settings=s)
        utc = load(session, "ORD-TZ", settings=settings)
        arriving = escalation.arrivals(session, ["ORD-TZ"], s)
    assert there.timezone == "Pacific/Kiritimati" and utc.timezone == "UTC"
    assert render.alert_text(there, there.today(now)).split(" · ")[2] == "arrives today"
    assert render.alert_text(utc, utc.today(now)).split(" · ")[2] == "arrives tomorrow"
    assert "arrival day in Pacific/Kiritimati" in str(render.alert_blocks(there, there.today(now)))
    policy = escalation.Policy.from_settings(s)
    later = dt.datetime(2026, 11, 30, 15, 0, tzinfo=dt.timezone.utc)  # 2 Dec 00:00 there is 1 Dec 10:00 UTC
    assert policy.arrives_soon(arriving["ORD-TZ"], later)
    assert not policy.arrives_soon(escalation.Arrival(dt.date(2026, 12, 2), "UTC"), later)
    routes.write_text("synxis:\n  default: {connector: synxis, timezone: Mars/Olympus}\n")
    load_routing.cache_clear()
    with pytest.raises(RoutingError, match="unknown timezone 'Mars/Olympus'"):
        registry.check(s)


def test_an_item_waiting_for_its_reprocess_job_is_ready_then_processing(settings):
    """Source 001's order queue: failed → ready (set by a person) → processing (the job)."""
    from workflows.actions import requests

    record(settings, event("ORD-RDY", "In Progress", 1))
    ack = requests.request_reprocess(settings, "ORD-RDY", "ITEM-1", "ana")
    assert ack.accepted
    with transaction(settings.database_url) as session:
        item = session.scalar(select(OrderItem).where(OrderItem.order_id == "ORD-RDY"))
        assert item.sync_status == "ready"
        states.move_sync(session, item, states.Q_PROCESSING, actor="job")  # what the job's lock does
        assert item.sync_status == "processing"
        moves = [e.detail["to"] for e in session.scalars(select(AuditEvent).where(
            AuditEvent.order_id == "ORD-RDY", AuditEvent.action.like("sync.%")).order_by(AuditEvent.id))]
    assert moves == ["ready", "processing"]


def test_complete_without_payment_check_needs_a_reason_and_an_uncheckable_payment(settings, worker_factory):
    from workflows.actions import requests

    for n, item_status in ((1, "In Progress"), (2, "Confirmed")):  # alerted, then booked on the platform
        data = event("ORD-NP", "In Progress", n, item_status=item_status)
        data["order"]["payment"] = {"provider": "adyen", "reference": "PSP-881", "amount_minor": 24000}
        record(settings, data)
    refused = requests.request_complete(settings, "ORD-NP", "ana")  # queued, then refused by the job
    worker_factory(settings)
    wait_for(lambda: _audited(settings, "ORD-NP", "complete.refused"))
    [why] = _audited(settings, "ORD-NP", "complete.refused")
    assert refused.accepted and "payment unknown (payment provider adyen" in why.detail["reason"]
    assert "complete it without a payment check" in why.detail["reason"]
    with transaction(settings.database_url) as session:
        snapshot = load(session, "ORD-NP", settings=settings)
    blocks = render.alert_blocks(snapshot)
    assert [e["action_id"] for b in blocks if b["type"] == "actions" for e in b["elements"]
            if e["type"] == "button"] == [render.COMPLETE_UNCHECKED]
    ack = requests.request_complete(settings, "ORD-NP", "slack:U0ANA (ana)",
                                    unchecked_reason="Seen settled in the Adyen dashboard")
    assert ack.accepted
    wait_for(lambda: _audited(settings, "ORD-NP", "order.complete"))
    [done] = _audited(settings, "ORD-NP", "order.complete")
    assert done.detail["payment_unchecked"] == "Seen settled in the Adyen dashboard"
    assert [a.state for a in alerts(settings, "ORD-NP")] == ["resolved"]


def test_complete_without_payment_check_is_refused_for_a_checkable_or_refunded_payment(settings):
    from workflows.actions import requests

    record(settings, event("ORD-SP", "In Progress", 1, item_status="Confirmed"))  # Stripe: checkable
    s = settings.model_copy(update={"stripe_api_key": "sk_test_x"})
    ack = requests.request_complete(s, "ORD-SP", "ana", unchecked_reason="trust me")
    assert not ack.accepted and "use Mark complete" in ack.message
    with transaction(settings.database_url) as session:
        session.get(Order, "ORD-SP").payment_state = "refunded"
    ack = requests.request_complete(settings, "ORD-SP", "ana", unchecked_reason="trust me")
    assert not ack.accepted and "refunded" in ack.message
    assert [e.result for e in _audited(settings, "ORD-SP", "click.mark_complete")] == ["refused", "refused"]


def _audited(settings: Settings, order_id: str, action: str) -> list[AuditEvent]:
    with transaction(settings.database_url) as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.order_id == order_id,
                                                             AuditEvent.action == action)))
