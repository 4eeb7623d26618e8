"""`TeamsAnnouncer`: the on-call workflows' messages in Teams (`workflows.core.messages.Messenger`,
`workflows.outage.views.IncidentBoard`, `workflows.reports.digest.DigestBoard`).

- Direct messages reach a Teams user (the schedule's `teams` id) in the bot's 1:1
  conversation with them, created with `POST /v3/conversations` (`BotConnector.create_conversation`);
  with an order, a link to its alert card (`bot.teams.reads.message_link`).
- Channel messages, the outage card, the digest card and the retail reminder (with its
  Dispatched forms, `bot.teams.retail_cards`) go to `TEAMS_CONVERSATION_ID`; the outage card is
  updated in place (update activity) and posted again if deleted.

A failed call raises (`TeamsApiError`), so the calling job fails and RQ retries it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from redis import Redis

from bot.teams import announce_cards, arrivals_cards, cards, reads, retail_cards
from bot.teams.connector import ActivityGone, BotConnector, BotToken, message
from workflows.arrivals.findings import DaySummary
from workflows.core.messages import MessageRef
from workflows.core.queue import get_redis
from workflows.core.settings import Settings
from workflows.outage.views import IncidentRead
from workflows.reports.digest import Digest
from workflows.retail.service import RetailReminder
from workflows.systems.registry import channel_for_system

log = logging.getLogger(__name__)

# Teams has no "@here" for a bot; an escalation is marked in words instead.
ATTENTION = "🔔 **Attention:**"


class TeamsAnnouncer:
    def __init__(self, settings: Settings, connector: BotConnector | None = None, redis: Redis | None = None) -> None:
        settings.require("teams_conversation_id", "teams_service_url", "teams_app_id")
        self.settings = settings
        self.conversation = settings.teams_conversation_id or ""
        self.tenant = settings.teams_tenant_id
        self.bot_id = f"28:{settings.teams_app_id}"
        self.connector = connector or BotConnector(settings, BotToken(settings, redis or get_redis(settings.redis_url)))

    def direct_message(self, person_ids: Sequence[str], text: str, order_id: str | None = None) -> None:
        link = reads.alert_links(self.settings, [order_id]).get(order_id) if order_id else None
        body = text
        if order_id:
            body += f"\n\n[Open the alert]({link})" if link else f"\n\nSend **order {order_id}** here to see its alert."
        for person in person_ids:
            conversation = self.connector.create_conversation(person, self.tenant, self.bot_id)
            self.connector.post(conversation, message(body))

    def channel_message(self, text: str, mention: str | None = None, channel: str | None = None) -> MessageRef:
        body = f"{ATTENTION} {text}" if mention else text
        conversation = channel or self.conversation
        return conversation, self.connector.post(conversation, message(body))

    def thread_message(self, text: str, channel: str, thread: str) -> MessageRef:
        """A reply in the card's thread: posted to `<conversation>;messageid=<card>` (Bot Connector)."""
        conversation = f"{channel.split(';', 1)[0]};messageid={thread}"
        return conversation, self.connector.post(conversation, message(text))

    def _card_in_place(self, activity: dict[str, Any], current: MessageRef, post_to: Callable[[], str],
                       what: str) -> MessageRef:
        """Update the card where `current` says it is; post it (to `post_to()`) the first time, or
        again when it was deleted."""
        conversation, activity_id = current
        if conversation and activity_id and not activity_id.startswith("log:"):
            try:
                self.connector.update(conversation, activity_id, activity)
                return conversation, activity_id
            except ActivityGone:
                log.warning("%s is gone from Teams: posting it again", what)
        conversation = post_to()
        return conversation, self.connector.post(conversation, activity)

    def show_incident(self, read: IncidentRead, current: MessageRef) -> MessageRef:
        incident = read()  # Teams writes are not paced here: read at once
        activity = message(incident.summary, cards.attachment(announce_cards.incident_card(incident)))
        # first posted where the system's alerts go (routing file, issue 14), else TEAMS_CONVERSATION_ID
        return self._card_in_place(activity, current, lambda: channel_for_system(incident.system, self.settings,
                                                                                 "teams"),
                                   f"outage card {incident.incident_id}")

    def show_digest(self, digest: Digest) -> None:
        card = announce_cards.digest_card(digest)
        self.connector.post(self.conversation, message(card["fallbackText"], cards.attachment(card)))

    def show_arrivals(self, summary: DaySummary, current: MessageRef, channel: str | None) -> MessageRef:
        """The arrival check's summary card: posted once, then updated in place."""
        card = arrivals_cards.summary_card(summary)
        activity = message(card["fallbackText"], cards.attachment(card))
        return self._card_in_place(activity, current, lambda: channel or self.conversation,
                                   f"arrivals card {summary.day} {summary.place}")

    # -- workflows.retail.service sink (issue 14: Dispatched in Teams too) -------------------------
    def show_retail_reminder(self, reminder: RetailReminder) -> None:
        card = retail_cards.reminder_card(reminder)
        self.connector.post(self.conversation, message(card["fallbackText"], cards.attachment(card)))
