"""The floor of the two request paths (issue 29): the I/O the design requires (DESIGN §3.1
and §4) done with the same drivers against the same PostgreSQL and Redis, and nothing in
between: no ORM, no framework, no logging, no metrics. `bench/hot_path_cpu.py` runs them in
the same rounds as syncdesk's own paths and prints the ratio.

- **Intake** (`intake`): verify the HMAC signature, parse the JSON, then one transaction that
  writes, with one statement per table (`executemany` where there are several rows), exactly
  the rows syncdesk writes for a new order's failure: the event (claimed with `ON CONFLICT DO
  NOTHING`, so a duplicate is answered without writing), the order, its items, the attempt,
  an alert per surface, the audit events, the outbox jobs and the search terms. The row counts
  are measured from syncdesk's own first intake (`Shape.measure`), so the floor never writes
  less than syncdesk does. Then the 202.
- **Click** (`click`): verify Slack's signature, parse the form's `payload` JSON, check
  membership in a warm set (syncdesk caches the usergroup too), one transaction writing the
  audit row and the outbox row, one RQ enqueue, then the 200.

Honest by construction: each writes every row the design requires, to the real schema, and
commits before answering. What the floor leaves out is what syncdesk adds on top (validation
models, the unit of work, logging, metrics, lookups that decide what to write).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

import psycopg
from psycopg.types.json import Jsonb
from redis import Redis
from rq import Queue

TABLES = ("orders", "order_items", "sync_attempts", "alerts", "audit_events", "order_search")


@dataclass(frozen=True)
class Shape:
    """How many rows of each table syncdesk wrote for one new order's failure (and outbox jobs)."""

    rows: dict[str, int]
    outbox: int

    @classmethod
    def measure(cls, conn: psycopg.Connection[Any], order_id: str, outbox_before: int) -> Shape:
        rows = {t: conn.execute(f"SELECT count(*) FROM {t} WHERE order_id = %s", (order_id,)).fetchone()[0]
                for t in TABLES if t != "orders"}
        rows["orders"] = 1
        outbox = conn.execute("SELECT count(*) FROM outbox").fetchone()[0] - outbox_before
        return cls(rows, outbox)


def verify_platform(secret: bytes, body: bytes, header: str, tolerance: int = 300) -> None:
    fields = dict(part.split("=", 1) for part in header.split(","))
    t = int(fields["t"])
    if abs(time.time() - t) > tolerance:
        raise ValueError("stale")
    expected = hmac.new(secret, f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, fields["v1"]):
        raise ValueError("bad signature")


def intake(conn: psycopg.Connection[Any], secret: bytes, body: bytes, header: str, shape: Shape) -> int:
    """The intake floor: the status it answers."""
    verify_platform(secret, body, header)
    event = json.loads(body)
    order, failure = event["order"], event["failure"]
    guest = order.get("guest") or {}
    payment = order.get("payment") or {}
    with conn.transaction():
        claimed = conn.execute(
            "INSERT INTO intake_events (event_id, order_id, source, payload, received_at) "
            "VALUES (%s, %s, 'webhook', %s, now()) ON CONFLICT (event_id) DO NOTHING RETURNING id",
            (event["event_id"], order["id"], Jsonb(event))).fetchone()
        if claimed is None:
            return 200
        conn.execute(
            "INSERT INTO orders (id, platform_status, placed_at, currency, total_minor, guest_first_name, "
            "guest_last_name, guest_email, guest_phone, payment_provider, payment_reference, payment_amount_minor, "
            "created_at, updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, now(), now())",
            (order["id"], order["status"], order.get("placed_at"), order["currency"], order["total_minor"],
             guest.get("first_name", ""), guest.get("last_name", ""), guest.get("email", ""), guest.get("phone", ""),
             payment.get("provider", ""), payment.get("reference", ""), payment.get("amount_minor")))
        items = order["items"][:shape.rows["order_items"]]
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO order_items (order_id, item_id, kind, system, description, status, sync_status, start, "
                '"end", quantity, guests, details) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING pk',
                [(order["id"], i["id"], i["kind"], i.get("system") or "", i.get("description", ""), i["status"],
                  "failed" if i["id"] == failure["item_id"] else None, i.get("start"), i.get("end"),
                  i.get("quantity", 1), i.get("guests", 1), Jsonb(i.get("details") or {})) for i in items],
                returning=True)
            pks = []
            while True:
                pks.append(cur.fetchone()[0])
                if not cur.nextset():
                    break
        conn.execute(
            "INSERT INTO sync_attempts (item_pk, order_id, number, status, error_class, message, raw_log, "
            "triggered_by, started_at, finished_at) VALUES (%s, %s, 1, 'failed', %s, %s, %s, 'platform', %s, %s)",
            (pks[0], order["id"], failure.get("code") or "unknown", failure["message"], failure.get("log", ""),
             event["occurred_at"], event["occurred_at"]))
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO alerts (order_id, surface, state, escalation_level, created_at, updated_at) "
                            "VALUES (%s, %s, 'open', 0, now(), now())",
                            [(order["id"], s) for s in ("slack", "teams")[:shape.rows["alerts"]]])
            cur.executemany("INSERT INTO audit_events (order_id, item_id, actor, action, result, detail, created_at) "
                            "VALUES (%s, %s, 'platform', %s, 'ok', %s, now())",
                            [(order["id"], failure["item_id"], f"intake.step{n}", Jsonb({"event_id": event["event_id"]}))
                             for n in range(shape.rows["audit_events"])])
            cur.executemany("INSERT INTO outbox (function, kwargs, job_id, delay_seconds, created_at) "
                            "VALUES (%s, %s, %s, 0, now())",
                            [("workflows.orders.jobs.post_alert", Jsonb({"order_id": order["id"]}),
                              f"floor-{event['event_id']}-{n}") for n in range(shape.outbox)])
            terms = [guest.get("last_name", "").lower(), guest.get("email", "").lower(),
                     payment.get("reference", "").lower(), f"{guest.get('first_name', '')} {guest.get('last_name', '')}"]
            terms += [f"term-{n}" for n in range(len(terms), shape.rows["order_search"])]
            cur.executemany("INSERT INTO order_search (order_id, term) VALUES (%s, %s)",
                            [(order["id"], t) for t in terms[:shape.rows["order_search"]]])
    return 202


def verify_slack(secret: bytes, body: str, timestamp: str, signature: str) -> None:
    if abs(time.time() - int(timestamp)) > 300:
        raise ValueError("stale")
    expected = "v0=" + hmac.new(secret, f"v0:{timestamp}:{body}".encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signature):
        raise ValueError("bad signature")


def click(conn: psycopg.Connection[Any], queue: Queue, members: frozenset[str], secret: bytes, body: str,
          timestamp: str, signature: str) -> int:
    """The click floor (a Reprocess button): the status it answers."""
    verify_slack(secret, body, timestamp, signature)
    payload = json.loads(parse_qs(body)["payload"][0])
    user = payload["user"]["id"]
    if user not in members:
        return 200  # refused (syncdesk audits a refusal; the floor measures the accepted path)
    action = payload["actions"][0]
    order_id, item_id = json.loads(action["value"])
    job_id = f"floor-reprocess-{order_id}-{item_id}-{action['action_ts'].replace('.', '_')}"
    with conn.transaction():
        conn.execute("INSERT INTO audit_events (order_id, item_id, actor, action, result, detail, created_at) "
                     "VALUES (%s, %s, %s, 'reprocess.requested', 'ok', %s, now())",
                     (order_id, item_id, f"slack:{user}", Jsonb({"job_id": job_id})))
        conn.execute("INSERT INTO outbox (function, kwargs, job_id, delay_seconds, created_at, dispatched_at) "
                     "VALUES ('bench.floor.noop', %s, %s, 0, now(), now())",
                     (Jsonb({"order_id": order_id, "item_id": item_id}), job_id))
    queue.enqueue("bench.floor.noop", order_id, item_id, job_id=job_id)
    return 200


def noop(*_: Any) -> None:
    """The job the click floor enqueues (never run by the benchmark)."""


def connect(database_url: str) -> psycopg.Connection[Any]:
    """A plain psycopg connection from syncdesk's SQLAlchemy URL."""
    return psycopg.connect(database_url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True)


def queue_for(redis_url: str, name: str) -> Queue:
    return Queue(name, connection=Redis.from_url(redis_url))
