"""Who may press syncdesk's buttons in Teams: people in `TEAMS_ALLOWED_USERS` (Entra ID
object ids, the `from.aadObjectId` of an activity) or members of the Entra ID group
`TEAMS_ALLOWED_GROUP`, from our own tenant (`TEAMS_TENANT_ID`, matched against the
activity's `conversation.tenantId`).

Group members come from Microsoft Graph `GET /v1.0/groups/{id}/members?$select=id`
(learn.microsoft.com/graph/api/group-list-members; application permission
GroupMember.Read.All), following `@odata.nextLink`, with an app token for
`{TEAMS_GRAPH_URL}/.default`; cached for a few minutes so a click rarely costs a Graph
call. When Graph cannot be asked the answer is "no" (fail closed) with a reason; the
caller audits refusals. With neither setting the answer is "no" too, telling the person
what to set, unless `ALLOW_ANY_MEMBER=true`.
"""

from __future__ import annotations

import logging
import threading
import time

import httpx

from bot.teams.connector import BotToken, TeamsApiError
from workflows.actions.moves import Permission
from workflows.core.settings import Settings

log = logging.getLogger(__name__)

CACHE_SECONDS = 300.0


NOT_CONFIGURED = ("🚫 syncdesk does not know who may act yet, so it refuses everyone: an admin sets "
                  "TEAMS_ALLOWED_GROUP (an Entra ID group) or TEAMS_ALLOWED_USERS (or ALLOW_ANY_MEMBER=true "
                  "to let everyone in the tenant act).")


# A gate's answer is the catalogue's `Permission` (allowed; the reason audited; what to tell the
# person instead of the usual refusal, when a setting is missing): one type for both surfaces.
Decision = Permission


class MemberGate:
    def __init__(self, settings: Settings, token: BotToken | None = None, ttl: float = CACHE_SECONDS) -> None:
        self.tenant = settings.teams_tenant_id
        self.users = frozenset(u.strip().lower() for u in (settings.teams_allowed_users or "").split(",") if u.strip())
        self.group = settings.teams_allowed_group
        self.allow_any = settings.allow_any_member
        self.graph_url = settings.teams_graph_url.rstrip("/")
        self._token = token
        self._settings = settings
        self.ttl = ttl
        self._lock = threading.Lock()
        self._members: frozenset[str] = frozenset()
        self._fetched_at = float("-inf")
        if not self.users and not self.group:
            log.warning("neither TEAMS_ALLOWED_USERS nor TEAMS_ALLOWED_GROUP is set: %s",
                        "everyone in the tenant may act (ALLOW_ANY_MEMBER=true)" if self.allow_any
                        else "every Teams action is refused until one is (or ALLOW_ANY_MEMBER=true)")

    @property
    def token(self) -> BotToken:
        if self._token is None:
            self._token = BotToken(self._settings)
        return self._token

    def _group_members(self) -> frozenset[str]:
        with self._lock:
            if time.monotonic() - self._fetched_at < self.ttl:
                return self._members
            bearer = self.token.get(f"{self.graph_url}/.default")
            members: set[str] = set()
            url: str | None = f"{self.graph_url}/v1.0/groups/{self.group}/members?$select=id"
            with httpx.Client(timeout=10.0, headers={"Authorization": f"Bearer {bearer}"}) as client:
                while url:
                    response = client.get(url)
                    response.raise_for_status()
                    page = response.json()
                    members.update(str(m["id"]).lower() for m in page.get("value", []) if m.get("id"))
                    url = page.get("@odata.nextLink")
            self._members, self._fetched_at = frozenset(members), time.monotonic()
            return self._members

    def check(self, user_id: str | None, tenant_id: str | None) -> Decision:
        if self.tenant and tenant_id and tenant_id.lower() != self.tenant.lower():
            return Decision(False, f"from another tenant ({tenant_id})")
        if not self.users and not self.group:
            if self.allow_any:
                return Decision(True)
            return Decision(False, "neither TEAMS_ALLOWED_USERS nor TEAMS_ALLOWED_GROUP is set (and "
                                   "ALLOW_ANY_MEMBER is not true)", NOT_CONFIGURED)
        user = (user_id or "").lower()
        if not user:
            return Decision(False, "the activity names no Entra ID user")
        if user in self.users:
            return Decision(True)
        if not self.group:
            return Decision(False, "not in TEAMS_ALLOWED_USERS")
        try:
            members = self._group_members()
        except (httpx.HTTPError, ValueError, TeamsApiError) as exc:
            log.warning("could not read members of group %s: %s", self.group, exc)
            return Decision(False, f"could not check membership of group {self.group}: {exc}")
        if user in members:
            return Decision(True)
        return Decision(False, f"not a member of group {self.group}")
