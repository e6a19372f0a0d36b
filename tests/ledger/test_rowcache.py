"""Stored tree rows kept in memory for proofs: same answers, fewer reads, bounded."""

from __future__ import annotations

import pytest
from sqlalchemy import update

import ledger
from app.db import Database
from ledger import prove
from ledger.rowcache import TreeRowCache
from ledger.sqlstore import SqlLog, tree

SIZE = 200


@pytest.fixture
def db(database_url):
    database = Database(database_url)
    with database.write() as session:
        SqlLog(session.connection()).append([f"entry {i}".encode() for i in range(SIZE)])
    yield database
    database.dispose()


class CountingLog(SqlLog):
    """A SqlLog that counts the row reads that reach the database."""

    row_reads = 0

    def read_tree_rows(self, leaf_indexes):
        self.row_reads += 1
        return super().read_tree_rows(leaf_indexes)


def test_proofs_through_the_cache_equal_proofs_from_the_database(db):
    cache = TreeRowCache()
    with db.read() as session:
        log = SqlLog(session.connection())
        reader = cache.reader(log.size, log.read_tree_rows)
        for size in (1, 2, 63, 64, 65, 127, SIZE):
            for index in (0, size // 2, size - 1):
                assert (prove.inclusion_evidence(reader, index, size)
                        == prove.inclusion_evidence(log, index, size))
            for first in (0, 1, size // 3, size):
                assert (prove.consistency_proof_and_roots(reader, first, size)
                        == prove.consistency_proof_and_roots(log, first, size))


def test_a_second_proof_over_the_same_rows_reads_nothing(db):
    cache = TreeRowCache()
    with db.read() as session:
        log = CountingLog(session.connection())
        first = prove.inclusion_evidence(cache.reader(SIZE, log.read_tree_rows), 17, SIZE)
        assert log.row_reads == 1
        again = prove.inclusion_evidence(cache.reader(SIZE, log.read_tree_rows), 17, SIZE)
        assert log.row_reads == 1 and again == first
        prove.inclusion_evidence(cache.reader(SIZE, log.read_tree_rows), 18, SIZE)  # not 18's row
        assert log.row_reads == 2


def test_a_malformed_row_is_refused_every_time_and_never_kept(db):
    with db.write() as session:
        session.execute(update(tree).where(tree.c.leaf_index == 5).values(hashes=b"short"))
    cache = TreeRowCache()
    with db.read() as session:
        log = CountingLog(session.connection())
        for reads in (1, 2):
            with pytest.raises(ledger.IntegrityError) as caught:
                prove.inclusion_proof(cache.reader(SIZE, log.read_tree_rows), 4, 8)
            assert caught.value.index == 5
            assert log.row_reads == reads  # row 5 is read from the database each time
        cache.read_rows(log.read_tree_rows, {3, 7})  # the well-formed rows of that proof were kept
        assert log.row_reads == 2


def test_a_missing_row_is_refused_naming_the_lowest_leaf(db):
    cache = TreeRowCache()
    with db.read() as session:
        log = SqlLog(session.connection())
        with pytest.raises(ledger.IntegrityError) as caught:
            cache.read_rows(log.read_tree_rows, {3, SIZE + 7, SIZE + 2})
        assert caught.value.index == SIZE + 2
        assert len(cache) == 1  # row 3, which was there, is kept


def test_the_cache_keeps_at_most_max_rows_dropping_the_first_cached(db):
    cache = TreeRowCache(max_rows=10)
    with db.read() as session:
        log = CountingLog(session.connection())
        cache.read_rows(log.read_tree_rows, set(range(10)))
        cache.read_rows(log.read_tree_rows, {10, 11, 12})
        assert len(cache) == 10
        reads = log.row_reads
        assert set(cache.read_rows(log.read_tree_rows, set(range(3, 13)))) == set(range(3, 13))
        assert log.row_reads == reads  # rows 3..12 stayed
        cache.read_rows(log.read_tree_rows, {0})
        assert log.row_reads == reads + 1  # row 0 went first


def test_a_cache_needs_room_for_a_row():
    with pytest.raises(ValueError):
        TreeRowCache(max_rows=0)
