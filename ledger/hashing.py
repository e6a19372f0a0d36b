"""Merkle tree hashing, RFC 9162 section 2.1.1."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()
_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"


def leaf_hash(data: bytes) -> bytes:
    """SHA-256(0x00 || data): the hash of one logged entry."""
    return hashlib.sha256(_LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 || left || right): the hash of an interior node."""
    return hashlib.sha256(_NODE_PREFIX + left + right).digest()


def fold_right(subtree_hashes: Sequence[bytes]) -> bytes:
    """Combine the hashes of consecutive complete subtrees, largest first,
    into the hash of the range they cover: H(a, H(b, H(c, d)))."""
    if len(subtree_hashes) < 2:
        return subtree_hashes[0] if subtree_hashes else EMPTY_ROOT
    result = subtree_hashes[-1]
    for left in reversed(subtree_hashes[:-1]):
        result = node_hash(left, result)
    return result


class Frontier:
    """The hashes of the complete subtrees along a tree's right edge.

    Appending a leaf hash returns the hashes that became complete with it,
    leaf first: the leaf's own hash, then one per level it completed. Each
    leaf and each interior node is hashed exactly once.
    """

    def __init__(self, size: int = 0, subtree_hashes: Sequence[bytes] = ()) -> None:
        if len(subtree_hashes) != size.bit_count():
            raise ValueError("a frontier holds one hash per set bit of the size")
        self.size = size
        self._stack = list(subtree_hashes)

    def push(self, leaf: bytes) -> list[bytes]:
        completed = [leaf]
        merged = leaf
        position = self.size
        while position & 1:
            merged = node_hash(self._stack.pop(), merged)
            completed.append(merged)
            position >>= 1
        self._stack.append(merged)
        self.size += 1
        return completed

    def root(self) -> bytes:
        return fold_right(self._stack)

    def path_of_next_leaf(self) -> list[bytes]:
        """The inclusion proof of the next leaf pushed, in the tree of
        ``size + 1`` leaves it completes: the complete subtrees to its left,
        smallest first. (So a receipt for the newest entry needs no read.)"""
        return self._stack[::-1]


def root_hash(leaf_hashes: Iterable[bytes]) -> bytes:
    """The RFC 9162 Merkle tree hash of the given leaf hashes."""
    frontier = Frontier()
    for leaf in leaf_hashes:
        frontier.push(leaf)
    return frontier.root()
