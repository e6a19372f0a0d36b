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
