"""The Teams app package an admin uploads: manifest (app manifest schema v1.17 rules that
Teams checks on upload) and the two icons."""

from __future__ import annotations

import json
import struct
import zipfile
from pathlib import Path

import pytest

from bot.teams.package import TEAMS_DIR, build, main

APP_ID = "00000000-0000-4000-8000-00000000a11e"


def png_size(data: bytes) -> tuple[int, int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    width, height, _depth, color_type = struct.unpack(">IIBB", data[16:26])
    return width, height, color_type


def test_the_package_holds_the_manifest_with_the_app_id_and_both_icons(tmp_path: Path) -> None:
    with zipfile.ZipFile(build(APP_ID, tmp_path / "syncdesk-teams.zip")) as package:
        assert sorted(package.namelist()) == ["color.png", "manifest.json", "outline.png"]
        manifest = json.loads(package.read("manifest.json"))
        assert png_size(package.read("color.png"))[:2] == (192, 192)
        assert png_size(package.read("outline.png")) == (32, 32, 6)  # RGBA: transparent background
    assert manifest["id"] == APP_ID and manifest["bots"][0]["botId"] == APP_ID
    assert "{{" not in json.dumps(manifest)


def test_the_manifest_keeps_to_the_schema_limits() -> None:
    manifest = json.loads((TEAMS_DIR / "manifest.json").read_text())
    assert manifest["manifestVersion"] == "1.17" and manifest["$schema"].endswith("/v1.17/MicrosoftTeams.schema.json")
    assert len(manifest["name"]["short"]) <= 30 and len(manifest["name"]["full"]) <= 100
    assert len(manifest["description"]["short"]) <= 80 and len(manifest["description"]["full"]) <= 4000
    assert manifest["accentColor"].startswith("#") and len(manifest["accentColor"]) == 7
    bot = manifest["bots"][0]
    assert set(bot["scopes"]) <= {"team", "groupChat", "personal"}
    assert all(len(c["title"]) <= 32 and len(c["description"]) <= 128
               for lst in bot["commandLists"] for c in lst["commands"])
    assert all(manifest["developer"][k].startswith("https://") for k in ("websiteUrl", "privacyUrl", "termsOfUseUrl"))


def test_the_outline_icon_is_white_on_transparent() -> None:
    import zlib

    data = (TEAMS_DIR / "outline.png").read_bytes()
    idat = data[data.index(b"IDAT") + 4: data.index(b"IEND") - 8]
    rows = zlib.decompress(idat)
    pixels = {tuple(rows[r * 129 + 1 + 4 * x: r * 129 + 5 + 4 * x]) for r in range(32) for x in range(32)}
    assert pixels == {(255, 255, 255, 255), (0, 0, 0, 0)}


def test_a_wrong_app_id_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--app-id", "my-bot", "--out", str(tmp_path / "x.zip")]) == 1
    assert "not an app id" in capsys.readouterr().err


def test_the_manifest_lists_every_command_the_bot_answers() -> None:
    """Issue 27: the command list had only `order` and `oncall`."""
    manifest = json.loads((TEAMS_DIR / "manifest.json").read_text())
    titles = [c["title"] for lst in manifest["bots"][0]["commandLists"] for c in lst["commands"]]
    assert titles == ["order", "orders", "find", "reconcile", "oncall", "maintenance"]


def test_the_manifest_has_report_to_syncdesk_on_messages(tmp_path: Path) -> None:
    """Issue 26.3: "Report to syncdesk" on a message's "…" menu, a message extension action command
    (composeExtensions, app manifest v1.17: one extension, its botId the bot's; a command's id ≤ 64,
    title ≤ 32 and description ≤ 128 characters; 1–5 parameters, name ≤ 64, title ≤ 32,
    description ≤ 128) whose id the endpoint answers."""
    from bot.teams.app import REPORT_COMMAND

    with zipfile.ZipFile(build(APP_ID, tmp_path / "syncdesk-teams.zip")) as package:
        manifest = json.loads(package.read("manifest.json"))
    (extension,) = manifest["composeExtensions"]
    assert extension["botId"] == APP_ID
    (command,) = extension["commands"]
    assert (command["id"], command["type"], command["context"], command["fetchTask"]) == (
        REPORT_COMMAND, "action", ["message"], False)
    assert command["title"] == "Report to syncdesk"
    assert len(command["id"]) <= 64 and len(command["title"]) <= 32 and len(command["description"]) <= 128
    assert [p["name"] for p in command["parameters"]] == ["order_id", "note"]
    assert all(len(p["name"]) <= 64 and len(p["title"]) <= 32 and len(p["description"]) <= 128
               and p["inputType"] in ("text", "textarea") and not p.get("isRequired") for p in command["parameters"])


def test_help_shows_that_an_app_id_is_required(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "(--app-id APP_ID | --icons)" in capsys.readouterr().out
    with pytest.raises(SystemExit) as missing:
        main([])
    assert missing.value.code == 2
    assert "one of the arguments --app-id --icons is required" in capsys.readouterr().err


def test_the_package_asks_to_read_the_channel_so_thread_replies_reach_the_bot(tmp_path: Path) -> None:
    """Issue 26.4: a reply in an alert card's thread becomes a note; Teams delivers channel messages
    that do not @mention the bot only with resource-specific consent to ChannelMessage.Read.Group,
    granted for the app's Entra id (webApplicationInfo)."""
    with zipfile.ZipFile(build(APP_ID, tmp_path / "syncdesk-teams.zip")) as package:
        manifest = json.loads(package.read("manifest.json"))
    assert manifest["webApplicationInfo"]["id"] == APP_ID and manifest["webApplicationInfo"]["resource"]
    assert {"name": "ChannelMessage.Read.Group", "type": "Application"} in \
        manifest["authorization"]["permissions"]["resourceSpecific"]
