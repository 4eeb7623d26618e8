"""Where the chat layer plugs in: one `Port` per thing the workflows show to people.

A domain that shows something declares what it needs as a Protocol and a `Port` to find
the implementation for a surface ("slack", "teams"): `orders.notify.notifiers` (an order's
alert), `core.messages.messengers` (direct and channel messages), `outage.views.boards` (the
outage message), `reports.digest.boards` (the daily digest), `retail.service.reminders` (the
retail reminder). The wiring (`syncdesk.surfaces`) registers one per surface at start:
Slack's, Teams', or `bot.log`'s stand-in that logs what it would post when a surface has no
credentials. So the workflows never import the chat layer, and the chat layer is passed in.
"""

from __future__ import annotations

from typing import Generic, TypeVar

T = TypeVar("T")


class Unplugged(LookupError):
    """Nothing is registered on the port for that surface (the wiring was skipped)."""


class Port(Generic[T]):
    """The implementations of one protocol, by surface."""

    def __init__(self, what: str) -> None:
        self.what = what
        self._by_surface: dict[str, T] = {}

    def register(self, surface: str, implementation: T) -> None:
        self._by_surface[surface] = implementation

    def get(self, surface: str) -> T:
        try:
            return self._by_surface[surface]
        except KeyError:
            raise Unplugged(f"no {self.what} is registered for {surface}: "
                            "syncdesk.surfaces.register_surfaces() plugs them in at start") from None

    def surfaces(self) -> list[str]:
        return list(self._by_surface)

    def clear(self) -> None:
        self._by_surface.clear()
