"""The digest's chart in Teams (issue 26.7): the daily digest job, enqueued by the clock and run by
the worker, posts the digest card to the alert conversation through the Bot Connector, with the
chart of the failures per day by system over 14 days as an Adaptive Card `Image` whose url is a
`data:image/png;base64,…` URI (Image takes a data URI from Adaptive Cards 1.2)."""

from __future__ import annotations

import base64
import datetime as dt

import jsonschema

from tests.bot.slack.test_digest_chart_end_to_end import fortnight, posted_days
from tests.bot.teams.conftest import CONVERSATION
from tests.bot.teams.test_cards import SCHEMA
from tests.conftest import wait_for
from tests.fakes.teams import FakeBotConnector
from tests.workflows.reports.test_chart import PNG_SIGNATURE, expected_csv, png_text, record_failures
from workflows.core.settings import Settings

DATA_URI = "data:image/png;base64,"


def digest_cards(connector: FakeBotConnector) -> list[dict]:
    return [a["attachments"][0]["content"] for a in connector.cards(CONVERSATION)
            if a["attachments"][0]["content"]["body"][0]["text"].startswith("📊 syncdesk digest")]


def test_the_digest_job_posts_the_digest_card_with_its_chart_as_an_image(
        teams_settings: Settings, bot_connector: FakeBotConnector, worker_factory) -> None:
    daily = teams_settings.model_copy(update={"digest_time": "00:00"})  # due at once: the clock enqueues it
    yesterday = dt.datetime.now(dt.timezone.utc).date() - dt.timedelta(days=1)
    rows = fortnight(yesterday)
    record_failures(daily, rows)

    worker_factory(daily)
    [card] = wait_for(lambda: digest_cards(bot_connector))
    [detail] = wait_for(lambda: [d for d in posted_days(daily) if d["surface"] == "teams"])  # audited after
    day = dt.date.fromisoformat(detail["day"])

    jsonschema.validate(card, SCHEMA)
    [image] = [e for e in card["body"] if e["type"] == "Image"]
    assert image["url"].startswith(DATA_URI) and image["size"] == "Stretch"
    png = base64.b64decode(image["url"].removeprefix(DATA_URI), validate=True)
    assert png[:8] == PNG_SIGNATURE
    assert png_text(png)["Comment"] == expected_csv(rows, day, "UTC")  # what the database holds
    assert image["altText"] == png_text(png)["Description"]
    assert image["altText"].startswith("Failures per day by system") and "SynXis 4" in image["altText"]
    assert detail["chart"] is True
