"""The chat layer as the on-call workflows see it: direct messages, channel messages, the
outage parent message and the daily digest.

`bot/` registers an `Announcer` per surface (Slack, Teams), as it registers a `Notifier`
for alerts (`workflows.notify`). With none registered, `LogAnnouncer` logs what it would
have sent and keeps it in `sent`, so syncdesk runs without a token and tests can read it.
Rendering belongs to the chat layer: it gets frozen views (`IncidentView`, `Digest`),
never database rows.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from workflows.digest import Digest
    from workflows.outage import IncidentView

log = logging.getLogger(__name__)

# (channel, message id) of a posted message, or (None, None) before it is posted.
MessageRef = tuple[str | None, str | None]


class Announcer(Protocol):
    def direct_message(self, person_ids: Sequence[str], text: str, order_id: str | None = None) -> None:
        """Send `text` privately to each person (user ids of this surface).

        With `order_id`, add a link to that order's alert message.
        """
        ...

    def channel_message(self, text: str, mention: str | None = None) -> MessageRef:
        """Post `text` in the alert channel, starting with `mention` (e.g. "@here") when given."""
        ...

    def show_incident(self, incident: IncidentView, current: MessageRef) -> MessageRef:
        """Post or update the outage parent message for `incident`.

        `current` is the message already posted, or (None, None); returns the message now
        showing it. When `incident.reprocess_all_offered`, the message carries the
        "Reprocess all N" button (action value: the incident id).
        """
        ...

    def show_digest(self, digest: Digest) -> None:
        """Post the daily digest (to DIGEST_CHANNEL, else the alert channel)."""
        ...


@dataclass(frozen=True)
class Sent:
    """One message a `LogAnnouncer` would have sent."""

    kind: str  # "direct" | "channel" | "incident" | "digest"
    text: str
    person_ids: tuple[str, ...] = ()
    order_id: str | None = None
    mention: str | None = None
    incident_id: int | None = None


class LogAnnouncer:
    """Stands in when a surface has no credentials: logs and records what it would send."""

    def __init__(self, surface: str) -> None:
        self.surface = surface
        self.sent: list[Sent] = []

    def of_kind(self, kind: str) -> list[Sent]:
        return [s for s in self.sent if s.kind == kind]

    def direct_message(self, person_ids: Sequence[str], text: str, order_id: str | None = None) -> None:
        self.sent.append(Sent("direct", text, tuple(person_ids), order_id))
        log.warning("no %s token configured: would message %s: %s", self.surface, ", ".join(person_ids), text)

    def channel_message(self, text: str, mention: str | None = None) -> MessageRef:
        self.sent.append(Sent("channel", text, mention=mention))
        log.warning("no %s token configured: would post %s%s", self.surface, f"{mention} " if mention else "", text)
        return "log", f"log:channel:{len(self.sent)}"

    def show_incident(self, incident: IncidentView, current: MessageRef) -> MessageRef:
        self.sent.append(Sent("incident", incident.summary, incident_id=incident.incident_id))
        log.warning("no %s token configured: would %s outage message: %s%s", self.surface,
                    "update" if current[1] else "post", incident.summary,
                    f" [{incident.progress.text}]" if incident.progress else "")
        return current[0] or "log", current[1] or f"log:incident:{incident.incident_id}"

    def show_digest(self, digest: Digest) -> None:
        self.sent.append(Sent("digest", digest.render_text()))
        log.warning("no %s token configured: would post the digest for %s", self.surface, digest.day)


_registry: dict[str, Announcer] = {}


def register(surface: str, announcer: Announcer) -> None:
    _registry[surface] = announcer


def announcer_for(surface: str) -> Announcer:
    if surface not in _registry:
        _registry[surface] = LogAnnouncer(surface)
    return _registry[surface]


def reset() -> None:
    """Forget every registered announcer (tests start from fresh `LogAnnouncer`s)."""
    _registry.clear()
