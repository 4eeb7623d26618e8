"""The README's two commands on a fresh clone, in the order a newcomer runs them (issue 16):
`bash scripts/run.sh` installs and starts the bot, `bash scripts/test.sh` then installs what
it needs and its runner starts; and with nothing at the default REDIS_URL (a network namespace
of its own, loopback only) run.sh starts the embedded Redis, the bot answers /readyz with it,
takes a failure, shows it in /metrics, and stops the embedded server when it stops.

Slow (one fresh install, ~1-2 minutes with pip's cache): it runs once, in the SQLite pass.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import ROOT, free_port

pytestmark = [pytest.mark.timeout(1200), pytest.mark.slow]  # uses no test database: runs in the SQLite pass alone
DROP = ("SLACK_", "TEAMS_", "REDIS_URL", "DATABASE_URL", "INGEST_SECRET", "PROMETHEUS_MULTIPROC_DIR", "VIRTUAL_ENV",
        "PYTHONPATH", "PYTEST_")

# Run inside `unshare --net`: only loopback, nothing at 127.0.0.1:6379 but what run.sh starts.
DRIVER = r"""
set -u
ip link set lo up
bash scripts/run.sh > run.log 2>&1 &
runner=$!
PY=.venv/bin/python
ready=$($PY - <<'PY'
import httpx, json, time
deadline = time.monotonic() + 90
while time.monotonic() < deadline:
    try:
        r = httpx.get("http://127.0.0.1:8000/readyz", timeout=2)
        if r.status_code == 200:
            print(json.dumps(r.json())); break
    except httpx.HTTPError:
        pass
    time.sleep(0.3)
PY
)
echo "READY $ready"
.venv/bin/syncdesk ingest examples/synxis-timeout.json --url http://127.0.0.1:8000 | sed 's/^/INGEST /'
$PY -c 'import httpx; print("\n".join("METRIC " + l for l in httpx.get("http://127.0.0.1:8000/metrics").text.splitlines() if l.startswith("syncdesk_failures_received_total")))'
kill -TERM $runner
wait $runner
echo "RUNNER_EXIT $?"
$PY -c 'from syncdesk.embedded import answers; print("REDIS_AFTER", answers("redis://localhost:6379/0"))'
"""


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(DROP)} | {"PYTHONUNBUFFERED": "1"}


def test_readme_commands_work_on_a_fresh_clone_in_order(tmp_path: Path, redis_db_url: str):
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        pytest.fail("this test needs `unshare` (util-linux) and `ip` (iproute2) for a loopback-only namespace")
    clone = tmp_path / "syncdesk"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True, timeout=120)
    env = clean_env()

    # 1. run.sh on the fresh clone: installs syncdesk, migrates, starts web + worker.
    port = free_port()
    (clone / ".env").write_text(f"INGEST_SECRET=fresh-clone\nREDIS_URL={redis_db_url}\n")
    runner = subprocess.Popen(["bash", "scripts/run.sh"], cwd=clone, env=env | {"PORT": str(port)},
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 600
        ready = None
        while time.monotonic() < deadline and runner.poll() is None:
            try:
                answer = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2)
                if answer.status_code == 200:
                    ready = answer.json()
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
    finally:
        os.killpg(runner.pid, signal.SIGTERM)
        output = runner.communicate(timeout=60)[0].decode(errors="replace")
    assert ready is not None and ready["status"] == "ready", output
    assert "installing syncdesk (.) into .venv" in output

    # 2. test.sh right after: it adds the test extras itself and its runner starts (both passes).
    quick = "tests/syncdesk/test_cli.py::test_unknown_order_is_a_clear_error"  # uses the database: both passes
    tested = subprocess.run(["bash", "scripts/test.sh", quick], cwd=clone, env=env, capture_output=True, text=True,
                            timeout=900)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "installing syncdesk (.[test]) into .venv" in tested.stdout
    assert tested.stdout.count("1 passed") == 2, tested.stdout

    # 3. run.sh with nothing at the default REDIS_URL: the embedded Redis, then stopped with the bot.
    (clone / ".env").write_text("INGEST_SECRET=fresh-clone\n")
    driven = subprocess.run(["unshare", "--user", "--map-root-user", "--net", "bash", "-c", DRIVER], cwd=clone,
                            env=env, capture_output=True, text=True, timeout=300)
    log = (clone / "run.log").read_text(errors="replace") if (clone / "run.log").exists() else ""
    lines = dict(line.split(" ", 1) for line in driven.stdout.splitlines() if " " in line)
    assert lines.get("READY"), driven.stdout + driven.stderr + log
    ready = json.loads(lines["READY"])
    assert ready == {"status": "ready", "database": "ok", "redis": "ok"}, log
    assert "started the embedded Redis (Valkey) there" in log
    assert lines["INGEST"].startswith("202 "), driven.stdout
    assert 'syncdesk_failures_received_total{error_class="timeout",system="synxis"} 1.0' in driven.stdout, \
        driven.stdout + log
    assert lines["RUNNER_EXIT"] == "0", log
    assert "stopped the embedded Redis" in log
    assert lines["REDIS_AFTER"] == "False", driven.stdout
    assert (clone / ".syncdesk" / "redis" / "valkey.log").exists()
