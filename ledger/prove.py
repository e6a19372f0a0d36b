"""Building roots and proofs from stored hashes (RFC 9162 section 2.1).

Each function works out which subtree hashes it needs (``treemath``),
fetches them in one ``read_hashes`` call, checks what came back, and folds
them: O(log n) reads, never a scan of the leaves.
"""

from __future__ import annotations

from collections.abc import Sequence

from .errors import IntegrityError, TreeSizeError
from .hashing import HASH_SIZE, fold_right
from .store import HashReader
from .treemath import Node, Span, consistency_spans, inclusion_spans, span_nodes


def tree_root(reader: HashReader, tree_size: int) -> bytes:
    """The root hash of the first ``tree_size`` leaves of the log."""
    _check_size(reader, tree_size)
    return _fold_spans(reader, [(0, tree_size)])[0]


def inclusion_proof(reader: HashReader, index: int, tree_size: int) -> list[bytes]:
    """The audit path for leaf ``index`` in the tree of ``tree_size`` leaves."""
    _check_size(reader, tree_size)
    if not 0 <= index < tree_size:
        raise TreeSizeError(f"index {index} is not in a tree of size {tree_size}")
    return _fold_spans(reader, inclusion_spans(index, tree_size))


def consistency_proof(reader: HashReader, first: int, second: int) -> list[bytes]:
    """The proof that the tree of ``first`` leaves is a prefix of the tree of ``second``."""
    _check_size(reader, second)
    if not 0 <= first <= second:
        raise TreeSizeError(f"first size {first} must be between 0 and second size {second}")
    return _fold_spans(reader, consistency_spans(first, second))


def inclusion_evidence(reader: HashReader, index: int,
                       tree_size: int) -> tuple[bytes, list[bytes], bytes]:
    """The leaf hash, its audit path and the root it leads to, from one batched read."""
    _check_size(reader, tree_size)
    if not 0 <= index < tree_size:
        raise TreeSizeError(f"index {index} is not in a tree of size {tree_size}")
    leaf, *proof, root = _fold_spans(
        reader, [(index, index + 1)] + inclusion_spans(index, tree_size) + [(0, tree_size)])
    return leaf, proof, root


def consistency_proof_and_roots(reader: HashReader, first: int,
                                second: int) -> tuple[list[bytes], bytes, bytes]:
    """The consistency proof and both roots, from one batched read."""
    _check_size(reader, second)
    if not 0 <= first <= second:
        raise TreeSizeError(f"first size {first} must be between 0 and second size {second}")
    *proof, first_root, second_root = _fold_spans(
        reader, consistency_spans(first, second) + [(0, first), (0, second)])
    return proof, first_root, second_root


def _check_size(reader: HashReader, tree_size: int) -> None:
    if not 0 <= tree_size <= reader.size:
        raise TreeSizeError(f"tree size {tree_size} is not in a log of size {reader.size}")


def _fold_spans(reader: HashReader, spans: Sequence[Span]) -> list[bytes]:
    """The Merkle tree hash of each span, from one batched read."""
    per_span = [span_nodes(start, end) for start, end in spans]  # (0, 0) folds to EMPTY_ROOT
    wanted: list[Node] = [node for nodes in per_span for node in nodes]
    hashes = reader.read_hashes(wanted)
    _check_hashes(wanted, hashes)
    results, cursor = [], 0
    for nodes in per_span:
        results.append(fold_right(hashes[cursor:cursor + len(nodes)]))
        cursor += len(nodes)
    return results


def _check_hashes(wanted: Sequence[Node], hashes: Sequence[bytes]) -> None:
    if len(hashes) != len(wanted):
        raise IntegrityError(f"asked for {len(wanted)} stored hashes, got {len(hashes)}")
    for node, value in zip(wanted, hashes):
        if not isinstance(value, bytes) or len(value) != HASH_SIZE:
            level, k = node
            raise IntegrityError(f"stored hash of subtree ({level}, {k}) is malformed",
                                 index=((k + 1) << level) - 1)
