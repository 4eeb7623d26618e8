"""Settings as every command reads them (issue 27): one typed model checked at start, a bad
value refused in one line that names the setting, what it got (secrets masked) and what it
accepts, exit 2; `syncdesk config` shows every setting, its source and whether it is valid;
the `.env` and a relative SQLite path do not depend on the current directory."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, run_cli
from workflows.core.settings import Settings

syncdesk = run_cli
DATABASE_URLS = ("accepts sqlite:///PATH (a relative PATH is next to the .env, else in the project) or "
                 "postgresql+psycopg://USER:PASSWORD@HOST:PORT/DATABASE")


def bare_env(**extra: str) -> dict[str, str]:
    """A shell with no syncdesk setting but the intake secret, and `extra`."""
    return {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"), "INGEST_SECRET": "s3cret"} | extra


@pytest.fixture
def here(tmp_path: Path) -> Path:
    """A directory with an empty `.env`: the one read, whatever the project's holds."""
    (tmp_path / ".env").write_text("")
    return tmp_path


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    return lines[0]


BAD = [
    ("DATABASE_URL", "garbage", f"'garbage' (from the environment): {DATABASE_URLS}"),
    ("DATABASE_URL", "mysql://ops:hunter2@db/syncdesk",
     f"'mysql://ops:***@db/syncdesk' (from the environment): {DATABASE_URLS}"),
    ("DATABASE_URL", "postgresql+psycopg2://ops:hunter2@db/syncdesk",
     f"'postgresql+psycopg2://ops:***@db/syncdesk' (from the environment): {DATABASE_URLS}"),
    ("REDIS_URL", "garbage", "'garbage' (from the environment): accepts redis://[:PASSWORD@]HOST:PORT/DB, "
     "rediss://… (TLS) or unix:///PATH"),
    ("LOG_LEVEL", "bogus", "'bogus' (from the environment): accepts DEBUG, INFO, WARNING, ERROR or CRITICAL"),
    ("LOG_FORMAT", "xml", "'xml' (from the environment): accepts text or json"),
    ("SYSTEM_PACE", "bogus", "'bogus' (from the environment): accepts SYSTEM=RATE/AT_ONCE, comma-separated, e.g. "
     "synxis=20/8,resdiary=5/2 (requests per second above 0 / at least 1 booking at once), or nothing"),
    ("SYSTEM_PACE_DEFAULT", "0/0", "'0/0' (from the environment): accepts RATE/AT_ONCE, e.g. 5/4 (requests per "
     "second above 0 / at least 1 booking at once)"),
    ("STUCK_AFTER_MINUTES", "-5", "'-5' (from the environment): accepts a whole number above 0"),
    ("AUTO_RETRY_AFTER_SECONDS", "abc", "'abc' (from the environment): accepts a whole number at least 0"),
    ("DIGEST_TIME", "25:00", "'25:00' (from the environment): accepts a local time HH:MM (00:00 to 23:59) or off"),
    ("RECONCILE_TIME", "7pm", "'7pm' (from the environment): accepts a local time HH:MM (00:00 to 23:59) or off"),
    ("ARRIVALS_CHECK_AT", "noon", "'noon' (from the environment): accepts a local time HH:MM (00:00 to 23:59) or "
     "off"),
    ("LOCAL_TIMEZONE", "Mars/Olympus", "'Mars/Olympus' (from the environment): accepts an IANA time zone, e.g. UTC "
     "or Europe/London"),
    ("PORT", "http", "'http' (from the environment): accepts a whole number above 0 and at most 65535"),
]


@pytest.mark.parametrize(("name", "value", "said"), BAD, ids=[f"{n}={v}" for n, v, _ in BAD])
def test_a_bad_setting_is_one_line_naming_it_what_it_got_and_what_it_accepts(here, name, value, said):
    result = syncdesk(bare_env(**{name: value}), "orders", cwd=here)
    assert result.returncode == 2
    assert one_line(result) == f"syncdesk: bad setting {name}={said}"
    assert "hunter2" not in result.stderr and result.stdout == ""


@pytest.mark.parametrize("command", [("migrate",), ("serve",), ("worker", "--burst"), ("clock",),
                                     ("reprocess", "ORD-1"), ("ingest", "examples/synxis-timeout.json"),
                                     ("find", "walker"), ("embedded-redis", "--", "true")])
def test_every_command_checks_the_settings_before_it_starts(here, command):
    result = syncdesk(bare_env(REDIS_URL="garbage"), *command, cwd=here)
    assert result.returncode == 2
    assert one_line(result).startswith("syncdesk: bad setting REDIS_URL='garbage' (from the environment): accepts ")


def test_a_bad_setting_in_the_env_file_names_the_file(tmp_path):
    (tmp_path / ".env").write_text("LOG_LEVEL=bogus\nSTUCK_AFTER_MINUTES=0\n")
    result = syncdesk(bare_env(), "orders", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"syncdesk: bad setting LOG_LEVEL='bogus' (from {tmp_path / '.env'}): accepts DEBUG, INFO, WARNING, ERROR or "
        "CRITICAL",
        f"syncdesk: bad setting STUCK_AFTER_MINUTES='0' (from {tmp_path / '.env'}): accepts a whole number above 0"]


def test_a_process_with_a_bad_log_level_stops_in_one_line_not_a_traceback(here):
    """The process itself (its logging is set up from the settings): `serve` in a new interpreter."""
    result = subprocess.run([sys.executable, "-m", "syncdesk.cli", "serve", "--port", "0"],
                            env=bare_env(LOG_LEVEL="bogus", PYTHONPATH=str(ROOT)), cwd=here, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 2
    assert one_line(result) == ("syncdesk: bad setting LOG_LEVEL='bogus' (from the environment): accepts DEBUG, INFO, "
                                "WARNING, ERROR or CRITICAL")


def test_good_values_are_read_as_meant():
    s = Settings(_env_file=None, log_level="debug", log_format="JSON", digest_time="7:30", reconcile_time="OFF",
                 database_url="postgresql://ops:pw@db/syncdesk", system_pace="synxis=20/8")
    assert (s.log_level, s.log_format, s.digest_time, s.reconcile_time) == ("DEBUG", "json", "07:30", "off")
    assert s.database_url == "postgresql+psycopg://ops:pw@db/syncdesk"  # the driver syncdesk installs


def config_rows(stdout: str) -> dict[str, list[str]]:
    rows = {}
    for line in stdout.splitlines()[2:]:
        name, source, ok, value = re.split(r"\s{2,}", line, maxsplit=3)
        rows[name] = [source, ok, value]
    return rows


def test_config_shows_every_setting_its_value_masked_its_source_and_validity(tmp_path):
    (tmp_path / ".env").write_text("STUCK_AFTER_MINUTES=-5\nREDIS_URL=redis://:hunter2@cache:6379/0\n"
                                   "SLACK_BOT_TOKEN=xoxb-from-dotenv\n")
    env = bare_env(SLACK_BOT_TOKEN="xoxb-s3cret-token", DATABASE_URL="sqlite:///data.db")
    result = syncdesk(env, "config", cwd=tmp_path)
    assert result.returncode == 2
    assert "s3cret" not in result.stdout + result.stderr and "hunter2" not in result.stdout
    assert result.stdout.splitlines()[0] == f"settings from the environment, {tmp_path / '.env'} and the defaults"
    rows = config_rows(result.stdout)
    assert set(rows) == {name.upper() for name in Settings.model_fields}
    assert rows["SLACK_BOT_TOKEN"] == ["environment", "ok", "********"]  # the environment wins over .env
    assert rows["INGEST_SECRET"] == ["environment", "ok", "********"]
    assert rows["REDIS_URL"] == [".env", "ok", "redis://:***@cache:6379/0"]
    assert rows["STUCK_AFTER_MINUTES"] == [".env", "BAD", "-5  (accepts a whole number above 0)"]
    assert rows["DATABASE_URL"] == ["environment", "ok", f"sqlite:///{tmp_path / 'data.db'}"]
    assert rows["LOG_LEVEL"] == ["default", "ok", "INFO"]
    assert rows["SLACK_SIGNING_SECRET"] == ["default", "ok", "(unset)"]
    assert one_line(result) == (f"syncdesk config: bad setting: STUCK_AFTER_MINUTES (marked BAD: fix it in the "
                                f"environment or {tmp_path / '.env'})")
    only = syncdesk(bare_env(), "config", "slack_bot", cwd=tmp_path)
    assert [line.split()[0] for line in only.stdout.splitlines()[2:]] == ["SLACK_BOT_TOKEN"]


def test_config_exits_0_when_every_setting_is_valid(here):
    result = syncdesk(bare_env(), "config", cwd=here)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""


def test_readme_configuration_section_matches_syncdesk_config(here):
    """Every variable the README's configuration table names is a setting, with the default it says."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    table = [line for line in section.splitlines() if line.startswith("| `")]
    named = {n for line in table for n in re.findall(r"`([A-Z][A-Z0-9_]+)`", line.split("|")[1])}
    rows = config_rows(syncdesk(bare_env(), "config", cwd=here).stdout)
    assert named and named <= set(rows), named - set(rows)
    defaults = {n: d for line in table for n, d in re.findall(r"`([A-Z][A-Z0-9_]+)` \(`?([^`)]+)`?\)", line)}
    assert defaults
    for name, default in defaults.items():
        assert rows[name][2] == default, name
    for line in table:  # "default `…`" in the meaning column
        first = re.findall(r"`([A-Z][A-Z0-9_]+)`", line.split("|")[1])
        said = re.search(r"default `([^`]+)`", line.split("|")[2])
        if said and len(first) == 1 and first[0] != "DATABASE_URL":
            assert rows[first[0]][2] == said.group(1), first[0]


def test_a_relative_sqlite_path_is_next_to_the_env_file_not_the_current_directory(tmp_path):
    home = tmp_path / "deploy"
    home.mkdir()
    (home / ".env").write_text("INGEST_SECRET=s3cret\nDATABASE_URL=sqlite:///syncdesk.db\n")
    migrated = syncdesk(bare_env(), "migrate", cwd=home)
    assert migrated.returncode == 0, migrated.stderr
    [said] = migrated.stdout.splitlines()
    assert said.startswith("database upgraded to ") and said.endswith(f": sqlite:///{home / 'syncdesk.db'}")
    assert (home / "syncdesk.db").exists()
    listing = syncdesk(bare_env(), "orders", cwd=home)
    assert listing.returncode == 0, listing.stderr


def test_without_a_env_file_here_the_project_is_the_home(tmp_path):
    """Run from any directory: the project's `.env` (if any) and a relative path in the project."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = syncdesk(bare_env(DATABASE_URL="sqlite:///syncdesk.db"), "config", "DATABASE_URL", cwd=elsewhere)
    assert config_rows(result.stdout)["DATABASE_URL"] == ["environment", "ok", f"sqlite:///{ROOT / 'syncdesk.db'}"]
    assert list(elsewhere.iterdir()) == []  # no stray database left behind
