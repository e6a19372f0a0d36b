"""The SQL-backed log on SQLite and PostgreSQL: appends, proofs, corruption."""

from __future__ import annotations

import sqlite3
from contextlib import closing

import psycopg
import pytest
from sqlalchemy import update

import ledger
from app.db import Database
from ledger import prove, sqlstore
from ledger.sqlstore import SqlLog, tree


@pytest.fixture
def db(database_url):
    database = Database(database_url)
    yield database
    database.dispose()


def _append(db: Database, datas: list[bytes]):
    with db.write() as session:
        return SqlLog(session.connection()).append(datas)


def test_batches_build_the_same_tree_as_memory(db):
    memory = ledger.MemoryHashStore()
    datas = [f"entry {i}".encode() for i in range(300)]
    for start, stop in [(0, 1), (1, 2), (2, 7), (7, 64), (64, 65), (65, 300)]:
        result = _append(db, datas[start:stop])
        memory.append([ledger.leaf_hash(d) for d in datas[start:stop]])
        assert (result.first_index, result.tree_size) == (start, stop)
        assert result.root_hash == prove.tree_root(memory, stop)
    with db.read() as session:
        log = SqlLog(session.connection())
        assert log.size == 300
        for size in (1, 2, 3, 63, 64, 65, 127, 128, 129, 300):
            root = prove.tree_root(log, size)
            assert root == prove.tree_root(memory, size)
            for index in (0, size // 2, size - 1):
                proof = prove.inclusion_proof(log, index, size)
                assert proof == prove.inclusion_proof(memory, index, size)
                ledger.verify_inclusion(ledger.leaf_hash(datas[index]), index, size, proof, root)
            for first in (0, 1, size // 3, size - 1, size):
                proof = prove.consistency_proof(log, first, size)
                ledger.verify_consistency(first, size, proof, prove.tree_root(log, first), root,)


def test_a_batch_larger_than_one_statement_goes_in_several(db, monkeypatch):
    # Room for 2 rows of (idx, data) per INSERT: a batch of 5 takes 3 statements.
    monkeypatch.setattr(sqlstore, "MAX_PARAMETERS", 5)
    datas = [f"entry {i}".encode() for i in range(5)]
    result = _append(db, datas)
    memory = ledger.MemoryHashStore()
    memory.append([ledger.leaf_hash(d) for d in datas])
    assert result.root_hash == prove.tree_root(memory, 5)
    with db.read() as session:
        log = SqlLog(session.connection())
        assert log.read_entries(0, 10) == list(enumerate(datas))
        assert prove.inclusion_proof(log, 3, 5) == prove.inclusion_proof(memory, 3, 5)


def test_append_rolls_back_with_the_callers_transaction(db):
    _append(db, [b"kept"])
    with pytest.raises(RuntimeError):
        with db.write() as session:
            SqlLog(session.connection()).append([b"lost 1", b"lost 2"])
            raise RuntimeError("the business write failed")
    with db.read() as session:
        log = SqlLog(session.connection())
        assert log.size == 1
        assert log.read_entries(0, 10) == [(0, b"kept")]
    assert _append(db, [b"next"]).first_index == 1


def test_empty_append_is_refused(db):
    with pytest.raises(ValueError):
        _append(db, [])


def test_append_outside_a_transaction_is_refused_and_writes_nothing(db):
    # The appends go to the driver's cursor; without a begun transaction each
    # statement would commit on its own, and a failure would leave half a batch.
    with db.engine.connect() as connection:
        with pytest.raises(ValueError, match="transaction"):
            SqlLog(connection).append([b"a", b"b"])
    with db.read() as session:
        assert SqlLog(session.connection()).size == 0


def test_proof_beyond_the_log_is_a_tree_size_error(db):
    _append(db, [b"a", b"b"])
    with db.read() as session:
        log = SqlLog(session.connection())
        with pytest.raises(ledger.TreeSizeError):
            prove.inclusion_proof(log, 0, 3)
        with pytest.raises(ledger.TreeSizeError):
            prove.consistency_proof(log, 1, 3)


def test_corrupted_stored_hash_is_a_typed_error_naming_the_leaf(db):
    _append(db, [bytes([i]) for i in range(8)])
    with db.write() as session:
        session.execute(update(tree).where(tree.c.leaf_index == 5).values(hashes=b"short"))
    with db.read() as session:
        log = SqlLog(session.connection())
        with pytest.raises(ledger.IntegrityError) as caught:
            prove.inclusion_proof(log, 4, 8)
        assert caught.value.index == 5


def test_a_stored_checkpoint_reads_back_as_written(db):
    from datetime import datetime, timezone
    result = _append(db, [b"one", b"two", b"three"])
    signed_at = datetime(2026, 11, 23, 8, 30, 15, 123456, tzinfo=timezone.utc)
    checkpoint = ledger.Checkpoint("tradezone.test/log", result.tree_size, result.root_hash)
    with db.write() as session:
        SqlLog(session.connection()).add_checkpoint(checkpoint, "the signed note\n", signed_at)
    with db.read() as session:
        stored = SqlLog(session.connection()).latest_checkpoint()
    assert (stored.size, stored.root_hash, stored.note) == (3, result.root_hash, "the signed note\n")
    # SQLite hands timestamps back naive (in UTC, as stored); PostgreSQL aware.
    assert stored.signed_at.replace(tzinfo=stored.signed_at.tzinfo or timezone.utc) == signed_at


def test_the_newest_leaf_comes_with_its_proof(db):
    _append(db, [b"a", b"b", b"c", b"d", b"e"])
    result = _append(db, [b"f", b"g"])
    with db.read() as session:
        log = SqlLog(session.connection())
        assert list(result.last_leaf_proof) == prove.inclusion_proof(log, 6, 7)


def test_a_pipelined_block_reads_its_own_writes_and_commits_them(db):
    """Appends in a pipelined block (one round trip on PostgreSQL) still read the
    tree edge the block wrote before them; rows that would go by COPY outside a
    pipeline go by INSERT in it."""
    datas = [f"entry {i}".encode() for i in range(41)]
    with db.write() as session:
        connection = session.connection()
        with sqlstore.pipelined(connection):
            with sqlstore.pipelined(connection):  # a block inside another adds nothing
                assert _pipeline_status(connection) == _expected_status(db, "ON")
            log = SqlLog(connection)
            log.append(datas[:1])
            result = log.append(datas[1:])  # 80 values: past what psycopg sends by COPY
        assert _pipeline_status(connection) == _expected_status(db, "OFF")
    memory = ledger.MemoryHashStore()
    memory.append([ledger.leaf_hash(d) for d in datas])
    assert (result.first_index, result.tree_size) == (1, 41)
    assert result.root_hash == prove.tree_root(memory, 41)
    with db.read() as session:
        assert SqlLog(session.connection()).read_entries(0, 50) == list(enumerate(datas))


def test_an_error_in_a_pipelined_block_is_raised_by_its_end_and_nothing_commits(db):
    _append(db, [b"kept"])
    with pytest.raises((sqlite3.IntegrityError, psycopg.IntegrityError)):
        with db.write() as session:
            connection = session.connection()
            with sqlstore.pipelined(connection):
                SqlLog(connection).append([b"lost"])
                with closing(connection.connection.cursor()) as cursor:  # index 0 is taken
                    sqlstore.insert_rows(cursor, "ledger_entries (idx, data)",
                                         sqlstore.placeholder(connection.dialect), [(0, b"x")])
    with db.read() as session:
        log = SqlLog(session.connection())
        assert (log.size, log.read_entries(0, 10)) == (1, [(0, b"kept")])
    assert _append(db, [b"next"]).first_index == 1


def _pipeline_status(connection) -> str | None:
    pgconn = getattr(connection.connection.driver_connection, "pgconn", None)
    return psycopg.pq.PipelineStatus(pgconn.pipeline_status).name if pgconn is not None else None


def _expected_status(db: Database, on_postgresql: str) -> str | None:
    return on_postgresql if db.dialect == "postgresql" else None


def test_a_failure_of_the_callers_code_in_a_pipelined_block_rolls_back_cleanly(db):
    """The connection leaves pipeline mode, rolls back, and serves the next
    transaction (the same pooled connection: the test uses one at a time)."""
    _append(db, [b"kept"])
    with pytest.raises(RuntimeError):
        with db.write() as session:
            connection = session.connection()
            with sqlstore.pipelined(connection):
                SqlLog(connection).append([b"lost"])
                raise RuntimeError("the business write failed")
    assert _append(db, [b"next"]).first_index == 1
    with db.read() as session:
        assert SqlLog(session.connection()).read_entries(0, 10) == [(0, b"kept"), (1, b"next")]
