"""C2SP signed-note with Ed25519 (contract section 4): key hash, verifier key, signing, verifying.

Independent oracles: golang.org/x/mod/sumdb/note's own test vectors
(sumdb/note/note_test.go: the PeterNeumann and EnochRoot keys and notes), and
expected bytes rebuilt here with hashlib, base64 and pycryptodome.
"""

import base64
import hashlib
import re

import pytest
from Crypto.PublicKey import ECC
from Crypto.Signature import eddsa

import ledger
from ledger import keys

# golang.org/x/mod sumdb/note/note_test.go
PETER_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
GO_TEXT = ("If you think cryptography is the answer to your problem,\n"
           "then you don't know what your problem is.\n")
PETER_SIG = ("\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSN"
             "XgKvqfqdngotpRZb6KE6RyyBwJnAM=\n")
ENOCH_SIG = ("\u2014 EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG"
             "01oOTGwnWLox33WWd1RvMc+QQ=\n")
GO_NOTE = GO_TEXT + "\n" + PETER_SIG

NAME = "tradezone.example/ledger"
BODY = b"tradezone.example/ledger\n4\nb7+3q/YbfMpfcdixu13Dh36EgulTNuerCcsuPoM/9J4=\n"


def peter_key():
    seed = base64.b64decode(PETER_SKEY.split("+", 4)[4])
    assert seed[0] == 1 and len(seed) == 33
    return ECC.construct(curve="Ed25519", seed=seed[1:])


def fixed_key(i: int):
    """Deterministic Ed25519 keys: 0, 2, 3 have no '+' in their verifier key's base64; 1, 5 do."""
    seed = hashlib.sha256(b"tradezone-test-key-%d" % i).digest()
    return ECC.construct(curve="Ed25519", seed=seed)


def raw_public(key) -> bytes:
    return key.public_key().export_key(format="raw")


def manual_key_hash(name: str, pub: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + b"\x01" + pub).digest()[:4]


def manual_note(name: str, key, body: bytes) -> str:
    sig = eddsa.new(key, "rfc8032").sign(body)
    blob = base64.b64encode(manual_key_hash(name, raw_public(key)) + sig).decode()
    return body.decode() + "\n\u2014 " + name + " " + blob + "\n"


@pytest.fixture(scope="module")
def key():
    return fixed_key(0)


@pytest.fixture(scope="module")
def pub(key):
    return keys.public_key_bytes(key)


@pytest.fixture(scope="module")
def verifier(pub):
    return ledger.NoteVerifier.from_verifier_key(ledger.verifier_key(NAME, pub))


@pytest.fixture(scope="module")
def note(key):
    return ledger.NoteSigner(NAME, key).sign(BODY)


# --- keys ------------------------------------------------------------------------------

def test_generated_key_is_a_fresh_ed25519_private_key(key, pub):
    assert isinstance(key, ECC.EccKey)
    assert key.curve == "Ed25519"
    assert key.has_private()
    assert type(pub) is bytes and len(pub) == 32
    assert pub == raw_public(key)
    assert keys.public_key_bytes(keys.generate_signing_key()) != pub


def test_public_key_bytes_of_go_vector_key():
    expected = base64.b64decode(PETER_VKEY.split("+", 2)[2])
    assert b"\x01" + keys.public_key_bytes(peter_key()) == expected


# --- key hash and verifier key -----------------------------------------------------------

def test_key_hash_matches_go_vector():
    pub = keys.public_key_bytes(peter_key())
    assert ledger.key_hash("PeterNeumann", pub) == bytes.fromhex("c74f20a3")


def test_key_hash_is_recomputed_independently(pub):
    assert ledger.key_hash(NAME, pub) == manual_key_hash(NAME, pub)
    assert ledger.key_hash(NAME + "x", pub) != manual_key_hash(NAME, pub)


def test_verifier_key_matches_go_vector():
    assert ledger.verifier_key("PeterNeumann", keys.public_key_bytes(peter_key())) == PETER_VKEY


def test_verifier_key_format(pub):
    vkey = ledger.verifier_key(NAME, pub)
    key_b64 = base64.b64encode(b"\x01" + pub).decode()
    assert vkey == NAME + "+" + manual_key_hash(NAME, pub).hex() + "+" + key_b64
    assert re.fullmatch(re.escape(NAME) + r"\+[0-9a-f]{8}\+A[A-Za-z0-9+/]{43}", vkey)


def test_from_verifier_key_accepts_go_vectors():
    ledger.NoteVerifier.from_verifier_key(PETER_VKEY)
    ledger.NoteVerifier.from_verifier_key(ENOCH_VKEY)


@pytest.mark.parametrize("i", [1, 5])
def test_verifier_key_with_plus_in_its_base64_round_trips(i):
    """Standard base64 uses '+': only the first two '+' of a verifier key separate fields.

    (Go's note.NewVerifier splits exactly like that.)
    """
    key = fixed_key(i)
    vkey = ledger.verifier_key(NAME, keys.public_key_bytes(key))
    assert "+" in vkey.split("+", 2)[2]
    verifier = ledger.NoteVerifier.from_verifier_key(vkey)
    assert verifier.verify(ledger.NoteSigner(NAME, key).sign(BODY)) == BODY


def test_generated_keys_round_trip_through_their_verifier_key():
    for _ in range(16):  # about half of all keys have a '+' in their base64
        key = keys.generate_signing_key()
        vkey = ledger.verifier_key(NAME, keys.public_key_bytes(key))
        verifier = ledger.NoteVerifier.from_verifier_key(vkey)
        assert verifier.verify(ledger.NoteSigner(NAME, key).sign(BODY)) == BODY


def test_from_verifier_key_rejects_every_mangling():
    """As Go's TestNewVerifier: every proper substring and every one-byte increment is refused."""
    b = PETER_VKEY.encode()
    bad = {b[i:j] for i in range(len(b) + 1) for j in range(i + 1, len(b) + 1)}
    bad.discard(b)
    bad |= {b[:i] + bytes([b[i] + 1]) + b[i + 1:] for i in range(len(b))}
    bad |= {
        # a 36-byte key, with its matching hash
        b"PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==",
        # algorithm 0x65, with its matching hash
        b"PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
    }
    for vkey in sorted(bad):
        with pytest.raises(ledger.LedgerError):
            ledger.NoteVerifier.from_verifier_key(vkey.decode())


@pytest.mark.parametrize("name", ["Peter\udcffNeumann", "\ud800"])
def test_a_key_name_that_is_not_utf8_is_a_format_error_not_a_crash(name):
    """A shell hands Python the bytes of an argument it cannot decode as lone
    surrogates (``--key $'\\xff...'``); hashing the name needs its UTF-8."""
    vkey = name + PETER_VKEY[PETER_VKEY.index("+"):]
    with pytest.raises(ledger.NoteFormatError, match="not UTF-8"):
        ledger.NoteVerifier.from_verifier_key(vkey)
    with pytest.raises(ledger.NoteFormatError, match="not UTF-8"):
        ledger.NoteVerifier(name, bytes(32))


@pytest.mark.parametrize("vkey", [PETER_VKEY.encode(), None, 5])
def test_a_verifier_key_that_is_not_text_is_a_format_error(vkey):
    with pytest.raises(ledger.NoteFormatError, match="a verifier key is text"):
        ledger.NoteVerifier.from_verifier_key(vkey)


# --- signing ------------------------------------------------------------------------------

def test_sign_matches_go_vector():
    assert ledger.NoteSigner("PeterNeumann", peter_key()).sign(GO_TEXT.encode()) == GO_NOTE


def test_sign_output_is_rebuilt_byte_for_byte(key, note):
    assert note == manual_note(NAME, key, BODY)
    assert note.startswith(BODY.decode() + "\n\u2014 " + NAME + " ")
    assert note.endswith("\n") and note.count("\n") == 5


def test_signature_verifies_independently(key, pub, note):
    body, sigline = note.split("\n\n")
    assert body.encode() + b"\n" == BODY
    dash, name, blob = sigline.rstrip("\n").split(" ")
    assert (dash, name) == ("\u2014", NAME)
    raw = base64.b64decode(blob, validate=True)
    assert len(raw) == 68 and raw[:4] == manual_key_hash(NAME, pub)
    eddsa.new(key.public_key(), "rfc8032").verify(BODY, raw[4:])


# --- verifying ----------------------------------------------------------------------------

def test_verify_returns_the_body(verifier, note):
    assert verifier.verify(note) == BODY


def test_verify_go_vector():
    verifier = ledger.NoteVerifier.from_verifier_key(PETER_VKEY)
    assert verifier.verify(GO_NOTE) == GO_TEXT.encode()


@pytest.mark.parametrize("vkey", [PETER_VKEY, ENOCH_VKEY])
def test_verify_go_note_with_two_signatures_with_either_key(vkey):
    verifier = ledger.NoteVerifier.from_verifier_key(vkey)
    assert verifier.verify(GO_TEXT + "\n" + PETER_SIG + ENOCH_SIG) == GO_TEXT.encode()
    assert verifier.verify(GO_TEXT + "\n" + ENOCH_SIG + PETER_SIG) == GO_TEXT.encode()


def test_verify_ignores_unknown_signer_lines(key, verifier, note):
    other = ledger.NoteSigner("witness.example/w1", fixed_key(3)).sign(BODY)
    other_line = other.split("\n\n")[1]
    own_line = note.split("\n\n")[1]
    assert verifier.verify(note + other_line) == BODY
    assert verifier.verify(BODY.decode() + "\n" + other_line + own_line) == BODY
    assert verifier.verify(note + PETER_SIG + ENOCH_SIG) == BODY


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda: ledger.NoteSigner(NAME, fixed_key(2)).sign(BODY),
                     id="same-name-other-key"),
        pytest.param(lambda: ledger.NoteSigner("other.example/log", fixed_key(3)).sign(BODY),
                     id="other-name-other-key"),
        pytest.param(lambda: BODY.decode() + "\n" + PETER_SIG, id="unrelated-signature-only"),
    ],
)
def test_verify_rejects_a_note_without_our_signature(verifier, make):
    with pytest.raises(ledger.SignatureError):
        verifier.verify(make())


def test_verify_rejects_our_name_with_someone_elses_key_under_our_key_hash(pub, verifier):
    """The line claims our name and key hash, but the signature is by another key."""
    other = manual_note(NAME, fixed_key(2), BODY)
    blob_start = other.rindex(" ") + 1
    other_sig = base64.b64decode(other[blob_start:-1])[4:]
    blob = base64.b64encode(manual_key_hash(NAME, pub) + other_sig).decode()
    forged = other[:blob_start] + blob + "\n"
    assert forged.split("\n\n")[1].split(" ")[1] == NAME
    with pytest.raises(ledger.SignatureError):
        verifier.verify(forged)


def test_verify_rejects_another_body_with_our_signature(verifier, note):
    sig_block = note.split("\n\n")[1]
    other_body = BODY.replace(b"\n4\n", b"\n5\n").decode()
    with pytest.raises(ledger.SignatureError):
        verifier.verify(other_body + "\n" + sig_block)


def _sig_b64_span(note: str) -> range:
    start = note.rindex(" ") + 1
    return range(start, len(note) - 1)


_B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def _other_char(note: str, pos: int) -> str:
    """A replacement for note[pos] that must change what the note means.

    Inside the base64 signature we flip the top bit of the 6-bit value (so the
    decoded bytes change even under a lenient decoder); elsewhere any other
    character changes either the signed bytes or the note's structure.
    """
    c = note[pos]
    if pos in _sig_b64_span(note) and c in _B64:
        return _B64[_B64.index(c) ^ 0x20]
    return "A" if c != "A" else "B"


def test_every_single_character_change_fails(verifier, note):
    for pos in range(len(note)):
        mutated = note[:pos] + _other_char(note, pos) + note[pos + 1:]
        assert mutated != note
        with pytest.raises(ledger.VerificationError):
            verifier.verify(mutated)


def test_every_single_bit_flip_in_the_signature_fails(verifier, note):
    start = _sig_b64_span(note).start
    raw = base64.b64decode(note[start:-1])
    for byte in range(len(raw)):
        for bit in range(8):
            bad = raw[:byte] + bytes([raw[byte] ^ (1 << bit)]) + raw[byte + 1:]
            with pytest.raises(ledger.VerificationError):
                verifier.verify(note[:start] + base64.b64encode(bad).decode() + "\n")


def test_every_deleted_character_fails(verifier, note):
    for pos in range(len(note)):
        with pytest.raises(ledger.VerificationError):
            verifier.verify(note[:pos] + note[pos + 1:])


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(GO_TEXT, id="no-signature-block"),
        pytest.param(GO_TEXT + "\n", id="empty-signature-block"),
        pytest.param(GO_TEXT + "\n" + PETER_SIG[:-1], id="signature-without-newline"),
        pytest.param(GO_TEXT + PETER_SIG, id="no-blank-line"),
        pytest.param(GO_TEXT + "\n" + PETER_SIG + "Unexpected line.\n", id="trailing-garbage-line"),
        pytest.param(GO_TEXT + "\n" + PETER_SIG + "\n", id="trailing-blank-line"),
        pytest.param(GO_TEXT + "\n" + PETER_SIG.replace("\u2014", "-"), id="hyphen-not-em-dash"),
        pytest.param(GO_TEXT + "\n" + PETER_SIG.replace("\u2014 ", "\u2014"),
                     id="no-space-after-dash"),
        pytest.param(GO_TEXT + "\n" + PETER_SIG.replace(" x08go", "  x08go"), id="double-space"),
        pytest.param(GO_TEXT + "\n" + PETER_SIG.replace("PeterNeumann", "Peter Neumann"),
                     id="space-in-name"),
        pytest.param(GO_TEXT + "\n" + PETER_SIG.replace("\n", "\r\n"), id="crlf-signature"),
        pytest.param("", id="empty"),
    ],
)
def test_verify_rejects_malformed_notes(text):
    verifier = ledger.NoteVerifier.from_verifier_key(PETER_VKEY)
    with pytest.raises(ledger.NoteFormatError):
        verifier.verify(text)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("\x01" + GO_NOTE, id="control-character"),
        pytest.param(GO_TEXT + "\n" + PETER_SIG[:60] + "ABCD" + PETER_SIG[60:],
                     id="signature-too-long"),
        pytest.param(GO_TEXT + "\n" + PETER_SIG.replace("x08g", "xxxx"), id="wrong-key-hash"),
        pytest.param(GO_TEXT + "\n" + PETER_SIG.replace("PeterNeumann", "CarmenSandiego"),
                     id="wrong-name"),
        pytest.param(GO_TEXT + "\n" + PETER_SIG.replace("nAM=", "n==="), id="bad-padding"),
        pytest.param(GO_TEXT + "\n" + PETER_SIG.replace("x08go/", "x08go_"), id="urlsafe-char"),
        pytest.param(GO_TEXT + "\n\u2014 PeterNeumann x08g\n", id="signature-4-bytes"),
    ],
)
def test_verify_rejects_bad_signature_lines(text):
    verifier = ledger.NoteVerifier.from_verifier_key(PETER_VKEY)
    with pytest.raises(ledger.VerificationError):
        verifier.verify(text)


@pytest.mark.parametrize(
    "line",
    [
        pytest.param("\u2014 Enoch+Root AAAAAAAA\n", id="plus-in-name"),
        pytest.param("\u2014 Enoch\x01Root AAAAAAAA\n", id="control-character-in-name"),
        pytest.param("\u2014 Enoch\u00a0Root AAAAAAAA\n", id="unicode-space-in-name"),
    ],
)
def test_a_malformed_line_by_an_unknown_key_makes_the_note_malformed(line):
    """golang.org/x/mod/sumdb/note.Open checks every signature line's name
    (isValidName) and the whole message for control characters before it
    looks the key up: such a note is malformed, whoever signed the rest."""
    verifier = ledger.NoteVerifier.from_verifier_key(PETER_VKEY)
    with pytest.raises(ledger.NoteFormatError):
        verifier.verify(GO_TEXT + "\n" + line + PETER_SIG)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(GO_TEXT + "\n\u2014 EnochRoot AAAA\u00e9AAA\n" + PETER_SIG,
                     id="non-ascii-signature"),
        pytest.param(GO_TEXT + "\n" + PETER_SIG[:-1] + "\u00e9\n", id="non-ascii-our-signature"),
        pytest.param("\ud800" + GO_NOTE, id="lone-surrogate-in-text"),
    ],
)
def test_text_that_is_not_base64_or_not_utf8_is_a_format_error_not_a_crash(text):
    """Notes come from JSON (bundles, the monitor's answers), where any
    character, a lone surrogate included, can appear."""
    verifier = ledger.NoteVerifier.from_verifier_key(PETER_VKEY)
    with pytest.raises(ledger.NoteFormatError):
        verifier.verify(text)


def test_signers_name_each_signature_lines_key_as_a_verifier_key_starts():
    # Go's vectors: each signer is the first two parts of its verifier key.
    from ledger.note import signers
    assert signers(GO_NOTE) == [PETER_VKEY.rsplit("+", 1)[0]]
    assert signers(GO_TEXT + "\n" + PETER_SIG + ENOCH_SIG) == [
        PETER_VKEY.rsplit("+", 1)[0], ENOCH_VKEY.rsplit("+", 1)[0]]
    with pytest.raises(ledger.NoteFormatError):
        signers(GO_TEXT)  # no signature block
