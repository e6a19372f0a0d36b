"""Inclusion proofs of many leaves into one tree, read in batches.

``ledger.prove.inclusion_proof`` reads O(log n) stored hashes per proof;
a bundle of a million entries needs a million proofs. Proofs of nearby
leaves share most of their hashes, so this builder works out each proof's
hashes by tree level, reuses the upper levels of the previous proof, and
reads every hash a batch of proofs still lacks in one ``read_hashes`` call.
"""

from __future__ import annotations

from collections.abc import Sequence

from app.notary.receipts import b64
from ledger.hashing import fold_right
from ledger.store import HashReader
from ledger.treemath import Node, span_nodes

# A proof hash is a complete subtree (level, k), or the right edge of the
# tree from a leaf on: ("edge", start), the span [start, tree_size).
Item = tuple


class InclusionProofs:
    """RFC 9162 audit paths (section 2.1.3.1) of leaves in the tree of ``tree_size``
    leaves, each hash as standard base64 text, as the bundle format has them."""

    def __init__(self, reader: HashReader, tree_size: int) -> None:
        self.reader = reader
        self.tree_size = tree_size
        self.height = (tree_size - 1).bit_length() if tree_size > 1 else 0
        self._last = -1
        self._levels: list[Item | None] = []  # the last proof's hash at each level
        self._text: dict[Item, str] = {}

    def texts(self, indexes: Sequence[int]) -> list[list[str]]:
        """The proofs of ``indexes`` (each below ``tree_size``), leaf to root."""
        plans = [self._plan(index) for index in indexes]
        missing = {item for plan in plans for item in plan if item not in self._text}
        self._text.update(self._read(missing))
        proofs = [[self._text[item] for item in plan] for plan in plans]
        kept = {item for item in self._levels if item is not None}
        self._text = {item: text for item, text in self._text.items() if item in kept}
        return proofs

    def _plan(self, index: int) -> list[Item]:
        if not 0 <= index < self.tree_size:
            raise ValueError(f"index {index} is not in a tree of size {self.tree_size}")
        if index > self._last >= 0:
            split = (index ^ self._last).bit_length() - 1  # the levels above are shared
            levels = [self._sibling(index, level) for level in range(split + 1)]
            levels += self._levels[split + 1:]
        else:
            levels = [self._sibling(index, level) for level in range(self.height)]
        self._last, self._levels = index, levels
        return [item for item in levels if item is not None]

    def _sibling(self, index: int, level: int) -> Item | None:
        """The sibling of the leaf's ancestor at ``level``; None on the right edge
        where that ancestor has none and moves up alone."""
        k = index >> level
        if k & 1:
            return (level, k - 1)
        start = (k + 1) << level
        if start >= self.tree_size:
            return None
        return (level, k + 1) if start + (1 << level) <= self.tree_size else ("edge", start)

    def _read(self, items: set[Item]) -> dict[Item, str]:
        spans = {item: span_nodes(item[1], self.tree_size) for item in items
                 if item[0] == "edge"}
        nodes: list[Node] = [item for item in items if item[0] != "edge"]
        wanted = nodes + [node for parts in spans.values() for node in parts]
        hashes = dict(zip(wanted, self.reader.read_hashes(wanted))) if wanted else {}
        texts = {node: b64(hashes[node]) for node in nodes}
        for item, parts in spans.items():
            texts[item] = b64(fold_right([hashes[node] for node in parts]))
        return texts
