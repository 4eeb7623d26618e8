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

import logging

from redis import Redis

from bot.replies import Replies
from bot.teams import cards
from bot.teams.connector import (
    ActivityGone,
    BotConnector,
    BotToken,
    MessageActivityInput,
    in_thread,
    message,
)
from workflows.core.queue import get_redis
from workflows.core.settings import Settings
from workflows.orders.snapshot import OrderSnapshot

log = logging.getLogger(__name__)



class TeamsNotifier:
    def __init__(self, settings: Settings, connector: BotConnector | None = None, redis: Redis | None = None) -> None:
        settings.require("teams_conversation_id", "teams_service_url")
        self.conversation = settings.teams_conversation_id or ""
        self.redis = redis or get_redis(settings.redis_url)
        self.connector = connector or BotConnector(settings, BotToken(settings, self.redis))
        self.replies = Replies(self.redis, "teams", (settings.guest_data_days + 30) * 86400)

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
        thread = in_thread(conversation, activity_id)
        for event in snapshot.audit:
            reply = cards.outcome_text(event)
            if reply is not None:
                self.replies.once(snapshot.order_id, event, activity_id, lambda reply=reply: [
                    thread, self.connector.reply(thread, activity_id, message(reply))])

    def rewrite(self, snapshot: OrderSnapshot, current: tuple[str | None, str | None]) -> int:
        """Rewrite the card at `current` and its thread replies from `snapshot`, in place (after an
        erasure, issue 28); never posts. A card gone from Teams is left gone. How many were rewritten."""
        done = 0
        conversation, activity_id = current
        if conversation and activity_id and not activity_id.startswith("log:"):
            done += self._update(conversation, activity_id,
                                 message(cards.summary(snapshot), cards.attachment(cards.alert_card(snapshot))))
        replies = self.replies.where(snapshot.order_id)
        for event in snapshot.audit:
            reply = cards.outcome_text(event)
            where = replies.get(self.replies.key(snapshot.order_id, event)) if reply is not None else None
            if where is not None and reply is not None:
                done += self._update(where[0], where[1], message(reply))
        return done

    def _update(self, conversation: str, activity_id: str, activity: MessageActivityInput) -> int:
        try:
            self.connector.update(conversation, activity_id, activity)
        except ActivityGone:
            return 0
        return 1


