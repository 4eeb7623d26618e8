"""The database engine and transactions.

One engine per process and URL. `transaction()` is the unit of work of the service
layer: everything inside commits together or not at all.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

from sqlalchemy import Column, Engine, Insert, Table, create_engine, event, inspect, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import InstrumentedAttribute, Session, make_transient_to_detached, sessionmaker
from sqlalchemy.orm.attributes import instance_dict

from workflows.core.models import AuditEvent, OutboxEntry


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
    factory = sessionmaker(bind=get_engine(url), expire_on_commit=False)
    event.listen(factory, "before_flush", _insert_append_only)
    return factory


def _insert_append_only(session: Session, _flush: Any, _objects: Any) -> None:
    """Before each flush, the session's new audit events and outbox entries are written with one
    INSERT per table (`insert_new`), and the unit of work does the rest. On a click, whose only
    new rows are its three audit events, the unit of work's flush cost twice the INSERT, a fifth
    of the click's CPU (issue 29). Safe for these two alone: their rows are only ever inserted,
    with no relationship or foreign key, so nothing else in the flush depends on being written
    before or after them; in each table they keep the order they were added in (`insert_order`,
    the unit of work's own), and end up persistent as a flush leaves them, their ids set."""
    for model in _APPEND_ONLY:
        pending = [obj for obj in session.new if type(obj) is model and instance_dict(obj).get("id") is None]
        if pending:
            pending.sort(key=lambda obj: inspect(obj).insert_order)
            for obj in pending:
                session.expunge(obj)
            insert_new(session, pending)
            keep_as_loaded(session, pending)


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
    table = entity.__table__
    statement = _insert(session.get_bind().dialect.name, table, (returning.key,), tuple(unique))
    # RETURNING, not rowcount: psycopg's rowcount for an INSERT … ON CONFLICT is not reliable.
    return session.execute(statement, values).scalar_one_or_none()


@lru_cache(maxsize=64)
def _insert(dialect: str, table: Table, returning: tuple[str, ...], unique: tuple[str, ...]) -> Insert:
    """One table's INSERT, built once per process: its values come with each execution (issue 29:
    building a statement costs more CPU than running it). A Core statement on the table, not the
    mapped class, so the ORM's bulk-insert machinery stays out of it (and with it the autoflush:
    these INSERTs read nothing). RETURNING is in the order of the rows given."""
    statement: Insert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)
    if unique:
        statement = statement.on_conflict_do_nothing(index_elements=list(unique))
    if not returning:
        return statement
    return statement.returning(*(table.c[name] for name in returning), sort_by_parameter_order=True)


def insert_new(session: Session, objects: Sequence[Any], *, unless_present: Sequence[str] = ()) -> bool:
    """Write new objects of one mapped class with one INSERT (an executemany for several), without
    the unit of work: on a hot path its flush costs several times the INSERT itself (issue 29).

    Every column is set on the objects first, as a flush leaves them: the value given, else the
    column's Python default, else None; a generated key comes back by RETURNING. Relationships are
    not followed (set the foreign keys), and the objects stay out of the session until
    `keep_as_loaded`, once every row they refer to is written. With `unless_present` (one object),
    `ON CONFLICT (those columns) DO NOTHING`: False when such a row was there already."""
    assert not unless_present or len(objects) == 1
    if not objects:
        return True
    table, generated, columns = _columns(type(objects[0]))
    rows = []
    for obj in objects:
        # Read and completed in the object's own dict, not through its instrumented attributes
        # (a tenth of the CPU): the object is new, so there is no history to keep.
        values = instance_dict(obj)
        for key, default in columns:
            if values.get(key) is None:  # unset or None: the flush would write the default, else NULL
                values[key] = default() if default is not None else None
        rows.append({key: values[key] for key, _ in columns})
    returning = (generated,) if generated else tuple(c.key for c in table.primary_key) if unless_present else ()
    result = session.execute(_insert(session.get_bind().dialect.name, table, returning, tuple(unless_present)),
                             rows if len(rows) > 1 else rows[0])
    if not returning:
        return True
    keys = result.scalars().all()
    if generated:
        for obj, value in zip(objects, keys, strict=True):
            instance_dict(obj)[generated] = value
    return bool(keys)


@lru_cache(maxsize=64)
def _columns(model: type[Any]) -> tuple[Table, str | None, tuple[tuple[str, Callable[[], Any] | None], ...]]:
    """A mapped class's table, its generated key, and every other column with its Python default
    (models name attributes as their columns)."""
    mapper = inspect(model)
    table = mapper.local_table
    assert all(mapper.get_property_by_column(column).key == column.key for column in table.columns)
    generated = table.autoincrement_column
    columns = tuple((column.key, _python_default(column)) for column in table.columns if column is not generated)
    return table, generated.key if generated is not None else None, columns


def _python_default(column: Column[Any]) -> Callable[[], Any] | None:
    default = column.default
    if column.server_default is not None:  # none in workflows.core.models; the object could not know it
        raise TypeError(f"{column}: insert_new cannot know its server default: set it")
    if default is None:
        return None
    if default.is_scalar:
        return lambda: default.arg
    if default.is_callable:
        return lambda: default.arg(None)  # a zero-argument function (utcnow, dict), wrapped by SQLAlchemy
    raise TypeError(f"{column}: insert_new cannot compute a SQL default: set it")


def keep_as_loaded(session: Session, objects: Sequence[Any]) -> None:
    """Objects whose rows this transaction has written itself (`insert_new`), into the session as
    persistent, exactly as a query would have loaded them: the ORM code that follows reads them,
    and the relationships set between them, without a query, changes them as usual, and never
    inserts them again. Safe because they hold every column as written, and no one else can see
    the rows before this transaction commits."""
    for obj in objects:
        make_transient_to_detached(obj)
    session.add_all(objects)


_APPEND_ONLY = (AuditEvent, OutboxEntry)


def ping(url: str) -> None:
    """Raise DatabaseUnavailable unless a trivial query succeeds."""
    try:
        with get_engine(url).connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # any driver error means "not reachable" to a health check
        raise DatabaseUnavailable(str(exc)) from exc
