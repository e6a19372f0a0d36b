"""C2SP tlog-checkpoint bodies (contract section 4): exact output and strict parsing."""

import base64
import dataclasses
import hashlib

import pytest
from Crypto.PublicKey import ECC

import ledger
from ledger import keys
from tests.ledger.rfc9162_reference import EMPTY_ROOT, synthetic_tree

ORIGIN = "tradezone.example/ledger"
# Chosen so that its base64 has both '+' and '/': the url-safe alphabet then differs.
ROOT = synthetic_tree(4).root(4)
ROOT_B64 = base64.b64encode(ROOT)
assert b"+" in ROOT_B64 and b"/" in ROOT_B64 and ROOT_B64.endswith(b"4=")
GOOD_BODY = ORIGIN.encode() + b"\n4\n" + ROOT_B64 + b"\n"


def test_body_is_exactly_three_lines():
    cp = ledger.Checkpoint(ORIGIN, 4, ROOT)
    assert cp.body() == GOOD_BODY
    assert cp.body() == (b"tradezone.example/ledger\n4\n"
                         b"b7+3q/YbfMpfcdixu13Dh36EgulTNuerCcsuPoM/9J4=\n")


def test_empty_tree_body():
    body = ledger.Checkpoint("o", 0, EMPTY_ROOT).body()
    assert body == b"o\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n"


def test_checkpoint_is_frozen():
    cp = ledger.Checkpoint(ORIGIN, 4, ROOT)
    with pytest.raises(dataclasses.FrozenInstanceError):
        cp.size = 5


def test_parse_round_trip():
    cp = ledger.Checkpoint.parse(GOOD_BODY)
    assert cp == ledger.Checkpoint(ORIGIN, 4, ROOT)
    assert (cp.origin, cp.size, cp.root_hash) == (ORIGIN, 4, ROOT)
    assert cp.body() == GOOD_BODY


@pytest.mark.parametrize("size", [0, 1, 9, 10, 20852163, 2**63 - 1])
def test_parse_round_trip_sizes(size):
    cp = ledger.Checkpoint("example.com/log", size, ROOT)
    assert ledger.Checkpoint.parse(cp.body()) == cp


def test_parse_c2sp_example():
    body = b"example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    cp = ledger.Checkpoint.parse(body)
    assert cp.origin == "example.com/behind-the-sofa"
    assert cp.size == 20852163
    assert cp.root_hash == base64.b64decode("CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=")


def test_extension_lines_are_allowed_and_ignored():
    body = GOOD_BODY + b"extension one\n\xe2\x80\x94 not a signature\n"
    assert ledger.Checkpoint.parse(body) == ledger.Checkpoint(ORIGIN, 4, ROOT)


def _body(origin=ORIGIN.encode(), size=b"4", root=ROOT_B64, tail=b""):
    return origin + b"\n" + size + b"\n" + root + b"\n" + tail


NON_CANONICAL_ROOT = ROOT_B64[:-2] + b"5="  # same 32 bytes under a lenient decoder
assert base64.b64decode(NON_CANONICAL_ROOT) == ROOT


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"", id="empty"),
        pytest.param(GOOD_BODY[:-1], id="no-trailing-newline"),
        pytest.param(ORIGIN.encode() + b"\n4\n", id="two-lines"),
        pytest.param(ORIGIN.encode() + b"\n4\n" + ROOT_B64, id="root-without-newline"),
        pytest.param(GOOD_BODY.replace(b"\n", b"\r\n"), id="crlf"),
        pytest.param(_body(origin=b""), id="empty-origin"),
        pytest.param(_body(origin=b"\xff\xfe"), id="origin-not-utf8"),
        pytest.param(_body(size=b"04"), id="size-leading-zero"),
        pytest.param(_body(size=b"00"), id="size-double-zero"),
        pytest.param(_body(size=b"+4"), id="size-plus-sign"),
        pytest.param(_body(size=b"-4"), id="size-negative"),
        pytest.param(_body(size=b" 4"), id="size-leading-space"),
        pytest.param(_body(size=b"4 "), id="size-trailing-space"),
        pytest.param(_body(size=b""), id="size-empty"),
        pytest.param(_body(size=b"1_0"), id="size-underscore"),
        pytest.param(_body(size="\u0664".encode()), id="size-arabic-indic-digit"),
        pytest.param(_body(size=b"0x4"), id="size-hex"),
        pytest.param(_body(size=b"4.0"), id="size-decimal-point"),
        pytest.param(_body(size=b"4e0"), id="size-exponent"),
        pytest.param(_body(size=b"four"), id="size-word"),
        pytest.param(_body(root=b""), id="root-empty"),
        pytest.param(_body(root=ROOT_B64[:-1]), id="root-missing-padding"),
        pytest.param(_body(root=ROOT_B64 + b"="), id="root-extra-padding"),
        pytest.param(_body(root=base64.urlsafe_b64encode(ROOT)), id="root-urlsafe-alphabet"),
        pytest.param(_body(root=b"!" + ROOT_B64[1:]), id="root-bad-char"),
        pytest.param(_body(root=b" " + ROOT_B64), id="root-leading-space"),
        pytest.param(_body(root=ROOT_B64 + b" "), id="root-trailing-space"),
        pytest.param(_body(root=ROOT_B64[:22] + b"\n" + ROOT_B64[22:]), id="root-split-over-lines"),
        pytest.param(_body(root=base64.b64encode(ROOT[:31])), id="root-31-bytes"),
        pytest.param(_body(root=base64.b64encode(ROOT + b"\x00")), id="root-33-bytes"),
        pytest.param(_body(root=ROOT.hex().encode()), id="root-hex"),
        pytest.param(_body(root=NON_CANONICAL_ROOT), id="root-non-canonical-base64"),
        pytest.param(_body(root=ROOT_B64[:-2] + "\u00e9".encode()), id="root-non-ascii"),
        pytest.param(_body(tail=b"\n"), id="empty-extension-line"),
        pytest.param(_body(tail=b"ext\n\nmore\n"), id="empty-line-between-extensions"),
        pytest.param(_body(tail=b"ext"), id="extension-without-newline"),
        pytest.param(b"\n" + GOOD_BODY, id="leading-blank-line"),
    ],
)
def test_parse_rejects_malformed_bodies(body):
    with pytest.raises(ledger.CheckpointFormatError):
        ledger.Checkpoint.parse(body)


# --- open_checkpoint ---------------------------------------------------------------

def fixed_key(i: int):
    """Deterministic Ed25519 keys (as in test_note.py); 0, 2 and 3 have no '+' in their vkey."""
    seed = hashlib.sha256(b"tradezone-test-key-%d" % i).digest()
    return ECC.construct(curve="Ed25519", seed=seed)


@pytest.fixture(scope="module")
def signing_key():
    return fixed_key(0)


@pytest.fixture(scope="module")
def verifier(signing_key):
    vkey = ledger.verifier_key(ORIGIN, keys.public_key_bytes(signing_key))
    return ledger.NoteVerifier.from_verifier_key(vkey)


def test_open_checkpoint(signing_key, verifier):
    note = ledger.NoteSigner(ORIGIN, signing_key).sign(GOOD_BODY)
    assert ledger.open_checkpoint(note, verifier) == ledger.Checkpoint(ORIGIN, 4, ROOT)


def test_open_checkpoint_every_single_character_change_fails(signing_key, verifier):
    note = ledger.NoteSigner(ORIGIN, signing_key).sign(GOOD_BODY)
    for pos, char in enumerate(note):
        for other in {"A", "B", "0", "\n", " "} - {char}:
            with pytest.raises(ledger.VerificationError):
                ledger.open_checkpoint(note[:pos] + other + note[pos + 1:], verifier)


def test_open_checkpoint_rejects_origin_other_than_key_name(signing_key, verifier):
    body = ledger.Checkpoint("someone.else/log", 4, ROOT).body()
    note = ledger.NoteSigner(ORIGIN, signing_key).sign(body)
    assert verifier.verify(note) == body  # the signature itself is fine
    with pytest.raises(ledger.CheckpointFormatError):
        ledger.open_checkpoint(note, verifier)


@pytest.mark.parametrize(
    "body", [b"hello\n", _body(size=b"04"), _body(root=base64.b64encode(ROOT[:31]))]
)
def test_open_checkpoint_rejects_a_signed_body_that_is_not_a_checkpoint(
    signing_key, verifier, body
):
    note = ledger.NoteSigner(ORIGIN, signing_key).sign(body)
    with pytest.raises(ledger.CheckpointFormatError):
        ledger.open_checkpoint(note, verifier)


def test_open_checkpoint_rejects_another_key(verifier):
    note = ledger.NoteSigner(ORIGIN, fixed_key(2)).sign(GOOD_BODY)
    with pytest.raises(ledger.SignatureError):
        ledger.open_checkpoint(note, verifier)


def test_open_checkpoint_ignores_a_witness_cosignature(signing_key, verifier):
    log_note = ledger.NoteSigner(ORIGIN, signing_key).sign(GOOD_BODY)
    witness_note = ledger.NoteSigner("witness.example/w1", fixed_key(3)).sign(GOOD_BODY)
    witness_line = witness_note.split("\n\n", 1)[1]
    assert ledger.open_checkpoint(log_note + witness_line, verifier).size == 4
    log_line = log_note.split("\n\n", 1)[1]
    witness_first = GOOD_BODY.decode() + "\n" + witness_line + log_line
    assert ledger.open_checkpoint(witness_first, verifier).size == 4
