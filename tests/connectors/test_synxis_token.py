"""SynXis tokens as Sabre Hospitality's "How to Get a Token for REST APIs" says: the API user name
and password, each base64-encoded, joined by a colon, base64-encoded again, sent as Basic."""

from __future__ import annotations

import base64

import httpx
import pytest

from connectors.base import HttpConnector, OAuth2ClientCredentials
from connectors.errors import AuthFailure
from connectors.synxis import TOKEN_BODY, authorization_string
from tests.connectors.conftest import TIMEOUTS


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_the_credentials_are_built_exactly_as_sabres_worked_example():
    # The guide's table: SHSTestUserName / ClientPassword12345.
    assert b64("SHSTestUserName") == "U0hTVGVzdFVzZXJOYW1l"
    assert b64("ClientPassword12345") == "Q2xpZW50UGFzc3dvcmQxMjM0NQ=="
    assert authorization_string("SHSTestUserName", "ClientPassword12345") == (
        "VTBoVFZHVnpkRlZ6WlhKT1lXMWw6UTJ4cFpXNTBVR0Z6YzNkdmNtUXhNak0wTlE9PQ==")


def test_the_token_request_sends_the_double_base64_basic_header_and_a_json_body(synxis, synxis_fake, item):
    synxis.find_existing(item)

    (request,) = synxis_fake.token_requests
    expected = b64(f"{b64(synxis_fake.client_id)}:{b64(synxis_fake.client_secret)}")
    assert request.header("Authorization") == f"Basic {expected}"
    assert request.header("Content-Type") == "application/json"
    assert request.json == TOKEN_BODY and request.json["GrantType"] == "CLIENT_CREDENTIALS"
    assert b"client_secret" not in request.body and synxis_fake.client_secret.encode() not in request.body
    # and the token it got is what the reservation calls carry
    searches = synxis_fake.requests_to("GET", "/v1/api/reservation")  # by reference, then by guest
    assert searches and all(s.header("Authorization").startswith("Bearer tok-") for s in searches)


def test_the_context_header_is_sent_when_synxis_gave_one(synxis_with, synxis_fake, item):
    synxis_with(context="SYNXISWS_VA").find_existing(item)

    assert synxis_fake.token_requests[0].header("Context") == "SYNXISWS_VA"
    assert synxis_fake.requests_to("GET", "/v1/api/reservation")[0].header("Context") == "SYNXISWS_VA"


@pytest.mark.parametrize("wrong", ["single base64", "form body", "no authorization"])
def test_the_fake_refuses_the_token_requests_synxis_does_not_take(synxis_fake, wrong):
    user, password = synxis_fake.client_id, synxis_fake.client_secret
    right = {"Authorization": "Basic " + b64(f"{b64(user)}:{b64(password)}")}
    with httpx.Client() as client:
        assert client.post(synxis_fake.token_url, json=TOKEN_BODY, headers=right).status_code == 200
        if wrong == "single base64":
            answer = client.post(synxis_fake.token_url, json=TOKEN_BODY,
                                 headers={"Authorization": "Basic " + b64(f"{user}:{password}")})
        elif wrong == "form body":
            answer = client.post(synxis_fake.token_url, headers=right,
                                 data={"grant_type": "client_credentials", "client_id": user,
                                       "client_secret": password})
        else:
            answer = client.post(synxis_fake.token_url, json=TOKEN_BODY)
    assert answer.status_code == 401 and answer.json()["error"] == "invalid_client"


def test_an_rfc6749_form_client_credentials_client_is_refused_as_an_auth_failure(synxis_fake):
    """What syncdesk sent before: a form body with client_id/client_secret. SynXis refuses it."""
    auth = OAuth2ClientCredentials(synxis_fake.token_url, synxis_fake.client_id, synxis_fake.client_secret,
                                   what="SYNXIS_CLIENT_ID / SYNXIS_CLIENT_SECRET")
    with HttpConnector(synxis_fake.url, timeouts=TIMEOUTS, auth=auth) as old_style, pytest.raises(AuthFailure):
        old_style.request("GET", "/v1/api/reservation", params={"hotel": "13098", "chain": "12723"})
    assert synxis_fake.requests_to("GET", "/v1/api/reservation") == []


def test_a_wrong_password_is_an_auth_failure_naming_what_the_variables_hold(synxis_with, item):
    with pytest.raises(AuthFailure) as caught:
        synxis_with(client_secret="changed").find_existing(item)

    assert "SYNXIS_CLIENT_ID / SYNXIS_CLIENT_SECRET: the API user name and password" in caught.value.message
