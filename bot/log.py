"""The surface of last resort: with no Slack or Teams credentials, syncdesk still runs and
logs what it would post (DESIGN §3.3), keeping it in `shown` / `sent` so tests can read it.

`LogNotifier` stands in for a surface's alert notifier (`workflows.orders.notify`);
`LogAnnouncer` for its messenger, outage board and digest board. `syncdesk.surfaces`
plugs them in for every surface that has no credentials.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from workflows.arrivals.findings import DaySummary
from workflows.core.messages import MessageRef
from bot.wording import cut, is_manual
from workflows.orders.snapshot import ItemView, OrderSnapshot
from workflows.outage.views import IncidentRead
from workflows.reports.digest import Digest

log = logging.getLogger(__name__)


class LogNotifier:
    """Stands in when a surface has no credentials: logs the alert it would post."""

    def __init__(self, surface: str) -> None:
        self.surface = surface
        self.shown: list[OrderSnapshot] = []

    def show(self, snapshot: OrderSnapshot, current: MessageRef) -> MessageRef:
        self.shown.append(snapshot)
        failing = "; ".join(_item_line(i) for i in snapshot.failing_items) or "nothing failing"
        buttons = _order_buttons(snapshot)
        log.warning(
            "no %s token configured: would %s alert for %s: %s%s | guest=%s status=%s payment=%s",
            self.surface, "update" if current[1] else "post", snapshot.order_id, failing,
            f" | buttons: {buttons}" if buttons else "", snapshot.guest_name, snapshot.status,
            snapshot.payment_state,
        )
        return current[0] or "log", current[1] or f"log:{snapshot.order_id}"

    def rewrite(self, snapshot: OrderSnapshot, current: MessageRef) -> int:
        """After an erasure (issue 28): nothing was posted, so nothing to rewrite; noted in `shown`."""
        self.shown.append(snapshot)
        return 0


def _item_line(item: ItemView) -> str:
    """`ITEM-1 (synxis) timeout: Connection timed out [Reprocess, Booked manually]`: what failed,
    why, and the buttons a person would have (the same rules as the Slack and Teams alerts)."""
    last = item.last_attempt
    why = f"{last.error_class or 'unknown'}: {cut(last.message or 'no message', 160)}" if last else "no attempt"
    buttons = ([] if item.sync_status == "processing" or is_manual(item) else ["Reprocess"]) + ["Booked manually"]
    return f"{item.item_id} ({item.system}) {why} [{', '.join(buttons)}]"


def _order_buttons(snapshot: OrderSnapshot) -> str:
    """The order-level buttons: Mark complete once every item is booked or dispatched."""
    done = snapshot.items and all(i.status == "Confirmed" or (i.kind == "retail" and i.status == "Dispatched")
                                  for i in snapshot.items)
    return "Mark complete" if done and snapshot.status != "Complete" else ""


@dataclass(frozen=True)
class Sent:
    """One message a `LogAnnouncer` would have sent."""

    kind: str  # "direct" | "channel" | "thread" | "incident" | "digest" | "arrivals"
    text: str
    person_ids: tuple[str, ...] = ()
    order_id: str | None = None
    mention: str | None = None
    incident_id: int | None = None
    channel: str | None = None  # a channel message's channel, when not the default
    thread: str | None = None  # a thread reply's parent message


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

    def channel_message(self, text: str, mention: str | None = None, channel: str | None = None) -> MessageRef:
        self.sent.append(Sent("channel", text, mention=mention, channel=channel))
        log.warning("no %s token configured: would post %s%s", self.surface, f"{mention} " if mention else "", text)
        return "log", f"log:channel:{len(self.sent)}"

    def thread_message(self, text: str, channel: str, thread: str) -> MessageRef:
        self.sent.append(Sent("thread", text, channel=channel, thread=thread))
        log.warning("no %s token configured: would reply in thread %s: %s", self.surface, thread, text)
        return channel, f"log:thread:{len(self.sent)}"

    def show_incident(self, read: IncidentRead, current: MessageRef) -> MessageRef:
        incident = read()
        self.sent.append(Sent("incident", incident.summary, incident_id=incident.incident_id))
        log.warning("no %s token configured: would %s outage message: %s%s", self.surface,
                    "update" if current[1] else "post", incident.summary,
                    f" [{incident.progress.text}]" if incident.progress else "")
        return current[0] or "log", current[1] or f"log:incident:{incident.incident_id}"

    def show_arrivals(self, summary: DaySummary, current: MessageRef, channel: str | None) -> MessageRef:
        self.sent.append(Sent("arrivals", summary.headline(), channel=channel))
        log.warning("no %s token configured: would %s the arrivals summary: %s", self.surface,
                    "update" if current[1] else "post", summary.headline())
        return current[0] or channel or "log", current[1] or f"log:arrivals:{summary.day}:{summary.property}"

    def show_digest(self, digest: Digest) -> None:
        self.sent.append(Sent("digest", digest.render_text()))
        log.warning("no %s token configured: would post the digest for %s", self.surface, digest.day)
