"""The Teams app package an admin uploads: `teams/manifest.json` with the bot's app id filled
in, and the two icons, zipped at the root (learn.microsoft.com/microsoftteams/platform/concepts/build-and-test/apps-package).

    python -m bot.teams.package --app-id <TEAMS_APP_ID> [--out syncdesk-teams.zip]
    python -m bot.teams.package --icons   # redraw teams/color.png and teams/outline.png

Icons follow the manifest rules: `color` 192x192 full colour, `outline` 32x32 white on a
transparent background. They are drawn here with zlib + struct (no imaging library).
"""

from __future__ import annotations

import argparse
import json
import re
import struct
import sys
import uuid
import zipfile
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path

TEAMS_DIR = Path(__file__).resolve().parent.parent.parent / "teams"
PLACEHOLDER = "{{TEAMS_APP_ID}}"
ACCENT = (0x2B, 0x57, 0x9A)
WHITE = (255, 255, 255)

Pixel = tuple[int, int, int, int]


def png(width: int, height: int, pixel: Callable[[int, int], Pixel]) -> bytes:
    """An RGBA PNG (8 bits per channel, no interlace) of `pixel(x, y)`."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    rows = b"".join(b"\x00" + b"".join(bytes(pixel(x, y)) for x in range(width)) for y in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows, 9)) + chunk(b"IEND", b"")


def _mark(size: int, x: int, y: int) -> bool:
    """A ring with a check mark inside: "the booking is fixed"."""
    c = (size - 1) / 2
    r = ((x - c) ** 2 + (y - c) ** 2) ** 0.5
    ring = 0.36 * size <= r <= 0.44 * size
    u, v = x / size, y / size
    width = 0.05

    def near(ax: float, ay: float, bx: float, by: float) -> bool:
        t = max(0.0, min(1.0, ((u - ax) * (bx - ax) + (v - ay) * (by - ay)) / ((bx - ax) ** 2 + (by - ay) ** 2)))
        return ((u - ax - t * (bx - ax)) ** 2 + (v - ay - t * (by - ay)) ** 2) ** 0.5 <= width

    check = near(0.32, 0.52, 0.45, 0.65) or near(0.45, 0.65, 0.70, 0.37)
    return ring or check


def color_icon() -> bytes:
    return png(192, 192, lambda x, y: (*WHITE, 255) if _mark(192, x, y) else (*ACCENT, 255))


def outline_icon() -> bytes:
    return png(32, 32, lambda x, y: (*WHITE, 255) if _mark(32, x, y) else (0, 0, 0, 0))


def manifest(app_id: str) -> dict[str, object]:
    text = (TEAMS_DIR / "manifest.json").read_text()
    return json.loads(text.replace(PLACEHOLDER, app_id))


def build(app_id: str, out: Path) -> Path:
    if not re.fullmatch(r"[0-9a-fA-F-]{36}", app_id):
        raise ValueError(f"{app_id!r} is not an app id (a GUID from the Azure Bot registration)")
    uuid.UUID(app_id)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as package:
        package.writestr("manifest.json", json.dumps(manifest(app_id), indent=2))
        package.write(TEAMS_DIR / "color.png", "color.png")
        package.write(TEAMS_DIR / "outline.png", "outline.png")
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.teams.package", description=__doc__.split("\n\n")[0])
    what = parser.add_mutually_exclusive_group(required=True)  # --help shows one of them is required
    what.add_argument("--app-id", help="TEAMS_APP_ID: the Microsoft App ID of the Azure Bot (required to package)")
    what.add_argument("--icons", action="store_true", help="redraw the icons in teams/ instead")
    parser.add_argument("--out", default="syncdesk-teams.zip", type=Path,
                        help="where to write the package (default: syncdesk-teams.zip)")
    args = parser.parse_args(argv)
    if args.icons:
        (TEAMS_DIR / "color.png").write_bytes(color_icon())
        (TEAMS_DIR / "outline.png").write_bytes(outline_icon())
        print(f"icons written to {TEAMS_DIR}")
        return 0
    try:
        print(f"Teams app package: {build(args.app_id, args.out)}")
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
