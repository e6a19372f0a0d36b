"""Driver-level inserts: what is stored matches what SQLAlchemy would store,
and nothing is written outside the caller's transaction."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from app.bulkinsert import BulkInsert
from app.db import Database
from app.devices.models import QuarantinedEvent
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


QUARANTINE = BulkInsert(QuarantinedEvent.__table__, (
    "id", "topic_device_id", "reason", "detail", "seq", "raw", "raw_size", "raw_sha256",
    "received_at"))

# Values a text protocol must escape: COPY's separators, its NULL marker as
# text, backslashes, non-ASCII; every byte value; NULL; the BIGINT bounds.
AWKWARD_TEXT = ["tab\there", "line\nbreak\r\n", "back\\slash \\N", "\\N", "", "中文 é ✓"]
AWKWARD_BYTES = [bytes(range(256)), b"", b"\\x00\t\n", b"\x00"]
AWKWARD_SEQS = [None, 0, 2**63 - 1, -2**63]


def _awkward_rows(count: int) -> list[tuple]:
    at = datetime(2026, 11, 23, 9, 30, 15, 123456, tzinfo=timezone(timedelta(hours=8)))
    return [(n + 1, f"dev-{n}", "bad_signature", AWKWARD_TEXT[n % len(AWKWARD_TEXT)],
             AWKWARD_SEQS[n % len(AWKWARD_SEQS)], AWKWARD_BYTES[n % len(AWKWARD_BYTES)], n,
             bytes([n % 256]) * 32, at + timedelta(seconds=n)) for n in range(count)]


def _stored_quarantine(db) -> list[tuple]:
    with db.read() as session:
        rows = session.scalars(select(QuarantinedEvent).order_by(QuarantinedEvent.id)).all()
    return [(row.id, row.topic_device_id, row.reason, row.detail, row.seq, bytes(row.raw),
             row.raw_size, bytes(row.raw_sha256), row.received_at) for row in rows]


def test_many_rows_store_exactly_what_was_given(db):
    # 30 rows of 9 values: over psycopg's 50, so PostgreSQL takes them by COPY.
    rows = _awkward_rows(30)
    with db.write() as session:
        QUARANTINE.execute(session.connection(), rows)
    assert _stored_quarantine(db) == rows


def test_one_row_at_a_time_and_all_at_once_store_the_same(db, tmp_path):
    rows = _awkward_rows(12)
    with db.write() as session:
        for row in rows:  # 9 values per statement: a plain INSERT on every backend
            QUARANTINE.execute(session.connection(), [row])
    one_by_one = _stored_quarantine(db)
    with db.write() as session:
        session.execute(QuarantinedEvent.__table__.delete())
    with db.write() as session:
        QUARANTINE.execute(session.connection(), rows)
    assert _stored_quarantine(db) == one_by_one == rows


def test_many_rows_roll_back_with_the_transaction(db):
    with pytest.raises(RuntimeError, match="after the insert"):
        with db.write() as session:
            QUARANTINE.execute(session.connection(), _awkward_rows(30))
            raise RuntimeError("after the insert")
    assert _stored_quarantine(db) == []
