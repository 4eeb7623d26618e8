"""A small threaded loopback HTTP server that the fake external systems are built on.

`FakeServer` listens on 127.0.0.1 on a free port, serves each request on its own thread,
records every request, and can inject faults (delay, status, garbage body, dropped
connection). State lives in this process; other processes (an RQ worker subprocess) reach
it over HTTP at `server.url`. All state is guarded by one lock, so it is thread-safe.

    with FakeServer() as server:
        server.route("GET", r"/ping", lambda req, m: Reply(200, {"ok": True}))
        server.inject(status=503, times=2, path=r"/ping")
        ...
        server.requests  # [RecordedRequest(method="GET", path="/ping", ...), ...]
"""

from __future__ import annotations

import json
import re
import socket
import ssl
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import parse_qs, urlsplit


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    json: Any = None

    def param(self, name: str) -> str | None:
        """The first value of a query parameter."""
        values = self.query.get(name)
        return values[0] if values else None

    @property
    def form(self) -> dict[str, str]:
        """The body as form fields (token requests)."""
        return {k: v[0] for k, v in parse_qs(self.body.decode("utf-8", "replace")).items()}

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == lowered), None)


@dataclass
class Reply:
    status: int = 200
    json: Any = None
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to wait before answering (after any side effect)


Handler = Callable[[RecordedRequest, "re.Match[str]"], Reply]


@dataclass
class Fault:
    """One injected misbehaviour, matched by method and path regex, used `times` times."""

    kind: str  # "status" | "garbage" | "close" | "delay"
    method: str | None = None
    path: str | None = None
    status: int = 500
    body: bytes | None = None
    delay: float = 0.0
    times: int = 1
    before_handler: bool = True  # delay/close: before (nothing done) or after the handler ran

    def matches(self, req: RecordedRequest) -> bool:
        return (self.method is None or self.method == req.method) and (
            self.path is None or re.fullmatch(self.path, req.path) is not None
        )


class FakeServer:
    """Base of the fakes: routing, request log, fault injection, lifecycle."""

    ssl_context: ssl.SSLContext | None = None  # set (before start) to serve HTTPS

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []
        self._requests: list[RecordedRequest] = []
        self._faults: list[Fault] = []
        self._stopping = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> FakeServer:
        fake = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            wbufsize = -1  # headers and body leave in one write (no Nagle/delayed-ACK stalls)
            disable_nagle_algorithm = True

            def log_message(self, *args: Any) -> None:  # keep test output quiet
                return None

            def _handle(self) -> None:
                fake._serve(self)

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = do_HEAD = _handle

        self._stopping.clear()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._httpd.daemon_threads = True
        if self.ssl_context is not None:  # HTTPS, for clients that insist on it (msal's authority)
            self._httpd.socket = self.ssl_context.wrap_socket(self._httpd.socket, server_side=True)
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), name=type(self).__name__, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # wakes handlers sleeping in a delay
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._httpd is not None, "server not started"
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        return f"{'https' if self.ssl_context is not None else 'http'}://127.0.0.1:{self.port}"

    # -- routing and recording -------------------------------------------------------------
    def route(self, method: str, pattern: str, handler: Handler) -> None:
        self._routes.append((method.upper(), re.compile(pattern), handler))

    @property
    def requests(self) -> list[RecordedRequest]:
        with self.lock:
            return list(self._requests)

    def requests_to(self, method: str | None = None, path: str | None = None) -> list[RecordedRequest]:
        """Recorded requests filtered by method and a full-match path regex."""
        return [
            r
            for r in self.requests
            if (method is None or r.method == method.upper()) and (path is None or re.fullmatch(path, r.path))
        ]

    def clear_requests(self) -> None:
        with self.lock:
            self._requests.clear()

    # -- fault injection -------------------------------------------------------------------
    def inject(
        self,
        kind: str = "status",
        *,
        method: str | None = None,
        path: str | None = None,
        status: int = 500,
        body: bytes | str | None = None,
        delay: float = 0.0,
        times: int = 1,
        before_handler: bool = True,
    ) -> Fault:
        """Queue a fault for the next `times` matching requests (`times=-1`: until cleared)."""
        if isinstance(body, str):
            body = body.encode()
        fault = Fault(kind, method.upper() if method else None, path, status, body, delay, times, before_handler)
        with self.lock:
            self._faults.append(fault)
        return fault

    def fail_with_status(self, status: int, **kw: Any) -> Fault:
        return self.inject("status", status=status, **kw)

    def answer_garbage(self, body: bytes | str = b"<html>502 Bad Gateway</html>", status: int = 200, **kw: Any) -> Fault:
        return self.inject("garbage", status=status, body=body, **kw)

    def delay_next(self, seconds: float, **kw: Any) -> Fault:
        return self.inject("delay", delay=seconds, **kw)

    def close_connection(self, **kw: Any) -> Fault:
        return self.inject("close", **kw)

    def clear_faults(self) -> None:
        with self.lock:
            self._faults.clear()

    def _take_fault(self, req: RecordedRequest) -> Fault | None:
        with self.lock:
            for fault in self._faults:
                if fault.matches(req):
                    if fault.times > 0:
                        fault.times -= 1
                        if fault.times == 0:
                            self._faults.remove(fault)
                    return fault
        return None

    def sleep(self, seconds: float) -> None:
        """Sleep that ends early when the server stops."""
        self._stopping.wait(seconds)

    # -- serving ---------------------------------------------------------------------------
    def _serve(self, h: BaseHTTPRequestHandler) -> None:
        length = int(h.headers.get("Content-Length") or 0)
        raw = h.rfile.read(length) if length else b""
        parts = urlsplit(h.path)
        parsed: Any = None
        if raw and "json" in (h.headers.get("Content-Type") or ""):
            try:
                parsed = json.loads(raw)
            except ValueError:
                parsed = None
        req = RecordedRequest(
            method=h.command,
            path=parts.path,
            query=parse_qs(parts.query, keep_blank_values=True),
            headers=dict(h.headers.items()),
            body=raw,
            json=parsed,
        )
        with self.lock:
            self._requests.append(req)

        fault = self._take_fault(req)
        if fault is not None and fault.before_handler:
            if fault.kind == "delay":
                self.sleep(fault.delay)
                fault = None  # then answer normally
            elif fault.kind == "close":
                self._drop(h)
                return
            elif fault.kind == "status":
                self._write(h, Reply(fault.status, body=fault.body or json.dumps({"message": f"injected {fault.status}"}).encode()))
                return
            elif fault.kind == "garbage":
                self._write(h, Reply(fault.status, body=fault.body, headers={"Content-Type": "application/json"}))
                return

        reply = self._dispatch(req)
        if fault is not None:  # after-handler faults: the effect happened, the answer does not arrive
            if fault.kind == "delay":
                self.sleep(fault.delay)
            elif fault.kind == "close":
                self._drop(h)
                return
        if reply.delay:
            self.sleep(reply.delay)
        if self._stopping.is_set():
            self._drop(h)
            return
        self._write(h, reply)

    def _dispatch(self, req: RecordedRequest) -> Reply:
        path_matched = False
        for method, pattern, handler in self._routes:
            match = pattern.fullmatch(req.path)
            if match is None:
                continue
            path_matched = True
            if method == req.method:
                with self.lock:
                    return handler(req, match)
        if path_matched:
            return Reply(405, {"message": f"method {req.method} not allowed"})
        return Reply(404, {"message": f"no route for {req.method} {req.path}"})

    @staticmethod
    def _write(h: BaseHTTPRequestHandler, reply: Reply) -> None:
        if reply.body is not None:
            payload = reply.body
            content_type = reply.headers.get("Content-Type", "application/json")
        elif reply.json is not None:
            payload = json.dumps(reply.json).encode()
            content_type = "application/json"
        else:
            payload = b""
            content_type = "application/json"
        try:
            h.send_response(reply.status)
            h.send_header("Content-Type", content_type)
            h.send_header("Content-Length", str(len(payload)))
            for key, value in reply.headers.items():
                if key.lower() != "content-type":
                    h.send_header(key, value)
            h.end_headers()
            if h.command != "HEAD":
                h.wfile.write(payload)
            h.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timed out); that is the point of some tests

    @staticmethod
    def _drop(h: BaseHTTPRequestHandler) -> None:
        h.close_connection = True
        try:
            h.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
