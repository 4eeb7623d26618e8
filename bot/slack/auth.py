"""Who may press syncdesk's buttons: members of `SLACK_ALLOWED_USERGROUP`.

Membership comes from `usergroups.users.list` (scope `usergroups:read`;
docs.slack.dev/reference/methods/usergroups.users.list: `usergroup` → `{"ok", "users": [ids]}`),
cached for a few minutes so a click costs no Slack call. When Slack cannot be asked, the
answer is "no" (fail closed) with a reason; refusals are audited by the caller.

With no group configured the answer is also "no", telling the person what an admin must set,
unless `ALLOW_ANY_MEMBER=true` says explicitly that everyone in the workspace may act.
"""

from __future__ import annotations

import logging
import threading
import time

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from workflows.actions.moves import Permission

log = logging.getLogger(__name__)

CACHE_SECONDS = 300.0


NOT_CONFIGURED = ("🚫 syncdesk does not know who may act yet, so it refuses everyone: an admin sets "
                  "SLACK_ALLOWED_USERGROUP to the reservations team's user group id (or ALLOW_ANY_MEMBER=true "
                  "to let everyone in the workspace act).")


# A gate's answer is the catalogue's `Permission` (allowed; the reason audited; what to tell the
# person instead of the usual refusal, when a setting is missing): one type for both surfaces.
Decision = Permission


class UsergroupGate:
    """Allows members of one user group; with no group configured, nobody unless `allow_any`."""

    def __init__(self, client: WebClient, usergroup: str | None, ttl: float = CACHE_SECONDS, *,
                 allow_any: bool = False) -> None:
        self.client = client
        self.usergroup = usergroup
        self.allow_any = allow_any
        self.ttl = ttl
        self._lock = threading.Lock()
        self._members: frozenset[str] = frozenset()
        self._fetched_at = float("-inf")

    def _members_now(self) -> frozenset[str]:
        with self._lock:
            if time.monotonic() - self._fetched_at < self.ttl:
                return self._members
            response = self.client.usergroups_users_list(usergroup=self.usergroup)
            self._members = frozenset(response.get("users") or [])
            self._fetched_at = time.monotonic()
            return self._members

    def check(self, user_id: str) -> Decision:
        if not self.usergroup:
            if self.allow_any:
                return Decision(True)
            return Decision(False, "SLACK_ALLOWED_USERGROUP is not set (and ALLOW_ANY_MEMBER is not true)",
                            NOT_CONFIGURED)
        try:
            members = self._members_now()
        except (SlackApiError, SlackClientError) as exc:
            log.warning("could not read members of %s: %s", self.usergroup, exc)
            return Decision(False, f"could not check membership of {self.usergroup}: {exc}")
        if user_id in members:
            return Decision(True)
        return Decision(False, f"not a member of {self.usergroup}")

    def forget(self) -> None:
        with self._lock:
            self._fetched_at = float("-inf")
