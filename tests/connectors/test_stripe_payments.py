"""Payment verification against the fake Stripe: captured, refunded, not captured, mismatch, unknown."""

from __future__ import annotations

import pytest
import stripe

from connectors.errors import AuthFailure
from connectors.stripe_payments import StripeConfig, StripePayments
from connectors.types import PaymentState


def test_a_captured_payment_is_safe_to_book(payments, stripe_fake):
    pi = stripe_fake.add_payment_intent(amount=24000, currency="gbp")

    check = payments.check(pi, 24000, "GBP")

    assert check.state is PaymentState.CAPTURED and check.state.safe_to_book
    assert (check.received_minor, check.refunded_minor, check.currency) == (24000, 0, "gbp")
    assert check.checked_at is not None
    retrieve, refunds = stripe_fake.requests
    assert retrieve.path == f"/v1/payment_intents/{pi}"
    assert "expand" not in str(retrieve.query)  # never pull in card data
    assert refunds.path == "/v1/refunds" and refunds.param("payment_intent") == pi
    assert retrieve.header("Authorization") == "Bearer sk_test_fake"


def test_a_partly_refunded_payment_says_how_much(payments, stripe_fake):
    pi = stripe_fake.add_payment_intent(amount=24000)
    stripe_fake.add_refund(pi, 4000)
    stripe_fake.add_refund(pi, 1000, status="failed")  # failed refunds returned nothing

    check = payments.check(pi, 24000, "gbp")

    assert check.state is PaymentState.PARTIALLY_REFUNDED and check.refunded_minor == 4000


def test_a_fully_refunded_payment_is_refunded(payments, stripe_fake):
    pi = stripe_fake.add_payment_intent(amount=24000)
    stripe_fake.add_refund(pi, 20000)
    stripe_fake.add_refund(pi, 4000, status="pending")

    check = payments.check(pi, 24000, "gbp")

    assert check.state is PaymentState.REFUNDED and not check.state.safe_to_book


def test_refunds_are_followed_across_pages(payments, stripe_fake):
    pi = stripe_fake.add_payment_intent(amount=24000)
    for _ in range(120):
        stripe_fake.add_refund(pi, 100)

    check = payments.check(pi, 24000, "gbp")

    assert check.refunded_minor == 12000
    assert len(stripe_fake.requests_to("GET", "/v1/refunds")) == 2


@pytest.mark.parametrize("status", ["requires_capture", "requires_payment_method", "canceled", "processing"])
def test_an_uncaptured_payment_is_not_captured(payments, stripe_fake, status):
    pi = stripe_fake.add_payment_intent(amount=24000, status=status)

    check = payments.check(pi, 24000, "gbp")

    assert check.state is PaymentState.NOT_CAPTURED and status in check.detail


def test_a_different_amount_is_a_mismatch(payments, stripe_fake):
    pi = stripe_fake.add_payment_intent(amount=20000)

    check = payments.check(pi, 24000, "gbp")

    assert check.state is PaymentState.MISMATCH and "24000" in check.detail


def test_a_different_currency_is_a_mismatch(payments, stripe_fake):
    pi = stripe_fake.add_payment_intent(amount=24000, currency="eur")

    assert payments.check(pi, 24000, "GBP").state is PaymentState.MISMATCH


def test_an_unknown_payment_intent_is_unknown_not_an_exception(payments):
    check = payments.check("pi_does_not_exist", 24000, "gbp")

    assert check.state is PaymentState.UNKNOWN
    assert "resource_missing" in check.detail


def test_an_empty_reference_is_unknown_without_asking_stripe(payments, stripe_fake):
    assert payments.check("", 24000, "gbp").state is PaymentState.UNKNOWN
    assert stripe_fake.requests == []


def test_a_wrong_stripe_key_is_an_auth_failure(stripe_fake):
    checker = StripePayments(StripeConfig("sk_test_rotated", stripe_fake.url))
    pi = stripe_fake.add_payment_intent(amount=24000)

    with pytest.raises(AuthFailure) as caught:
        checker.check(pi, 24000, "gbp")

    assert "sk_test_rotated" not in caught.value.message + caught.value.detail
    checker.close()


def test_garbage_from_stripe_is_unknown_not_a_crash(payments, stripe_fake):
    pi = stripe_fake.add_payment_intent(amount=24000)
    stripe_fake.answer_garbage("<html>proxy error</html>", path=r"/v1/payment_intents/.*")

    check = payments.check(pi, 24000, "gbp")

    assert check.state is PaymentState.UNKNOWN


def test_stripe_down_is_a_server_error(payments, stripe_fake):
    from connectors.errors import ServerError

    pi = stripe_fake.add_payment_intent(amount=24000)
    stripe_fake.fail_with_status(500, times=-1, body=b'{"error": {"type": "api_error", "message": "boom"}}')

    with pytest.raises(ServerError):
        payments.check(pi, 24000, "gbp")


def test_stripe_unreachable_is_a_connection_failure():
    import socket

    from connectors.errors import ConnectionFailed

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    checker = StripePayments(StripeConfig("sk_test_fake", f"http://127.0.0.1:{port}"))

    with pytest.raises(ConnectionFailed):
        checker.check("pi_123", 24000, "gbp")
    checker.close()


def test_the_declared_stripe_bound_is_the_first_release_with_stripeclient_v1():
    """`StripeClient.v1` shipped in stripe-python 12.5.0 (stripe/stripe-python#1549, #1575); the
    package must not allow an older stripe, whose StripeClient has no `v1`."""
    import tomllib
    from pathlib import Path

    from packaging.requirements import Requirement

    pyproject = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())
    (declared,) = [Requirement(d) for d in pyproject["project"]["dependencies"] if Requirement(d).name == "stripe"]
    assert "12.4.9" not in declared.specifier and "11.6.0" not in declared.specifier
    assert "12.5.0" in declared.specifier
    client = stripe.StripeClient("sk_test_fake")
    assert hasattr(client, "v1") and hasattr(client.v1, "payment_intents") and hasattr(client.v1, "refunds")
