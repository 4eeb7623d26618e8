"""The WebSocket side of Slack's Socket Mode (docs.slack.dev/apis/events-api/using-socket-mode;
message shapes as in Slack's own SDKs: python-slack-sdk `socket_mode/request.py`,
`response.py`, node-slack-sdk `socket-mode`), served with the `websockets` library on loopback.

- A connection must present a ticket `FakeSlack`'s `apps.connections.open` issued, once: a
  reused or unknown ticket is closed with 1008 (policy violation) before `hello`.
- On connect: `{"type": "hello", "num_connections", "debug_info", "connection_info"}`.
- `envelope(conn, type, payload)` sends `{"envelope_id", "type", "accepts_response_payload",
  "payload"}` (`events_api` also carries `retry_attempt`/`retry_reason`); `disconnect(conn,
  reason)` sends `{"type": "disconnect", "reason", "debug_info"}`.
- What the app sends back is checked as Slack would: a JSON object whose `envelope_id` names
  an envelope this fake sent and not yet acknowledged, with nothing but an optional `payload`
  object (and that only when the envelope accepts one). Anything else lands in `refused`.

    fake = FakeSocketMode().start(); slack.socket = fake   # FakeSlack then issues tickets for it
    eid = fake.envelope(1, "interactive", click_payload)
    conn, at, ack = fake.wait_ack(eid)
"""

from __future__ import annotations

import itertools
import json
import queue
import threading
import time
import uuid
from typing import Any

from websockets.exceptions import ConnectionClosed
from websockets.sync.server import Server, ServerConnection, serve

ENVELOPE_TYPES = ("events_api", "interactive", "slash_commands")


class FakeSocketMode:
    def __init__(self, app_id: str = "A0SYNCDESK") -> None:
        self.app_id = app_id
        self.lock = threading.Lock()
        self.connections: list[ServerConnection] = []
        self.events: queue.Queue[tuple[str, int, float, Any]] = queue.Queue()
        self.acks: dict[str, tuple[int, float, dict[str, Any]]] = {}  # envelope id -> (conn, time, message)
        self.refused: list[tuple[int, Any, str]] = []  # (conn, what arrived, why it is wrong)
        self.sent_at: dict[str, float] = {}
        self._pending: dict[str, bool] = {}  # envelope id -> accepts_response_payload
        self._tickets: dict[str, bool] = {}  # ticket -> already used
        self._numbers = itertools.count(1)
        self._server: Server | None = None
        self._ack_seen = threading.Condition(self.lock)

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> FakeSocketMode:
        self._server = serve(self._serve, "127.0.0.1", 0, ping_interval=None, compression=None)
        threading.Thread(target=self._server.serve_forever, name="FakeSocketMode", daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server = None

    def __enter__(self) -> FakeSocketMode:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def issue_url(self) -> str:
        """A new one-use `wss` URL (here `ws://` on loopback), as `apps.connections.open` answers."""
        assert self._server is not None, "not started"
        ticket = uuid.uuid4().hex
        with self.lock:
            self._tickets[ticket] = False
        port = self._server.socket.getsockname()[1]
        return f"ws://127.0.0.1:{port}/link/?ticket={ticket}&app_id={self.app_id}"

    # -- the socket ------------------------------------------------------------------------
    def _serve(self, ws: ServerConnection) -> None:
        path = ws.request.path if ws.request is not None else ""
        ticket = path.split("ticket=", 1)[-1].split("&", 1)[0] if "ticket=" in path else ""
        with self.lock:
            fresh = self._tickets.get(ticket) is False
            if fresh:
                self._tickets[ticket] = True
        if not fresh:
            self.events.put(("rejected", 0, time.monotonic(), path))
            ws.close(1008, "invalid or used ticket")
            return
        with self.lock:
            self.connections.append(ws)
            number = len(self.connections)
        self.events.put(("open", number, time.monotonic(), path))
        ws.send(json.dumps({"type": "hello", "num_connections": number,
                            "debug_info": {"host": "applink-fake", "build_number": 1,
                                           "approximate_connection_time": 18060},
                            "connection_info": {"app_id": self.app_id}}))
        try:
            for raw in ws:
                self._received(number, raw)
        except ConnectionClosed:
            pass
        self.events.put(("close", number, time.monotonic(), None))

    def _received(self, number: int, raw: str | bytes) -> None:
        at = time.monotonic()
        try:
            message = json.loads(raw)
        except (TypeError, ValueError):
            self.refused.append((number, raw, "not JSON"))
            return
        with self.lock:
            problem = self._problem(message)
            if problem:
                self.refused.append((number, message, problem))
                return
            self._pending.pop(message["envelope_id"])
            self.acks[message["envelope_id"]] = (number, at, message)
            self._ack_seen.notify_all()
        self.events.put(("ack", number, at, message))

    def _problem(self, message: Any) -> str | None:
        if not isinstance(message, dict) or not isinstance(message.get("envelope_id"), str):
            return "an acknowledgement is a JSON object with an envelope_id"
        if message["envelope_id"] not in self._pending:
            return "no envelope with this id is waiting for an acknowledgement"
        extra = set(message) - {"envelope_id", "payload"}
        if extra:
            return f"unexpected keys {sorted(extra)}"
        if "payload" in message:
            if not self._pending[message["envelope_id"]]:
                return "this envelope does not accept a response payload"
            if not isinstance(message["payload"], dict):
                return "payload must be a JSON object"
        return None

    # -- what a test does ------------------------------------------------------------------
    def send(self, number: int, message: dict[str, Any]) -> None:
        self.connections[number - 1].send(json.dumps(message))

    def envelope(self, number: int, kind: str, payload: dict[str, Any]) -> str:
        """Send one envelope on connection `number` (1-based); its envelope_id."""
        assert kind in ENVELOPE_TYPES, kind
        envelope_id = str(uuid.uuid4())
        accepts = kind == "slash_commands" or payload.get("type") == "view_submission"
        message: dict[str, Any] = {"envelope_id": envelope_id, "type": kind, "accepts_response_payload": accepts,
                                   "payload": payload}
        if kind == "events_api":
            message |= {"retry_attempt": 0, "retry_reason": ""}
        with self.lock:
            self._pending[envelope_id] = accepts
            self.sent_at[envelope_id] = time.monotonic()
        self.send(number, message)
        return envelope_id

    def disconnect(self, number: int, reason: str = "refresh_requested") -> float:
        """Ask the app to move to a new connection; when it was sent."""
        at = time.monotonic()
        self.send(number, {"type": "disconnect", "reason": reason, "debug_info": {"host": "applink-fake"}})
        return at

    def wait_ack(self, envelope_id: str, timeout: float = 10.0) -> tuple[int, float, dict[str, Any]]:
        """(connection number, time it arrived, the message) of the envelope's acknowledgement."""
        with self.lock:
            if not self._ack_seen.wait_for(lambda: envelope_id in self.acks, timeout):
                raise AssertionError(f"no acknowledgement of {envelope_id} within {timeout} s; refused: {self.refused}")
            return self.acks[envelope_id]

    def wait_event(self, kind: str, timeout: float = 10.0, number: int | None = None) -> tuple[str, int, float, Any]:
        """The next event of `kind` ("open", "close", "ack", "rejected"), skipping others."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {kind!r} event within {timeout} s")
            try:
                event = self.events.get(timeout=left)
            except queue.Empty:
                continue
            if event[0] == kind and (number is None or event[1] == number):
                return event
