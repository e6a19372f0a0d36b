"""Where proofs get their hashes: the ``HashReader`` protocol and an
in-memory log that implements it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from .errors import TreeSizeError
from .hashing import Frontier
from .treemath import Node


class HashReader(Protocol):
    """Read access to a log's stored subtree hashes.

    ``read_hashes`` returns the hash of each requested node, in the order
    asked, or raises :class:`ledger.IntegrityError` when one is missing or
    malformed. Callers re-check what comes back (length and count).
    """

    @property
    def size(self) -> int:
        """The number of leaves in the log."""
        ...

    def read_hashes(self, nodes: Sequence[Node]) -> list[bytes]:
        """The stored hashes of ``nodes``, each 32 bytes, in the same order."""
        ...


class MemoryHashStore:
    """A complete log kept in memory: every subtree hash by level.

    Meant for tests, tools and small bundles; the server's log lives in the
    database (``ledger.sqlstore``) with the same layout.
    """

    def __init__(self) -> None:
        self._levels: list[list[bytes]] = []
        self._frontier = Frontier()

    @property
    def size(self) -> int:
        return self._frontier.size

    def append(self, leaf_hashes: Sequence[bytes]) -> int:
        """Append leaf hashes; return the new size."""
        for leaf in leaf_hashes:
            for level, completed in enumerate(self._frontier.push(leaf)):
                if level == len(self._levels):
                    self._levels.append([])
                self._levels[level].append(completed)
        return self.size

    def read_hashes(self, nodes: Sequence[Node]) -> list[bytes]:
        hashes = []
        for level, k in nodes:
            if level >= len(self._levels) or not 0 <= k < len(self._levels[level]):
                raise TreeSizeError(f"no complete subtree ({level}, {k}) in a log of {self.size}")
            hashes.append(self._levels[level][k])
        return hashes
