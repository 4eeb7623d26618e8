"""A fake Slack Web API speaking Slack's wire format (docs.slack.dev/apis/web-api).

- `POST|GET /api/<method>` with the token as `Authorization: Bearer`, arguments as a
  form body, a JSON body or the query string; answers `{"ok": true, ...}` like Slack, and
  `{"ok": false, "error": "..."}` (HTTP 200) for Slack's own errors (`invalid_auth`,
  `channel_not_found`, `message_not_found`, `no_such_subteam`).
- Methods: `auth.test`, `chat.postMessage`, `chat.update`, `chat.postEphemeral`,
  `conversations.open` (a DM channel `D…` per user), `views.open`, `views.update`,
  `views.publish`, `usergroups.users.list`.
- `POST /hooks/<anything>`: a `response_url` (what Bolt's `respond()` posts to).
- File uploads as slack_sdk's `files_upload_v2` makes them (issue 26.7):
  `files.getUploadURLExternal` (filename and length required: `invalid_arguments` without
  them, `missing_argument` for a length of 0, `alt_txt_too_large` past 1000 characters) answers
  an `upload_url` on this server and a file id; `POST /upload/v1/<ticket>` takes the bytes, raw
  or as a multipart form's file part, and answers 200 `OK - <length>` (404 for an unknown or
  finished ticket; 400 when the bytes are not the length announced: the fake's strict
  reading); `files.completeUploadExternal` (`files` a JSON array of `{"id", "title"}`) shares
  them to `channel_id` (or `channels`, ids only: `channel_not_found` for a name or an unknown
  id), in `thread_ts` if given (a message in that one channel, else `invalid_arguments`: the
  fake's strict reading), as a bot message carrying the file. A file id that was never issued,
  whose bytes were not uploaded, or that was completed already is `file_not_found`
  (docs.slack.dev/reference/methods/files.getUploadURLExternal, …/files.completeUploadExternal:
  "This method can only be called once"). `shared_files()` lists what was shared, with bytes.
- `apps.connections.open` (Socket Mode): only with the app-level token (`xapp-…`, scope
  connections:write) in the `Authorization` header, as the method page requires; a bot token
  is `not_allowed_token_type`. Answers `{"ok": true, "url": <one-use ticket>}` from the
  attached `FakeSocketMode` (`tests.fakes.slack_socket`).
- `rate_limit(method, retry_after, times)`: HTTP 429 with `Retry-After`, Slack's
  `{"ok": false, "error": "ratelimited"}` body; `fail(method, error, times)`: ok:false.

    with FakeSlack(token="xoxb-test", usergroups={"S0RESV": ["U0ANA"]}) as slack:
        slack.calls("chat.postMessage")  # the arguments of every call, in order
"""

from __future__ import annotations

import email.parser
import email.policy
import itertools
import json
import re
import secrets
import time
from typing import Any
from urllib.parse import parse_qs

from tests.fakes.http import FakeServer, RecordedRequest, Reply

TEAM = "T0SYNCDESK"
BOT_USER = "U0SYNCBOT"


class FakeSlack(FakeServer):
    def __init__(self, *, token: str = "xoxb-test", usergroups: dict[str, list[str]] | None = None,
                 channels: dict[str, str] | None = None, app_token: str = "xapp-1-A0SYNCDESK-test") -> None:
        super().__init__()
        self.token = token
        self.app_token = app_token
        self.socket: Any = None  # a started tests.fakes.slack_socket.FakeSocketMode
        self.usergroups = {k: list(v) for k, v in (usergroups or {}).items()}
        self.channels = dict(channels) if channels is not None else {"#reservations-alerts": "C0ALERTS"}
        self.messages: dict[tuple[str, str], dict[str, Any]] = {}  # (channel id, ts) -> message
        self.views: dict[str, dict[str, Any]] = {}
        self.home: dict[str, dict[str, Any]] = {}  # user -> published view
        self.hooks: list[dict[str, Any]] = []  # what arrived at response_urls
        self._calls: list[tuple[str, dict[str, Any]]] = []
        self._errors: list[list[Any]] = []  # [method, status, error, retry_after, times]
        self._ts = itertools.count(1)
        self.uploads: dict[str, dict[str, Any]] = {}  # file id -> its upload ticket (files.getUploadURLExternal)
        self.route("POST", r"/api/(?P<method>[\w.]+)", self._api)
        self.route("GET", r"/api/(?P<method>[\w.]+)", self._api)
        self.route("POST", r"/hooks/.*", self._hook)
        self.route("POST", r"/upload/v1/(?P<ticket>[\w-]+)", self._upload)

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/"

    def response_url(self, name: str = "r1") -> str:
        return f"{self.url}/hooks/{name}"

    # -- test API --------------------------------------------------------------------------
    def calls(self, method: str | None = None) -> list[dict[str, Any]]:
        with self.lock:
            return [dict(args, _method=m) for m, args in self._calls if method is None or m == method]

    def rate_limit(self, method: str, retry_after: int = 1, times: int = 1) -> None:
        with self.lock:
            self._errors.append([method, 429, "ratelimited", retry_after, times])

    def fail(self, method: str, error: str, times: int = 1) -> None:
        with self.lock:
            self._errors.append([method, 200, error, None, times])

    def shared_files(self, channel: str | None = None) -> list[dict[str, Any]]:
        """Files completed with files.completeUploadExternal (in `channel`, by id): id, filename,
        title, alt_txt, data (the bytes), channels, thread_ts and the ts of the message sharing it."""
        with self.lock:
            return [dict(t) for t in self.uploads.values() if t["completed"]
                    and (channel is None or channel in t["channels"])]

    # -- wire format -----------------------------------------------------------------------
    @staticmethod
    def _args(req: RecordedRequest) -> dict[str, Any]:
        args: dict[str, Any] = {k: v[0] for k, v in req.query.items()}
        content_type = req.header("Content-Type") or ""
        if req.body and "json" in content_type:
            args.update(json.loads(req.body))
        elif req.body:
            args.update({k: v[0] for k, v in parse_qs(req.body.decode()).items()})
        for key in ("blocks", "view"):  # form-encoded calls carry these as JSON strings
            if isinstance(args.get(key), str):
                args[key] = json.loads(args[key])
        return args

    def _take_error(self, method: str) -> list[Any] | None:
        for err in self._errors:
            if err[0] == method:
                err[4] -= 1
                if err[4] <= 0:
                    self._errors.remove(err)
                return err
        return None

    def _api(self, req: RecordedRequest, match: re.Match[str]) -> Reply:
        method = match.group("method")
        args = self._args(req)
        token = (req.header("Authorization") or "").removeprefix("Bearer ") or args.pop("token", "")
        self._calls.append((method, args))
        err = self._take_error(method)
        if err is not None:
            headers = {"Retry-After": str(err[3])} if err[3] is not None else {}
            return Reply(err[1], {"ok": False, "error": err[2]}, headers=headers)
        if method == "apps.connections.open":
            return Reply(200, self._apps_connections_open(req))
        if token != self.token:
            return Reply(200, {"ok": False, "error": "invalid_auth"})
        handler = getattr(self, "_" + method.replace(".", "_"), None)
        if handler is None:
            return Reply(200, {"ok": False, "error": "unknown_method"})
        return Reply(200, handler(args))

    def _upload(self, req: RecordedRequest, match: re.Match[str]) -> Reply:
        """The `upload_url`: Slack answers HTTP 200 when the bytes arrived, anything else is a failure."""
        ticket = next((t for t in self.uploads.values() if t["ticket"] == match.group("ticket")), None)
        if ticket is None or ticket["completed"]:
            return Reply(404, body=b"upload ticket not found", headers={"Content-Type": "text/plain"})
        data = req.body
        if (req.header("Content-Type") or "").startswith("multipart/form-data"):
            form = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
                f"Content-Type: {req.header('Content-Type')}\r\n\r\n".encode() + req.body)
            data = next((bytes(part.get_payload(decode=True) or b"") for part in form.iter_parts()
                         if part.get_filename()), b"")
        if len(data) != ticket["length"]:
            return Reply(400, body=f"expected {ticket['length']} bytes, got {len(data)}".encode(),
                         headers={"Content-Type": "text/plain"})
        ticket["data"] = data
        return Reply(200, body=f"OK - {len(data)}".encode(), headers={"Content-Type": "text/plain"})

    def _hook(self, req: RecordedRequest, match: re.Match[str]) -> Reply:
        self.hooks.append(dict(json.loads(req.body or b"{}"), _path=req.path))
        return Reply(200, body=b"ok", headers={"Content-Type": "text/plain"})

    def _channel(self, name: str) -> str | None:
        if name in self.channels.values() or name.startswith(("D", "U")):
            return name
        return self.channels.get(name if name.startswith("#") else f"#{name}")

    def _new_ts(self) -> str:
        return f"{int(time.time())}.{next(self._ts):06d}"

    # -- methods ---------------------------------------------------------------------------
    def _auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "url": "https://syncdesk-test.slack.com/", "team": "syncdesk test", "user": "syncdesk",
                "team_id": TEAM, "user_id": BOT_USER, "bot_id": "B0SYNCBOT", "is_enterprise_install": False}

    def _apps_connections_open(self, req: RecordedRequest) -> dict[str, Any]:
        header = (req.header("Authorization") or "").removeprefix("Bearer ")
        if not header:
            return {"ok": False, "error": "not_authed"}  # a token in the body does not count here
        if header == self.token or header.startswith("xoxb-"):
            return {"ok": False, "error": "not_allowed_token_type"}
        if header != self.app_token:
            return {"ok": False, "error": "invalid_auth"}
        if self.socket is None:
            return {"ok": False, "error": "internal_error"}
        return {"ok": True, "url": self.socket.issue_url()}

    def _chat_postMessage(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(str(args.get("channel", "")))
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        ts = self._new_ts()
        message = {"type": "message", "ts": ts, "text": args.get("text", ""), "blocks": args.get("blocks", []),
                   "thread_ts": args.get("thread_ts"), "bot_id": "B0SYNCBOT", "user": BOT_USER}
        self.messages[(channel, ts)] = message
        return {"ok": True, "channel": channel, "ts": ts, "message": message}

    def _conversations_open(self, args: dict[str, Any]) -> dict[str, Any]:
        users = [u for u in str(args.get("users") or "").split(",") if u]
        if not users:
            return {"ok": False, "error": "users_list_not_supplied"}
        if any(not u.startswith(("U", "W")) for u in users):
            return {"ok": False, "error": "user_not_found"}
        return {"ok": True, "channel": {"id": "D" + users[0][1:] if len(users) == 1 else "G" + "".join(users)}}

    def _chat_update(self, args: dict[str, Any]) -> dict[str, Any]:
        key = (str(args.get("channel")), str(args.get("ts")))
        if key not in self.messages:
            return {"ok": False, "error": "message_not_found"}
        self.messages[key].update(text=args.get("text", ""), blocks=args.get("blocks", []))
        return {"ok": True, "channel": key[0], "ts": key[1], "text": args.get("text", ""),
                "message": self.messages[key]}

    def _chat_postEphemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        if self._channel(str(args.get("channel", ""))) is None:
            return {"ok": False, "error": "channel_not_found"}
        return {"ok": True, "message_ts": self._new_ts()}

    def _view(self, view: dict[str, Any], view_id: str | None = None) -> dict[str, Any]:
        view_id = view_id or f"V{next(self._ts):08d}"
        stored = dict(view, id=view_id, hash=f"{time.time():.6f}", team_id=TEAM)
        self.views[view_id] = stored
        return stored

    def _views_open(self, args: dict[str, Any]) -> dict[str, Any]:
        if not args.get("trigger_id"):
            return {"ok": False, "error": "invalid_trigger_id"}
        return {"ok": True, "view": self._view(args["view"])}

    def _views_update(self, args: dict[str, Any]) -> dict[str, Any]:
        view_id = args.get("view_id")
        if view_id not in self.views:
            return {"ok": False, "error": "not_found"}
        if args.get("hash") and args["hash"] != self.views[view_id]["hash"]:
            return {"ok": False, "error": "hash_conflict"}
        return {"ok": True, "view": self._view(args["view"], view_id)}

    def _views_publish(self, args: dict[str, Any]) -> dict[str, Any]:
        view = self._view(args["view"])
        self.home[str(args.get("user_id"))] = view
        return {"ok": True, "view": view}

    def _files_getUploadURLExternal(self, args: dict[str, Any]) -> dict[str, Any]:
        filename, length = str(args.get("filename") or ""), str(args.get("length") or "")
        if not filename or not length.isdigit():
            return {"ok": False, "error": "invalid_arguments", "response_metadata": {
                "messages": ["[ERROR] missing required field: " + ("filename" if not filename else "length")]}}
        if int(length) == 0:
            return {"ok": False, "error": "missing_argument"}
        if len(str(args.get("alt_txt") or "")) > 1000:
            return {"ok": False, "error": "alt_txt_too_large"}
        file_id, ticket = f"F{next(self._ts):010d}", secrets.token_urlsafe(12)
        self.uploads[file_id] = {"id": file_id, "ticket": ticket, "filename": filename, "length": int(length),
                                 "alt_txt": args.get("alt_txt"), "data": None, "completed": False,
                                 "title": None, "channels": [], "thread_ts": None, "ts": None}
        return {"ok": True, "upload_url": f"{self.url}/upload/v1/{ticket}", "file_id": file_id}

    def _files_completeUploadExternal(self, args: dict[str, Any]) -> dict[str, Any]:
        files = args.get("files")
        try:
            files = json.loads(files) if isinstance(files, str) else files
        except ValueError:
            files = None
        if not isinstance(files, list) or not files or not all(isinstance(f, dict) and f.get("id") for f in files):
            return {"ok": False, "error": "invalid_arguments"}
        where = [c for c in [args.get("channel_id"), *str(args.get("channels") or "").split(",")] if c]
        if any(c not in self.channels.values() and not c.startswith(("D", "G")) for c in where):
            return {"ok": False, "error": "channel_not_found"}
        thread = args.get("thread_ts")
        if thread and (len(where) != 1 or (where[0], str(thread)) not in self.messages):
            return {"ok": False, "error": "invalid_arguments"}
        tickets = [self.uploads.get(str(f["id"])) for f in files]
        if any(t is None or t["completed"] or t["data"] is None for t in tickets):
            return {"ok": False, "error": "file_not_found"}
        shared = []
        for f, t in zip(files, tickets):
            assert t is not None
            t.update(completed=True, title=f.get("title") or t["filename"], channels=where, thread_ts=thread)
            shared.append({"id": t["id"], "title": t["title"]})
        for channel in where:  # the bot's message that carries the files
            ts = self._new_ts()
            self.messages[(channel, ts)] = {"type": "message", "ts": ts, "text": args.get("initial_comment") or "",
                                            "files": shared, "thread_ts": thread, "bot_id": "B0SYNCBOT",
                                            "user": BOT_USER, "blocks": []}
            for t in tickets:
                assert t is not None
                t["ts"] = t["ts"] or ts
        return {"ok": True, "files": shared}

    def _usergroups_users_list(self, args: dict[str, Any]) -> dict[str, Any]:
        group = args.get("usergroup")
        if group not in self.usergroups:
            return {"ok": False, "error": "no_such_subteam"}
        return {"ok": True, "users": list(self.usergroups[group])}
