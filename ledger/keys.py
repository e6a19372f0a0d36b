"""The log's Ed25519 signing key, kept in a file only its owner can read."""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

from Crypto.PublicKey import ECC

from .errors import KeyFileError


def generate_signing_key() -> ECC.EccKey:
    """A new Ed25519 private key."""
    return ECC.generate(curve="ed25519")


def public_key_bytes(key: ECC.EccKey) -> bytes:
    """The 32 raw bytes of a key's Ed25519 public key."""
    return key.public_key().export_key(format="raw")


def load_or_create_signing_key(path: str | os.PathLike[str]) -> ECC.EccKey:
    """Load the key at ``path``, creating it (mode 0600) when the file is missing.

    Creation is exclusive and atomic, so concurrent first starts agree on one key.
    A key file that group or others can read is refused.
    """
    path = Path(path)
    try:
        if not path.exists():
            _create(path)
    except OSError as exc:
        raise KeyFileError(f"cannot create signing key {path}: {exc.strerror or exc}") from exc
    return load_signing_key(path)


def load_signing_key(path: str | os.PathLike[str]) -> ECC.EccKey:
    """Load an Ed25519 private key from a PEM file with mode 0600 (or stricter)."""
    path = Path(path)
    try:
        mode = path.stat().st_mode
        pem = path.read_bytes()
    except OSError as exc:
        raise KeyFileError(f"cannot read signing key {path}: {exc.strerror or exc}") from exc
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeyFileError(f"signing key {path} is readable by others (mode "
                           f"{stat.S_IMODE(mode):04o}); run: chmod 600 {path}")
    try:
        key = ECC.import_key(pem.decode("ascii"))
    except (ValueError, IndexError, TypeError) as exc:
        raise KeyFileError(f"signing key {path} is not a PEM private key") from exc
    if key.curve != "Ed25519" or not key.has_private():
        raise KeyFileError(f"signing key {path} is not an Ed25519 private key")
    return key


def _create(path: Path) -> None:
    """Write a new key to ``path`` unless a key is there already.

    The key is written whole under a temporary name and then linked to
    ``path``, which fails if the name exists: a concurrent first start never
    reads a half-written file (it sees no file, or the whole key), a start
    that dies mid-write leaves no empty key file behind, and the first key
    linked wins.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    pem = generate_signing_key().export_key(format="PEM")
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)  # mode 0600
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(pem)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass  # another process linked its key first; use theirs
    finally:
        os.unlink(temporary)
