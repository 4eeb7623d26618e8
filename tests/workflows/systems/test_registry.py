"""Routing: which connector handles an item by system and property, and the errors caught at start."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from connectors.errors import NoConnector
from connectors.pms import PmsConnector
from connectors.premier import PremierPlaybook
from connectors.resdiary import ResDiaryConnector
from connectors.routing import RoutingError, load
from connectors.synxis import SynxisConnector
from tests.connectors.conftest import make_item, make_settings, synxis_settings
from tests.fakes.resdiary import FakeResDiary
from workflows.systems import registry


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


def test_describing_an_item_builds_no_connector_and_says_what_the_built_one_would(write, mews_fake, synxis_fake,
                                                                                 resdiary_fake):
    path = write({"premier": {"properties": {"MAINSPA": {"connector": "pms", "options": {
        "profile": "mews", "name": "Premier middleware", "base_url": mews_fake.url}}}}}, "connectors.json")
    settings = make_settings(connectors_file=path, **resdiary_values(resdiary_fake), synxis_api_url=synxis_fake.url,
                             synxis_token_url=synxis_fake.token_url, synxis_client_id="u", synxis_client_secret="p")
    items = [make_item(), table("TheGrillRoom"), spa("MAINSPA"), spa("WESTSPA")]
    built_before = set(registry._built)

    described = [registry.description_for(item, settings) for item in items]

    assert set(registry._built) == built_before  # rendering an alert builds no HTTP client nor rate limiter
    for item, description in zip(items, described, strict=True):
        connector = registry.connector_for(item, settings)
        describe_item = getattr(connector, "describe_item", None)
        assert description == (describe_item(item) if describe_item else connector.describe())
    unconfigured = registry.description_for(make_item(), make_settings())
    assert unconfigured.automatic is False and "SYNXIS_API_URL" in unconfigured.playbook[0]


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


def test_each_system_names_who_to_contact_about_an_unknown_error(synxis_fake, resdiary_fake):
    settings = make_settings(**resdiary_values(resdiary_fake), synxis_api_url=synxis_fake.url,
                             synxis_token_url=synxis_fake.token_url, synxis_client_id="u", synxis_client_secret="p")
    contact = {system: registry.description_for(item, settings).support for system, item in [
        ("synxis", make_item()), ("resdiary", table("TheGrillRoom")), ("premier", spa("MAINSPA")),
        ("rtp", make_item(system="rtp", kind="lift", details={"resort_id": "BIGMTN"})),
        ("siriusware", make_item(system="siriusware", kind="rental", details={})),
        ("pms", make_item(system="pms", details={"property_code": "X"})),  # no connector: still a contact
    ]}

    assert contact["rtp"] == "Aspenware support (support@aspenware.com)"  # shared/sources/001
    assert "Sabre" in contact["synxis"] and "ResDiary" in contact["resdiary"] and "Premier" in contact["premier"]
    assert "Siriusware" in contact["siriusware"] and contact["pms"] == "the PMS vendor's support"
    assert all("integration team" not in c for c in contact.values())


def test_a_route_may_name_its_own_support_contact(write):
    path = write({"rtp": {"properties": {"BIGMTN": {"connector": "rtp",
                                                    "options": {"support": "Big Mountain IT (it@bigmtn.example)"}}}}},
                 "c.json")
    lift = make_item(system="rtp", kind="lift", details={"resort_id": "x", "site_code": "BIGMTN"})

    assert registry.description_for(lift, make_settings(connectors_file=path)).support == \
        "Big Mountain IT (it@bigmtn.example)"


def test_a_manual_playbook_error_carries_the_contact(write):
    lift = make_item(system="rtp", kind="lift", details={"resort_id": "BIGMTN"})

    with pytest.raises(NoConnector) as caught:  # ManualOnly is a NoConnector
        registry.connector_for(lift, make_settings()).create(lift)
    assert "support@aspenware.com" in caught.value.support


def test_resdiary_reads_the_diary_with_the_epos_settings(resdiary_fake):
    settings = make_settings(**resdiary_values(resdiary_fake, **resdiary_fake.epos_values()))
    dinner = make_item(system="resdiary", kind="table", start=dt.date(2026, 12, 24),
                       details={"restaurant_id": "TheGrillRoom", "visit_time": "19:30", "epos_restaurant_id": 4321})

    assert registry.connector_for(dinner, settings).find_existing(dinner) is None
    assert resdiary_fake.requests_to("GET", r".*/DiaryData")


def test_a_restaurant_reads_its_own_epos_secrets_from_the_variables_its_route_names(write, monkeypatch):
    with FakeResDiary(restaurants={"TheGrillRoom": 4321, "TheBar": 99}) as fake:
        monkeypatch.setenv("BAR_EPOS_SECOND_SECRET", fake.second_secrets[99])
        path = write({"resdiary": {"properties": {"TheBar": {"connector": "resdiary", "options": {
            "epos_restaurant_id": 99, "epos_second_secret_env": "BAR_EPOS_SECOND_SECRET"}}}}}, "c.json")
        settings = make_settings(connectors_file=path, **resdiary_values(fake, **fake.epos_values(4321)))
        bar = make_item(system="resdiary", kind="table", start=dt.date(2026, 12, 24),
                        details={"restaurant_id": "TheBar", "visit_time": "19:30"})
        grill = make_item(system="resdiary", kind="table", start=dt.date(2026, 12, 24),
                          details={"restaurant_id": "TheGrillRoom", "visit_time": "19:30", "epos_restaurant_id": 4321})

        assert registry.connector_for(bar, settings).find_existing(bar) is None
        assert registry.connector_for(grill, settings).find_existing(grill) is None
        assert [r.param("second_secret") for r in fake.requests_to("POST", r"/OAuth/V10a") if r.query] == [
            fake.second_secrets[99], fake.second_secrets[4321]]


def test_the_live_check_says_when_resdiarys_diary_credentials_are_missing(write, resdiary_fake):
    path = write({"resdiary": {"default": "resdiary"}}, "c.json")
    without = make_settings(connectors_file=path, **resdiary_values(resdiary_fake))
    with_epos = make_settings(connectors_file=path, **resdiary_values(resdiary_fake, **resdiary_fake.epos_values()))

    missing = {s.system: s for s in registry.statuses(without)}["resdiary"]
    ok = {s.system: s for s in registry.statuses(with_epos)}["resdiary"]

    assert missing.ok is False and "RESDIARY_EPOS_SECOND_SECRET" in missing.message
    assert ok.ok is True and resdiary_fake.requests_to("POST", r"/OAuth/V10a")

def test_alerts_go_to_the_channel_of_their_property_else_their_system_else_the_default(write):
    """Issue 14: `channel` / `teams_conversation` in the routing file; an entry naming only a
    place keeps the connector it would have had."""
    path = write("synxis:\n  default: {channel: '#synxis-alerts'}\n  properties:\n"
                 "    '13098': {channel: '#harbour-hotel', teams_conversation: '19:harbour@thread.tacv2'}\n"
                 "premier:\n  properties:\n    MAINSPA: {connector: pms, options: {profile: mews, "
                 "base_url: 'https://spa.example'}, channel: '#spa'}\n")
    settings = make_settings(connectors_file=path, slack_alert_channel="#reservations-alerts",
                             teams_conversation_id="19:alerts@thread.tacv2")
    assert registry.destination_at("synxis", {"hotel_id": 13098}, settings, "slack") == "#harbour-hotel"
    assert registry.destination_at("synxis", {"hotel_id": 13098}, settings, "teams") == "19:harbour@thread.tacv2"
    assert registry.destination_at("synxis", {"hotel_id": 777}, settings, "slack") == "#synxis-alerts"
    assert registry.destination_at("synxis", {"hotel_id": 777}, settings, "teams") is None  # the default conversation
    assert registry.destination_at("resdiary", {}, settings, "slack") is None
    assert registry.channel_for_system("synxis", settings) == "#synxis-alerts"  # the outage message's channel
    assert registry.channel_for_system("resdiary", settings) == "#reservations-alerts"
    routing = load(path)
    assert routing.resolve(make_item(details={"hotel_id": 13098})).connector == "synxis"  # kept its connector
    assert registry.coverage(settings) == [("#harbour-hotel", "SynXis at 13098"), ("#spa", "EMS Premier at MAINSPA"),
                                           ("#synxis-alerts", "SynXis"), ("#reservations-alerts", "everything else")]


@pytest.mark.parametrize("entry, names", [("{channel: ''}", "synxis.default.channel: expected a channel"),
                                          ("{channel: [1]}", "synxis.default.channel: expected a channel"),
                                          ("{chanel: '#x'}", "unknown key(s) chanel")])
def test_a_bad_channel_entry_is_refused_at_start(write, entry, names):
    with pytest.raises(RoutingError, match=names.replace("(", r"\(").replace(")", r"\)")):
        registry.check(make_settings(connectors_file=write(f"synxis:\n  default: {entry}\n")))


def test_a_chains_payment_in_the_routing_file_reaches_the_confirming_request(write, synxis_fake, item):
    from tests.connectors.test_synxis_payment import DIRECT_BILL, DIRECT_BILL_WIRE

    synxis_fake.payment_required = True
    path = write({"synxis": {"default": {"connector": "synxis", "options": DIRECT_BILL}}}, "c.json")
    synxis_fake.seed_reservation(reference=item.reference, status="Booked")
    connector = registry.connector_for(item, synxis_settings(synxis_fake, connectors_file=path))

    connector.confirm(connector.find_existing(item), item)
    (patch,) = synxis_fake.requests_to("PATCH")
    assert patch.json["Guests"][0]["Payments"] == DIRECT_BILL_WIRE


def test_a_payment_syncdesk_cannot_send_is_refused_at_start(write, synxis_fake):
    path = write({"synxis": {"default": {"connector": "synxis", "options": {"payments": {"*": {"type": "Card"}}}}}},
                 "c.json")

    with pytest.raises(RoutingError, match=r"synxis@\*: connector synxis: payments\.\*"):
        registry.check(synxis_settings(synxis_fake, connectors_file=path))
