"""Property-based intake: random JSON and mutated valid bodies never give a 500 and a
refused body never writes anything."""

from __future__ import annotations

import copy
import json

from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from tests.conftest import post_failure
from tests.workflows.intake.test_intake import BASE, counts

json_scalars = st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70) | \
    st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=80)
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=4) |
                           st.dictionaries(st.text(max_size=12), inner, max_size=4), max_leaves=12)

PATHS = [
    ("event_id",), ("occurred_at",), ("order",), ("order", "id"), ("order", "status"), ("order", "placed_at"),
    ("order", "currency"), ("order", "total_minor"), ("order", "guest"), ("order", "guest", "last_name"),
    ("order", "payment"), ("order", "payment", "reference"), ("order", "items"), ("order", "items", 0),
    ("order", "items", 0, "id"), ("order", "items", 0, "kind"), ("order", "items", 0, "system"),
    ("order", "items", 0, "start"), ("order", "items", 0, "end"), ("order", "items", 0, "quantity"),
    ("order", "items", 0, "details"), ("failure",), ("failure", "item_id"), ("failure", "message"),
    ("failure", "code"), ("failure", "log"),
]

fuzz = hsettings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _check(server_url: str, database_url: str, body: bytes) -> None:
    before = counts(database_url)
    response = post_failure(server_url, body)
    assert response.status_code in (200, 202, 400, 413), (response.status_code, response.text, body[:300])
    if response.status_code == 400:
        assert response.json()["field"]
        assert counts(database_url) == before


@fuzz
@given(value=json_values)
def test_random_json_is_refused_cleanly(live_app, settings, value):
    _check(live_app.url, settings.database_url, json.dumps(value).encode())


@fuzz
@given(path=st.sampled_from(PATHS), value=json_values, event=st.text(min_size=1, max_size=30))
def test_a_valid_body_with_one_field_replaced_never_fails_badly(live_app, settings, path, value, event):
    data = copy.deepcopy(BASE)
    data["event_id"] = event
    target = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    _check(live_app.url, settings.database_url, json.dumps(data).encode())


@fuzz
@given(raw=st.binary(max_size=300))
def test_random_bytes_are_refused_cleanly(live_app, settings, raw):
    _check(live_app.url, settings.database_url, raw)
