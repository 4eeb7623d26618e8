"""`GET /metrics`: Prometheus' text format, scraped after real requests (an intake, a click),
and the worker's job metrics recorded by the worker (`JobMetrics` in `SyncdeskWorker`)."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families
from rq import Queue

from tests.bot.conftest import click, failure, fake_slack, interaction, slack_app, slack_settings  # noqa: F401
from tests.conftest import post_failure, wait_for
from syncdesk.worker import SyncdeskWorker
from workflows.core.queue import get_redis


def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = httpx.get(f"{url}/metrics", timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_show_an_intake_and_a_click(slack_app, slack_settings, fake_slack):  # noqa: F811
    before = scrape(slack_app.url)
    assert post_failure(slack_app.url, failure()).status_code == 202
    assert interaction(slack_app, click("im_on_it", "ORD-10042", None)).status_code == 200
    after = scrape(slack_app.url)

    received = ("syncdesk_failures_received_total", {"system": "synxis", "error_class": "not_mapped"})
    assert value(after, received[0], **received[1]) - value(before, received[0], **received[1]) == 1
    assert value(after, "syncdesk_intake_seconds_count", status="202") - \
        value(before, "syncdesk_intake_seconds_count", status="202") == 1
    acks = ("syncdesk_ack_seconds_count", {"surface": "slack", "kind": "block_actions"})
    assert value(after, acks[0], **acks[1]) - value(before, acks[0], **acks[1]) == 1
    # State read at scrape time: the alert is open (acknowledged by the click), the jobs are queued.
    assert value(after, "syncdesk_open_alerts", surface="slack", state="acknowledged") == 1
    assert value(after, "syncdesk_queue_depth", queue=slack_settings.queue_name, kind="queued") >= 1


def test_slack_api_errors_and_429s_are_counted(slack_app, slack_settings, fake_slack):  # noqa: F811
    from bot.slack.notifier import web_client

    before = scrape(slack_app.url)
    fake_slack.rate_limit("chat.postMessage", retry_after=0)
    fake_slack.fail("chat.update", "message_not_found")
    client = web_client(slack_settings)
    client.chat_postMessage(channel="#reservations-alerts", text="hello")  # 429, then retried and posted
    try:
        client.chat_update(channel="C0ALERTS", ts="1.1", text="x")
    except Exception:
        pass
    after = scrape(slack_app.url)
    limited = {"surface": "slack", "method": "chat.postMessage"}
    assert value(after, "syncdesk_chat_api_rate_limited_total", **limited) - \
        value(before, "syncdesk_chat_api_rate_limited_total", **limited) == 1
    error = {"surface": "slack", "method": "chat.update", "error": "message_not_found"}
    assert value(after, "syncdesk_chat_api_errors_total", **error) - \
        value(before, "syncdesk_chat_api_errors_total", **error) == 1


def test_the_metrics_worker_records_jobs_by_function_and_outcome(settings, live_app):
    queue = Queue(f"{settings.queue_name}-metrics", connection=get_redis(settings.redis_url))
    before = scrape(live_app.url)
    queue.enqueue("math.sqrt", 16)
    queue.enqueue("math.sqrt", -1)  # ValueError: a failed job
    SyncdeskWorker([queue], connection=get_redis(settings.redis_url)).work(burst=True)
    after = wait_for(lambda: (s := scrape(live_app.url)) and
                     value(s, "syncdesk_job_seconds_count", job="sqrt") - value(before, "syncdesk_job_seconds_count",
                                                                               job="sqrt") == 2 and s)
    for outcome in ("finished", "failed"):
        assert value(after, "syncdesk_jobs_total", job="sqrt", outcome=outcome) - \
            value(before, "syncdesk_jobs_total", job="sqrt", outcome=outcome) == 1
