"""C2SP signed notes with Ed25519 keys (c2sp.org/signed-note).

A note is a UTF-8 text ending in a newline, a blank line, then one or more
signature lines ``— <name> <base64(key hash[4] || signature)>``. A verifier
knows one key by its verifier key string and ignores signatures by others.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass

from Crypto.PublicKey import ECC
from Crypto.Signature import eddsa

from .errors import NoteFormatError, SignatureError

ALG_ED25519 = 0x01
_SIG_PREFIX = "\u2014 "  # EM DASH and a space
_MAX_SIGNATURES = 100


def key_hash(name: str, public_key: bytes) -> bytes:
    """The 4-byte key hash: SHA-256(name || "\\n" || 0x01 || public key)[:4]."""
    return hashlib.sha256(name.encode() + b"\n" + bytes([ALG_ED25519]) + public_key).digest()[:4]


def verifier_key(name: str, public_key: bytes) -> str:
    """The verifier key string ``name+hex(key hash)+base64(0x01 || public key)``."""
    encoded = base64.b64encode(bytes([ALG_ED25519]) + public_key).decode()
    return f"{name}+{key_hash(name, public_key).hex()}+{encoded}"


def _is_key_name(name: str) -> bool:
    return bool(name) and not any(ch.isspace() or ch == "+" for ch in name)


def _check_key_name(name: str) -> None:
    if not isinstance(name, str) or not _is_key_name(name):
        raise NoteFormatError(f"key name {name!r} must be non-empty, without spaces or '+'")
    try:
        name.encode("utf-8")  # hashed as UTF-8 (a lone surrogate: bytes a shell could not decode)
    except UnicodeEncodeError as exc:
        raise NoteFormatError(f"key name {name!r} is not UTF-8 text") from exc


class NoteSigner:
    """Signs note bodies as ``name`` with an Ed25519 private key (pycryptodome)."""

    def __init__(self, name: str, private_key: ECC.EccKey) -> None:
        _check_key_name(name)
        self.name = name
        self.public_key = private_key.public_key().export_key(format="raw")
        self._hash = key_hash(name, self.public_key)
        self._signer = eddsa.new(private_key, "rfc8032")

    @property
    def verifier_key(self) -> str:
        return verifier_key(self.name, self.public_key)

    def sign(self, body: bytes) -> str:
        """The signed note: ``body``, a blank line and this key's signature line."""
        _check_body(body)
        signature = base64.b64encode(self._hash + self._signer.sign(body)).decode()
        return f"{body.decode()}\n{_SIG_PREFIX}{self.name} {signature}\n"


@dataclass(frozen=True)
class _SignatureLine:
    name: str
    key_hash: bytes
    signature: bytes


class NoteVerifier:
    """Verifies notes signed by one Ed25519 key."""

    def __init__(self, name: str, public_key: bytes) -> None:
        _check_key_name(name)
        if len(public_key) != 32:
            raise NoteFormatError("an Ed25519 public key is 32 bytes")
        self.name = name
        self.public_key = public_key
        self.key_hash = key_hash(name, public_key)
        try:
            self._verifier = eddsa.new(eddsa.import_public_key(public_key), "rfc8032")
        except ValueError as exc:
            raise NoteFormatError("public key is not a valid Ed25519 point") from exc

    @classmethod
    def from_verifier_key(cls, vkey: str) -> "NoteVerifier":
        """Parse ``name+hash+key`` and check that the hash matches the key."""
        if not isinstance(vkey, str):
            raise NoteFormatError(f"a verifier key is text, not {type(vkey).__name__}")
        parts = vkey.strip().split("+", 2)  # the base64 key may itself contain "+"
        if len(parts) != 3 or len(parts[1]) != 8:
            raise NoteFormatError("verifier key must be name+hex8+base64key")
        name, hash_hex, key_b64 = parts
        try:
            raw = base64.b64decode(key_b64, validate=True)
            expected_hash = bytes.fromhex(hash_hex)
        except (binascii.Error, ValueError) as exc:
            raise NoteFormatError("verifier key has bad hex or base64") from exc
        if len(raw) != 33 or raw[0] != ALG_ED25519:
            raise NoteFormatError("verifier key is not an Ed25519 (0x01) key")
        verifier = cls(name, raw[1:])
        if not hmac.compare_digest(verifier.key_hash, expected_hash):
            raise NoteFormatError("verifier key hash does not match its name and key")
        return verifier

    def verify(self, note_text: str) -> bytes:
        """Return the note's body once a signature by this key verifies on it."""
        body, lines = _split_note(note_text)
        mine = [line for line in lines
                if line.name == self.name and line.key_hash == self.key_hash]
        if not mine:
            raise SignatureError(f"note has no signature by {self.name}")
        for line in mine:
            try:
                self._verifier.verify(body, line.signature)
            except ValueError as exc:
                raise SignatureError(f"signature by {self.name} does not verify") from exc
        return body


def signers(note_text: str) -> list[str]:
    """Who signed a note, unverified: ``name+hex8`` (key name and key hash, as
    a verifier key starts) per signature line, to name a key in a message."""
    _, lines = _split_note(note_text)
    return [f"{line.name}+{line.key_hash.hex()}" for line in lines]


def _check_body(body: bytes) -> None:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise NoteFormatError("note text is not UTF-8") from exc
    if not text.endswith("\n"):
        raise NoteFormatError("note text must end in a newline")
    if any(ord(ch) < 0x20 and ch != "\n" for ch in text):
        raise NoteFormatError("note text has control characters")


def _split_note(note_text: str) -> tuple[bytes, list[_SignatureLine]]:
    if not isinstance(note_text, str):
        raise NoteFormatError("a note is text")
    cut = note_text.rfind("\n\n")
    if cut < 0 or not note_text.endswith("\n"):
        raise NoteFormatError("note has no signature block")
    try:
        body = note_text[:cut + 1].encode("utf-8")
    except UnicodeEncodeError as exc:  # a lone surrogate, say from a JSON "\\ud800"
        raise NoteFormatError("note text is not UTF-8") from exc
    _check_body(body)
    raw_lines = note_text[cut + 2:-1].split("\n")
    if len(raw_lines) > _MAX_SIGNATURES:
        raise NoteFormatError("note has too many signatures")
    return body, [_parse_signature_line(line) for line in raw_lines]


def _parse_signature_line(line: str) -> _SignatureLine:
    if not line.startswith(_SIG_PREFIX):
        raise NoteFormatError("signature line must start with an em dash and a space")
    fields = line[len(_SIG_PREFIX):].split(" ")
    # as golang.org/x/mod/sumdb/note: a malformed line by any key, known or
    # not, makes the whole note malformed
    if len(fields) != 2 or not _is_key_name(fields[0]) \
            or any(ord(ch) < 0x20 for ch in fields[0]):
        raise NoteFormatError("signature line must be '— name signature' with a valid key name")
    try:
        blob = base64.b64decode(fields[1], validate=True)
    except ValueError as exc:  # binascii.Error, or text that is not ASCII
        raise NoteFormatError("signature is not base64") from exc
    if len(blob) < 5:
        raise NoteFormatError("signature is too short")
    return _SignatureLine(fields[0], blob[:4], blob[4:])
