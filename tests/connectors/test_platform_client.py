"""The platform adapter against the fake platform (DESIGN §3.2)."""

from __future__ import annotations

import datetime as dt

import pytest

from connectors.errors import AuthFailure, ErrorClass, PlatformRefused, UnknownFailure
from connectors.platform import PlatformClient, PlatformConfig
from tests.fakes.platform import FakePlatform


def order(order_id: str, status: str = "In Progress", **extra) -> dict:
    return {
        "id": order_id,
        "status": status,
        "placed_at": "2026-11-22T09:57:10Z",
        "currency": "GBP",
        "total_minor": 24000,
        "guest": {"first_name": "Larry", "last_name": "Walker", "email": "larry.walker@example.com"},
        "items": [{"id": "ITEM-1", "kind": "room", "system": "synxis", "status": "In Progress"}],
        **extra,
    }


def test_get_order_returns_the_order_with_the_bearer_key(platform, platform_fake):
    platform_fake.seed(order("ORD-10042"))

    got = platform.get_order("ORD-10042")

    assert got["id"] == "ORD-10042" and got["items"][0]["id"] == "ITEM-1"
    assert platform_fake.requests[0].header("Authorization") == "Bearer platform-key"


def test_an_unknown_order_is_an_unknown_failure_with_status_404(platform):
    with pytest.raises(UnknownFailure) as caught:
        platform.get_order("ORD-NOPE")
    assert caught.value.status == 404


def test_stuck_listing_follows_cursors_to_the_end(platform, platform_fake):
    for n in range(5):
        platform_fake.seed(order(f"ORD-{n}"), updated_at=f"2026-11-22T09:0{n}:00Z")
    platform_fake.seed(order("ORD-DONE", status="Complete"), updated_at="2026-11-22T09:00:00Z")
    platform_fake.seed(order("ORD-FRESH"), updated_at="2026-11-22T10:30:00Z")

    ids = [o["id"] for o in platform.list_stuck(dt.datetime(2026, 11, 22, 10, 0, tzinfo=dt.timezone.utc))]

    assert ids == ["ORD-0", "ORD-1", "ORD-2", "ORD-3", "ORD-4"]
    pages = platform_fake.requests_to("GET", "/orders")
    assert [p.param("cursor") for p in pages] == [None, "2", "4"]
    assert all(p.param("status") == "In Progress" for p in pages)
    assert pages[0].param("updated_before") == "2026-11-22T10:00:00Z"


def test_confirm_item_patches_status_and_external_reference(platform, platform_fake):
    platform_fake.seed(order("ORD-10042"))

    platform.confirm_item("ORD-10042", "ITEM-1", "13098CU000379")

    (patch,) = platform_fake.patches
    assert patch.path == "/orders/ORD-10042/items/ITEM-1"
    assert patch.json == {"status": "Confirmed", "external_reference": "13098CU000379"}
    assert platform_fake.order("ORD-10042")["items"][0]["external_reference"] == "13098CU000379"


def test_complete_order_sets_complete(platform, platform_fake):
    platform_fake.seed(order("ORD-10042"))

    platform.complete_order("ORD-10042")

    assert platform_fake.order("ORD-10042")["status"] == "Complete"
    assert platform_fake.patches[0].json == {"status": "Complete"}


def test_a_refused_completion_is_platform_refused_with_the_platforms_message(platform, platform_fake):
    platform_fake.seed(order("ORD-10042"))
    platform_fake.refuse_completion("ORD-10042", "Order has an outstanding balance of £20.00")

    with pytest.raises(PlatformRefused) as caught:
        platform.complete_order("ORD-10042")

    error = caught.value
    assert "outstanding balance of £20.00" in error.message
    assert error.status == 409 and error.error_class is ErrorClass.PLATFORM_REFUSED
    assert not error.transient
    assert len(platform_fake.patches) == 1  # a refusal is not retried
    assert platform_fake.order("ORD-10042")["status"] == "In Progress"


def test_close_order_sets_a_complete_order_closed_and_is_refused_for_any_other(platform, platform_fake):
    platform_fake.seed(order("ORD-10042"))
    with pytest.raises(PlatformRefused, match="only a Complete order can be Closed"):
        platform.close_order("ORD-10042")  # still In Progress
    platform.complete_order("ORD-10042")

    platform.close_order("ORD-10042")

    assert platform_fake.order("ORD-10042")["status"] == "Closed"
    assert [p.json for p in platform_fake.patches] == [{"status": "Closed"}, {"status": "Complete"}, {"status": "Closed"}]


def test_a_status_patch_is_retried_after_a_5xx_because_it_is_idempotent(platform, platform_fake):
    platform_fake.seed(order("ORD-10042"))
    platform_fake.fail_with_status(503, method="PATCH")

    platform.complete_order("ORD-10042")

    assert len(platform_fake.patches) == 2
    assert platform_fake.patches[0].header("Idempotency-Key") == platform_fake.patches[1].header("Idempotency-Key")


def test_a_wrong_platform_key_is_an_auth_failure(platform_fake: FakePlatform):
    client = PlatformClient(PlatformConfig(platform_fake.url, "old-key"))
    try:
        with pytest.raises(AuthFailure):
            client.get_order("ORD-1")
    finally:
        client.close()


def test_cancel_delivery_refunds_once_per_key_and_answers_a_repeat_the_same(platform, platform_fake):
    from tests.fakes.stripe import FakeStripe

    with FakeStripe() as stripe:
        pi = stripe.add_payment_intent(amount=24000)
        platform_fake.stripe = stripe
        platform_fake.seed(order("ORD-10042", payment={"provider": "stripe", "reference": pi, "amount_minor": 24000}))

        first = platform.cancel_delivery("ORD-10042", "ITEM-1", "No availability", "syncdesk:cancel:ORD-10042:ITEM-1")
        again = platform.cancel_delivery("ORD-10042", "ITEM-1", "No availability", "syncdesk:cancel:ORD-10042:ITEM-1")

        assert first == again and first.item_status == "Cancelled" and first.refund_minor == 24000
        assert first.refund_reference is not None and first.refund_reference.startswith("re_")
        assert len(platform_fake.refunds) == 1
        body = platform_fake.requests_to("POST")[0].json
        assert body == {"reason": "No availability", "idempotency_key": "syncdesk:cancel:ORD-10042:ITEM-1"}
        assert platform_fake.order("ORD-10042")["status"] == "Cancelled"  # its only item is cancelled


def test_cancel_delivery_of_a_confirmed_item_is_refused_with_409(platform, platform_fake):
    platform_fake.seed(order("ORD-10042"))
    platform.confirm_item("ORD-10042", "ITEM-1", "13098CU000379")
    with pytest.raises(PlatformRefused) as caught:
        platform.cancel_delivery("ORD-10042", "ITEM-1", "No availability", "k1")
    assert caught.value.status == 409 and "Confirmed" in caught.value.message
    assert platform_fake.refunds == []


def test_cancel_delivery_without_a_key_is_refused_by_the_published_contract(platform_fake):
    import httpx

    platform_fake.seed(order("ORD-10042"))
    answer = httpx.post(f"{platform_fake.url}/orders/ORD-10042/items/ITEM-1/cancel-delivery",
                        json={"reason": "No availability"}, headers={"Authorization": "Bearer platform-key"})
    assert answer.status_code == 400 and platform_fake.refunds == []
