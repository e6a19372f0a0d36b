"""Proof builders (ledger.prove) over MemoryHashStore, against the naive RFC 9162 reference.

Every inclusion proof for tree sizes 1..64 and every consistency proof for
0 <= first <= second <= 64 must equal the reference PATH / PROOF exactly and
must verify.
"""

import json
from pathlib import Path

import pytest

import ledger
from ledger import prove
from tests.ledger.rfc9162_reference import EMPTY_ROOT, synthetic_tree

MAX = 64
TREE = synthetic_tree(MAX)

VECTORS = json.loads((Path(__file__).parent / "testdata" / "rfc6962_vectors.json").read_text())
CT_LEAVES = [bytes.fromhex(x) for x in VECTORS["leaves"]]
CT_ROOTS = {int(n): bytes.fromhex(h) for n, h in VECTORS["roots"].items()}


def inclusion_id(c):
    return f"{c['index']}-of-{c['tree_size']}"


def consistency_id(c):
    return f"{c['first']}-to-{c['second']}"


def _hex(hashes):
    return [h.hex() for h in hashes]


@pytest.fixture(scope="module")
def store():
    s = ledger.MemoryHashStore()
    assert s.append(list(TREE.leaves)) == MAX
    return s


@pytest.fixture(scope="module")
def ct_store():
    s = ledger.MemoryHashStore()
    s.append([ledger.leaf_hash(d) for d in CT_LEAVES])
    return s


# --- MemoryHashStore ---------------------------------------------------------

def test_new_store_is_empty():
    s = ledger.MemoryHashStore()
    assert s.size == 0
    assert prove.tree_root(s, 0) == EMPTY_ROOT


def test_append_returns_the_new_size_and_batches_do_not_matter():
    s = ledger.MemoryHashStore()
    leaves = list(TREE.leaves[:40])
    assert s.append(leaves[:1]) == 1
    assert s.append(leaves[1:3]) == 3
    assert s.append([]) == 3
    assert s.append(leaves[3:17]) == 17
    assert s.append(leaves[17:]) == 40
    assert s.size == 40
    for n in range(41):
        assert prove.tree_root(s, n) == TREE.root(n), n


def test_every_earlier_size_stays_provable_as_the_store_grows():
    s = ledger.MemoryHashStore()
    for size in range(1, 34):
        s.append([TREE.leaves[size - 1]])
        for n in range(size + 1):
            assert prove.tree_root(s, n) == TREE.root(n), (size, n)
        for i in range(0, size, 5):
            assert prove.inclusion_proof(s, i, size) == TREE.path(i, size)


# --- tree_root ---------------------------------------------------------------

def test_tree_root_matches_reference_for_every_size(store):
    for n in range(MAX + 1):
        assert prove.tree_root(store, n) == TREE.root(n), n


@pytest.mark.parametrize("size", sorted(CT_ROOTS))
def test_tree_root_matches_rfc6962_vectors(ct_store, size):
    assert prove.tree_root(ct_store, size) == CT_ROOTS[size]


# --- inclusion ---------------------------------------------------------------

def test_every_inclusion_proof_equals_reference_path_and_verifies(store):
    for n in range(1, MAX + 1):
        root = TREE.root(n)
        for i in range(n):
            proof = prove.inclusion_proof(store, i, n)
            assert _hex(proof) == _hex(TREE.path(i, n)), (i, n)
            ledger.verify_inclusion(TREE.leaves[i], i, n, proof, root)


def test_inclusion_proof_is_a_list_of_32_byte_bytes(store):
    proof = prove.inclusion_proof(store, 5, 37)
    assert isinstance(proof, list)
    assert all(type(h) is bytes and len(h) == 32 for h in proof)


@pytest.mark.parametrize("case", VECTORS["inclusion"], ids=inclusion_id)
def test_inclusion_proof_matches_rfc6962_vectors(ct_store, case):
    proof = prove.inclusion_proof(ct_store, case["index"], case["tree_size"])
    assert _hex(proof) == case["proof"]


# --- consistency -------------------------------------------------------------

def test_every_consistency_proof_equals_reference_and_verifies(store):
    for n in range(MAX + 1):
        for m in range(n + 1):
            proof = prove.consistency_proof(store, m, n)
            assert _hex(proof) == _hex(TREE.proof(m, n)), (m, n)
            ledger.verify_consistency(m, n, proof, TREE.root(m), TREE.root(n))


def test_trivial_consistency_proofs_are_empty(store):
    assert prove.consistency_proof(store, 0, 0) == []
    assert prove.consistency_proof(store, 0, 17) == []
    assert prove.consistency_proof(store, 17, 17) == []


@pytest.mark.parametrize("case", VECTORS["consistency"], ids=consistency_id)
def test_consistency_proof_matches_rfc6962_vectors(ct_store, case):
    proof = prove.consistency_proof(ct_store, case["first"], case["second"])
    assert _hex(proof) == case["proof"]


# --- out of range --------------------------------------------------------------

def test_tree_size_error_is_a_ledger_error_and_a_value_error():
    assert issubclass(ledger.TreeSizeError, ledger.LedgerError)
    assert issubclass(ledger.TreeSizeError, ValueError)


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda s: prove.tree_root(s, MAX + 1), id="root-beyond-store"),
        pytest.param(lambda s: prove.tree_root(s, -1), id="root-negative"),
        pytest.param(lambda s: prove.inclusion_proof(s, 0, 0), id="inclusion-empty-tree"),
        pytest.param(lambda s: prove.inclusion_proof(s, 5, 5), id="inclusion-index-eq-size"),
        pytest.param(lambda s: prove.inclusion_proof(s, 9, 5), id="inclusion-index-gt-size"),
        pytest.param(lambda s: prove.inclusion_proof(s, -1, 5), id="inclusion-negative-index"),
        pytest.param(lambda s: prove.inclusion_proof(s, 0, -1), id="inclusion-negative-size"),
        pytest.param(lambda s: prove.inclusion_proof(s, 0, MAX + 1), id="inclusion-beyond-store"),
        pytest.param(lambda s: prove.consistency_proof(s, 6, 5), id="consistency-first-gt-second"),
        pytest.param(lambda s: prove.consistency_proof(s, -1, 5), id="consistency-negative-first"),
        pytest.param(lambda s: prove.consistency_proof(s, 0, -1), id="consistency-negative-second"),
        pytest.param(lambda s: prove.consistency_proof(s, 3, MAX + 1), id="second-beyond-store"),
        pytest.param(lambda s: prove.consistency_proof(s, MAX + 1, MAX + 1), id="both-beyond"),
    ],
)
def test_builders_reject_out_of_range_sizes(store, call):
    with pytest.raises(ledger.TreeSizeError):
        call(store)


def test_builders_on_an_empty_store():
    s = ledger.MemoryHashStore()
    assert prove.consistency_proof(s, 0, 0) == []
    with pytest.raises(ledger.TreeSizeError):
        prove.inclusion_proof(s, 0, 1)
    with pytest.raises(ledger.TreeSizeError):
        prove.tree_root(s, 1)


def test_combined_evidence_equals_the_separate_builders():
    """inclusion_evidence / consistency_proof_and_roots read once but answer the same."""
    store = ledger.MemoryHashStore()
    leaves = [ledger.leaf_hash(bytes([i])) for i in range(37)]
    store.append(leaves)
    for size in (1, 2, 5, 16, 37):
        for index in range(size):
            leaf, proof, root = prove.inclusion_evidence(store, index, size)
            assert (leaf, proof, root) == (leaves[index], prove.inclusion_proof(store, index, size),
                                           prove.tree_root(store, size))
        for first in range(size + 1):
            assert prove.consistency_proof_and_roots(store, first, size) == (
                prove.consistency_proof(store, first, size), prove.tree_root(store, first),
                prove.tree_root(store, size))
    with pytest.raises(ledger.TreeSizeError):
        prove.inclusion_evidence(store, 37, 37)
    with pytest.raises(ledger.TreeSizeError):
        prove.consistency_proof_and_roots(store, 5, 38)
