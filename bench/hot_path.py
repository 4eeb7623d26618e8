"""How each cost grows: the hot-path queries of intake, the actions, the jobs, the clock and
the lookups, EXPLAIN ANALYZEd against 1k, 10k and 100k finished orders already in the
database (items, attempts, audit events, intake events, alerts, outbox: see
`harness.preload_history`), with whether each plan uses an index and how long it took.

    .venv/bin/python bench/hot_path.py [--preload 1000 10000 100000]

The statements are built with the same SQLAlchemy expressions the code uses, compiled for
PostgreSQL with the parameters of one real order in the middle of the preloaded history.
A "Seq Scan" on a table that grows with the history is flagged; per-request flatness end
to end is shown by `intake_throughput.py --preload` and `job_overhead.py --preload`.
The order-queue lookup (`workflows.orders.lookup.order_queue`, the Home tab and `/syncdesk
orders`) is also timed as a whole, since it issues several queries per row.

Results: bench/results/hot_path.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, or_, select, text, update  # noqa: E402
from sqlalchemy.dialects import postgresql  # noqa: E402

from bench.harness import (  # noqa: E402
    fresh_postgres,
    load_average,
    preload_history,
    print_table,
    write_results,
)
from workflows.core import states  # noqa: E402
from workflows.core.db import get_engine, transaction  # noqa: E402
from workflows.core.models import (  # noqa: E402
    Alert,
    AuditEvent,
    Incident,
    IntakeEvent,
    Order,
    OrderItem,
    OutboxEntry,
    SyncAttempt,
    utcnow,
)
from workflows.orders.lookup import order_queue  # noqa: E402
from workflows.orders.service import INTAKE_ACTORS  # noqa: E402

GROWING = {"orders", "order_items", "sync_attempts", "audit_events", "intake_events", "alerts", "outbox"}


def statements(n: int, item_pk: int) -> list[tuple[str, str, Any]]:
    """(path, what, statement) for one order `PRE-<n>` of the preloaded history."""
    order_id = f"PRE-{n:08d}"
    now = utcnow()
    window = dt.timedelta(minutes=10)
    return [
        ("intake", "event seen? (intake_events by event_id)", select(IntakeEvent).where(IntakeEvent.event_id == f"evt-pre-{n}")),
        ("intake", "order by id, FOR UPDATE", select(Order).where(Order.id == order_id).with_for_update()),
        ("intake", "items of the order", select(OrderItem).where(OrderItem.order_id == order_id)),
        ("intake", "alerts of the order", select(Alert).where(Alert.order_id == order_id)),
        ("intake", "next attempt: max(number) by item",
         select(func.max(SyncAttempt.number)).where(SyncAttempt.item_pk == item_pk)),
        ("intake", "outage: open incident for the system",
         select(Incident).where(Incident.open_for == "synxis").with_for_update()),
        ("intake", "outage: burst of the system in the window",
         select(SyncAttempt.order_id, SyncAttempt.started_at, SyncAttempt.error_class)
         .join(OrderItem, OrderItem.pk == SyncAttempt.item_pk)
         .where(OrderItem.system == "synxis", SyncAttempt.triggered_by.in_(INTAKE_ACTORS),
                SyncAttempt.started_at > now - window, SyncAttempt.started_at <= now)),
        ("intake", "outage: attach alerts to the incident",
         update(Alert).where(Alert.order_id.in_([order_id]), Alert.incident_id.is_(None),
                             Alert.state != states.A_RESOLVED).values(incident_id=None)),
        ("action", "item by (order_id, item_id)",
         select(OrderItem).where(OrderItem.order_id == order_id, OrderItem.item_id == "ITEM-1")),
        ("action", "ended runs (audit by order, item, action)",
         select(func.count()).select_from(AuditEvent).where(
             AuditEvent.order_id == order_id, AuditEvent.item_id == "ITEM-1",
             AuditEvent.action.in_(["reprocess.refused", "reprocess.failed", "reprocess.skipped"]))),
        ("job", "lock holder (attempts by item, processing)",
         select(SyncAttempt).where(SyncAttempt.item_pk == item_pk, SyncAttempt.status == states.Q_PROCESSING)
         .order_by(SyncAttempt.number.desc())),
        ("job", "snapshot: attempts of the order",
         select(SyncAttempt).where(SyncAttempt.order_id == order_id).order_by(SyncAttempt.number)),
        ("job", "snapshot: audit trail of the order (last 200)",
         select(AuditEvent).where(AuditEvent.order_id == order_id).order_by(AuditEvent.id.desc()).limit(200)),
        ("job", "refresh: alert by (order, surface)",
         select(Alert).where(Alert.order_id == order_id, Alert.surface == "slack")),
        ("clock", "outbox drain (pending, oldest 500)",
         select(OutboxEntry).where(OutboxEntry.dispatched_at.is_(None)).order_by(OutboxEntry.id).limit(500)),
        ("clock", "recovery: unshown open alerts",
         select(Alert.order_id, Alert.surface).where(Alert.state != states.A_RESOLVED, Alert.message_id.is_(None),
                                                     Alert.created_at < now - dt.timedelta(seconds=60)).limit(500)),
        ("clock", "recovery: overdue automatic retries",
         select(AuditEvent).join(OrderItem, (OrderItem.order_id == AuditEvent.order_id)
                                 & (OrderItem.item_id == AuditEvent.item_id))
         .where(AuditEvent.action == "retry.scheduled", OrderItem.sync_status == states.Q_FAILED,
                OrderItem.status == states.IN_PROGRESS)),
        ("clock", "escalation: open alerts below channel level",
         select(Alert).where(Alert.state == states.A_OPEN, Alert.escalation_level < 2).order_by(Alert.order_id, Alert.id)),
        ("clock", "outage: quiet open incidents",
         select(Incident).where(Incident.state == "open", Incident.last_failure_at <= now - window)),
        ("lookup", "order queue: newest 200 orders",
         select(Order).order_by(Order.placed_at.desc().nulls_last(), Order.id).limit(200)),
        ("lookup", "order queue: status 'failed'",
         select(Order).where(or_(Order.platform_status == "failed", Order.id.in_(
             select(OrderItem.order_id).where(OrderItem.sync_status == "failed"))))
         .order_by(Order.placed_at.desc().nulls_last(), Order.id).limit(200)),
        ("lookup", "order queue: last error per order (once per row)",
         select(SyncAttempt.error_class).where(SyncAttempt.order_id == order_id, SyncAttempt.error_class.is_not(None))
         .order_by(SyncAttempt.id.desc()).limit(1)),
        ("lookup", "Home tab: open Slack alerts",
         select(Alert.order_id).where(Alert.surface == "slack", Alert.state != "resolved").limit(100)),
    ]


def _nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    out = [plan]
    for child in plan.get("Plans", []):
        out.extend(_nodes(child))
    return out


def explain(conn: Any, statement: Any) -> dict[str, Any]:
    sql = str(statement.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))
    conn.execute(text("BEGIN"))
    try:  # ANALYZE runs it: roll back the UPDATEs
        plan = conn.execute(text(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}")).scalar_one()[0]
    finally:
        conn.execute(text("ROLLBACK"))
    nodes = _nodes(plan["Plan"])
    scans = [f"{n['Node Type']} on {n.get('Relation Name')}" + (f" ({n['Index Name']})" if n.get("Index Name") else "")
             for n in nodes if "Relation Name" in n]
    seq = sorted({n["Relation Name"] for n in nodes if n["Node Type"] == "Seq Scan" and n["Relation Name"] in GROWING})
    sort_rows = [n for n in nodes if n["Node Type"] == "Sort"]
    return {"ms": round(plan["Execution Time"], 3), "scans": scans, "seq_scan_on_growing_table": seq,
            "sorts": len(sort_rows), "rows_read": sum(int(n.get("Actual Rows", 0)) * int(n.get("Actual Loops", 1))
                                                       for n in nodes if "Relation Name" in n)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preload", type=int, nargs="+", default=[1000, 10000, 100000])
    parser.add_argument("--repeat", type=int, default=5, help="timings per query (the median is kept)")
    args = parser.parse_args()
    load_before = load_average()
    print(f"load average before: {load_before} ({os.cpu_count()} cores)")
    levels: list[dict[str, Any]] = []
    for preload in args.preload:
        with fresh_postgres() as database_url:
            from syncdesk.cli import _migrate
            from workflows.core.settings import Settings

            _migrate(Settings(_env_file=None, database_url=database_url))
            started = time.perf_counter()
            counts = preload_history(database_url, preload)
            load_s = time.perf_counter() - started
            n = preload // 2
            with get_engine(database_url).connect() as conn:
                item_pk = conn.execute(select(OrderItem.pk).where(OrderItem.order_id == f"PRE-{n:08d}")).scalar_one()
            results = []
            with get_engine(database_url).connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                for path, what, statement in statements(n, item_pk):
                    runs = [explain(conn, statement) for _ in range(args.repeat)]
                    best = runs[-1] | {"ms": round(statistics.median(r["ms"] for r in runs), 3)}
                    results.append({"path": path, "query": what, **best})
            timings = []
            for _ in range(args.repeat):
                t = time.perf_counter()
                with transaction(database_url) as session:
                    rows = order_queue(session, limit=200)
                timings.append((time.perf_counter() - t) * 1000)
            levels.append({"preloaded_orders": preload, "rows": counts, "preload_seconds": round(load_s, 1),
                           "queries": results, "order_queue_200_rows_ms": round(statistics.median(timings), 1),
                           "order_queue_rows": len(rows)})
            print(f"preloaded {preload:,} orders ({sum(counts.values()):,} rows) in {load_s:.1f} s")
    header = ["path", "query"] + [f"{lv['preloaded_orders']:,} ms" for lv in levels] + ["plan at the largest", "seq scan"]
    rows = []
    for i, q in enumerate(levels[-1]["queries"]):
        rows.append([q["path"], q["query"], *(f"{lv['queries'][i]['ms']:.2f}" for lv in levels),
                     "; ".join(dict.fromkeys(q["scans"])) or "-",
                     ", ".join(q["seq_scan_on_growing_table"]) or "no"])
    rows.append(["lookup", "order_queue(limit=200) in Python, whole call",
                 *(f"{lv['order_queue_200_rows_ms']:.1f}" for lv in levels), "1 + 1 + 2 queries per row (N+1)", ""])
    print_table(header, rows)
    flagged = [(q["path"], q["query"], q["seq_scan_on_growing_table"]) for q in levels[-1]["queries"]
               if q["seq_scan_on_growing_table"]]
    print(f"\n{len(flagged)} hot-path queries read a growing table sequentially at {levels[-1]['preloaded_orders']:,} orders"
          + "".join(f"\n  - [{p}] {w}: {', '.join(t)}" for p, w, t in flagged))
    path = write_results("hot_path", {"load_average_before": load_before, "levels": levels})
    print(f"results: {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
