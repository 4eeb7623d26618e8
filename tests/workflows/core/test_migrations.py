"""The Alembic migrations build exactly the schema the models describe, on either backend."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from workflows.core.db import get_engine
from workflows.core.models import Base


def test_migrated_database_matches_the_models(database_url):
    with get_engine(database_url).connect() as conn:
        differences = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert differences == []


def at_revision(tmp_path, revision: str):  # type: ignore[no-untyped-def]
    """A SQLite database migrated to `revision`: (its URL, the Alembic config to go on with)."""
    from alembic import command
    from alembic.config import Config

    from syncdesk.cli import MIGRATIONS

    url = f"sqlite:///{tmp_path / 'old.db'}"
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url)
    command.upgrade(config, revision)
    return url, config


def test_pending_outbox_jobs_follow_their_functions_to_the_new_layout(tmp_path):
    """Migration 0004: an outbox entry written before the move runs under the new path."""
    from alembic import command
    from sqlalchemy import text

    url, config = at_revision(tmp_path, "0003")
    engine = get_engine(url)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO outbox (function, kwargs, job_id, delay_seconds, created_at, dispatched_at) "
                          "VALUES ('workflows.jobs.reprocess', '{}', 'a', 0, '2026-11-29 10:00:00', NULL), "
                          "('workflows.jobs.reprocess', '{}', 'b', 0, '2026-11-29 10:00:00', '2026-11-29 10:00:01')"))
    command.upgrade(config, "head")
    with engine.connect() as conn:
        rows = dict(conn.execute(text("SELECT job_id, function FROM outbox")).all())
    assert rows == {"a": "workflows.actions.jobs.reprocess", "b": "workflows.jobs.reprocess"}  # only what waits
    import importlib

    module, name = rows["a"].rsplit(".", 1)
    assert callable(getattr(importlib.import_module(module), name))


def test_orders_stored_before_the_migration_are_found_after_it(tmp_path):
    """Migration 0007 writes the search terms of the orders already there (`find`, issue 14)."""
    from alembic import command
    from sqlalchemy import text

    from workflows.core.db import transaction
    from workflows.orders import search

    url, config = at_revision(tmp_path, "0006")
    with get_engine(url).begin() as conn:
        conn.execute(text(
            "INSERT INTO orders (id, platform_status, currency, total_minor, guest_first_name, guest_last_name, "
            "guest_email, guest_phone, payment_provider, payment_reference, created_at, updated_at) VALUES "
            "('ORD-OLD', 'In Progress', 'GBP', 24000, 'Larry', 'Walker', 'larry@example.com', '+44 5551234567', "
            "'stripe', 'pi_old', '2026-11-29 10:00:00', '2026-11-29 10:00:00')"))
    command.upgrade(config, "head")
    with transaction(url) as session:
        for words in ("walker", "larry w", "larry@example.com", "5551234567", "pi_old"):
            assert [r.order_id for r in search.find(session, words)] == ["ORD-OLD"], words
