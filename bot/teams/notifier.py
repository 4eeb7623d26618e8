"""`TeamsNotifier`: shows an order's alert in Teams as the database says it is.

The first `show` posts the Adaptive Card to the conversation the routing file gives the
order's property or system (`teams_conversation`, issue 14), else `TEAMS_CONVERSATION_ID`; every
later one replaces the same activity in place (update activity, learn.microsoft.com/azure/bot-service/rest-api/bot-framework-rest-connector-send-and-receive-messages),
and each job outcome in the audit trail becomes one reply in its thread (posted to
`<conversation>;messageid=<card id>`: in a channel `replyToId` alone lands at the top level). An alert deleted in
Teams is posted again. A failed call raises, the `refresh_alert` job fails and RQ retries
it: an alert is late, never dropped.
"""

from __future__ import annotations

import hashlib
import logging

from redis import Redis

from bot.teams import cards
from bot.teams.connector import ActivityGone, BotConnector, BotToken, in_thread, message
from workflows.core.queue import get_redis
from workflows.core.settings import Settings
from workflows.orders.snapshot import OrderSnapshot

log = logging.getLogger(__name__)

REPLY_MEMORY_SECONDS = 90 * 86400


class TeamsNotifier:
    def __init__(self, settings: Settings, connector: BotConnector | None = None, redis: Redis | None = None) -> None:
        settings.require("teams_conversation_id", "teams_service_url")
        self.conversation = settings.teams_conversation_id or ""
        self.redis = redis or get_redis(settings.redis_url)
        self.connector = connector or BotConnector(settings, BotToken(settings, self.redis))

    def show(self, snapshot: OrderSnapshot, current: tuple[str | None, str | None]) -> tuple[str | None, str | None]:
        activity = message(cards.summary(snapshot), cards.attachment(cards.alert_card(snapshot)))
        conversation, activity_id = current
        posted = None
        if conversation and activity_id and not activity_id.startswith("log:"):
            try:
                self.connector.update(conversation, activity_id, activity)
                posted = (conversation, activity_id)
            except ActivityGone:
                log.warning("alert card for %s is gone from Teams: posting it again", snapshot.order_id)
        if posted is None:  # its property's or system's conversation (routing file), else TEAMS_CONVERSATION_ID
            conversation = snapshot.teams_conversation or self.conversation
            posted = (conversation, self.connector.post(conversation, activity))
        self._reply_outcomes(snapshot, *posted)
        return posted

    def _reply_outcomes(self, snapshot: OrderSnapshot, conversation: str, activity_id: str) -> None:
        for event in snapshot.audit:
            reply = cards.outcome_text(event)
            if reply is None:
                continue
            identity = f"{snapshot.order_id}|{event.at.isoformat()}|{event.action}|{event.item_id}"
            key = "syncdesk:teams:replied:" + hashlib.sha256(identity.encode()).hexdigest()[:32]
            if not self.redis.set(key, activity_id, nx=True, ex=REPLY_MEMORY_SECONDS):
                continue
            try:
                self.connector.reply(in_thread(conversation, activity_id), activity_id, message(reply))
            except Exception:
                self.redis.delete(key)  # not said yet: the job's retry says it
                raise
