"""The Alembic migrations are the schema: models and migrations must agree."""

from __future__ import annotations

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

from app.config import ConfigError
from app.db import Database, make_engine
from app.migrate import alembic_config, require_current_schema, upgrade
from app.models import ALL_METADATA

PREVIOUS_REVISION = "5b7e2c91d0a4"  # before api_tokens.last_used_at


def downgrade(url: str, revision: str) -> None:
    """Take the database at ``url`` back to ``revision`` (an older code's schema)."""
    engine = make_engine(url)
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)
    engine.dispose()


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


def test_entry_metadata_is_backfilled_for_entries_logged_before_it_existed(tmp_path):
    from sqlalchemy import select

    import ledger
    from app.db import Database
    from app.notary.models import EntryMeta
    from ledger.sqlstore import SqlLog

    url = f"sqlite:///{tmp_path / 'old.sqlite3'}"
    database = Database(url)
    upgrade(database.engine, "8fc18680339b")  # the schema before entry_meta
    with database.write() as session:
        SqlLog(session.connection()).append([ledger.encode_entry(
            {"v": 1, "type": "org.created", "at": f"2026-01-0{day}T00:00:00Z", "actor": "operator"})
            for day in (1, 2, 3)])
    upgrade(database.engine)
    with database.read() as session:
        rows = session.execute(select(EntryMeta.entry_idx, EntryMeta.entry_type, EntryMeta.at)
                               .order_by(EntryMeta.entry_idx)).all()
    database.dispose()
    assert [(r.entry_idx, r.entry_type, r.at.day) for r in rows] == [
        (0, "org.created", 1), (1, "org.created", 2), (2, "org.created", 3)]


def test_a_database_behind_the_code_is_refused_until_upgraded(database_url):
    # The code would read api_tokens.last_used_at: every authenticated request a 500.
    downgrade(database_url, PREVIOUS_REVISION)
    database = Database(database_url)
    with pytest.raises(ConfigError) as refused:
        require_current_schema(database, database_url)
    assert str(refused.value).startswith("the database TZ_DATABASE_URL=")
    assert f"is at schema revision {PREVIOUS_REVISION}; this code needs " in str(refused.value)
    assert str(refused.value).endswith("run `tradezone db upgrade`")
    upgrade(database.engine)
    require_current_schema(database, database_url)  # at head: nothing to say
    database.dispose()


def test_a_database_ahead_of_the_code_is_refused(database_url):
    database = Database(database_url)
    with database.engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = 'ffffffffffff'"))
    with pytest.raises(ConfigError, match="is at schema revision ffffffffffff, which this code "
                                          "does not know .*: run the code that migrated it"):
        require_current_schema(database, database_url)
    database.dispose()


def test_a_database_without_the_schema_is_refused(tmp_path):
    url = f"sqlite:///{tmp_path / 'empty.sqlite3'}"
    database = Database(url)
    with pytest.raises(ConfigError, match="has no Tradezone tables: run `tradezone db upgrade`"):
        require_current_schema(database, url)
    database.dispose()
