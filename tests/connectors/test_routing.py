"""Routing: which connector handles an item by system and property, and the errors caught at start."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from connectors import registry
from connectors.errors import NoConnector
from connectors.pms import PmsConnector
from connectors.premier import PremierPlaybook
from connectors.resdiary import ResDiaryConnector
from connectors.routing import RoutingError, load
from connectors.synxis import SynxisConnector
from tests.connectors.conftest import make_item, make_settings, synxis_settings
from tests.fakes.resdiary import FakeResDiary


@pytest.fixture
def write(tmp_path: Path):
    def write(content: Any, name: str = "connectors.yaml") -> str:
        path = tmp_path / name
        path.write_text(content if isinstance(content, str) else json.dumps(content))
        load.cache_clear()
        return str(path)
    return write


def resdiary_values(fake: FakeResDiary, **more: Any) -> dict[str, Any]:
    return {"resdiary_api_url": fake.url, "resdiary_username": fake.username, "resdiary_password": fake.password,
            **more}


def spa(site: str):
    return make_item(system="premier", kind="spa", description="Massage", start=dt.date(2026, 12, 12),
                     end=dt.date(2026, 12, 12), details={"site_code": site})


def table(restaurant: Any):
    return make_item(system="resdiary", kind="table", details={"restaurant_id": restaurant, "visit_time": "19:30"})


def test_without_a_routing_file_each_system_gets_its_built_in_default(synxis_fake, item):
    settings = synxis_settings(synxis_fake)

    assert isinstance(registry.connector_for(item, settings), SynxisConnector)
    assert isinstance(registry.connector_for(spa("MAINSPA"), settings), PremierPlaybook)


def test_an_unconfigured_system_gets_the_clear_book_by_hand_message():
    hotel = make_item(system="pms", details={"property_code": "HARBOURVIEW"})

    with pytest.raises(NoConnector) as err:
        registry.connector_for(hotel, make_settings())
    assert err.value.message == ("no connector configured for pms at property HARBOURVIEW: "
                                 "book it by hand, then use Booked manually")


def test_a_property_routed_to_none_is_booked_by_hand_while_the_others_use_the_default(write, resdiary_fake):
    path = write("resdiary:\n  properties:\n    '42': none\n")
    settings = make_settings(connectors_file=path, **resdiary_values(resdiary_fake))

    with pytest.raises(NoConnector, match="^no connector configured for resdiary at property 42: book it by hand"):
        registry.connector_for(table(42), settings)
    assert isinstance(registry.connector_for(table("TheGrillRoom"), settings), ResDiaryConnector)


def test_routing_picks_the_connector_per_property(write, mews_fake):
    path = write({"premier": {"properties": {"MAINSPA": {"connector": "pms", "options": {
        "profile": "mews", "name": "Premier middleware", "base_url": mews_fake.url}}}}}, "connectors.json")
    settings = make_settings(connectors_file=path)

    middleware = registry.connector_for(spa("MAINSPA"), settings)
    playbook = registry.connector_for(spa("WESTSPA"), settings)

    assert isinstance(middleware, PmsConnector) and middleware.describe().automatic
    assert middleware.describe().system == "premier"
    assert isinstance(playbook, PremierPlaybook)
    assert registry.description_for(spa("MAINSPA"), settings).automatic is True
    assert registry.description_for(spa("WESTSPA"), settings).automatic is False


def test_the_description_of_an_unrouted_item_carries_the_book_by_hand_message():
    description = registry.description_for(make_item(system="pms", details={"property_code": "X"}), make_settings())

    assert description.automatic is False
    assert description.playbook == ("no connector configured for pms at property X: book it by hand, "
                                    "then use Booked manually",)


def test_one_connector_is_built_per_route_and_settings(write, resdiary_fake):
    settings = make_settings(**resdiary_values(resdiary_fake))

    assert registry.connector_for(table("TheGrillRoom"), settings) is registry.connector_for(table("Other"), settings)


@pytest.mark.parametrize(("content", "names"), [
    ("premier:\n  properties:\n    MAINSPA: {connector: pmss}\n", "premier.properties.MAINSPA.connector: unknown connector 'pmss'"),
    ("opera:\n  default: pms\n", "opera: unknown system"),
    ("pms:\n  properties:\n    HARBOURVIEW: {connector: pms, options: {profile: mews}}\n",
     "pms.properties.HARBOURVIEW.options: "),
    ("pms:\n  properties:\n    HARBOURVIEW: {connector: pms, options: {profile: opera, base_url: x}}\n",
     "unknown profile 'opera'"),
    ("resdiary:\n  properties:\n    '42': {connector: resdiary, option: {}}\n", "resdiary.properties.42: unknown key(s) option"),
    ("resdiary: [1, 2]\n", "resdiary: expected 'default' and/or 'properties'"),
    ("resdiary:\n  default: {connector: resdiary\n", "not valid YAML"),
])
def test_a_bad_routing_file_is_refused_naming_the_setting_and_the_entry(write, content, names):
    path = write(content)

    with pytest.raises(RoutingError) as err:
        registry.check(make_settings(connectors_file=path))
    assert str(err.value).startswith(f"CONNECTORS_FILE {path}: ") and names in str(err.value)


def test_a_missing_routing_file_is_refused_naming_the_setting(tmp_path):
    with pytest.raises(RoutingError, match="^CONNECTORS_FILE .*nowhere.yaml: cannot read it"):
        registry.check(make_settings(connectors_file=str(tmp_path / "nowhere.yaml")))


def test_a_routed_connector_without_its_credentials_is_refused_at_start(write):
    path = write("resdiary:\n  properties:\n    TheGrillRoom: resdiary\n")

    with pytest.raises(RoutingError) as err:
        registry.check(make_settings(connectors_file=path))
    assert "resdiary@TheGrillRoom" in str(err.value) and "RESDIARY_API_URL" in str(err.value)


def test_a_profile_whose_credential_variables_are_unset_is_refused_at_start(write, monkeypatch):
    monkeypatch.delenv("MEWS_ACCESS_TOKEN", raising=False)
    monkeypatch.setenv("MEWS_CLIENT_TOKEN", "x")
    path = write({"pms": {"default": {"connector": "pms", "options": {"profile": "mews", "base_url": "http://h"}}}},
                 "c.json")

    with pytest.raises(RoutingError, match="pms@\\*: missing environment variable\\(s\\) MEWS_ACCESS_TOKEN"):
        registry.check(make_settings(connectors_file=path))


def test_a_valid_file_passes_the_start_check(write, resdiary_fake, mews_fake):
    path = write({"resdiary": {"properties": {"TheGrillRoom": {"connector": "resdiary",
                                                               "options": {"epos_restaurant_id": 4321}}}},
                  "pms": {"properties": {"HARBOURVIEW": {"connector": "pms",
                                                         "options": {"profile": "mews", "base_url": mews_fake.url}}}}},
                 "c.json")

    routes = registry.check(make_settings(connectors_file=path, **resdiary_values(resdiary_fake)))

    assert {r.key for r in routes} >= {"resdiary@TheGrillRoom", "pms@HARBOURVIEW", "premier@*"}


def test_statuses_list_every_route_with_a_live_credentials_check(write, resdiary_fake, mews_fake):
    path = write({"resdiary": {"default": "resdiary"},
                  "pms": {"properties": {"HARBOURVIEW": {"connector": "pms",
                                                         "options": {"profile": "mews", "base_url": mews_fake.url}}}}},
                 "c.json")
    settings = make_settings(connectors_file=path, **resdiary_values(resdiary_fake, resdiary_password="wrong"))

    found = {(s.system, s.property): s for s in registry.statuses(settings)}

    assert found[("resdiary", None)].ok is False and "Authentication failure" in found[("resdiary", None)].message
    assert found[("pms", "HARBOURVIEW")].ok is True and mews_fake.requests_to("POST", r".*/configuration/get")
    assert found[("premier", None)].automatic is False and found[("premier", None)].ok is True
    assert found[("synxis", None)].ok is False and "SYNXIS_API_URL" in found[("synxis", None)].message
