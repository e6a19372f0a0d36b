"""RFC 9162 section 2.1 hashing: leaf_hash, node_hash, root_hash (contract sections 2 and 10)."""

import hashlib
import json
from pathlib import Path

import pymerkle
import pytest

import ledger
from ledger.hashing import Frontier
from tests.ledger.rfc9162_reference import EMPTY_ROOT, ReferenceTree, leaf_data, ref_leaf_hash, synthetic_tree

VECTORS = json.loads((Path(__file__).parent / "testdata" / "rfc6962_vectors.json").read_text())
CT_LEAVES = [bytes.fromhex(x) for x in VECTORS["leaves"]]
CT_ROOTS = {int(n): bytes.fromhex(h) for n, h in VECTORS["roots"].items()}


@pytest.mark.parametrize("data", CT_LEAVES + [b"\x00" * 1000, bytes(range(256))])
def test_leaf_hash_is_sha256_of_zero_prefix(data):
    assert ledger.leaf_hash(data) == hashlib.sha256(b"\x00" + data).digest()


def test_leaf_hash_is_domain_separated_from_plain_sha256():
    assert ledger.leaf_hash(b"x") != hashlib.sha256(b"x").digest()
    assert ledger.leaf_hash(b"") != EMPTY_ROOT


def test_node_hash_is_sha256_of_one_prefix():
    left, right = hashlib.sha256(b"l").digest(), hashlib.sha256(b"r").digest()
    assert ledger.node_hash(left, right) == hashlib.sha256(b"\x01" + left + right).digest()
    assert ledger.node_hash(left, right) != ledger.node_hash(right, left)


def test_node_and_leaf_hash_do_not_collide():
    # A 64-byte leaf equal to left || right must not hash like the node.
    left, right = b"a" * 32, b"b" * 32
    assert ledger.leaf_hash(left + right) != ledger.node_hash(left, right)


def test_empty_tree_root_is_sha256_of_empty_string():
    assert VECTORS["empty_root"] == hashlib.sha256(b"").hexdigest()
    assert ledger.root_hash([]) == bytes.fromhex(VECTORS["empty_root"])
    assert ledger.EMPTY_ROOT == bytes.fromhex(VECTORS["empty_root"])


@pytest.mark.parametrize("size", sorted(CT_ROOTS))
def test_root_hash_matches_rfc6962_vectors(size):
    leaves = [ledger.leaf_hash(d) for d in CT_LEAVES[:size]]
    assert ledger.root_hash(leaves) == CT_ROOTS[size]


def test_root_hash_of_one_leaf_is_the_leaf_hash():
    h = ledger.leaf_hash(b"only")
    assert ledger.root_hash([h]) == h


def test_root_hash_matches_reference_for_every_size_up_to_130():
    tree = synthetic_tree(130)
    for n in range(131):
        assert ledger.root_hash(list(tree.leaves[:n])) == tree.root(n), n


def test_root_hash_accepts_a_tuple():
    tree = synthetic_tree(5)
    assert ledger.root_hash(tuple(tree.leaves)) == tree.root(5)


def test_root_hash_depends_on_leaf_order():
    tree = synthetic_tree(6)
    swapped = list(tree.leaves)
    swapped[2], swapped[3] = swapped[3], swapped[2]
    assert ledger.root_hash(swapped) != tree.root(6)
    assert ledger.root_hash(swapped) == ReferenceTree(swapped).root(6)


def test_root_hash_agrees_with_pymerkle():
    """pymerkle is an independent RFC 9162 implementation (the `test` extra)."""
    tree = pymerkle.InmemoryTree(algorithm="sha256")
    ours = []
    for i in range(1, 100):
        tree.append_entry(leaf_data(i))
        ours.append(ref_leaf_hash(leaf_data(i)))
        assert ledger.root_hash(ours) == tree.get_root(), i


def test_frontier_knows_the_proof_of_the_next_leaf_for_every_size_up_to_130():
    reference = synthetic_tree(130)
    frontier = Frontier()
    for n in range(130):
        assert frontier.path_of_next_leaf() == reference.path(n, n + 1), n
        frontier.push(reference.leaves[n])
