"""Re-checking a stored log (``tradezone ledger check``): the stored bytes may
have been altered into anything, and each alteration is a problem named by
its index, never an exception that stops the check."""

from __future__ import annotations

import pytest

import ledger
from ledger.hashing import Frontier
from ledger.logcheck import StoredCheckpointRow, check_log

GOOD = b'{"actor":"org_a","at":"2026-11-23T09:00:00Z","type":"org.created","v":1}'


def stored(datas: list[bytes]):
    """(index, bytes, stored hashes) as SqlLog.iter_leaves gives them, hashes consistent."""
    frontier = Frontier()
    return [(index, data, b"".join(frontier.push(ledger.leaf_hash(data))))
            for index, data in enumerate(datas)]


@pytest.fixture
def signer() -> ledger.NoteSigner:
    return ledger.NoteSigner("test.example/log", ledger.keys.generate_signing_key())


@pytest.fixture
def verifier(signer) -> ledger.NoteVerifier:
    return ledger.NoteVerifier.from_verifier_key(signer.verifier_key)


@pytest.mark.parametrize("data, words", [
    (GOOD[:-1] + b',"z":' + b"9" * 5000 + b"}", "4300 digits"),
    (b"[" * 100_000, "nested too deeply"),
    (GOOD[:-1] + b',"v":1}', "duplicate member name 'v'"),
    (GOOD.replace(b'"type"', b'"n":NaN,"type"'), "NaN is not JSON"),
    (b"\xff" + GOOD, "utf-8"),
], ids=["integer-of-5000-digits", "nested-100000-deep", "member-repeated", "nan", "not-utf8"])
def test_a_hostile_stored_entry_is_a_problem_at_its_index(verifier, data, words):
    report = check_log(stored([GOOD, data, GOOD]), [], verifier, head_size=3)
    assert report.size == 3
    assert [(problem.index, words in str(problem)) for problem in report.problems] == [
        (1, True)], report.problems
    assert str(report.problems[0]).startswith("entry 1 is malformed: entry is not JSON: ")


def test_an_entry_stored_as_text_is_a_problem_not_an_exception(verifier):
    # SQLite keeps whatever type it is given: `UPDATE ... SET data = data || 'x'`
    # by hand leaves text where the log wrote bytes.
    leaves = stored([GOOD, GOOD, GOOD])
    leaves[1] = (1, GOOD.decode(), leaves[1][2])
    leaves[2] = (2, GOOD, 42)
    report = check_log(leaves, [], verifier, head_size=3)
    assert report.size == 3
    assert [(problem.index, str(problem)) for problem in report.problems] == [
        (1, "entry 1 is stored as str, not bytes"),
        (2, "stored hashes of leaf 2 are int, not bytes")]


@pytest.mark.parametrize("stored_root, shown", [
    (bytes(32), "00" * 32),
    ("the root as hex text", "'the root as hex text'"),
], ids=["other-bytes", "text"])
def test_a_stored_root_that_is_not_the_signed_one_is_named(signer, verifier, stored_root, shown):
    datas = [GOOD, GOOD]
    root = ledger.root_hash([ledger.leaf_hash(data) for data in datas])
    note = signer.sign(ledger.Checkpoint("test.example/log", 2, root).body())
    report = check_log(stored(datas), [StoredCheckpointRow(2, stored_root, note)], verifier,
                       head_size=2)
    assert [(problem.index, str(problem)) for problem in report.problems] == [
        (2, f"checkpoint for size 2: the stored root hash {shown} is not the signed and "
            f"recomputed one {root.hex()}")]
    assert check_log(stored(datas), [StoredCheckpointRow(2, root, note)], verifier,
                     head_size=2).ok
