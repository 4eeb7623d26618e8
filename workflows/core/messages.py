"""Plain messages to people: a direct message to the on-call person, a post in the alert
channel. Escalation, the outage jobs and the reconciliation send them through `messengers`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from workflows.core.ports import Port

# (channel, message id) of a posted message, or (None, None) before it is posted.
MessageRef = tuple[str | None, str | None]


class Messenger(Protocol):
    def direct_message(self, person_ids: Sequence[str], text: str, order_id: str | None = None) -> None:
        """Send `text` privately to each person (user ids of this surface).

        With `order_id`, add a link to that order's alert message.
        """
        ...

    def channel_message(self, text: str, mention: str | None = None, channel: str | None = None) -> MessageRef:
        """Post `text` in `channel` (default: the alert channel), starting with `mention` (e.g.
        "@here") when given. An order's messages go where its alert went (routing file, issue 14)."""
        ...

    def thread_message(self, text: str, channel: str, thread: str) -> MessageRef:
        """Post `text` as a reply under the message `thread` in `channel` (an alert's thread)."""
        ...


messengers: Port[Messenger] = Port("messenger")
