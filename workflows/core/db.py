"""The database engine and transactions.

One engine per process and URL. `transaction()` is the unit of work of the service
layer: everything inside commits together or not at all.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.orm import InstrumentedAttribute, Session, sessionmaker


class DatabaseUnavailable(RuntimeError):
    """The database cannot be reached; intake answers 503 so the platform retries."""


_engines: list[Engine] = []


def _forget_inherited_pools() -> None:
    """In a forked child (an RQ work horse), drop the parent's pooled connections unclosed:
    two processes must never share one database connection (SQLAlchemy, "Using Connection
    Pools with Multiprocessing or os.fork()")."""
    for engine in _engines:
        engine.dispose(close=False)


os.register_at_fork(after_in_child=_forget_inherited_pools)


@lru_cache(maxsize=8)
def get_engine(url: str) -> Engine:
    engine = _build_engine(url)
    _engines.append(engine)
    return engine


def _build_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    return create_engine(
        url,
        # No pre-ping (it costs a round trip per transaction): a connection found dead
        # invalidates the whole pool, that one request answers 503, the next reconnects.
        pool_recycle=1800,
        pool_size=10,
        max_overflow=10,
        pool_timeout=5,
        connect_args={"connect_timeout": 3} if url.startswith("postgresql") else {},
    )


@lru_cache(maxsize=8)
def _session_factory(url: str) -> sessionmaker[Session]:
    return sessionmaker(bind=get_engine(url), expire_on_commit=False)


def session_for(url: str) -> Session:
    return _session_factory(url)()


@contextmanager
def transaction(url: str) -> Iterator[Session]:
    """A session whose work commits on success and rolls back on any error."""
    session = session_for(url)
    try:
        with session.begin():
            yield session
    finally:
        session.close()


def insert_unless_present(session: Session, entity: type[Any], values: dict[str, Any], *, unique: list[str],
                          returning: InstrumentedAttribute[Any]) -> Any | None:
    """`INSERT … ON CONFLICT (unique) DO NOTHING RETURNING returning`: the new row's value,
    or None when a row with the same unique values is already there. One statement, no
    error to roll back, on PostgreSQL and SQLite (3.35 and later). On PostgreSQL a
    concurrent transaction inserting the same values makes this one wait for its outcome."""
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    statement = insert(entity).values(**values).on_conflict_do_nothing(index_elements=unique)
    # RETURNING, not rowcount: psycopg's rowcount for an ORM-enabled INSERT is not reliable.
    return session.execute(statement.returning(returning)).scalar_one_or_none()


def ping(url: str) -> None:
    """Raise DatabaseUnavailable unless a trivial query succeeds."""
    try:
        with get_engine(url).connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # any driver error means "not reachable" to a health check
        raise DatabaseUnavailable(str(exc)) from exc
