"""Is the guest's money really there? Ask Stripe now and keep its answer on the order.

The alert shows the payment checked live (DESIGN §1: "verify it before anyone tells a
guest otherwise"); Reprocess refuses to book refunded or uncaptured money, and Mark
complete requires it settled. Anything but a Stripe payment with a key configured is
`unknown`, with the reason in words.
"""

from __future__ import annotations

from sqlalchemy import update

from connectors.errors import ConnectorError
from connectors.types import PaymentCheck, PaymentState
from workflows.core.db import transaction
from workflows.core.models import Order, utcnow
from workflows.core.settings import Settings
from workflows.systems.clients import shared_stripe_payments


def uncheckable(settings: Settings, provider: str, reference: str) -> str | None:
    """Why syncdesk cannot check this payment at all (not Stripe, or no STRIPE_API_KEY), or None.

    Only then may a person complete the order without the check, giving a reason.
    """
    if provider != "stripe" or not reference:
        return f"payment provider {provider or 'not given'}: check it by hand"
    if settings.stripe_api_key is None:
        return "STRIPE_API_KEY is not set: check the payment in the platform by hand"
    return None


def check_payment(settings: Settings, order_id: str) -> PaymentCheck:
    """Ask Stripe about the order's payment now and store what it said on the order."""
    with transaction(settings.database_url) as session:
        order = session.get(Order, order_id)
        if order is None:
            raise LookupError(f"order {order_id} is not known")
        reference, expected, currency = order.payment_reference, order.total_minor, order.currency
        provider = order.payment_provider
    why_not = uncheckable(settings, provider, reference)
    if why_not is not None:
        check = PaymentCheck(PaymentState.UNKNOWN, reference, currency, expected_minor=expected, detail=why_not)
    else:
        try:
            check = shared_stripe_payments(settings).check(reference, expected, currency)
        except ConnectorError as exc:
            check = PaymentCheck(PaymentState.UNKNOWN, reference, currency, expected_minor=expected,
                                 detail=f"{exc.error_class.label}: {exc.message}")
    with transaction(settings.database_url) as session:  # one UPDATE: these columns are only ever overwritten
        stored = session.execute(update(Order).where(Order.id == order_id).values(
            payment_state=check.state.value, payment_checked_at=utcnow(), payment_detail={
                "currency": check.currency, "amount_minor": check.amount_minor,
                "received_minor": check.received_minor, "refunded_minor": check.refunded_minor,
                "expected_minor": check.expected_minor, "detail": check.detail,
                "checkable": why_not is None,  # False: "Complete without payment check" may be offered
            }).execution_options(synchronize_session=False)).rowcount
        assert stored == 1, f"order {order_id} vanished during its payment check"
    return check
