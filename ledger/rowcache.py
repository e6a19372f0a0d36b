"""Stored tree rows kept in memory by a long-lived reader (the API's proof routes).

A ``ledger_tree`` row never changes once the transaction that appended its
leaf has committed, so a row read once can answer every later proof that
needs it. The upper rows of the tree are in nearly every proof; a log small
enough to fit the cache needs no query at all once its rows have been read,
and a proof whose rows are all cached opens no database connection.

Only for rows read outside a write: a writer's own uncommitted rows could
still roll back, so ``SqlLog.append`` and the receipts never go through here.
The one case a cached row is wrong is a database replaced under a running
process (a test or demo reset), as for the proofs' ``Cache-Control``.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence

from .hashing import HASH_SIZE
from .sqlstore import row_is_well_formed, unusable_row
from .treemath import Node, stored_row

# About 100 bytes of hashes and 200 of dictionary, tuple and objects per row:
# ~30 MB at most per process, the whole tree of a log of 100,000 entries.
DEFAULT_MAX_ROWS = 100_000

# Reads stored rows by leaf index (``SqlLog.read_tree_rows``): missing ones
# left out, malformed ones returned as they are.
ReadRows = Callable[[set[int]], dict[int, bytes]]


class TreeRowCache:
    """Well-formed ``ledger_tree`` rows by leaf index, split into their hashes,
    at most ``max_rows`` of them; past that the rows cached first are dropped
    first. Thread-safe."""

    def __init__(self, max_rows: int = DEFAULT_MAX_ROWS) -> None:
        if max_rows < 1:
            raise ValueError("max_rows must be at least 1")
        self.max_rows = max_rows
        self._rows: OrderedDict[int, tuple[bytes, ...]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._rows)

    def reader(self, size: int, read_rows: ReadRows) -> CachedTreeReader:
        """A ``HashReader`` over a log of at least ``size`` leaves that calls
        ``read_rows`` (once per ``read_hashes``) only for rows not cached yet."""
        return CachedTreeReader(size, read_rows, self)

    def read_rows(self, read_rows: ReadRows,
                  leaf_indexes: set[int]) -> dict[int, tuple[bytes, ...]]:
        """The hashes of each row of ``leaf_indexes``: cached ones from memory,
        the others through ``read_rows`` in one call (and cached). A row that
        is missing or malformed is an ``IntegrityError`` naming its leaf (the
        lowest, if several), and is not kept."""
        cached = self._rows
        found = {row: hashes for row in leaf_indexes
                 if (hashes := cached.get(row)) is not None}
        missing = leaf_indexes - found.keys()
        if missing:
            fetched = read_rows(missing)
            usable = {row: _split(blob) for row, blob in fetched.items()
                      if row_is_well_formed(row, blob)}
            self._keep(usable)
            if len(usable) < len(missing):
                raise unusable_row(min(missing - usable.keys()))
            found.update(usable)
        return found

    def _keep(self, rows: dict[int, tuple[bytes, ...]]) -> None:
        with self._lock:
            self._rows.update(rows)
            while len(self._rows) > self.max_rows:
                self._rows.popitem(last=False)


def _split(blob: bytes) -> tuple[bytes, ...]:
    return tuple(bytes(blob[start:start + HASH_SIZE]) for start in range(0, len(blob), HASH_SIZE))


class CachedTreeReader:
    """``ledger.HashReader`` of a log through a ``TreeRowCache``."""

    def __init__(self, size: int, read_rows: ReadRows, cache: TreeRowCache) -> None:
        self.size = size
        self._read_rows = read_rows
        self._cache = cache

    def read_hashes(self, nodes: Sequence[Node]) -> list[bytes]:
        where = [stored_row(node) for node in nodes]
        rows = self._cache.read_rows(self._read_rows, {row for row, _ in where})
        return [rows[row][slot] for row, slot in where]
