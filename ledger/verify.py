"""Checking proofs: RFC 9162 sections 2.1.3.2 and 2.1.4.2.

These functions return nothing and raise a :class:`VerificationError`
subclass on any failure, bad arguments included. They need only hashlib.
"""

from __future__ import annotations

from collections.abc import Sequence

from .errors import ConsistencyProofError, InclusionProofError, ProofError
from .hashing import EMPTY_ROOT, HASH_SIZE, node_hash


def verify_inclusion(leaf_hash: bytes, index: int, tree_size: int,
                     proof: Sequence[bytes], root: bytes) -> None:
    """Check that ``leaf_hash`` is leaf ``index`` of the tree with ``root``."""
    _require_hashes(InclusionProofError, leaf_hash=leaf_hash, root=root)
    _require_proof(InclusionProofError, proof)
    if not _is_size(index) or not _is_size(tree_size) or index >= tree_size:
        raise InclusionProofError(f"index {_shown(index)} is not in a tree of size "
                                  f"{_shown(tree_size)}")
    computed = _root_from_inclusion_path(leaf_hash, index, tree_size, proof)
    _require_equal(InclusionProofError, "root", expected=root, computed=computed)


def verify_consistency(first: int, second: int, proof: Sequence[bytes],
                       first_root: bytes, second_root: bytes) -> None:
    """Check that the tree of ``first`` leaves is a prefix of the tree of ``second``."""
    _require_hashes(ConsistencyProofError, first_root=first_root, second_root=second_root)
    _require_proof(ConsistencyProofError, proof)
    if not _is_size(first) or not _is_size(second) or first > second:
        raise ConsistencyProofError(f"sizes {_shown(first)} and {_shown(second)} are not "
                                    f"0 <= first <= second")
    if first == second or first == 0:
        if proof:
            raise ConsistencyProofError(f"proof from size {_shown(first)} to {_shown(second)} "
                                        f"must be empty")
        expected_first = second_root if first == second else EMPTY_ROOT
        _require_equal(ConsistencyProofError, "first root", expected=first_root,
                       computed=expected_first)
        return
    first_computed, second_computed = _roots_from_consistency_path(first, second, proof, first_root)
    _require_equal(ConsistencyProofError, "first root", expected=first_root,
                   computed=first_computed)
    _require_equal(ConsistencyProofError, "second root", expected=second_root,
                   computed=second_computed)


def _root_from_inclusion_path(leaf: bytes, index: int, tree_size: int,
                              proof: Sequence[bytes]) -> bytes:
    """RFC 9162 2.1.3.2 steps 2 to 4."""
    fn, sn, result = index, tree_size - 1, leaf
    for sibling in proof:
        if sn == 0:
            raise InclusionProofError("proof is longer than the path to the root")
        if fn & 1 or fn == sn:
            result = node_hash(sibling, result)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            result = node_hash(result, sibling)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise InclusionProofError("proof is shorter than the path to the root")
    return result


def _roots_from_consistency_path(first: int, second: int, proof: Sequence[bytes],
                                 first_root: bytes) -> tuple[bytes, bytes]:
    """RFC 9162 2.1.4.2 steps 1 to 6, for 0 < first < second."""
    if not proof:
        raise ConsistencyProofError("proof is empty")
    path = list(proof)
    if first & (first - 1) == 0:
        path.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for hash_ in path[1:]:
        if sn == 0:
            raise ConsistencyProofError("proof is longer than needed")
        if fn & 1 or fn == sn:
            fr, sr = node_hash(hash_, fr), node_hash(hash_, sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, hash_)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ConsistencyProofError("proof is shorter than needed")
    return fr, sr


def _is_size(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _shown(value: object) -> str:
    """``value`` for a message; an integer beyond 64 bits by its size, since Python
    refuses to print one of over 4300 digits."""
    if isinstance(value, int) and value.bit_length() > 64:
        return f"<an integer of {value.bit_length()} bits>"
    return repr(value)


def _require_hashes(error: type[ProofError], **hashes: object) -> None:
    for name, value in hashes.items():
        if not isinstance(value, bytes) or len(value) != HASH_SIZE:
            raise error(f"{name} must be {HASH_SIZE} bytes")


def _require_proof(error: type[ProofError], proof: object) -> None:
    if isinstance(proof, (bytes, str)) or not isinstance(proof, Sequence):
        raise error("proof must be a sequence of hashes")
    for position, value in enumerate(proof):
        if not isinstance(value, bytes) or len(value) != HASH_SIZE:
            raise error(f"proof[{position}] must be {HASH_SIZE} bytes")


def _require_equal(error: type[ProofError], what: str, *, expected: bytes,
                   computed: bytes) -> None:
    if computed != expected:
        raise error(f"computed {what} {computed.hex()} does not match expected {expected.hex()}",
                    expected=expected, computed=computed)
