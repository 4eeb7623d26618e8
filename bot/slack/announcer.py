"""`SlackAnnouncer`: the on-call workflows' messages in Slack (`workflows.core.messages.Messenger`,
`workflows.outage.views.IncidentBoard`, `workflows.reports.digest.DigestBoard`), and the retail
reminder (`workflows.retail.service.reminders`).

- Direct messages: `conversations.open` (scope `im:write`,
  docs.slack.dev/reference/methods/conversations.open) gives the DM channel, then
  `chat.postMessage`; with an order, a link to its alert message.
- Channel messages go to `SLACK_ALERT_CHANNEL`, led by the mention (`<!here>`,
  `<!subteam^ID>`, see `bot.slack.announce_render.mention`).
- The outage message is posted once and then rewritten with `chat.update` (posted again if
  deleted); it lists the outage's orders instead of an alert each. Its "Show all" and
  "Reprocess all N" buttons are handled in `bot.slack.app`.
- The digest goes to `DIGEST_CHANNEL`, else the alert channel, and its chart (issue 26.7) is
  shared beside it with `files_upload_v2` (scope `files:write`): `files.getUploadURLExternal`
  (filename, length, alt_txt), the PNG POSTed to the `upload_url` it answers, then
  `files.completeUploadExternal` with the file id and `channel_id`
  (docs.slack.dev/reference/methods/files.getUploadURLExternal, …/files.completeUploadExternal).
- The arrival check's summary (issue 25) goes where the property's alerts go, once per day,
  and is rewritten with `chat.update` as checks run and people act.

Every post and update waits for its channel's turn on the notifier's `Pacer` (one write
per second per channel, shared through Redis). A failure raises, so the calling job fails
and RQ retries it: an announcement is late, never lost.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from redis import Redis
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackRequestError

from bot.slack import announce_render, arrivals_render, reads, retail_render
from bot.slack.notifier import GONE, Pacer, web_client
from workflows.arrivals.findings import DaySummary
from workflows.core.messages import MessageRef
from workflows.core.queue import get_redis
from workflows.core.settings import Settings
from workflows.outage.views import IncidentRead
from workflows.reports.chart import Chart
from workflows.reports.digest import Digest
from workflows.retail.service import RetailReminder
from workflows.systems.registry import channel_for_system

log = logging.getLogger(__name__)


class SlackAnnouncer:
    def __init__(self, settings: Settings, client: WebClient | None = None, redis: Redis | None = None,
                 pacer: Pacer | None = None) -> None:
        self.settings = settings
        self.channel = settings.slack_alert_channel
        self.client = client or web_client(settings)
        self.pacer = pacer or Pacer(redis or get_redis(settings.redis_url), settings.chat_pace_seconds)

    def _post(self, channel: str, text: str, blocks: list[dict[str, Any]] | None = None) -> MessageRef:
        self.pacer.wait(channel)
        return self._send(channel, text, blocks)

    def _send(self, channel: str, text: str, blocks: list[dict[str, Any]] | None) -> MessageRef:
        """chat.postMessage, the channel's turn already taken."""
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

    def channel_message(self, text: str, mention: str | None = None, channel: str | None = None) -> MessageRef:
        return self._post(channel or self.channel, announce_render.channel_text(text, mention))

    def thread_message(self, text: str, channel: str, thread: str) -> MessageRef:
        self.pacer.wait(channel)
        response = self.client.chat_postMessage(channel=channel, thread_ts=thread, text=text, unfurl_links=False)
        return str(response["channel"]), str(response["ts"])

    def show_incident(self, read: IncidentRead, current: MessageRef) -> MessageRef:
        # The view is read after the channel's turn has come: in a storm that wait is seconds,
        # and the message must list the failures recorded meanwhile (issue 15).
        channel, ts = current
        if channel and ts and not ts.startswith("log:"):
            try:
                self.pacer.wait(channel)  # an update is a write too: one per second per channel
                incident = read()
                self.client.chat_update(channel=channel, ts=ts, blocks=announce_render.incident_blocks(incident),
                                        text=announce_render.incident_text(incident))
                return channel, ts
            except SlackApiError as exc:
                if exc.response.get("error") not in GONE:
                    raise
                log.warning("outage message %s is gone from Slack (%s): posting it again",
                            incident.incident_id, exc.response.get("error"))
        # where the system's alerts go (routing file, issue 14), else the alert channel
        # Read twice on this first post only: once for the system (which channel to wait for),
        # then after the wait for what to show.
        channel = channel_for_system(read().system, self.settings, "slack")
        self.pacer.wait(channel)
        incident = read()
        return self._send(channel, announce_render.incident_text(incident), announce_render.incident_blocks(incident))

    def show_digest(self, digest: Digest) -> None:
        channel, _ = self._post(self.settings.digest_channel or self.channel, announce_render.digest_text(digest),
                                announce_render.digest_blocks(digest))
        if digest.chart is not None:
            self._share_chart(digest.chart, channel)

    def _share_chart(self, chart: Chart, channel: str) -> None:
        """The chart as a file in `channel` (its id: `files.completeUploadExternal` takes no
        name), after the digest. The digest is posted already, so a refused upload is logged,
        not raised: the job's retry would post the digest a second time."""
        self.pacer.wait(channel)  # the file's share is a message in the channel too
        try:
            self.client.files_upload_v2(channel=channel, content=chart.png, filename=chart.filename,
                                        title=chart.title, alt_txt=chart.alt_text)
        except SlackApiError as exc:
            error = exc.response.get("error")
            hint = " (reinstall the app from manifest.yml: it asks for files:write)" if error == "missing_scope" else ""
            log.warning("the digest's chart was not shared in %s: Slack said %s%s", channel, error, hint)
        except (SlackRequestError, OSError) as exc:  # the upload URL refused the bytes, or was unreachable
            log.warning("the digest's chart was not shared in %s: %s", channel, exc)

    def show_arrivals(self, summary: DaySummary, current: MessageRef, channel: str | None) -> MessageRef:
        """The arrival check's summary: posted once, then rewritten with `chat.update` (posted
        again if it was deleted)."""
        text, blocks = arrivals_render.summary_text(summary), arrivals_render.summary_blocks(summary)
        where, ts = current
        if where and ts and not ts.startswith("log:"):
            try:
                self.pacer.wait(where)
                self.client.chat_update(channel=where, ts=ts, text=text, blocks=blocks)
                return where, ts
            except SlackApiError as exc:
                if exc.response.get("error") not in GONE:
                    raise
                log.warning("arrivals summary %s %s is gone from Slack: posting it again", summary.day,
                            summary.place)
        return self._post(channel or self.channel, text, blocks)

    # -- workflows.retail.service sink ------------------------------------------------------------
    def show_retail_reminder(self, reminder: RetailReminder) -> None:
        self._post(self.channel, retail_render.reminder_text(reminder), retail_render.reminder_blocks(reminder))
