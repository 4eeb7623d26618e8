"""Fixtures for the connector tests: the fake servers and connectors pointed at them."""

from __future__ import annotations

import datetime as dt
from typing import Any, Iterator

import pytest

from connectors.base import Timeouts
from connectors.platform import PlatformClient, PlatformConfig
from connectors.stripe_payments import StripeConfig, StripePayments
from connectors.synxis import SynxisConfig, SynxisConnector
from connectors.types import BookingRequest, Guest
from tests.fakes.platform import FakePlatform
from tests.fakes.pms import FakeMews
from tests.fakes.resdiary import FakeResDiary
from tests.fakes.stripe import FakeStripe
from tests.fakes.synxis import FakeSynxis
from workflows.core.settings import Settings

READ_TIMEOUT = 0.5
TIMEOUTS = Timeouts(connect=0.5, read=READ_TIMEOUT)


def make_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {"connect_timeout_seconds": 0.5, "read_timeout_seconds": READ_TIMEOUT}
    values.update(overrides)
    return Settings(_env_file=None, **values)


def make_item(**overrides: Any) -> BookingRequest:
    values: dict[str, Any] = dict(
        order_id="ORD-10042",
        item_id="ITEM-1",
        kind="room",
        system="synxis",
        description="Luxury Twin, BAR, 1 night",
        start=dt.date(2026, 12, 1),
        end=dt.date(2026, 12, 2),
        quantity=1,
        guests=2,
        guest=Guest("Larry", "Walker", "larry.walker@example.com", "+44 5551234567"),
        details={"hotel_id": 13098, "chain_id": 12723, "room_code": "LUXT", "rate_code": "BAR"},
    )
    values.update(overrides)
    return BookingRequest(**values)


@pytest.fixture
def item() -> BookingRequest:
    return make_item()


@pytest.fixture
def synxis_fake() -> Iterator[FakeSynxis]:
    with FakeSynxis(stall_seconds=READ_TIMEOUT * 4) as fake:
        yield fake


def synxis_settings(fake: FakeSynxis, **overrides: Any) -> Settings:
    """Settings pointing SynXis at the fake (for the tests that go through `workflows`)."""
    values: dict[str, Any] = dict(
        synxis_api_url=fake.url,
        synxis_token_url=fake.token_url,
        synxis_client_id=fake.client_id,
        synxis_client_secret=fake.client_secret,
    )
    values.update(overrides)
    return make_settings(**values)


def synxis_config(fake: FakeSynxis, **overrides: Any) -> SynxisConfig:
    values: dict[str, Any] = dict(api_url=fake.url, token_url=fake.token_url, client_id=fake.client_id,
                                  client_secret=fake.client_secret, timeouts=TIMEOUTS)
    values.update(overrides)
    return SynxisConfig(**values)


@pytest.fixture
def synxis(synxis_fake: FakeSynxis) -> Iterator[SynxisConnector]:
    with SynxisConnector(synxis_config(synxis_fake)) as connector:
        yield connector  # type: ignore[misc]


@pytest.fixture
def platform_fake() -> Iterator[FakePlatform]:
    with FakePlatform(api_key="platform-key") as fake:
        yield fake


@pytest.fixture
def platform(platform_fake: FakePlatform) -> Iterator[PlatformClient]:
    with PlatformClient(PlatformConfig(platform_fake.url, "platform-key", TIMEOUTS)) as client:
        yield client  # type: ignore[misc]


@pytest.fixture
def stripe_fake() -> Iterator[FakeStripe]:
    with FakeStripe(api_key="sk_test_fake") as fake:
        yield fake


@pytest.fixture
def payments(stripe_fake: FakeStripe) -> Iterator[StripePayments]:
    checker = StripePayments(StripeConfig("sk_test_fake", stripe_fake.url, TIMEOUTS))
    yield checker
    checker.close()


@pytest.fixture
def item_with():
    """Build an item with some fields changed: `item_with(guest=Guest("", ""))`."""
    return make_item


@pytest.fixture
def synxis_with(synxis_fake: FakeSynxis) -> Iterator[Any]:
    """Build a SynxisConnector with some of its config changed (closed at teardown)."""
    made: list[SynxisConnector] = []

    def build(**overrides: Any) -> SynxisConnector:
        connector = SynxisConnector(synxis_config(synxis_fake, **overrides))
        made.append(connector)
        return connector

    yield build
    for connector in made:
        connector.close()


@pytest.fixture
def resdiary_fake() -> Iterator[FakeResDiary]:
    with FakeResDiary() as fake:
        yield fake


@pytest.fixture
def mews_fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeMews]:
    """A fake Mews whose tokens are in the environment, where the `mews` profile reads them."""
    with FakeMews() as fake:
        monkeypatch.setenv("MEWS_CLIENT_TOKEN", fake.client_token)
        monkeypatch.setenv("MEWS_ACCESS_TOKEN", fake.access_token)
        yield fake
