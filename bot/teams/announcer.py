"""`TeamsAnnouncer`: the on-call workflows' messages in Teams (`workflows.announce.Announcer`).

- Direct messages reach a Teams user (the schedule's `teams` id) in the bot's 1:1
  conversation with them, created with `POST /v3/conversations` (`BotConnector.create_conversation`).
- Channel messages, the outage card and the digest card go to `TEAMS_CONVERSATION_ID`; the
  outage card is updated in place (update activity) and posted again if deleted.

A failed call raises (`TeamsApiError`), so the calling job fails and RQ retries it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from redis import Redis

from bot.teams import announce_cards, cards
from bot.teams.connector import ActivityGone, BotConnector, BotToken, message
from workflows.announce import MessageRef
from workflows.queue import get_redis
from workflows.settings import Settings

if TYPE_CHECKING:
    from workflows.digest import Digest
    from workflows.outage import IncidentView

log = logging.getLogger(__name__)

# Teams has no "@here" for a bot; an escalation is marked in words instead.
ATTENTION = "🔔 **Attention:**"


class TeamsAnnouncer:
    def __init__(self, settings: Settings, connector: BotConnector | None = None, redis: Redis | None = None) -> None:
        settings.require("teams_conversation_id", "teams_service_url", "teams_app_id")
        self.conversation = settings.teams_conversation_id or ""
        self.tenant = settings.teams_tenant_id
        self.bot_id = f"28:{settings.teams_app_id}"
        self.connector = connector or BotConnector(settings, BotToken(settings, redis or get_redis(settings.redis_url)))

    def direct_message(self, person_ids: Sequence[str], text: str, order_id: str | None = None) -> None:
        body = f"{text}\n\nSend **order {order_id}** here to see its alert." if order_id else text
        for person in person_ids:
            conversation = self.connector.create_conversation(person, self.tenant, self.bot_id)
            self.connector.post(conversation, message(body))

    def channel_message(self, text: str, mention: str | None = None) -> MessageRef:
        body = f"{ATTENTION} {text}" if mention else text
        return self.conversation, self.connector.post(self.conversation, message(body))

    def show_incident(self, incident: IncidentView, current: MessageRef) -> MessageRef:
        activity = message(incident.summary, cards.attachment(announce_cards.incident_card(incident)))
        conversation, activity_id = current
        if conversation and activity_id and not activity_id.startswith("log:"):
            try:
                self.connector.update(conversation, activity_id, activity)
                return conversation, activity_id
            except ActivityGone:
                log.warning("outage card %s is gone from Teams: posting it again", incident.incident_id)
        return self.conversation, self.connector.post(self.conversation, activity)

    def show_digest(self, digest: Digest) -> None:
        card = announce_cards.digest_card(digest)
        self.connector.post(self.conversation, message(card["fallbackText"], cards.attachment(card)))
