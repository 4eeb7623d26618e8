"""Stripe: is the guest's payment really captured, and has any of it been refunded?

Uses the official `stripe` library's `StripeClient` through its `client.v1.*` services, with
`base_addresses={"api": STRIPE_API_BASE}`, so tests and staging point at a local server, and
`stripe.RequestsClient(timeout=(connect, read))` so our timeouts apply. `StripeClient` came
in stripe-python 8.0.0 (CHANGELOG; stripe/stripe-python#1206), but the `v1` namespace only
in 12.5.0 ("Introduce V1 namespaces in StripeClient", stripe/stripe-python#1549; #1575 says
it shipped in https://github.com/stripe/stripe-python/releases/tag/v12.5.0), so
pyproject.toml requires `stripe>=12.5`. The accessors directly under StripeClient
(`client.payment_intents`) were later deprecated (exact release unverified), which is why
`v1` is used.

Stripe objects read (Stripe's API reference https://stripe.com/docs/api/payment_intents/object
and https://stripe.com/docs/api/refunds/list, as mirrored in the generated clients
https://docs.rs/async-stripe/0.18.2/stripe/struct.PaymentIntent.html and
https://hexdocs.pm/tiger_stripe/Stripe.Params.RefundListParams.html):
- PaymentIntent: `status` (`succeeded` means the funds were collected; `requires_capture`
  — "capture the funds of an uncaptured PaymentIntent", cancelled after seven days —,
  `requires_payment_method`, `processing`, `canceled` … mean they were not), `amount`
  ("amount intended to be collected"), `amount_received` ("amount that was collected"),
  `currency` (lower-case ISO code) (https://hexdocs.pm/stripity_stripe/2.7.0/Stripe.PaymentIntent.html).
- Refunds: `GET /v1/refunds?payment_intent=pi_…` ("only return refunds for the
  PaymentIntent specified by this ID"; `limit` 1–100, cursor `starting_after`), each with
  `amount` and `status` (`pending`, `requires_action`, `succeeded`, `failed`, `canceled`).
- Errors: `{"error": {"type", "code", "message"}}`; stripe-python raises
  `AuthenticationError` for a 401 and `InvalidRequestError` (code `resource_missing`) for a
  404 (stripe/_api_requestor.py in stripe 16.1).

Card data is never requested: `payment_method` is not expanded and nothing of it is kept.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field

import requests
import stripe

from connectors.base import Timeouts
from connectors.errors import (
    AuthFailure,
    ConnectionFailed,
    PermissionDenied,
    RateLimited,
    ServerError,
    Timeout,
)
from connectors.types import PaymentCheck, PaymentState

log = logging.getLogger(__name__)

# Refunds in these states are (or are about to be) money back to the guest.
_COUNTED_REFUND_STATES = frozenset({"succeeded", "pending", "requires_action"})


@dataclass(frozen=True)
class StripeConfig:
    api_key: str = field(repr=False)  # STRIPE_API_KEY: a restricted key with read access is enough
    api_base: str = "https://api.stripe.com"  # STRIPE_API_BASE
    timeouts: Timeouts = Timeouts()


class StripePayments:
    """Verifies a Stripe PaymentIntent against what the order says was paid."""

    def __init__(self, config: StripeConfig) -> None:
        self.read_timeout = config.timeouts.read
        self._http = stripe.RequestsClient(timeout=(config.timeouts.connect, config.timeouts.read))
        self._client = stripe.StripeClient(
            config.api_key,
            base_addresses={"api": config.api_base.rstrip("/")},
            http_client=self._http,
            max_network_retries=1,  # only reads are sent, so a retry is safe
        )

    def close(self) -> None:
        self._http.close()

    def check(self, reference: str, expected_minor: int, currency: str) -> PaymentCheck:
        """Classify the payment. Raises only for what a person must fix or a retry may cure."""
        now = dt.datetime.now(dt.timezone.utc)
        expected_currency = currency.lower()

        def unknown(detail: str) -> PaymentCheck:
            return PaymentCheck(
                state=PaymentState.UNKNOWN,
                reference=reference,
                currency=expected_currency,
                expected_minor=expected_minor,
                detail=detail,
                checked_at=now,
            )

        if not reference:
            return unknown("the order has no Stripe payment reference")
        try:
            intent = self._client.v1.payment_intents.retrieve(reference)
            refunded = sum(
                int(refund.amount)
                for refund in self._client.v1.refunds.list(
                    {"payment_intent": reference, "limit": 100}
                ).auto_paging_iter()
                if refund.status in _COUNTED_REFUND_STATES
            )
        except stripe.InvalidRequestError as exc:
            # 404 resource_missing and other request errors: not an outage, not a crash.
            return unknown(f"Stripe: {exc.code or 'invalid_request'}: {exc.user_message or exc}")
        except stripe.StripeError as exc:
            self._raise_typed(exc)
            return unknown(f"Stripe: {type(exc).__name__}: {exc.user_message or exc}")

        status = str(intent.status)
        got_currency = str(intent.currency or "").lower()
        received = int(intent.amount_received or 0)
        fields = dict(
            reference=reference,
            currency=got_currency,
            amount_minor=int(intent.amount or 0),
            received_minor=received,
            refunded_minor=refunded,
            expected_minor=expected_minor,
            checked_at=now,
        )
        if status != "succeeded":
            return PaymentCheck(state=PaymentState.NOT_CAPTURED, detail=f"PaymentIntent status is {status}", **fields)
        if received > 0 and refunded >= received:
            return PaymentCheck(state=PaymentState.REFUNDED, detail=f"refunded {refunded} of {received}", **fields)
        if got_currency != expected_currency or received != expected_minor:
            return PaymentCheck(
                state=PaymentState.MISMATCH,
                detail=f"received {received} {got_currency}, the order expects {expected_minor} {expected_currency}",
                **fields,
            )
        if refunded > 0:
            return PaymentCheck(
                state=PaymentState.PARTIALLY_REFUNDED, detail=f"refunded {refunded} of {received}", **fields
            )
        return PaymentCheck(state=PaymentState.CAPTURED, **fields)

    def _raise_typed(self, exc: stripe.StripeError) -> None:
        """Stripe's error classes to ours; returns for errors that mean "unknown"."""
        detail = f"{type(exc).__name__}: http_status={exc.http_status} code={exc.code}"
        if isinstance(exc, stripe.AuthenticationError):
            raise AuthFailure("Stripe rejected syncdesk's API key (STRIPE_API_KEY).", detail=detail, status=exc.http_status) from exc
        if isinstance(exc, stripe.PermissionError):
            raise PermissionDenied(
                "Stripe's API key is not allowed to read PaymentIntents or refunds.", detail=detail, status=exc.http_status
            ) from exc
        if isinstance(exc, stripe.RateLimitError):
            raise RateLimited("Stripe is rate limiting syncdesk.", detail=detail, status=exc.http_status) from exc
        if isinstance(exc, stripe.APIConnectionError):
            cause = exc.__cause__
            if isinstance(cause, requests.exceptions.Timeout):
                raise Timeout(f"Stripe did not answer within {self.read_timeout:g} s.", detail=f"{detail} {cause}") from exc
            raise ConnectionFailed("syncdesk could not reach Stripe.", detail=f"{detail} {cause}") from exc
        if isinstance(exc, stripe.APIError) and (exc.http_status or 0) >= 500:
            raise ServerError(f"Stripe answered with a server error (HTTP {exc.http_status}).", detail=detail, status=exc.http_status) from exc
        log.warning("Stripe error treated as unknown payment state: %s", detail)
