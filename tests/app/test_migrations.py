"""The Alembic migrations are the schema: models and migrations must agree."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from app.db import make_engine
from app.migrate import upgrade
from app.models import ALL_METADATA


def test_autogenerate_finds_no_difference(database_url):
    engine = make_engine(database_url)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, list(ALL_METADATA))
    engine.dispose()
    assert differences == []


def test_upgrade_is_idempotent_and_creates_every_table(database_url):
    engine = make_engine(database_url)
    upgrade(engine)  # already at head: nothing to do, nothing fails
    tables = set(inspect(engine).get_table_names())
    engine.dispose()
    expected = {table for metadata in ALL_METADATA for table in metadata.tables}
    assert expected <= tables
    assert "alembic_version" in tables
