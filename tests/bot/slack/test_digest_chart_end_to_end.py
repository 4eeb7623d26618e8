"""The digest's chart in Slack (issue 26.7): the daily digest job, enqueued by the clock and run
by the worker, posts the digest and shares beside it a PNG of the failures per day by system
over the 14 days ending on the digest's day, uploaded the way slack_sdk's `files_upload_v2`
does (files.getUploadURLExternal, the bytes to the upload URL, files.completeUploadExternal)
against FakeSlack, which refuses what Slack refuses. DIGEST_CHART=off, matplotlib missing and a
refused upload each post the digest without the chart, and say so in the log."""

from __future__ import annotations

import datetime as dt
import logging

import httpx
import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy import select

from syncdesk.surfaces import register_surfaces
from tests.bot.conftest import BOT_TOKEN
from tests.conftest import wait_for
from tests.fakes.slack import FakeSlack
from tests.workflows.reports.test_chart import (
    PNG_SIGNATURE,
    expected_csv,
    hide_matplotlib,
    png_text,
    record_failures,
)
from workflows.core.db import transaction
from workflows.core.models import AuditEvent
from workflows.core.settings import Settings
from workflows.reports.digest import post_daily

ALERTS = "C0ALERTS"  # FakeSlack's id of #reservations-alerts, where the digest goes by default


def fortnight(last_day: dt.date) -> list[tuple[str, dt.datetime]]:
    """Failures on several days and systems before `last_day` (its day included), one outside the 14."""
    def on(days_before: int, hhmm: str) -> dt.datetime:
        return dt.datetime.combine(last_day - dt.timedelta(days=days_before), dt.time.fromisoformat(hhmm),
                                   dt.timezone.utc)
    return [("synxis", on(0, "09:00")), ("synxis", on(0, "10:00")), ("synxis", on(0, "23:00")),
            ("synxis", on(3, "12:00")), ("premier", on(1, "08:00")), ("premier", on(1, "08:30")),
            ("resdiary", on(13, "00:10")), ("premier", on(14, "12:00"))]


def digests(slack: FakeSlack) -> list[dict]:
    return [c for c in slack.calls("chat.postMessage") if c["text"].startswith("syncdesk digest for")]


def posted_days(settings: Settings) -> list[dict]:
    with transaction(settings.database_url) as session:
        return [e.detail for e in session.scalars(select(AuditEvent).where(AuditEvent.action == "digest.posted"))]


def test_the_digest_job_posts_the_digest_and_shares_its_chart_beside_it(
        slack_settings: Settings, fake_slack: FakeSlack, worker_factory) -> None:
    daily = slack_settings.model_copy(update={"digest_time": "00:00"})  # due at once: the clock enqueues it
    yesterday = dt.datetime.now(dt.timezone.utc).date() - dt.timedelta(days=1)
    rows = fortnight(yesterday) + fortnight(yesterday - dt.timedelta(days=1))[:1]
    record_failures(daily, rows)

    worker_factory(daily)
    [shared] = wait_for(fake_slack.shared_files)
    [detail] = wait_for(lambda: [d for d in posted_days(daily) if d["surface"] == "slack"])  # audited after
    day = dt.date.fromisoformat(detail["day"])  # yesterday, unless midnight passed meanwhile

    [post] = digests(fake_slack)
    assert post["channel"] == "#reservations-alerts"
    assert shared["channels"] == [ALERTS] and shared["thread_ts"] is None  # beside the digest, after it
    digest_ts = next(ts for (channel, ts), m in fake_slack.messages.items() if m["text"] == post["text"])
    assert float(shared["ts"]) > float(digest_ts)
    assert shared["data"][:8] == PNG_SIGNATURE
    assert png_text(shared["data"])["Comment"] == expected_csv(rows, day, "UTC")  # what the database holds
    assert shared["filename"] == f"syncdesk-failures-{day.isoformat()}.png"
    assert shared["title"].startswith("Failures per day by system")
    assert "SynXis" in shared["alt_txt"] and "EMS Premier" in shared["alt_txt"]
    [asked] = fake_slack.calls("files.getUploadURLExternal")
    assert int(asked["length"]) == len(shared["data"])
    assert detail["chart"] is True


def test_with_digest_chart_off_the_digest_goes_without_its_chart(
        slack_settings: Settings, fake_slack: FakeSlack, caplog: pytest.LogCaptureFixture) -> None:
    record_failures(slack_settings, fortnight(dt.date(2026, 11, 22)))
    off = slack_settings.model_copy(update={"digest_chart": "off"})
    register_surfaces(off)
    assert post_daily("2026-11-21", settings=off) == "posted"
    assert len(digests(fake_slack)) == 1 and fake_slack.calls("files.getUploadURLExternal") == []
    assert "matplotlib" not in caplog.text

    register_surfaces(slack_settings)  # on, the default
    assert post_daily("2026-11-22", settings=slack_settings) == "posted"
    [shared] = fake_slack.shared_files(ALERTS)
    assert png_text(shared["data"])["Comment"] == expected_csv(fortnight(dt.date(2026, 11, 22)),
                                                               dt.date(2026, 11, 22), "UTC")


def test_without_matplotlib_the_digest_goes_without_its_chart_and_says_so_once(
        slack_settings: Settings, fake_slack: FakeSlack, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    record_failures(slack_settings, fortnight(dt.date(2026, 11, 22)))
    hide_matplotlib(monkeypatch)
    register_surfaces(slack_settings)  # Slack, and Teams' logging stand-in: two surfaces, one chart
    with caplog.at_level(logging.WARNING, logger="workflows.reports.digest"):
        assert post_daily("2026-11-22", settings=slack_settings) == "posted"

    assert len(digests(fake_slack)) == 1 and fake_slack.calls("files.getUploadURLExternal") == []
    [said] = [r for r in caplog.records if "matplotlib" in r.getMessage()]
    assert said.getMessage() == ("digest for 2026-11-22: matplotlib is not installed: the digest is posted without "
                                 "its chart (install the charts extra: pip install 'syncdesk[charts]')")
    assert {d["surface"]: d["chart"] for d in posted_days(slack_settings)} == {"slack": False, "teams": False}


def test_a_refused_upload_leaves_the_digest_posted_once_and_says_why(
        slack_settings: Settings, fake_slack: FakeSlack, caplog: pytest.LogCaptureFixture) -> None:
    record_failures(slack_settings, fortnight(dt.date(2026, 11, 22)))
    fake_slack.fail("files.getUploadURLExternal", "missing_scope")  # installed before files:write was asked
    register_surfaces(slack_settings)
    with caplog.at_level(logging.WARNING, logger="bot.slack.announcer"):
        assert post_daily("2026-11-22", settings=slack_settings) == "posted"
    assert post_daily("2026-11-22", settings=slack_settings) == "already posted"

    assert len(digests(fake_slack)) == 1 and fake_slack.shared_files() == []
    assert ("the digest's chart was not shared in C0ALERTS: Slack said missing_scope (reinstall the app from "
            "manifest.yml: it asks for files:write)") in caplog.text


def test_fake_slack_refuses_the_uploads_slack_refuses(fake_slack: FakeSlack) -> None:
    client = WebClient(token=BOT_TOKEN, base_url=fake_slack.api_url)

    def refused(method: str, **args: object) -> str:
        with pytest.raises(SlackApiError) as caught:
            client.api_call(method, params=args)
        return caught.value.response["error"]

    assert refused("files.getUploadURLExternal", filename="chart.png") == "invalid_arguments"  # no length
    assert refused("files.getUploadURLExternal", length=10) == "invalid_arguments"  # no filename
    assert refused("files.getUploadURLExternal", filename="chart.png", length=0) == "missing_argument"
    assert refused("files.getUploadURLExternal", filename="c.png", length=3, alt_txt="x" * 1001) == "alt_txt_too_large"
    assert refused("files.completeUploadExternal", files='[{"id": "F0NEVER"}]', channel_id=ALERTS) == "file_not_found"

    ticket = client.files_getUploadURLExternal(filename="chart.png", length=len(PNG_SIGNATURE))
    files = f'[{{"id": "{ticket["file_id"]}", "title": "Chart"}}]'
    assert refused("files.completeUploadExternal", files=files, channel_id=ALERTS) == "file_not_found"  # no bytes yet
    assert httpx.post(ticket["upload_url"], content=b"\x89PNG").status_code == 400  # not the length announced
    assert httpx.post(f"{fake_slack.url}/upload/v1/nope", content=PNG_SIGNATURE).status_code == 404
    uploaded = httpx.post(ticket["upload_url"], files={"filename": ("chart.png", PNG_SIGNATURE, "image/png")})
    assert (uploaded.status_code, uploaded.text) == (200, f"OK - {len(PNG_SIGNATURE)}")  # multipart, as Slack takes it
    by_name = refused("files.completeUploadExternal", files=files, channel_id="#reservations-alerts")
    assert by_name == "channel_not_found"  # an id, never a name
    assert refused("files.completeUploadExternal", files=files, channel_id=ALERTS,
                   thread_ts="1.000001") == "invalid_arguments"  # no such message to thread under
    assert client.files_completeUploadExternal(files=[{"id": ticket["file_id"], "title": "Chart"}],
                                               channel_id=ALERTS)["files"] == [{"id": ticket["file_id"],
                                                                                "title": "Chart"}]
    assert refused("files.completeUploadExternal", files=files, channel_id=ALERTS) == "file_not_found"  # only once
    [shared] = fake_slack.shared_files(ALERTS)
    assert shared["data"] == PNG_SIGNATURE and shared["title"] == "Chart"
