"""`find` (issue 14) at 100,000 orders: the PostgreSQL plan and the time of the query
syncdesk runs (`workflows.orders.search.find`: a prefix range on the `order_search.term`
index), next to the baseline measured in the same run — the same question asked the way a
first attempt would, `ILIKE '%…%'` over the order and item columns, which must read them all.

    .venv/bin/python bench/find_plan.py [--orders 100000] [--repeat 7]

The history is `harness.preload_history` (guests "Guest Number<i>", e-mail guest<i>@example.com,
phone +44 555<i>, payment pi_pre<i>, confirmation PRE<i>); its search terms are written
server-side as `search.terms` makes them. Each query is EXPLAIN (ANALYZE, BUFFERS)ed; the
plan of syncdesk's query is printed in full for one of them. Results: bench/results/find_plan.json.

Exit status 1 when a selective question (under 1% of the orders match) reads a table
sequentially. A broad prefix ("number1": 11% of the orders) may rightly be a hash join over
`orders` once the planner expects thousands of matches; it is printed, not failed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, or_, select, text  # noqa: E402
from sqlalchemy.dialects import postgresql  # noqa: E402

from bench.harness import fresh_postgres, load_average, preload_history, print_table, write_results  # noqa: E402
from workflows.core.db import get_engine, transaction  # noqa: E402
from workflows.core.models import Order, OrderItem  # noqa: E402
from workflows.orders import search  # noqa: E402

TERMS = """INSERT INTO order_search (order_id, term)
    SELECT DISTINCT o.id, t.term FROM orders o
    LEFT JOIN order_items i ON i.order_id = o.id,
    LATERAL (VALUES (lower(o.guest_first_name || ' ' || o.guest_last_name)), (lower(o.guest_last_name)),
                    (lower(o.guest_email)), (lower(o.payment_reference)), (lower(i.external_reference)),
                    ('#' || reverse(regexp_replace(o.guest_phone, '\\D', '', 'g')))) AS t(term)
    WHERE t.term IS NOT NULL AND t.term <> ''"""


def _sql(statement: Any) -> str:
    return str(statement.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))


def syncdesk_query(words: str) -> Any:
    """The statement `search.find` runs, for EXPLAIN (the rows it then reads are one page)."""
    query = search.normalise(words)
    ranges = [search._range(query)] + ([search._range(p)] if (p := search.phone_term(words)) else [])
    from sqlalchemy import and_

    from workflows.core.models import OrderSearch

    matching = select(OrderSearch.order_id).where(
        or_(*(and_(OrderSearch.term >= low, OrderSearch.term < high) for low, high in ranges)))
    return (select(Order.id).where(Order.id.in_(matching))
            .order_by(Order.placed_at.desc().nulls_last(), Order.id).limit(search.LIMIT))


def baseline_query(words: str) -> Any:
    """The scan: a substring of any searchable column of the order or its items."""
    like = f"%{search.normalise(words)}%"
    items = select(OrderItem.order_id).where(OrderItem.external_reference.ilike(like))
    return (select(Order.id).where(or_(
        func.lower(Order.guest_first_name + " " + Order.guest_last_name).like(like),
        Order.guest_email.ilike(like), Order.guest_phone.ilike(like), Order.payment_reference.ilike(like),
        Order.id.in_(items)))
        .order_by(Order.placed_at.desc().nulls_last(), Order.id).limit(search.LIMIT))


def explain(conn: Any, statement: Any) -> dict[str, Any]:
    rows = conn.execute(text(f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {_sql(statement)}")).scalar_one()
    plan = rows[0] if isinstance(rows, list) else json.loads(rows)[0]
    nodes: list[str] = []

    def walk(node: dict[str, Any]) -> None:
        name = node["Node Type"] + (f" on {node['Relation Name']}" if node.get("Relation Name") else "")
        if node.get("Index Name"):
            name += f" using {node['Index Name']}"
        nodes.append(name)
        for child in node.get("Plans", []):
            walk(child)

    walk(plan["Plan"])
    return {"ms": plan["Execution Time"], "nodes": nodes,
            "seq_scans": sorted({n.split(" on ")[1] for n in nodes if n.startswith("Seq Scan on ")})}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=7, help="runs per query (the median is kept)")
    args = parser.parse_args()
    load_before = load_average()
    print(f"load average before: {load_before} ({os.cpu_count()} cores)")
    n = args.orders // 2
    questions = [("last name", f"number{n}"), ("full name, prefix", f"guest number{n // 10}"),
                 ("e-mail", f"guest{n}@example.com"), ("phone, last digits", f"555{n}"),
                 ("payment reference", f"pi_pre{n}"), ("confirmation number", f"pre{n}"),
                 ("broad prefix (≈11% of orders)", "number1")]
    with fresh_postgres() as database_url:
        from syncdesk.cli import _migrate
        from workflows.core.settings import Settings

        _migrate(Settings(_env_file=None, database_url=database_url))
        started = time.perf_counter()
        counts = preload_history(database_url, args.orders)
        engine = get_engine(database_url)
        with engine.begin() as conn:
            conn.execute(text(TERMS))
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("ANALYZE order_search"))
            counts["order_search"] = conn.execute(text("SELECT count(*) FROM order_search")).scalar_one()
        print(f"preloaded {args.orders:,} orders ({sum(counts.values()):,} rows) in {time.perf_counter() - started:.1f} s")
        results = []
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            for what, words in questions:
                with transaction(database_url) as session:
                    answered = [r.order_id for r in search.find(session, words)]
                mine = [explain(conn, syncdesk_query(words)) for _ in range(args.repeat)]
                scan = [explain(conn, baseline_query(words)) for _ in range(args.repeat)]
                results.append({"question": what, "text": words, "found": len(answered),
                                "syncdesk_ms": round(statistics.median(r["ms"] for r in mine), 3),
                                "baseline_ms": round(statistics.median(r["ms"] for r in scan), 3),
                                "syncdesk_plan": mine[-1]["nodes"], "syncdesk_seq_scans": mine[-1]["seq_scans"],
                                "baseline_seq_scans": scan[-1]["seq_scans"]})
            full = conn.execute(text(f"EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) "
                                     f"{_sql(syncdesk_query(questions[0][1]))}")).scalars().all()
    print(f"\nthe plan of find('{questions[0][1]}') at {args.orders:,} orders:")
    print("\n".join("  " + line for line in full))
    print()
    print_table(["question", "found", "syncdesk ms", "baseline ms (ILIKE scan)", "x faster", "syncdesk seq scans",
                 "baseline seq scans"],
                [[r["question"], str(r["found"]), f"{r['syncdesk_ms']:.2f}", f"{r['baseline_ms']:.2f}",
                  f"{r['baseline_ms'] / max(r['syncdesk_ms'], 0.001):.0f}", ", ".join(r["syncdesk_seq_scans"]) or "none",
                  ", ".join(r["baseline_seq_scans"]) or "none"] for r in results])
    path = write_results("find_plan", {"load_average_before": load_before, "orders": args.orders, "rows": counts,
                                       "questions": results, "plan": full})
    print(f"results: {path.relative_to(ROOT)}")
    selective = [r for r in results if not r["question"].startswith("broad")]
    return 1 if any(r["syncdesk_seq_scans"] for r in selective) else 0


if __name__ == "__main__":
    sys.exit(main())
