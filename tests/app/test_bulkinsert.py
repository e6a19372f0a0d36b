"""Driver-level inserts: what is stored matches what SQLAlchemy would store,
and nothing is written outside the caller's transaction."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from app.bulkinsert import BulkInsert
from app.db import Database
from app.notary.models import EntryMeta

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


def test_outside_a_transaction_it_is_refused_and_writes_nothing(db):
    at = datetime(2026, 11, 23, tzinfo=timezone.utc)
    with db.engine.connect() as connection:
        with pytest.raises(ValueError, match="transaction"):
            META.execute(connection, [(1, "document.issued", at)])
    with db.read() as session:
        assert session.scalar(select(func.count()).select_from(EntryMeta)) == 0
