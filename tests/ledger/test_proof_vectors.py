"""Data-driven proof vectors: the RFC 6962 / CT set and the named-mutation files.

The mutation files are produced by testdata/gen_proof_vectors.py from the
naive reference only (never from ``ledger``), in the style of
transparency-dev/merkle's testdata.
"""

import importlib.util
import json
from pathlib import Path

import pytest

import ledger

TESTDATA = Path(__file__).parent / "testdata"
VECTORS = json.loads((TESTDATA / "rfc6962_vectors.json").read_text())
CT_LEAF_HASHES = [ledger.leaf_hash(bytes.fromhex(x)) for x in VECTORS["leaves"]]
CT_ROOTS = {int(n): bytes.fromhex(h) for n, h in VECTORS["roots"].items()}


def inclusion_id(c):
    return f"{c['index']}-of-{c['tree_size']}"


def consistency_id(c):
    return f"{c['first']}-to-{c['second']}"
INCLUSION = json.loads((TESTDATA / "inclusion_mutations.json").read_text())["cases"]
CONSISTENCY = json.loads((TESTDATA / "consistency_mutations.json").read_text())["cases"]


def _b(hexes):
    return [bytes.fromhex(h) for h in hexes]


# --- RFC 6962 vectors ----------------------------------------------------------

@pytest.mark.parametrize("case", VECTORS["inclusion"], ids=inclusion_id)
def test_rfc6962_inclusion_vector_verifies(case):
    i, n = case["index"], case["tree_size"]
    ledger.verify_inclusion(CT_LEAF_HASHES[i], i, n, _b(case["proof"]), CT_ROOTS[n])


@pytest.mark.parametrize("case", VECTORS["inclusion"], ids=inclusion_id)
def test_rfc6962_inclusion_vector_rejects_other_leaves(case):
    i, n = case["index"], case["tree_size"]
    for other in range(len(CT_LEAF_HASHES)):
        if CT_LEAF_HASHES[other] != CT_LEAF_HASHES[i]:
            with pytest.raises(ledger.InclusionProofError):
                ledger.verify_inclusion(CT_LEAF_HASHES[other], i, n, _b(case["proof"]), CT_ROOTS[n])


@pytest.mark.parametrize("case", VECTORS["consistency"], ids=consistency_id)
def test_rfc6962_consistency_vector_verifies(case):
    m, n = case["first"], case["second"]
    ledger.verify_consistency(m, n, _b(case["proof"]), CT_ROOTS[m], CT_ROOTS[n])


@pytest.mark.parametrize("case", VECTORS["consistency"], ids=consistency_id)
def test_rfc6962_consistency_vector_rejects_other_roots(case):
    m, n = case["first"], case["second"]
    for other in CT_ROOTS:
        if other != m:
            with pytest.raises(ledger.ConsistencyProofError):
                ledger.verify_consistency(m, n, _b(case["proof"]), CT_ROOTS[other], CT_ROOTS[n])
        if other != n:
            with pytest.raises(ledger.ConsistencyProofError):
                ledger.verify_consistency(m, n, _b(case["proof"]), CT_ROOTS[m], CT_ROOTS[other])


# --- named mutations -----------------------------------------------------------

def test_mutation_files_cover_the_named_mutations():
    inclusion_names = {c["desc"] for c in INCLUSION}
    consistency_names = {c["desc"] for c in CONSISTENCY}
    for name in ["happy-path", "wrong-leaf", "truncated-proof", "modified-proof[0]-bit-@3",
                 "index-beyond-size", "duplicated-proof[0]", "trailing-root"]:
        assert name in inclusion_names
    for name in ["happy-path", "wrong-root1", "wrong-root2", "swapped-sizes", "truncated-proof",
                 "modified-proof[0]-bit-@4", "trailing-root2", "empty-proof"]:
        assert name in consistency_names
    assert sum(not c["want_err"] for c in INCLUSION) >= 15
    assert sum(c["want_err"] for c in INCLUSION) >= 300
    assert sum(c["want_err"] for c in CONSISTENCY) >= 300


@pytest.mark.parametrize("case", INCLUSION, ids=lambda c: f"{c['case']}:{c['desc']}")
def test_inclusion_mutation_vector(case):
    args = (bytes.fromhex(case["leaf_hash"]), case["index"], case["tree_size"],
            _b(case["proof"]), bytes.fromhex(case["root"]))
    if case["want_err"]:
        with pytest.raises(ledger.InclusionProofError):
            ledger.verify_inclusion(*args)
    else:
        ledger.verify_inclusion(*args)


@pytest.mark.parametrize("case", CONSISTENCY, ids=lambda c: f"{c['case']}:{c['desc']}")
def test_consistency_mutation_vector(case):
    args = (case["first"], case["second"], _b(case["proof"]),
            bytes.fromhex(case["first_root"]), bytes.fromhex(case["second_root"]))
    if case["want_err"]:
        with pytest.raises(ledger.ConsistencyProofError):
            ledger.verify_consistency(*args)
    else:
        ledger.verify_consistency(*args)


def test_generator_reproduces_the_committed_files():
    path = TESTDATA / "gen_proof_vectors.py"
    spec = importlib.util.spec_from_file_location("gen_proof_vectors", path)
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    for name, text in gen.render().items():
        assert (TESTDATA / name).read_text(encoding="utf-8") == text, name
