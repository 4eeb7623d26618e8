"""The platform, Stripe and PagerDuty clients, each built from Settings into its own config.

Booking connectors are built by `workflows.systems.registry` (by routing); these three have
one instance each, so a function per client is all there is. A missing setting raises
`MissingSetting` naming it. The jobs' hot paths (the platform confirmation, the payment
check) use `shared_platform_client` / `shared_stripe_payments`: one client per process and
settings, kept open, so its connections are reused from one job to the next.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar
from urllib.parse import quote

from connectors.base import Timeouts
from connectors.pagerduty import PagerDuty, PagerDutyConfig
from connectors.platform import PlatformClient, PlatformConfig
from connectors.stripe_payments import StripeConfig, StripePayments
from workflows.core.settings import Settings


T = TypeVar("T")
_shared: dict[tuple[str, int], tuple[Settings, object]] = {}
_lock = threading.Lock()


def _shared_client(kind: str, settings: Settings, build: Callable[[Settings], T]) -> T:
    # The settings object is kept with its client: an id() can be reused once its object is gone.
    with _lock:
        found = _shared.get((kind, id(settings)))
        if found is None or found[0] is not settings:
            found = _shared[(kind, id(settings))] = (settings, build(settings))
        return found[1]  # type: ignore[return-value]


def timeouts(settings: Settings) -> Timeouts:
    return Timeouts(connect=settings.connect_timeout_seconds, read=settings.read_timeout_seconds)


def platform_client(settings: Settings) -> PlatformClient:
    settings.require("platform_api_url", "platform_api_key")
    return PlatformClient(PlatformConfig(settings.secret("platform_api_url"), settings.secret("platform_api_key"),
                                         timeouts(settings)))


def stripe_payments(settings: Settings) -> StripePayments:
    settings.require("stripe_api_key")
    return StripePayments(StripeConfig(settings.secret("stripe_api_key"), settings.stripe_api_base,
                                       timeouts(settings)))


def shared_platform_client(settings: Settings) -> PlatformClient:
    """This process's platform client for `settings`; do not close it."""
    return _shared_client("platform", settings, platform_client)


def shared_stripe_payments(settings: Settings) -> StripePayments:
    """This process's Stripe client for `settings`; do not close it."""
    return _shared_client("stripe", settings, stripe_payments)


def pagerduty(settings: Settings) -> PagerDuty:
    settings.require("pagerduty_routing_key")
    return PagerDuty(PagerDutyConfig(settings.secret("pagerduty_routing_key"), settings.pagerduty_events_url,
                                     timeouts(settings)))


def order_link(settings: Settings, order_id: str) -> str | None:
    """The order's page on the platform: PLATFORM_ORDER_URL, else its API resource."""
    if settings.platform_order_url:
        return settings.platform_order_url.format(order_id=quote(order_id, safe=""))
    if settings.platform_api_url:
        return f"{settings.platform_api_url.rstrip('/')}/orders/{quote(order_id, safe='')}"
    return None
