"""Teams with neither TEAMS_ALLOWED_USERS nor TEAMS_ALLOWED_GROUP: nobody may act (fail closed),
and the person is told what to set, unless ALLOW_ANY_MEMBER=true."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from workflows.core.settings import Settings


@pytest.fixture
def teams_settings(settings: Settings) -> Iterator[Settings]:
    yield Settings(_env_file=None, **settings.model_dump() | {"teams_app_id": "app", "teams_tenant_id": "tenant"})


def test_teams_without_allowed_users_or_group_refuses_unless_allow_any_member(teams_settings):
    from bot.teams.gate import MemberGate

    refused = MemberGate(teams_settings).check("00000000-0000-0000-0000-00000000abcd", "tenant")
    assert not refused.allowed
    assert "TEAMS_ALLOWED_GROUP" in refused.tell and "ALLOW_ANY_MEMBER=true" in refused.tell
    allowed = MemberGate(teams_settings.model_copy(update={"allow_any_member": True})).check(
        "00000000-0000-0000-0000-00000000abcd", "tenant")
    assert allowed.allowed
    assert not MemberGate(teams_settings.model_copy(update={"allow_any_member": True})).check(
        "00000000-0000-0000-0000-00000000abcd", "another-tenant").allowed
