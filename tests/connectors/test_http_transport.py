"""The shared base (connectors/base.py) seen through the SynXis connector: auth, retries, errors."""

from __future__ import annotations

import socket
import time

import pytest

from connectors.errors import (
    AuthFailure,
    ConnectionFailed,
    DataFormat,
    ErrorClass,
    MissingField,
    PermissionDenied,
    RateLimited,
    ServerError,
    Timeout,
    UnknownFailure,
)
from connectors.synxis import SynxisConnector

SEARCH = r"/v1/api/reservation"


def test_token_is_fetched_once_for_several_requests(synxis, synxis_fake, item):
    for _ in range(3):
        synxis.find_existing(item)

    (token_request,) = synxis_fake.token_requests
    assert token_request.json["GrantType"] == "CLIENT_CREDENTIALS"
    assert token_request.header("Content-Type") == "application/json"
    assert token_request.header("Authorization").startswith("Basic ")


def test_a_revoked_token_is_refreshed_exactly_once_and_the_request_replayed(synxis, synxis_fake, item):
    synxis.find_existing(item)
    synxis_fake.clear_requests()
    synxis_fake.expire_tokens()

    assert synxis.find_existing(item) is None

    assert len(synxis_fake.token_requests) == 1
    first, replay = synxis_fake.requests_to("GET", SEARCH)[:2]
    assert first.header("Authorization") != replay.header("Authorization")


def test_a_second_401_after_refreshing_is_an_auth_failure(synxis, synxis_fake, item):
    synxis_fake.fail_with_status(401, method="GET", path=SEARCH, times=2)

    with pytest.raises(AuthFailure):
        synxis.find_existing(item)

    assert len(synxis_fake.token_requests) == 2
    assert len(synxis_fake.requests_to("GET", SEARCH)) == 2


def test_a_token_past_its_lifetime_is_renewed_before_use(synxis_fake, synxis, item):
    synxis_fake.token_ttl = 0.3
    synxis_fake.seed_reservation(reference=item.reference)  # two searches per lookup: both check-first keys
    synxis.find_existing(item)
    time.sleep(0.35)

    synxis.find_existing(item)

    assert len(synxis_fake.token_requests) == 2
    assert all(r.header("Authorization") for r in synxis_fake.requests_to("GET", SEARCH))
    assert len(synxis_fake.requests_to("GET", SEARCH)) == 4  # no 401 round trip needed


def test_wrong_credentials_are_an_auth_failure_with_a_next_step(synxis_with, synxis_fake, item):
    connector = synxis_with(client_secret="changed-by-someone")

    with pytest.raises(AuthFailure) as caught:
        connector.find_existing(item)

    error = caught.value
    assert "SYNXIS_CLIENT_SECRET" in error.message
    assert error.error_class is ErrorClass.AUTH_FAILURE
    assert "credentials" in error.error_class.next_step
    assert not error.transient
    assert "invalid_client" in error.detail
    assert "changed-by-someone" not in error.detail
    assert synxis_fake.requests_to("GET", SEARCH) == []


def test_a_read_timeout_is_a_timeout(synxis, synxis_fake, item):
    synxis_fake.delay_next(2.0, method="GET", path=SEARCH, times=3)

    started = time.monotonic()
    with pytest.raises(Timeout) as caught:
        synxis.find_existing(item)

    assert time.monotonic() - started < 2.5
    assert caught.value.transient
    assert len(synxis_fake.requests_to("GET", SEARCH)) == 3  # a GET is retried twice


def test_a_5xx_on_a_get_is_retried(synxis, synxis_fake, item):
    synxis_fake.seed_reservation(reference=item.reference)
    synxis_fake.fail_with_status(503, method="GET", path=SEARCH, times=2)

    assert synxis.find_existing(item) is not None

    assert len(synxis_fake.requests_to("GET", SEARCH)) == 4  # the reference search three times, then by guest


def test_a_5xx_on_a_get_that_persists_is_a_server_error(synxis, synxis_fake, item):
    synxis_fake.fail_with_status(500, method="GET", path=SEARCH, times=-1)

    with pytest.raises(ServerError) as caught:
        synxis.find_existing(item)

    assert caught.value.status == 500 and "injected 500" in caught.value.detail
    assert len(synxis_fake.requests_to("GET", SEARCH)) == 3


def test_a_5xx_on_a_post_is_not_retried(synxis, synxis_fake, item):
    synxis_fake.fail_with_status(502, method="POST", path=SEARCH)

    with pytest.raises(ServerError):
        synxis.create(item)

    assert len(synxis_fake.requests_to("POST", SEARCH)) == 1


def test_a_post_with_an_idempotency_key_may_be_retried(synxis, synxis_fake):
    synxis_fake.fail_with_status(503, method="POST", path=SEARCH)
    synxis_fake.fail_with_status(400, method="POST", path=SEARCH, body=b'{"message": "stop here"}')

    with pytest.raises(DataFormat):
        synxis.request("POST", SEARCH, json={}, idempotency_key="k-1")

    posts = synxis_fake.requests_to("POST", SEARCH)
    assert len(posts) == 2 and all(p.header("Idempotency-Key") == "k-1" for p in posts)


def test_garbage_instead_of_json_is_classified_with_the_raw_excerpt(synxis, synxis_fake, item):
    synxis_fake.answer_garbage("<html><body>Service Unavailable</body></html>", method="GET", path=SEARCH)

    with pytest.raises(UnknownFailure) as caught:
        synxis.find_existing(item)

    assert "not JSON" in caught.value.message
    assert "<html><body>Service Unavailable" in caught.value.detail


def test_a_dropped_connection_is_a_connection_failure(synxis, synxis_fake, item):
    synxis_fake.close_connection(method="POST", path=SEARCH)

    with pytest.raises(ConnectionFailed):
        synxis.create(item)


def test_connection_refused_is_a_connection_failure(synxis_with, item):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    connector: SynxisConnector = synxis_with(
        api_url=f"http://127.0.0.1:{port}", token_url=f"http://127.0.0.1:{port}/oauth/token"
    )

    with pytest.raises(ConnectionFailed) as caught:
        connector.find_existing(item)

    assert caught.value.error_class is ErrorClass.CONNECTION


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (403, b'{"message": "User lacks access point"}', PermissionDenied),
        (429, b'{"message": "Too many requests"}', RateLimited),
        (400, b'{"errors": [{"message": "RoomStay.StartDate is required"}]}', MissingField),
        (422, b'{"errors": [{"message": "StartDate is not a valid date"}]}', DataFormat),
    ],
)
def test_statuses_map_to_typed_errors(synxis, synxis_fake, item, status, body, expected):
    synxis_fake.fail_with_status(status, method="POST", path=SEARCH, body=body)

    with pytest.raises(expected) as caught:
        synxis.create(item)

    assert caught.value.status == status
