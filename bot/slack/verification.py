"""Slack's request signatures (docs.slack.dev/authentication/verifying-requests-from-slack):
`v0=` HMAC-SHA256 of `v0:<X-Slack-Request-Timestamp>:<body>` with the signing secret, the
timestamp within five minutes of now. It stands where Bolt's `RequestVerification` stands
(first, before authorization) and refuses what it refuses, with Bolt's 401.

Why not Bolt's own: for every request whose signature is wrong, Bolt logs the whole body at INFO.
A click's body carries the alert message, so the log line held the guest's e-mail and phone,
and anyone who can reach the URL could write what they liked into the logs (issue 28). Here the
body is never logged: why the request was refused (no signature, a timestamp outside the five
minutes, a signature that does not match) and the body's length are left in the request's
context (`REFUSED`) for the request's log line (`bot.slack.app.starlette_endpoint`, then
`syncdesk.web.RequestLog`: `POST /slack/events 401 … reason=bad Slack signature: …`).
"""

from __future__ import annotations

from collections.abc import Callable

from slack_bolt import BoltRequest, BoltResponse
from slack_bolt.middleware import Middleware
from slack_sdk.signature import SignatureVerifier

REFUSED = "syncdesk_refused"  # the BoltContext key: why the request was refused
WINDOW_SECONDS = 5 * 60  # Slack: a timestamp more than five minutes from now may be a replay


class SignatureCheck(Middleware):
    """Refuse an HTTP request that Slack did not sign with `signing_secret` (401), saying why."""

    def __init__(self, signing_secret: str) -> None:
        self.verifier = SignatureVerifier(signing_secret)

    def process(self, *, req: BoltRequest, resp: BoltResponse, next: Callable[[], BoltResponse]) -> BoltResponse:
        if req.mode == "socket_mode":  # the socket itself is authenticated; nothing is signed
            return next()
        timestamp = req.headers.get("x-slack-request-timestamp", [""])[0]
        signature = req.headers.get("x-slack-signature", [""])[0]
        why = self.refusal(req.raw_body, timestamp, signature)
        if why is None:
            return next()
        req.context[REFUSED] = f"bad Slack signature: {why} ({len(req.raw_body.encode())}-byte body not logged)"
        return BoltResponse(status=401, body={"error": "invalid request"})

    def refusal(self, body: str, timestamp: str, signature: str) -> str | None:
        """Why the request is not Slack's, in words (None: it is)."""
        if not signature:
            return "no X-Slack-Signature header"
        try:
            age = self.verifier.clock.now() - int(timestamp)
        except ValueError:
            return "no X-Slack-Request-Timestamp header" if not timestamp else \
                "X-Slack-Request-Timestamp is not a number"
        if abs(age) > WINDOW_SECONDS:
            when = f"{age:.0f} s old" if age > 0 else f"{-age:.0f} s ahead"
            return f"timestamp {when}, outside Slack's {WINDOW_SECONDS // 60} minutes"
        if not self.verifier.is_valid(body, timestamp, signature):
            return "the signature does not match (another SLACK_SIGNING_SECRET, or an altered body)"
        return None
