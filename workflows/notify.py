"""The chat layer as the jobs see it: "show this order's alert as the database says".

`bot/` registers a `Notifier` per surface (Slack, Teams). With none registered for a
surface, `LogNotifier` logs what it would have posted, so the bot runs without a token.
"""

from __future__ import annotations

import logging
from typing import Protocol

from workflows.snapshot import OrderSnapshot

log = logging.getLogger(__name__)


class Notifier(Protocol):
    def show(self, snapshot: OrderSnapshot, current: tuple[str | None, str | None]) -> tuple[str | None, str | None]:
        """Post or update the alert for `snapshot`.

        `current` is the (channel, message id) already posted, or (None, None); returns
        the (channel, message id) now showing it.
        """
        ...


class LogNotifier:
    """Stands in when a surface has no credentials: logs the alert it would post."""

    def __init__(self, surface: str) -> None:
        self.surface = surface
        self.shown: list[OrderSnapshot] = []

    def show(self, snapshot: OrderSnapshot, current: tuple[str | None, str | None]) -> tuple[str | None, str | None]:
        self.shown.append(snapshot)
        failing = ", ".join(f"{i.item_id} ({i.system})" for i in snapshot.failing_items) or "nothing failing"
        log.warning(
            "no %s token configured: would %s alert for %s [%s] guest=%s status=%s payment=%s",
            self.surface, "update" if current[1] else "post", snapshot.order_id, failing,
            snapshot.guest_name, snapshot.status, snapshot.payment_state,
        )
        return current[0] or "log", current[1] or f"log:{snapshot.order_id}"


_registry: dict[str, Notifier] = {}


def register(surface: str, notifier: Notifier) -> None:
    _registry[surface] = notifier


def notifier_for(surface: str) -> Notifier:
    if surface not in _registry:
        _registry[surface] = LogNotifier(surface)
    return _registry[surface]
