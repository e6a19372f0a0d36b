"""The log kept in a SQL database (SQLite or PostgreSQL) through SQLAlchemy.

Tables:

- ``ledger_entries``: leaf index -> the exact logged bytes.
- ``ledger_tree``: leaf index -> the hashes that leaf completed: its own leaf
  hash, then one per subtree level it closed (``treemath.stored_row``). One
  row per leaf and one insert per new hash, so a proof is one ``IN`` query.
- ``ledger_head``: a single row holding the size; appenders lock it, so the
  log stays one gap-free sequence whatever the number of writer processes.
- ``ledger_checkpoints``: every signed checkpoint, by tree size.

Everything runs on the caller's connection, inside the caller's
transaction: a business record and its entry commit together or not at all.
``SqlLog.append`` advances the head and learns where it stood in one
statement, which holds the head (PostgreSQL: its row lock; SQLite: the
database's write lock) until the transaction ends, so no two appends can
take the same indexes.

On PostgreSQL a round trip to the server costs more than a small insert, and
appends happen with the head held, so every other writer waits for them:
``pipelined`` sends the rows of an append, and whatever else the caller
writes with them, together (psycopg's pipeline mode).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger, CheckConstraint, Column, Connection, DateTime, Integer, LargeBinary,
    MetaData, Table, Text, select, type_coerce,
)
from sqlalchemy.engine import Dialect

from .checkpoint import Checkpoint
from .errors import IntegrityError
from .hashing import HASH_SIZE, Frontier, leaf_hash
from .logcheck import StoredCheckpointRow
from .treemath import Node, completed_levels, span_nodes, stored_row

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)

# SQLite only makes INTEGER PRIMARY KEY an alias of the rowid (the fast path).
_Index = BigInteger().with_variant(Integer(), "sqlite")

entries = Table(
    "ledger_entries", metadata,
    Column("idx", _Index, primary_key=True, autoincrement=False),
    Column("data", LargeBinary, nullable=False),
)
tree = Table(
    "ledger_tree", metadata,
    Column("leaf_index", _Index, primary_key=True, autoincrement=False),
    Column("hashes", LargeBinary, nullable=False),
)
head = Table(
    "ledger_head", metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("size", BigInteger, nullable=False),
    CheckConstraint("id = 1", name="single_row"),
)
checkpoints = Table(
    "ledger_checkpoints", metadata,
    Column("size", _Index, primary_key=True, autoincrement=False),
    Column("root_hash", LargeBinary(HASH_SIZE), nullable=False),
    Column("note", Text, nullable=False),
    Column("signed_at", DateTime(timezone=True), nullable=False),
)


# Bind parameters per statement: below SQLite's limit (32,766) and PostgreSQL's (65,535).
MAX_PARAMETERS = 30_000


def placeholder(dialect: Dialect) -> str:
    """The driver's bind-parameter mark for :func:`insert_rows` and raw SQL:
    ``?`` (sqlite3) or ``%s`` (psycopg)."""
    return "?" if dialect.paramstyle == "qmark" else "%s"


def insert_rows(cursor, into: str, mark: str, rows: Sequence[Sequence]) -> None:
    """Insert ``rows`` into ``into`` (``"t (a, b)"``, a table and its columns
    in the rows' order) on a DB-API ``cursor`` whose placeholder is ``mark``.

    Multi-row ``INSERT ... VALUES``, one statement per chunk of rows; not the
    driver's ``executemany``, which runs one statement per row (psycopg 3
    pipelines them): bench/insert_bench.py measured it at 1.3 times the
    client CPU of a multi-row statement for one narrow row and 2 times for 50
    or 500 on PostgreSQL, 1.5 times for 50 or 500 rows on SQLite.

    On psycopg, rows of more than 50 values in all go in with ``COPY ... FROM
    STDIN`` instead (in the same transaction): psycopg rewrites the ``%s``
    marks of every statement over 50 parameters with a regular expression
    (it caches only smaller ones). For 500 rows, bench/insert_bench.py:
    client CPU 2,506 -> 302 us (3 values a row) and 8,197 -> 1,134 us (9, a
    gateway event's), the server's about the same or more (561 -> 1,016 us,
    5,540 -> 5,689 us); the two together cost half as much. Inside a
    :func:`pipelined` block they go by ``INSERT`` all the same (no ``COPY``
    in pipeline mode).
    """
    if not rows:
        return
    width = len(rows[0])
    if (mark == "%s" and hasattr(cursor, "copy") and width * len(rows) > _PSYCOPG_CACHED_PARAMETERS
            and not _in_pipeline(cursor.connection)):
        with cursor.copy(f"COPY {into} FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        return
    per_statement = max(1, MAX_PARAMETERS // width)
    group = f"({', '.join([mark] * width)})"
    for start in range(0, len(rows), per_statement):
        chunk = rows[start:start + per_statement]
        cursor.execute(f"INSERT INTO {into} VALUES {', '.join([group] * len(chunk))}",
                       [value for row in chunk for value in row])


# psycopg's MAX_CACHED_STATEMENT_PARAMS: it parses statements up to this size once.
_PSYCOPG_CACHED_PARAMETERS = 50


def row_is_well_formed(leaf_index: int, blob: bytes) -> bool:
    """Whether a ``ledger_tree`` row holds as many hashes as its leaf completed."""
    return len(blob) == HASH_SIZE * completed_levels(leaf_index)


def unusable_row(leaf_index: int) -> IntegrityError:
    """The error for a ``ledger_tree`` row a proof needs that is missing or malformed."""
    return IntegrityError(f"stored hashes of leaf {leaf_index} are missing or malformed",
                          index=leaf_index)


def hashes_in_rows(nodes: Sequence[Node],
                   read_rows: Callable[[set[int]], dict[int, bytes]]) -> list[bytes]:
    """The hashes of ``nodes`` cut from the ``ledger_tree`` rows holding them,
    all read with one ``read_rows`` call; a missing or malformed row is an
    ``IntegrityError`` naming its leaf."""
    where = [stored_row(node) for node in nodes]
    rows = read_rows({row for row, _ in where})
    hashes = []
    for row, slot in where:
        blob = rows.get(row)
        if blob is None or not row_is_well_formed(row, blob):
            raise unusable_row(row)
        hashes.append(blob[slot * HASH_SIZE:(slot + 1) * HASH_SIZE])
    return hashes


@dataclass(frozen=True)
class AppendResult:
    """Where a batch landed: leaf indexes ``first_index .. tree_size - 1``."""

    first_index: int
    tree_size: int
    root_hash: bytes
    leaf_hashes: tuple[bytes, ...]
    last_leaf_proof: tuple[bytes, ...]  # inclusion proof of leaf tree_size - 1 in tree_size


@dataclass(frozen=True)
class StoredCheckpoint:
    size: int
    root_hash: bytes
    note: str
    signed_at: datetime


# The signing time as the driver returns it: SqlLog converts it itself.
_SELECT_CHECKPOINT = select(checkpoints.c.size, checkpoints.c.root_hash, checkpoints.c.note,
                            type_coerce(checkpoints.c.signed_at, Text))

_NO_HEAD = "ledger_head row is missing; run the migrations"


class SqlLog:
    """The log as one SQLAlchemy connection sees it; implements ``ledger.HashReader``.

    Meant to live for one transaction: the size is read once (the log only
    grows, so every hash below it stays readable). The hot statements go to
    the driver directly: SQLAlchemy's per-statement work cost more than the
    database's on appends and proofs.
    """

    def __init__(self, connection: Connection, known_size: int | None = None) -> None:
        """``known_size``: a size the log is known to have reached, which ``size``
        then reports instead of reading the head; enough for proofs in trees up
        to it, since the log only grows. (Appending still reads the head.)"""
        self.connection = connection
        self._size: int | None = known_size
        self._mark = placeholder(connection.dialect)

    @property
    def size(self) -> int:
        if self._size is None:
            self._size = self._read_head()
        return self._size

    def lock_size(self) -> int:
        """The size, read with the head locked until the transaction ends: other
        appenders and checkpoint signers wait, so the size cannot move meanwhile."""
        return self._lock_head()

    def _fetch(self, sql: str, parameters: Sequence = ()) -> list[tuple]:
        """Rows of a read, from the driver's own cursor: on proofs, building
        SQLAlchemy's result object cost more than the query. (The connection's
        transaction, if any, has begun: this is the same DBAPI connection.)"""
        with self._cursor() as cursor:
            cursor.execute(sql, parameters)
            return cursor.fetchall()

    def _cursor(self):
        """A cursor of the driver's connection under ``self.connection``, closed after use."""
        return closing(self.connection.connection.cursor())

    def read_hashes(self, nodes: Sequence[Node]) -> list[bytes]:
        return hashes_in_rows(nodes, self.read_tree_rows)

    def append(self, leaf_data: Sequence[bytes]) -> AppendResult:
        """Append entries' logged bytes; hashes each leaf and new node once."""
        if not leaf_data:
            raise ValueError("append needs at least one entry")
        if not self.connection.in_transaction():
            # The driver's cursors below would each commit on their own.
            raise ValueError("append needs the caller's transaction to have begun")
        size = self._advance_head(len(leaf_data))
        frontier = Frontier(size, self.read_hashes(span_nodes(0, size)))
        leaves, entry_rows, tree_rows = [], [], []
        newest = size + len(leaf_data) - 1
        for index, data in enumerate(leaf_data, start=size):
            if index == newest:
                last_leaf_proof = frontier.path_of_next_leaf()
            completed = frontier.push(leaf_hash(data))
            leaves.append(completed[0])
            entry_rows.append((index, data))
            tree_rows.append((index, b"".join(completed)))
        with self._cursor() as cursor:
            insert_rows(cursor, "ledger_entries (idx, data)", self._mark, entry_rows)
            insert_rows(cursor, "ledger_tree (leaf_index, hashes)", self._mark, tree_rows)
        self._size = frontier.size
        return AppendResult(size, frontier.size, frontier.root(), tuple(leaves),
                            tuple(last_leaf_proof))

    def read_entries(self, start: int, stop: int) -> list[tuple[int, bytes]]:
        """Logged bytes of leaves ``start <= idx < stop``, in order."""
        rows = self.connection.execute(
            select(entries.c.idx, entries.c.data)
            .where(entries.c.idx >= start, entries.c.idx < stop).order_by(entries.c.idx))
        return [(idx, _stored_bytes(data, f"entry {idx}", idx)) for idx, data in rows]

    def read_entries_at(self, indexes: Sequence[int]) -> list[tuple[int, bytes]]:
        """Logged bytes of the given leaves, in index order (missing ones left out)."""
        if not indexes:
            return []
        rows = self.connection.execute(
            select(entries.c.idx, entries.c.data)
            .where(entries.c.idx.in_(list(indexes))).order_by(entries.c.idx))
        return [(idx, _stored_bytes(data, f"entry {idx}", idx)) for idx, data in rows]

    def iter_leaves(self, chunk: int = 10_000) -> Iterator[tuple[int, bytes, bytes]]:
        """Every leaf in order as (index, logged bytes, stored hashes), in chunks.

        A value that is not bytes (SQLite stores whatever it is given: an edit
        by hand can leave text) comes as it is, for the check to name."""
        start = 0
        while True:
            rows = self.connection.execute(
                select(entries.c.idx, entries.c.data, tree.c.hashes)
                .join(tree, tree.c.leaf_index == entries.c.idx, isouter=True)
                .where(entries.c.idx >= start, entries.c.idx < start + chunk)
                .order_by(entries.c.idx)).all()
            if not rows:
                return
            for idx, data, hashes in rows:
                yield idx, _bytes_if_binary(data), _bytes_if_binary(hashes)
            start += chunk

    def add_checkpoint(self, checkpoint: Checkpoint, note: str, signed_at: datetime) -> None:
        """Store a signed checkpoint (its root was computed by this append or checked)."""
        # The driver's cursor, with the timestamp converted as the column type
        # would: one checkpoint per write, so SQLAlchemy's insert cost showed.
        dialect = self.connection.dialect
        convert = checkpoints.c.signed_at.type.dialect_impl(dialect).bind_processor(dialect)
        with self._cursor() as cursor:
            insert_rows(cursor, "ledger_checkpoints (size, root_hash, note, signed_at)",
                        self._mark, [(checkpoint.size, checkpoint.root_hash, note,
                                      convert(signed_at) if convert else signed_at)])

    def latest_checkpoint(self) -> StoredCheckpoint | None:
        row = self.connection.execute(
            _SELECT_CHECKPOINT.order_by(checkpoints.c.size.desc()).limit(1)).first()
        return self._stored_checkpoint(row) if row else None

    def checkpoint_at(self, size: int) -> StoredCheckpoint | None:
        row = self.connection.execute(
            _SELECT_CHECKPOINT.where(checkpoints.c.size == size)).first()
        return self._stored_checkpoint(row) if row else None

    def _stored_checkpoint(self, row: Any) -> StoredCheckpoint:
        size, root_hash, note, signed_at = row
        root_hash = _stored_bytes(root_hash, f"the root hash of checkpoint {size}", size)
        return StoredCheckpoint(size, root_hash, note, self._signing_time(size, signed_at))

    def _signing_time(self, size: int, stored: Any) -> datetime:
        """The column's value as the driver returned it, converted here rather
        than while the row is fetched, where text that is no time (an edit by
        hand in SQLite) would be a bare ValueError."""
        if isinstance(stored, datetime):
            return stored
        dialect = self.connection.dialect
        parse = checkpoints.c.signed_at.type.dialect_impl(dialect).result_processor(dialect, None)
        try:
            value = parse(stored) if parse else stored
        except (ValueError, TypeError):
            value = None
        if not isinstance(value, datetime):
            raise IntegrityError(f"the signing time of checkpoint {size} is stored as "
                                 f"{type(stored).__name__} {str(stored)[:40]!r}, not a time",
                                 index=size)
        return value

    def iter_checkpoints(self) -> Iterator[StoredCheckpointRow]:
        """Every checkpoint's size, stored root and note, smallest first: what
        a check of the log needs (not the signing time, which proves nothing),
        the root as it is stored if that is not bytes, for the check to name."""
        query = select(checkpoints.c.size, checkpoints.c.root_hash, checkpoints.c.note)
        for size, root_hash, note in self.connection.execute(query.order_by(checkpoints.c.size)):
            yield StoredCheckpointRow(size, _bytes_if_binary(root_hash), note)

    def read_tree_rows(self, leaf_indexes: set[int]) -> dict[int, bytes]:
        """The stored ``ledger_tree`` rows of these leaves, as they are (missing
        ones left out, malformed ones returned for ``hashes_in_rows`` to refuse)."""
        if not leaf_indexes:
            return {}
        marks = ", ".join([self._mark] * len(leaf_indexes))
        result = self._fetch(
            f"SELECT leaf_index, hashes FROM ledger_tree WHERE leaf_index IN ({marks})",
            tuple(leaf_indexes))
        # Anything but bytes (text left by an edit by hand) reads as b"": malformed.
        return {row: bytes(blob) if isinstance(blob, _BINARY) else b"" for row, blob in result}

    def _lock_head(self) -> int:
        # SQLite: the writer's BEGIN IMMEDIATE already holds the database's lock.
        self._size = self._read_head(lock=self.connection.dialect.name != "sqlite")
        return self._size

    def _read_head(self, lock: bool = False) -> int:
        rows = self._fetch("SELECT size FROM ledger_head WHERE id = 1"
                           + (" FOR UPDATE" if lock else ""))
        if not rows:
            raise IntegrityError(_NO_HEAD)
        return rows[0][0]

    def _advance_head(self, count: int) -> int:
        """Move the head ``count`` entries on; the size before. One statement
        that holds the head until the transaction ends (SQLite: BEGIN IMMEDIATE
        holds it already), so no other append reads the same size meanwhile."""
        rows = self._fetch(f"UPDATE ledger_head SET size = size + {self._mark} WHERE id = 1 "
                           "RETURNING size", (count,))
        if not rows:
            raise IntegrityError(_NO_HEAD)
        return rows[0][0] - count


@contextmanager
def pipelined(connection: Connection) -> Iterator[None]:
    """Within the block, statements on ``connection``'s psycopg connection go
    to PostgreSQL without waiting for each answer, and are answered together
    at the block's end (psycopg's pipeline mode), where the first error among
    them is raised; a read in the block waits only for what went before it.
    Meant for the rows an append writes while the head is held. Other
    drivers (SQLite, in-process) run the block as it is; a block inside
    another adds nothing.

    ``insert_rows`` sends ``INSERT`` rather than ``COPY`` in the block (libpq
    has no ``COPY`` in pipeline mode), so keep large batches out of it.
    """
    driver = connection.connection.driver_connection
    if not _can_pipeline(driver) or _in_pipeline(driver):
        yield
        return
    with driver.pipeline():
        yield


def _can_pipeline(driver) -> bool:
    return hasattr(driver, "pipeline") and hasattr(driver, "pgconn")


def _in_pipeline(driver) -> bool:
    from psycopg import pq  # only reached with a psycopg connection
    return driver.pgconn.pipeline_status != pq.PipelineStatus.OFF


# What drivers give for a binary column. SQLite keeps whatever type it is
# given, so an edit by hand can leave text (or a number) instead.
_BINARY = (bytes, memoryview, bytearray)


def _bytes_if_binary(value: Any) -> Any:
    """A binary column's value as bytes; anything else unchanged, and None (a
    missing row) as empty bytes."""
    if value is None:
        return b""
    return bytes(value) if isinstance(value, _BINARY) else value


def _stored_bytes(value: Any, what: str, index: int) -> bytes:
    """A binary column's value as bytes; anything else is an ``IntegrityError``
    naming ``what``."""
    if isinstance(value, _BINARY):
        return bytes(value)
    raise IntegrityError(f"{what} is stored as {type(value).__name__}, not bytes", index=index)


