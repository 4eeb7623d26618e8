"""The `syncdesk` command as an operator uses it: ingest, orders, order, and fail-fast
settings."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import EXAMPLES, ROOT, settings_env
from workflows.settings import Settings


def syncdesk(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "workflows.cli", *args], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=60)


def test_ingest_then_orders_lists_it_and_order_tells_its_story(settings, live_app):
    env = settings_env(settings)
    posted = syncdesk(env, "ingest", str(EXAMPLES / "synxis-timeout.json"), "--url", live_app.url)
    assert posted.returncode == 0, posted.stdout + posted.stderr
    assert posted.stdout.startswith("202 ")

    listing = syncdesk(env, "orders")
    assert listing.returncode == 0, listing.stderr
    row = next(line for line in listing.stdout.splitlines() if line.startswith("ORD-10042"))
    assert row.split()[3:] == ["In", "Progress", "failed", "1", "timeout"]

    assert "ORD-10042" not in syncdesk(env, "orders", "--status", "success").stdout
    assert "ORD-10042" in syncdesk(env, "orders", "--status", "failed").stdout
    assert "ORD-10042" not in syncdesk(env, "orders", "--since", "2026-11-23").stdout

    story = syncdesk(env, "order", "ORD-10042")
    assert story.returncode == 0
    assert "attempt 1 failed by platform" in story.stdout
    assert "intake.failure" in story.stdout and "alert.created" in story.stdout


def test_ingest_twice_is_a_duplicate_unless_fresh(settings, live_app):
    env = settings_env(settings)
    example = str(EXAMPLES / "premier-spa.json")
    assert syncdesk(env, "ingest", example, "--url", live_app.url).stdout.startswith("202 ")
    assert '"duplicate":true' in syncdesk(env, "ingest", example, "--url", live_app.url).stdout
    assert syncdesk(env, "ingest", example, "--fresh", "--url", live_app.url).stdout.startswith("202 ")


def test_unknown_order_is_a_clear_error(settings):
    result = syncdesk(settings_env(settings), "order", "ORD-NOPE")
    assert result.returncode == 1
    assert "ORD-NOPE is not known" in result.stderr


def test_missing_ingest_secret_fails_at_start_naming_it(settings, tmp_path):
    env = settings_env(settings)
    del env["INGEST_SECRET"]
    result = subprocess.run([sys.executable, "-m", "workflows.cli", "serve", "--port", "0"], env=env,
                            cwd=tmp_path, capture_output=True, text=True, timeout=60)  # no .env in tmp_path
    assert result.returncode == 2
    assert "INGEST_SECRET" in result.stderr


def test_secrets_never_appear_in_settings_repr():
    s = Settings(_env_file=None, ingest_secret="s3cr3t-ingest", slack_bot_token="xoxb-s3cr3t",
                 stripe_api_key="sk_test_s3cr3t")
    assert "s3cr3t" not in repr(s) and "s3cr3t" not in str(s.model_dump())


def test_bad_connectors_file_stops_the_start_naming_the_entry(settings, tmp_path):
    routing = tmp_path / "connectors.yml"
    routing.write_text("premier:\n  properties:\n    MAINSPA: pmss\n")
    env = settings_env(settings) | {"CONNECTORS_FILE": str(routing)}
    result = subprocess.run([sys.executable, "-m", "workflows.cli", "worker", "--burst"], env=env, cwd=tmp_path,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "premier.properties.MAINSPA" in result.stderr and "pmss" in result.stderr


def test_connectors_lists_the_routing(settings, tmp_path):
    routing = tmp_path / "connectors.yml"
    routing.write_text("premier:\n  default: premier\n")
    env = settings_env(settings) | {"CONNECTORS_FILE": str(routing)}
    result = syncdesk(env, "connectors")
    assert "premier" in result.stdout and "manual" in result.stdout
