"""A deliberately naive RFC 9162 reference, for the tests only.

Each function transcribes one definition of RFC 9162 section 2.1 as literally
as possible (recursion over lists, no index tricks), so that the optimised
code in ``ledger`` can be compared against something obviously right.  It
never imports ``ledger``: the vector generator in ``testdata/`` uses it too.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from typing import Sequence

EMPTY_ROOT = hashlib.sha256(b"").digest()


def ref_leaf_hash(data: bytes) -> bytes:
    """RFC 9162 2.1.1: HASH(0x00 || d)."""
    return hashlib.sha256(b"\x00" + data).digest()


def ref_node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 9162 2.1.1: HASH(0x01 || left || right)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def split_point(n: int) -> int:
    """The largest power of two smaller than n (n > 1)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def leaf_data(i: int) -> bytes:
    """The synthetic leaf data the generated trees use: deterministic and distinct."""
    return b"tradezone-leaf-%d" % i


class ReferenceTree:
    """MTH, PATH and PROOF over a fixed list of leaf hashes (RFC 9162 2.1.1, 2.1.3.1, 2.1.4.1).

    Subtree hashes are memoised by (start, end), so computing every proof for
    every size up to a few dozen leaves stays cheap.
    """

    def __init__(self, leaf_hashes: Sequence[bytes]):
        self.leaves = tuple(leaf_hashes)
        self.mth = lru_cache(maxsize=None)(self._mth)

    def _mth(self, start: int, end: int) -> bytes:
        """MTH(D[start:end])."""
        n = end - start
        if n == 0:
            return EMPTY_ROOT
        if n == 1:
            return self.leaves[start]
        k = split_point(n)
        return ref_node_hash(self.mth(start, start + k), self.mth(start + k, end))

    def root(self, n: int) -> bytes:
        return self.mth(0, n)

    def path(self, m: int, n: int, start: int = 0) -> list[bytes]:
        """PATH(m, D[start:start+n]), RFC 9162 2.1.3.1."""
        if n == 1:
            return []
        k = split_point(n)
        if m < k:
            return self.path(m, k, start) + [self.mth(start + k, start + n)]
        return self.path(m - k, n - k, start + k) + [self.mth(start, start + k)]

    def proof(self, m: int, n: int) -> list[bytes]:
        """PROOF(m, D[0:n]), RFC 9162 2.1.4.1; empty for m == 0 and m == n by convention."""
        if m == 0 or m == n:
            return []
        return self._subproof(m, n, True, 0)

    def _subproof(self, m: int, n: int, b: bool, start: int) -> list[bytes]:
        """SUBPROOF(m, D[start:start+n], b)."""
        if m == n:
            return [] if b else [self.mth(start, start + n)]
        k = split_point(n)
        if m <= k:
            return self._subproof(m, k, b, start) + [self.mth(start + k, start + n)]
        return self._subproof(m - k, n - k, False, start + k) + [self.mth(start, start + k)]


def synthetic_tree(n: int) -> ReferenceTree:
    return ReferenceTree([ref_leaf_hash(leaf_data(i)) for i in range(n)])


def _is_hash(h) -> bool:
    return isinstance(h, bytes) and len(h) == 32


def ref_verify_inclusion(leaf_hash, index, tree_size, proof, root) -> bool:
    """RFC 9162 2.1.3.2, returning a verdict instead of raising."""
    if not (isinstance(index, int) and isinstance(tree_size, int)):
        return False
    if not (0 <= index < tree_size):
        return False
    if not (_is_hash(leaf_hash) and _is_hash(root) and all(_is_hash(p) for p in proof)):
        return False
    fn, sn, r = index, tree_size - 1, leaf_hash
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = ref_node_hash(p, r)
            if not fn & 1:
                while not (fn & 1 or fn == 0):
                    fn >>= 1
                    sn >>= 1
        else:
            r = ref_node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def ref_verify_consistency(first, second, proof, first_root, second_root) -> bool:
    """RFC 9162 2.1.4.2 plus the conventions for first == 0 and first == second."""
    if not (isinstance(first, int) and isinstance(second, int)):
        return False
    if not (0 <= first <= second):
        return False
    if not (_is_hash(first_root) and _is_hash(second_root) and all(_is_hash(p) for p in proof)):
        return False
    if first == second:
        return len(proof) == 0 and first_root == second_root
    if first == 0:
        return len(proof) == 0 and first_root == EMPTY_ROOT
    if not proof:
        return False
    path = list(proof)
    if first & (first - 1) == 0:
        path = [first_root] + path
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = ref_node_hash(c, fr)
            sr = ref_node_hash(c, sr)
            if not fn & 1:
                while not (fn & 1 or fn == 0):
                    fn >>= 1
                    sn >>= 1
        else:
            sr = ref_node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == first_root and sr == second_root and sn == 0
