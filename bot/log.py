"""The surface of last resort: with no Slack or Teams credentials, syncdesk still runs and
logs what it would post (DESIGN §3.3), keeping it in `shown` / `sent` so tests can read it.

`LogNotifier` stands in for a surface's alert notifier (`workflows.orders.notify`);
`LogAnnouncer` for its messenger, outage board and digest board. `syncdesk.surfaces`
plugs them in for every surface that has no credentials.

A log line never carries the guest (issue 28): the alert is logged as CHAT_GUEST_DETAILS=masked
shows it, whatever the setting ("Larry W.", and a vendor's error quoting the guest scrubbed,
`OrderSnapshot.masked`); `shown` keeps the snapshot as given, for tests.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from workflows.arrivals.findings import DaySummary
from workflows.core.messages import MessageRef
from bot.wording import Move, is_manual, item_moves, moves, order_moves, payment_says
from workflows.orders.lookup import money
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
        log.warning("no %s token configured: would %s alert for %s", self.surface,
                    "update" if current[1] else "post", would_show(snapshot))
        return current[0] or "log", current[1] or f"log:{snapshot.order_id}"

    def rewrite(self, snapshot: OrderSnapshot, current: MessageRef) -> int:
        """After an erasure (issue 28): nothing was posted, so nothing to rewrite; noted in `shown`."""
        self.shown.append(snapshot)
        return 0


def words(text: str, limit: int) -> str:
    """`text` cut to at most `limit` characters at a word boundary, never mid-word."""
    if len(text) <= limit:
        return text
    head = text[: limit - 1]
    return (head.rsplit(" ", 1)[0] if " " in head else head).rstrip(" ,;:(") + "…"


def would_show(snapshot: OrderSnapshot) -> str:
    """What the alert would show, in one line (issue 27): each failing item with its error and
    buttons, why there is no Reprocess and the steps to book by hand, the arrival and the amount,
    the payment and why it is unknown, and the order's buttons: from the same rules as the
    Slack and Teams alerts (`workflows.actions.offer`). The guest masked, whatever CHAT_GUEST_DETAILS
    says: this line goes to the logs (the buttons are the order's own)."""
    offered = moves(snapshot)
    masked = snapshot.masked()
    parts = ["; ".join(_item_line(i, item_moves(offered, i.item_id)) for i in masked.failing_items)
             or "nothing failing"]
    arrival = f"arrives {snapshot.arrival:%a %d %b}" if snapshot.arrival else "arrival unknown"
    parts.append(f"{arrival} · {money(snapshot.total_minor, snapshot.currency)} · guest {masked.guest_name}")
    payment, _ = payment_says(snapshot)
    parts.append(f"payment: {words(payment, 300)}")
    order_level = [m.label for m in order_moves(offered)]
    if order_level:
        parts.append("order: " + ", ".join(order_level))
    return f"{snapshot.order_id}: " + " | ".join(parts) + f" | status={snapshot.status}"


def _item_line(item: ItemView, offered: Sequence[Move]) -> str:
    """`ITEM-1 (synxis) timeout: Connection timed out [Reprocess, Booked manually]`: what failed,
    why, the buttons a person would have, and, for a system booked by hand, why and how."""
    last = item.last_attempt
    why = f"{last.error_class or 'unknown'}: {words(last.message or 'no message', 300)}" if last else "no attempt"
    line = f"{item.item_id} ({item.system}) {why} [{', '.join(m.label for m in offered)}]"
    desc = item.system_description
    if is_manual(item) and desc is not None:
        steps = " ".join(f"{n}. {step}" for n, step in enumerate(desc.playbook, 1))
        line += f" — no Reprocess: {desc.name} is booked by hand" + (f": {steps}" if steps else "")
        line += f" — support: {desc.support}" if desc.support else ""
    return line


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
