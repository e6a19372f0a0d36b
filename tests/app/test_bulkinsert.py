"""Driver-level inserts: what is stored matches what SQLAlchemy would store,
and nothing is written outside the caller's transaction."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from app.bulkinsert import BulkInsert
from app.db import Database
from app.notary.models import EntryMeta
from ledger import sqlstore

META = BulkInsert(EntryMeta.__table__, ("entry_idx", "entry_type", "at"))


@pytest.fixture
def db(database_url):
    database = Database(database_url)
    yield database
    database.dispose()


def test_rows_read_back_as_the_orm_sees_them(db):
    at = datetime(2026, 11, 23, 9, 30, tzinfo=timezone(timedelta(hours=8)))
    with db.write() as session:
        META.execute(session.connection(), [(1, "document.issued", at), (2, "device.event", at)])
    with db.read() as session:
        rows = session.scalars(select(EntryMeta).order_by(EntryMeta.entry_idx)).all()
    assert [(row.entry_idx, row.entry_type, row.at) for row in rows] == [
        (1, "document.issued", at), (2, "device.event", at)]
    assert rows[0].at.tzinfo is not None


def test_more_rows_than_one_statement_holds_all_go_in_in_order(db, monkeypatch):
    # Room for 2 rows of 3 columns per INSERT: 5 rows take 3 statements.
    monkeypatch.setattr(sqlstore, "MAX_PARAMETERS", 7)
    at = datetime(2026, 11, 23, tzinfo=timezone.utc)
    with db.write() as session:
        META.execute(session.connection(), [(i, f"type.{i}", at) for i in range(5)])
    with db.read() as session:
        rows = session.execute(select(EntryMeta.entry_idx, EntryMeta.entry_type)
                               .order_by(EntryMeta.entry_idx)).all()
    assert [tuple(row) for row in rows] == [(i, f"type.{i}") for i in range(5)]


def test_outside_a_transaction_it_is_refused_and_writes_nothing(db):
    at = datetime(2026, 11, 23, tzinfo=timezone.utc)
    with db.engine.connect() as connection:
        with pytest.raises(ValueError, match="transaction"):
            META.execute(connection, [(1, "document.issued", at)])
    with db.read() as session:
        assert session.scalar(select(func.count()).select_from(EntryMeta)) == 0
