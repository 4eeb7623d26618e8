"""The Alembic migrations build exactly the schema the models describe, on either backend."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from workflows.db import get_engine
from workflows.models import Base


def test_migrated_database_matches_the_models(database_url):
    with get_engine(database_url).connect() as conn:
        differences = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert differences == []
