"""Stored tree rows kept in memory by a long-lived reader (the API's proof routes).

A ``ledger_tree`` row never changes once the transaction that appended its
leaf has committed, so a row read once can answer every later proof that
needs it. The upper rows of the tree are in nearly every proof; a log small
enough to fit the cache needs no query at all once its rows have been read.

Only for rows read outside a write: a writer's own uncommitted rows could
still roll back, so ``SqlLog.append`` and the receipts never go through here.
The one case a cached row is wrong is a database replaced under a running
process (a test or demo reset), as for the proofs' ``Cache-Control``.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence

from .sqlstore import SqlLog, hashes_in_rows, row_is_well_formed
from .treemath import Node

# About 100 bytes of hashes and 150 of dictionary and object per row: ~25 MB
# at most per process, the whole tree of a log of 100,000 entries.
DEFAULT_MAX_ROWS = 100_000


class TreeRowCache:
    """Well-formed ``ledger_tree`` rows by leaf index, at most ``max_rows`` of
    them; past that the rows cached first are dropped first. Thread-safe."""

    def __init__(self, max_rows: int = DEFAULT_MAX_ROWS) -> None:
        if max_rows < 1:
            raise ValueError("max_rows must be at least 1")
        self.max_rows = max_rows
        self._rows: OrderedDict[int, bytes] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._rows)

    def reader(self, log: SqlLog) -> CachedTreeReader:
        """A ``HashReader`` over ``log`` that reads only the rows not cached yet."""
        return CachedTreeReader(log, self)

    def read_rows(self, log: SqlLog, leaf_indexes: set[int]) -> dict[int, bytes]:
        """The rows of ``leaf_indexes``: cached ones from memory, the others from
        ``log`` in one query (and cached when well formed)."""
        found = {row: blob for row in leaf_indexes
                 if (blob := self._rows.get(row)) is not None}
        missing = leaf_indexes - found.keys()
        if missing:
            fetched = log.read_tree_rows(missing)
            found.update(fetched)
            self._keep({row: blob for row, blob in fetched.items()
                        if row_is_well_formed(row, blob)})
        return found

    def _keep(self, rows: dict[int, bytes]) -> None:
        with self._lock:
            self._rows.update(rows)
            while len(self._rows) > self.max_rows:
                self._rows.popitem(last=False)


class CachedTreeReader:
    """``ledger.HashReader`` of a ``SqlLog`` through a ``TreeRowCache``."""

    def __init__(self, log: SqlLog, cache: TreeRowCache) -> None:
        self._log = log
        self._cache = cache

    @property
    def size(self) -> int:
        return self._log.size

    def read_hashes(self, nodes: Sequence[Node]) -> list[bytes]:
        return hashes_in_rows(nodes, lambda rows: self._cache.read_rows(self._log, rows))
