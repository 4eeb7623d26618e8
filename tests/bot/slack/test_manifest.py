"""manifest.yml is a complete Slack app manifest that matches what the code uses."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from bot.slack import app as slack_app

ROOT = Path(__file__).resolve().parents[3]
MANIFEST = yaml.safe_load((ROOT / "manifest.yml").read_text())


def test_manifest_has_every_section_slack_requires():
    assert MANIFEST["_metadata"]["major_version"] == 1
    assert MANIFEST["display_information"]["name"] == "syncdesk"
    assert len(MANIFEST["display_information"]["description"]) <= 140
    assert 175 <= len(MANIFEST["display_information"]["long_description"]) <= 4000
    assert re.fullmatch(r"#[0-9a-f]{6}", MANIFEST["display_information"]["background_color"])
    assert MANIFEST["features"]["bot_user"]["display_name"] == "syncdesk"
    assert MANIFEST["features"]["app_home"]["home_tab_enabled"] is True


def test_one_url_serves_events_commands_and_interactivity():
    settings = MANIFEST["settings"]
    urls = {settings["event_subscriptions"]["request_url"], settings["interactivity"]["request_url"]}
    urls |= {c["url"] for c in MANIFEST["features"]["slash_commands"]}
    assert urls == {"https://syncdesk.example.com/slack/events"}
    assert settings["interactivity"]["is_enabled"] is True
    assert settings["event_subscriptions"]["bot_events"] == ["app_home_opened", "message.channels", "message.groups"]
    assert isinstance(settings["socket_mode_enabled"], bool)


def test_scopes_are_only_what_is_used():
    assert MANIFEST["oauth_config"]["scopes"]["bot"] == ["chat:write", "commands", "usergroups:read", "im:write",
                                                         "channels:history", "groups:history", "files:write"]
    source = "".join(p.read_text() for p in Path(slack_app.__file__).parent.glob("*.py"))
    assert "conversations_open" in source  # im:write: the on-call direct messages (bot.slack.announcer)
    assert '@app.event("message")' in source  # channels:history, groups:history: notes (bot.slack.notes)
    assert "files_upload_v2" in source  # files:write: the digest's chart (bot.slack.announcer)


def test_every_slash_command_has_a_listener():
    source = Path(slack_app.__file__).read_text()
    for command in MANIFEST["features"]["slash_commands"]:
        assert f'@app.command("{command["command"]}")' in source
        assert len(command["description"]) <= 100


def test_the_syncdesk_usage_hint_names_every_subcommand():
    """Issue 27: the hint left out `find`."""
    [syncdesk] = [c for c in MANIFEST["features"]["slash_commands"] if c["command"] == "/syncdesk"]
    top_level = re.sub(r"\[[^\[\]]*\]", "", re.sub(r"\[[^\[\]]*\]", "", syncdesk["usage_hint"]))  # nested [..]
    said = [part.split()[0] for part in top_level.split("|")]
    assert said == ["order", "orders", "find", "oncall", "reconcile", "report", "maintenance"]


def test_every_shortcut_has_a_listener():
    """Issue 26.3: the front desk's report on a message is a message shortcut."""
    from bot.slack import report

    source = "".join(p.read_text() for p in Path(slack_app.__file__).parent.glob("*.py"))
    [shortcut] = MANIFEST["features"]["shortcuts"]
    assert (shortcut["type"], shortcut["callback_id"]) == ("message", report.SHORTCUT)
    assert "@app.shortcut(SHORTCUT)" in source and len(shortcut["description"]) <= 150 and len(shortcut["name"]) <= 24
