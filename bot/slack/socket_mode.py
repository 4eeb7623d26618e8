"""Slack over Socket Mode (docs.slack.dev/apis/events-api/using-socket-mode): no public URL.

`apps.connections.open` (app-level token `SLACK_APP_TOKEN`, scope `connections:write`)
answers a one-use `wss://` URL; Slack then sends `hello`, envelopes (`events_api`,
`interactive`, `slash_commands`: `{"envelope_id", "type", "accepts_response_payload",
"payload"}`) that must be acknowledged within 3 s with `{"envelope_id"[, "payload"]}`, and
`disconnect` (`refresh_requested`, `warning`, ...) when it wants the app on a new socket.

Why this shape:
- slack_sdk's `websockets` client. On `disconnect` it opens the new socket first and closes
  the old one in its own task, so nothing waits. The builtin client Bolt uses by default
  stops dispatching for up to 3 s on every refresh (its old socket's receive timeout), so
  acks landed at Slack's 3 s limit (issue 16; tests/bot/slack/test_socket_mode.py measures
  the hand-over).
- Its own thread and event loop, and Bolt's synchronous `App` (the same listeners as
  `POST /slack/events`) dispatched in a worker thread: a slow listener never holds up the
  socket, and the web app's event loop is not involved.
- Connecting happens in the background with exponential backoff: Slack being down or
  answering `internal_error` never stops the web process (the intake webhook lives there);
  `/readyz` reports the state (`status()`). Once connected, the client's own monitor
  reconnects a socket that died.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import Any

from slack_bolt import App
from slack_bolt.adapter.socket_mode.async_internals import send_async_response
from slack_bolt.adapter.socket_mode.internals import run_bolt_app
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.websockets import SocketModeClient
from slack_sdk.web.async_client import AsyncWebClient

from workflows.core import metrics

log = logging.getLogger(__name__)

BACKOFF_FIRST_SECONDS = 1.0
BACKOFF_MAX_SECONDS = 60.0


class SocketMode:
    """One Socket Mode connection for a Bolt app, run in a background thread."""

    def __init__(self, app: App, app_token: str, api_url: str = "https://slack.com/api/", *,
                 ping_interval: float = 10.0, backoff: tuple[float, float] = (BACKOFF_FIRST_SECONDS,
                                                                            BACKOFF_MAX_SECONDS)) -> None:
        self.app = app
        self._token = app_token
        self._api_url = api_url
        self._ping_interval = ping_interval
        self._backoff = backoff
        self._thread = threading.Thread(target=self._run, name="slack-socket-mode", daemon=True)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._client: SocketModeClient | None = None
        self._lock = threading.Lock()
        self._state = "starting"
        self._detail = ""
        self._failures = 0

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        """Begin connecting in the background; returns at once."""
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Close the socket and end the thread."""
        if self._loop is not None and self._stop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout)

    def status(self) -> dict[str, Any]:
        """For /readyz: connected / connecting (with the last error and how many attempts failed) / stopped."""
        with self._lock:
            state, detail, failures = self._state, self._detail, self._failures
        if state == "connected" and self._loop is not None and self._client is not None:
            try:
                alive = asyncio.run_coroutine_threadsafe(self._client.is_connected(), self._loop).result(2)
            except Exception:  # loop gone or busy: say what we last knew
                alive = False
            if not alive:
                state, detail = "reconnecting", "the socket closed; the client is opening a new one"
        report: dict[str, Any] = {"state": state}
        if detail:
            report["detail"] = detail
        if failures:
            report["failed_attempts"] = failures
        return report

    def _set(self, state: str, detail: str = "", failed: bool = False) -> None:
        with self._lock:
            self._state, self._detail = state, detail
            self._failures = self._failures + 1 if failed else (0 if state == "connected" else self._failures)

    # -- the loop --------------------------------------------------------------------------
    def _run(self) -> None:
        self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._main())
        finally:
            self._loop.close()

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        # Built inside the running loop: the client schedules its message processor on it.
        self._client = SocketModeClient(app_token=self._token, logger=log, ping_interval=self._ping_interval,
                                        web_client=AsyncWebClient(base_url=self._api_url))
        self._client.socket_mode_request_listeners.append(self._handle)
        delay = self._backoff[0]
        while not self._stop.is_set():
            self._set("connecting", self._detail)
            self._client.wss_uri = None  # each URL is a one-use ticket: ask for a new one every attempt
            try:
                await self._client.connect()
            except Exception as exc:  # SlackApiError (ok:false), network errors: Slack is unwell, we wait
                reason = getattr(getattr(exc, "response", None), "get", lambda _k: None)("error") or \
                    f"{exc.__class__.__name__}: {exc}"
                self._set("connecting", f"apps.connections.open or the socket failed ({reason}); "
                                        f"retrying in {delay:g} s", failed=True)
                log.warning("Slack Socket Mode: could not connect (%s); retrying in %g s", reason, delay)
                try:
                    await asyncio.wait_for(self._stop.wait(), delay)
                except asyncio.TimeoutError:
                    pass
                delay = min(delay * 2, self._backoff[1])
                continue
            self._set("connected")
            log.info("Slack Socket Mode connected")
            break
        await self._stop.wait()
        self._set("stopped")
        if self._client.message_receiver is not None:  # else it logs our own close as an ERROR
            self._client.message_receiver.cancel()
        await self._client.close()

    async def _handle(self, client: SocketModeClient, req: SocketModeRequest) -> None:
        started = time.time()
        clock = time.perf_counter()
        response = await asyncio.to_thread(run_bolt_app, self.app, req)
        await send_async_response(client, req, response, started)
        metrics.ACK_SECONDS.labels("slack-socket", req.type).observe(time.perf_counter() - clock)
