"""ResDiary's diary (the check first) through the EPOS API, signed with OAuth 1.0a as ResDiary's
own examples do (github.com/ResDiary/ResDiary-OAuth-Examples), never with the Consumer API's JWT."""

from __future__ import annotations

import datetime as dt
import re
from typing import Iterator
from urllib.parse import unquote

import httpx
import pytest

from connectors.errors import AuthFailure
from connectors.resdiary import EPOS_SCOPE, ResDiaryConnector
from connectors.types import BookingRequest
from tests.connectors.conftest import make_item
from tests.connectors.test_resdiary import TABLE, build, epos
from tests.fakes.resdiary import FakeResDiary

OAUTH = r"/OAuth/V10a"
DIARY = r".*/DiaryData"

@pytest.fixture
def fake(resdiary_fake: FakeResDiary) -> FakeResDiary:
    return resdiary_fake


@pytest.fixture
def table() -> BookingRequest:
    return make_item(**TABLE)


@pytest.fixture
def resdiary(fake: FakeResDiary) -> Iterator[ResDiaryConnector]:
    with build(fake) as connector:
        yield connector  # type: ignore[misc]


def oauth_params(header: str) -> dict[str, str]:
    assert header.startswith("OAuth ")
    return {k: unquote(v) for k, v in re.findall(r'(\w+)="([^"]*)"', header)}


def test_the_diary_is_read_with_a_two_legged_oauth1_dance_then_signed_requests(resdiary, fake, table):
    reference = fake.seed(comments="[syncdesk ORD-10042/ITEM-1]")

    assert resdiary.find_existing(table).confirmation == reference

    request_token, access_token = fake.requests_to("POST", OAUTH)
    assert request_token.param("second_secret") == fake.second_secrets[4321]
    assert request_token.param("scope") == EPOS_SCOPE
    first = oauth_params(request_token.header("Authorization"))
    assert first["oauth_consumer_key"] == fake.consumer_key and first["oauth_signature_method"] == "HMAC-SHA1"
    assert "oauth_token" not in first
    assert "oauth_token" in oauth_params(access_token.header("Authorization"))
    (diary,) = fake.requests_to("GET", DIARY)
    signed = oauth_params(diary.header("Authorization"))
    assert signed["oauth_signature_method"] == "HMAC-SHA1" and signed["oauth_token"] and signed["oauth_signature"]
    assert not diary.header("Authorization").startswith("Bearer")


def test_the_access_token_is_kept_for_the_next_reads(resdiary, fake, table):
    resdiary.find_existing(table)
    resdiary.find_existing(table)

    assert len(fake.requests_to("POST", OAUTH)) == 2  # one dance
    first, second = fake.requests_to("GET", DIARY)
    assert oauth_params(first.header("Authorization"))["oauth_nonce"] != \
        oauth_params(second.header("Authorization"))["oauth_nonce"]


def test_a_refused_access_token_is_fetched_again_and_the_read_replayed_once(resdiary, fake, table):
    resdiary.find_existing(table)
    fake.expire_tokens()

    assert resdiary.find_existing(table) is None

    assert len(fake.requests_to("POST", OAUTH)) == 4  # a second dance
    assert len(fake.requests_to("GET", DIARY)) == 3  # the refused read, and its replay


def test_the_diary_refuses_the_consumer_jwt_and_a_bad_signature(fake):
    with httpx.Client(base_url=fake.url) as client:
        jwt = client.post("/api/Jwt/v2/Authenticate", json={"Username": fake.username,
                                                            "Password": fake.password}).json()["Token"]
        bearer = client.get("/WebServices/Epos/v1/Restaurant/4321/DiaryData", params={"date": "2026-12-24"},
                            headers={"Authorization": f"Bearer {jwt}"})
        forged = client.get("/WebServices/Epos/v1/Restaurant/4321/DiaryData", params={"date": "2026-12-24"},
                            headers={"Authorization": 'OAuth oauth_consumer_key="epos-key", oauth_token="x", '
                                                      'oauth_signature_method="HMAC-SHA1", oauth_nonce="1", '
                                                      'oauth_timestamp="1", oauth_signature="bad"'})
    assert bearer.status_code == 401 and forged.status_code == 401


@pytest.mark.parametrize("wrong", ["consumer_secret", "second_secret"])
def test_wrong_epos_secrets_are_an_auth_failure_naming_the_settings(fake, table, wrong):
    with build(fake, epos=epos(fake, **{wrong: "wrong"})) as connector, \
            pytest.raises(AuthFailure, match="RESDIARY_EPOS_SECOND_SECRET"):
        connector.find_existing(table)
    assert fake.requests_to("GET", DIARY) == []


def test_another_restaurants_second_secret_does_not_open_this_diary(table):
    with FakeResDiary(restaurants={"TheGrillRoom": 4321, "TheBar": 99}) as two:
        with build(two, epos=epos(two, second_secret=two.second_secrets[99])) as connector:
            with pytest.raises(AuthFailure):
                connector.find_existing(table)


def test_check_credentials_runs_both_tokens(resdiary, fake):
    resdiary.check_credentials()

    assert fake.requests_to("POST", r"/api/Jwt/v2/Authenticate") and len(fake.requests_to("POST", OAUTH)) == 2


def test_the_visit_date_is_the_diarys_date(resdiary, fake, table):
    resdiary.find_existing(table)

    (diary,) = fake.requests_to("GET", DIARY)
    assert diary.param("date") == dt.date(2026, 12, 24).isoformat()
    assert diary.param("includeUnallocatedBookings") == "true"
