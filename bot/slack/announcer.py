"""`SlackAnnouncer`: the on-call workflows' messages in Slack (`workflows.announce.Announcer`),
and the retail reminder (`workflows.retail.register_sink`).

- Direct messages: `conversations.open` (scope `im:write`,
  docs.slack.dev/reference/methods/conversations.open) gives the DM channel, then
  `chat.postMessage`; with an order, a link to its alert message.
- Channel messages go to `SLACK_ALERT_CHANNEL`, led by the mention (`<!here>`,
  `<!subteam^ID>`, see `bot.slack.announce_render.mention`).
- The outage parent message is posted once and then rewritten with `chat.update`
  (posted again if deleted); the alerts of the outage are threaded under it by
  `SlackNotifier`. Its "Reprocess all N" button is handled in `bot.slack.app`.
- The digest goes to `DIGEST_CHANNEL`, else the alert channel.

Every post waits for its channel's turn on the notifier's `Pacer` (one message per
second per channel, shared through Redis). A failure raises, so the calling job fails
and RQ retries it: an announcement is late, never lost.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from redis import Redis
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.slack import announce_render, reads, retail_render
from bot.slack.notifier import GONE, Pacer, web_client
from workflows.announce import MessageRef
from workflows.queue import get_redis
from workflows.settings import Settings

if TYPE_CHECKING:
    from workflows.digest import Digest
    from workflows.outage import IncidentView
    from workflows.retail import RetailReminder

log = logging.getLogger(__name__)


class SlackAnnouncer:
    def __init__(self, settings: Settings, client: WebClient | None = None, redis: Redis | None = None,
                 pacer: Pacer | None = None, interval: float = 1.0) -> None:
        self.settings = settings
        self.channel = settings.slack_alert_channel
        self.client = client or web_client(settings)
        self.pacer = pacer or Pacer(redis or get_redis(settings.redis_url), interval)

    def _post(self, channel: str, text: str, blocks: list[dict[str, Any]] | None = None) -> MessageRef:
        self.pacer.wait(channel)
        args: dict[str, Any] = {"channel": channel, "text": text, "unfurl_links": False}
        if blocks is not None:
            args["blocks"] = blocks
        response = self.client.chat_postMessage(**args)
        self.pacer.learn(channel, str(response["channel"]))
        return str(response["channel"]), str(response["ts"])

    # -- Announcer ------------------------------------------------------------------------
    def direct_message(self, person_ids: Sequence[str], text: str, order_id: str | None = None) -> None:
        link = reads.alert_links(self.settings, [order_id]).get(order_id) if order_id else None
        body = announce_render.direct_text(text, link)
        for person in person_ids:
            opened = self.client.conversations_open(users=person)
            self._post(str(opened["channel"]["id"]), body)

    def channel_message(self, text: str, mention: str | None = None) -> MessageRef:
        return self._post(self.channel, announce_render.channel_text(text, mention))

    def show_incident(self, incident: IncidentView, current: MessageRef) -> MessageRef:
        blocks, text = announce_render.incident_blocks(incident), announce_render.incident_text(incident)
        channel, ts = current
        if channel and ts and not ts.startswith("log:"):
            try:
                self.client.chat_update(channel=channel, ts=ts, blocks=blocks, text=text)
                return channel, ts
            except SlackApiError as exc:
                if exc.response.get("error") not in GONE:
                    raise
                log.warning("outage message %s is gone from Slack (%s): posting it again",
                            incident.incident_id, exc.response.get("error"))
        return self._post(self.channel, text, blocks)

    def show_digest(self, digest: Digest) -> None:
        self._post(self.settings.digest_channel or self.channel, announce_render.digest_text(digest),
                   announce_render.digest_blocks(digest))

    # -- workflows.retail sink ------------------------------------------------------------
    def show_retail_reminder(self, reminder: RetailReminder) -> None:
        self._post(self.channel, retail_render.reminder_text(reminder), retail_render.reminder_blocks(reminder))
