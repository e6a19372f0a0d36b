"""Verifiers must reject every tampered proof and every bad argument, with the right error.

A failure must be an InclusionProofError / ConsistencyProofError (both
VerificationError, both LedgerError): pytest.raises lets any other exception
(IndexError, ValueError, TypeError...) through, which fails the test.
Mutations whose outcome is not fixed in advance (a neighbouring tree size can
share a proof's shape, RFC 9162 does not bind it) are held to the naive
reference verifier's verdict instead.
"""

import itertools

import pytest

import ledger
from tests.ledger.rfc9162_reference import (
    EMPTY_ROOT,
    ref_leaf_hash,
    ref_verify_consistency,
    ref_verify_inclusion,
    synthetic_tree,
)

TREE = synthetic_tree(80)
BIG_SIZES = [31, 32, 33, 63, 64, 65, 80]
INCLUSION_PAIRS = [(i, n) for n in range(1, 18) for i in range(n)] + [
    (i, n) for n in BIG_SIZES for i in sorted({0, 1, n // 2, n - 2, n - 1})
]
CONSISTENCY_PAIRS = [(m, n) for n in range(1, 18) for m in range(1, n)] + [
    (m, n) for n in BIG_SIZES for m in sorted({1, 2, 7, 16, 17, n - 1})
]
OTHER_HASH = ref_leaf_hash(b"not in the tree")


def flips(h: bytes):
    """Every single-bit variant of h."""
    for byte in range(len(h)):
        for bit in range(8):
            yield h[:byte] + bytes([h[byte] ^ (1 << bit)]) + h[byte + 1:]


def inc_args(i, n):
    return TREE.leaves[i], i, n, TREE.path(i, n), TREE.root(n)


def con_args(m, n):
    return m, n, TREE.proof(m, n), TREE.root(m), TREE.root(n)


def assert_inclusion_fails(*args):
    with pytest.raises(ledger.InclusionProofError):
        ledger.verify_inclusion(*args)


def assert_consistency_fails(*args):
    with pytest.raises(ledger.ConsistencyProofError):
        ledger.verify_consistency(*args)


def assert_inclusion_as_reference(*args):
    if ref_verify_inclusion(*args):
        ledger.verify_inclusion(*args)
    else:
        assert_inclusion_fails(*args)


def assert_consistency_as_reference(*args):
    if ref_verify_consistency(*args):
        ledger.verify_consistency(*args)
    else:
        assert_consistency_fails(*args)


def test_error_hierarchy():
    for cls in (ledger.InclusionProofError, ledger.ConsistencyProofError,
                ledger.CheckpointFormatError, ledger.SignatureError, ledger.NoteFormatError):
        assert issubclass(cls, ledger.VerificationError), cls
    assert issubclass(ledger.VerificationError, ledger.LedgerError)
    assert not issubclass(ledger.InclusionProofError, ledger.ConsistencyProofError)
    assert not issubclass(ledger.ConsistencyProofError, ledger.InclusionProofError)


# --- inclusion -------------------------------------------------------------------

def test_inclusion_pairs_verify():
    for i, n in INCLUSION_PAIRS:
        ledger.verify_inclusion(*inc_args(i, n))


@pytest.mark.parametrize("n", sorted({n for _, n in INCLUSION_PAIRS}))
def test_inclusion_bit_flip_in_every_proof_hash_fails(n):
    for i in {i for i, size in INCLUSION_PAIRS if size == n}:
        leaf, _, _, proof, root = inc_args(i, n)
        for k, h in enumerate(proof):
            for bad in flips(h):
                assert_inclusion_fails(leaf, i, n, proof[:k] + [bad] + proof[k + 1:], root)


@pytest.mark.parametrize("n", sorted({n for _, n in INCLUSION_PAIRS}))
def test_inclusion_bit_flip_in_leaf_and_root_fails(n):
    for i in {i for i, size in INCLUSION_PAIRS if size == n}:
        leaf, _, _, proof, root = inc_args(i, n)
        for bad in flips(leaf):
            assert_inclusion_fails(bad, i, n, proof, root)
        for bad in flips(root):
            assert_inclusion_fails(leaf, i, n, proof, bad)


def test_inclusion_at_every_other_index_fails():
    for i, n in INCLUSION_PAIRS:
        leaf, _, _, proof, root = inc_args(i, n)
        for j in range(n):
            if j != i:
                assert_inclusion_fails(leaf, j, n, proof, root)


def test_inclusion_with_a_neighbouring_size_follows_the_reference():
    rejected = 0
    for i, n in INCLUSION_PAIRS:
        leaf, _, _, proof, root = inc_args(i, n)
        for other in (n - 1, n + 1, 2 * n, n // 2):
            assert_inclusion_as_reference(leaf, i, other, proof, root)
            rejected += not ref_verify_inclusion(leaf, i, other, proof, root)
    assert rejected > len(INCLUSION_PAIRS) * 2  # the mutation is meaningful most of the time


def test_inclusion_proof_of_wrong_length_fails():
    for i, n in INCLUSION_PAIRS:
        leaf, _, _, proof, root = inc_args(i, n)
        assert_inclusion_fails(leaf, i, n, proof + [OTHER_HASH], root)
        assert_inclusion_fails(leaf, i, n, proof + [root], root)
        assert_inclusion_fails(leaf, i, n, [root] + proof, root)
        for k in range(len(proof)):
            assert_inclusion_fails(leaf, i, n, proof[:k], root)  # truncated
            assert_inclusion_fails(leaf, i, n, proof[:k + 1] + proof[k:], root)  # duplicated
            assert_inclusion_fails(leaf, i, n, proof[:k] + proof[k + 1:], root)  # removed


def test_inclusion_with_reordered_proof_fails():
    for i, n in INCLUSION_PAIRS:
        leaf, _, _, proof, root = inc_args(i, n)
        if len(proof) >= 2 and proof[0] != proof[1]:
            assert_inclusion_fails(leaf, i, n, [proof[1], proof[0]] + proof[2:], root)
            assert_inclusion_fails(leaf, i, n, proof[::-1], root)


def test_inclusion_with_wrong_leaf_or_root_fails():
    for i, n in INCLUSION_PAIRS:
        leaf, _, _, proof, root = inc_args(i, n)
        assert_inclusion_fails(OTHER_HASH, i, n, proof, root)
        assert_inclusion_fails(leaf, i, n, proof, OTHER_HASH)
        assert_inclusion_fails(leaf, i, n, proof, EMPTY_ROOT)
        if n > 1:
            assert_inclusion_fails(leaf, i, n, proof, TREE.root(n - 1))
        if root != leaf:
            assert_inclusion_fails(root, i, n, proof, leaf)  # leaf and root swapped


def test_inclusion_mismatch_carries_expected_and_computed_roots():
    leaf, i, n, proof, root = inc_args(5, 13)
    with pytest.raises(ledger.InclusionProofError) as exc:
        ledger.verify_inclusion(leaf, i, n, proof, OTHER_HASH)
    assert exc.value.expected == OTHER_HASH
    assert exc.value.computed == root


# --- consistency -----------------------------------------------------------------

def test_consistency_pairs_verify():
    for m, n in CONSISTENCY_PAIRS:
        ledger.verify_consistency(*con_args(m, n))


@pytest.mark.parametrize("n", sorted({n for _, n in CONSISTENCY_PAIRS}))
def test_consistency_bit_flip_in_every_proof_hash_fails(n):
    for m in {m for m, size in CONSISTENCY_PAIRS if size == n}:
        _, _, proof, r1, r2 = con_args(m, n)
        for k, h in enumerate(proof):
            for bad in flips(h):
                assert_consistency_fails(m, n, proof[:k] + [bad] + proof[k + 1:], r1, r2)


@pytest.mark.parametrize("n", sorted({n for _, n in CONSISTENCY_PAIRS}))
def test_consistency_bit_flip_in_either_root_fails(n):
    for m in {m for m, size in CONSISTENCY_PAIRS if size == n}:
        _, _, proof, r1, r2 = con_args(m, n)
        for bad in flips(r1):
            assert_consistency_fails(m, n, proof, bad, r2)
        for bad in flips(r2):
            assert_consistency_fails(m, n, proof, r1, bad)


def test_consistency_with_wrong_or_swapped_roots_fails():
    for m, n in CONSISTENCY_PAIRS:
        _, _, proof, r1, r2 = con_args(m, n)
        assert_consistency_fails(m, n, proof, OTHER_HASH, r2)
        assert_consistency_fails(m, n, proof, r1, OTHER_HASH)
        assert_consistency_fails(m, n, proof, r2, r1)
        assert_consistency_fails(m, n, proof, EMPTY_ROOT, r2)


def test_consistency_proof_of_wrong_length_fails():
    for m, n in CONSISTENCY_PAIRS:
        _, _, proof, r1, r2 = con_args(m, n)
        assert_consistency_fails(m, n, [], r1, r2)
        assert_consistency_fails(m, n, proof + [OTHER_HASH], r1, r2)
        assert_consistency_fails(m, n, proof + [r1], r1, r2)
        assert_consistency_fails(m, n, proof + [r2], r1, r2)
        assert_consistency_fails(m, n, [r1] + proof, r1, r2)
        assert_consistency_fails(m, n, [r2] + proof, r1, r2)
        for k in range(len(proof)):
            assert_consistency_fails(m, n, proof[:k], r1, r2)  # truncated
            assert_consistency_fails(m, n, proof[:k + 1] + proof[k:], r1, r2)  # duplicated
            assert_consistency_fails(m, n, proof[:k] + proof[k + 1:], r1, r2)  # removed


def test_consistency_with_swapped_sizes_fails():
    for m, n in CONSISTENCY_PAIRS:
        _, _, proof, r1, r2 = con_args(m, n)
        assert_consistency_fails(n, m, proof, r1, r2)
        assert_consistency_fails(n, m, proof, r2, r1)


def test_consistency_with_other_sizes_follows_the_reference():
    rejected = total = 0
    for m, n in CONSISTENCY_PAIRS:
        _, _, proof, r1, r2 = con_args(m, n)
        others = [(m - 1, n), (m + 1, n), (m ^ 2, n),
                  (m, n - 1), (m, n + 1), (m, n * 2), (m, n // 2)]
        for m2, n2 in others:
            assert_consistency_as_reference(m2, n2, proof, r1, r2)
            total += 1
            rejected += not ref_verify_consistency(m2, n2, proof, r1, r2)
    assert rejected > total // 2


def test_consistency_mismatch_carries_expected_and_computed_roots():
    m, n, proof, r1, r2 = con_args(6, 13)
    with pytest.raises(ledger.ConsistencyProofError) as exc:
        ledger.verify_consistency(m, n, proof, r1, OTHER_HASH)
    assert exc.value.expected == OTHER_HASH
    assert exc.value.computed == r2
    with pytest.raises(ledger.ConsistencyProofError) as exc:
        ledger.verify_consistency(m, n, proof, OTHER_HASH, r2)
    assert exc.value.expected == OTHER_HASH
    assert exc.value.computed == r1


def test_trivial_consistency_conventions():
    r5 = TREE.root(5)
    ledger.verify_consistency(5, 5, [], r5, r5)
    ledger.verify_consistency(0, 0, [], EMPTY_ROOT, EMPTY_ROOT)
    ledger.verify_consistency(0, 5, [], EMPTY_ROOT, r5)
    assert_consistency_fails(5, 5, [], r5, TREE.root(4))  # same size, different roots
    assert_consistency_fails(5, 5, [r5], r5, r5)  # same size needs an empty proof
    assert_consistency_fails(0, 5, [r5], EMPTY_ROOT, r5)  # first == 0 needs an empty proof
    assert_consistency_fails(0, 5, [], r5, r5)  # first == 0: first root must be the empty root
    assert_consistency_fails(0, 0, [], EMPTY_ROOT, r5)
    assert_consistency_fails(6, 5, [], r5, r5)  # time travel
    assert_consistency_fails(1, 0, [], TREE.root(1), EMPTY_ROOT)


# --- bad arguments ------------------------------------------------------------------

GOOD_INC = inc_args(3, 7)
GOOD_CON = con_args(3, 7)


def _replace(args, pos, value):
    return tuple(value if k == pos else a for k, a in enumerate(args))


@pytest.mark.parametrize(
    "pos,value",
    [
        pytest.param(1, -1, id="negative-index"),
        pytest.param(2, -1, id="negative-size"),
        pytest.param(2, 0, id="size-zero"),
        pytest.param(1, 7, id="index-eq-size"),
        pytest.param(1, 8, id="index-gt-size"),
        pytest.param(1, 2**64 + 3, id="huge-index"),
        pytest.param(2, 2**64, id="huge-size"),
        # more digits than Python prints (4300): the message must still be written
        pytest.param(1, 10**5000, id="index-of-5000-digits"),
        pytest.param(1, -10**5000, id="negative-index-of-5000-digits"),
        pytest.param(1, "3", id="index-str"),
        pytest.param(1, 3.0, id="index-float"),
        pytest.param(1, None, id="index-none"),
        pytest.param(2, "7", id="size-str"),
        pytest.param(0, GOOD_INC[0][:31], id="leaf-31-bytes"),
        pytest.param(0, GOOD_INC[0] + b"\x00", id="leaf-33-bytes"),
        pytest.param(0, b"", id="leaf-empty"),
        pytest.param(0, GOOD_INC[0].hex(), id="leaf-hex-str"),
        pytest.param(0, None, id="leaf-none"),
        pytest.param(4, GOOD_INC[4][:31], id="root-31-bytes"),
        pytest.param(4, GOOD_INC[4] + b"\x00", id="root-33-bytes"),
        pytest.param(4, None, id="root-none"),
        pytest.param(3, [GOOD_INC[3][0][:31]] + GOOD_INC[3][1:], id="proof-element-31-bytes"),
        pytest.param(3, GOOD_INC[3][:-1] + [GOOD_INC[3][-1] + b"\x00"], id="proof-elem-33-bytes"),
        pytest.param(3, [GOOD_INC[3][0].hex()] + GOOD_INC[3][1:], id="proof-element-str"),
        pytest.param(3, [None] + GOOD_INC[3][1:], id="proof-element-none"),
        pytest.param(3, [b"\x00" * 32] * 70, id="proof-far-too-long"),
        pytest.param(3, None, id="proof-none"),
    ],
)
def test_verify_inclusion_rejects_bad_arguments(pos, value):
    ledger.verify_inclusion(*GOOD_INC)  # the unmodified call verifies
    assert_inclusion_fails(*_replace(GOOD_INC, pos, value))


def test_verify_inclusion_rejects_empty_tree():
    assert_inclusion_fails(EMPTY_ROOT, 0, 0, [], EMPTY_ROOT)


def test_single_leaf_tree():
    h = ref_leaf_hash(b"data")
    ledger.verify_inclusion(h, 0, 1, [], h)
    assert_inclusion_fails(h, 0, 1, [], OTHER_HASH)
    assert_inclusion_fails(h, 0, 1, [h], h)
    assert_inclusion_fails(b"", 0, 1, [], b"")


@pytest.mark.parametrize(
    "pos,value",
    [
        pytest.param(0, -1, id="negative-first"),
        pytest.param(1, -1, id="negative-second"),
        pytest.param(0, 8, id="first-gt-second"),
        pytest.param(1, 2, id="second-lt-first"),
        pytest.param(0, "3", id="first-str"),
        pytest.param(1, 7.0, id="second-float"),
        pytest.param(1, None, id="second-none"),
        pytest.param(0, 2**64 + 3, id="huge-first"),
        pytest.param(0, 10**5000, id="first-of-5000-digits"),
        pytest.param(1, -10**5000, id="negative-second-of-5000-digits"),
        pytest.param(3, GOOD_CON[3][:31], id="first-root-31-bytes"),
        pytest.param(3, GOOD_CON[3] + b"\x00", id="first-root-33-bytes"),
        pytest.param(4, GOOD_CON[4][:31], id="second-root-31-bytes"),
        pytest.param(4, GOOD_CON[4] + b"\x00", id="second-root-33-bytes"),
        pytest.param(4, None, id="second-root-none"),
        pytest.param(3, GOOD_CON[3].hex(), id="first-root-hex-str"),
        pytest.param(2, [GOOD_CON[2][0][:31]] + GOOD_CON[2][1:], id="proof-element-31-bytes"),
        pytest.param(2, GOOD_CON[2][:-1] + [GOOD_CON[2][-1] + b"\x00"], id="proof-elem-33-bytes"),
        pytest.param(2, [None] + GOOD_CON[2][1:], id="proof-element-none"),
        pytest.param(2, [b"\x00" * 32] * 70, id="proof-far-too-long"),
        pytest.param(2, None, id="proof-none"),
    ],
)
def test_verify_consistency_rejects_bad_arguments(pos, value):
    ledger.verify_consistency(*GOOD_CON)
    assert_consistency_fails(*_replace(GOOD_CON, pos, value))


@pytest.mark.parametrize("m,n", [(0, 0), (0, 5), (5, 5)])
def test_trivial_consistency_rejects_wrong_length_roots(m, n):
    r1 = TREE.root(m)
    r2 = TREE.root(n)
    assert_consistency_fails(m, n, [], r1[:31], r2)
    assert_consistency_fails(m, n, [], r1, r2 + b"\x00")


def test_every_pair_of_small_sizes_with_any_small_proof_follows_the_reference():
    """Proofs built for other (first, second) pairs: every verdict must match the reference."""
    sizes = range(0, 12)
    for (m, n), (m2, n2) in itertools.product(
        [(m, n) for n in sizes for m in range(n + 1)], [(1, 3), (2, 5), (3, 7), (4, 6), (6, 11)]
    ):
        args = (m, n, TREE.proof(m2, n2), TREE.root(m), TREE.root(n))
        assert_consistency_as_reference(*args)
