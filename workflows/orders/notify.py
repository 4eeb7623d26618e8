"""The chat layer as the alert jobs see it: "show this order's alert as the database says".

The wiring registers a `Notifier` per surface on `notifiers` (Slack's, Teams', or the
logging stand-in `bot.log.LogNotifier` when a surface has no token).
"""

from __future__ import annotations

from typing import Protocol

from workflows.core.messages import MessageRef
from workflows.core.ports import Port
from workflows.orders.snapshot import OrderSnapshot


class Notifier(Protocol):
    def show(self, snapshot: OrderSnapshot, current: MessageRef) -> MessageRef:
        """Post or update the alert for `snapshot`.

        `current` is the (channel, message id) already posted, or (None, None); returns
        the (channel, message id) now showing it.
        """
        ...


notifiers: Port[Notifier] = Port("alert notifier")
