"""The log's Ed25519 signing key, kept in a file only its owner can read."""

from __future__ import annotations

import os
import stat
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

    Creation is exclusive, so concurrent first starts agree on one key.
    A key file that group or others can read is refused.
    """
    path = Path(path)
    if not path.exists():
        _create(path)
    return load_signing_key(path)


def load_signing_key(path: str | os.PathLike[str]) -> ECC.EccKey:
    """Load an Ed25519 private key from a PEM file with mode 0600 (or stricter)."""
    path = Path(path)
    try:
        mode = path.stat().st_mode
        pem = path.read_text()
    except OSError as exc:
        raise KeyFileError(f"cannot read signing key {path}: {exc.strerror}") from exc
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeyFileError(f"signing key {path} is readable by others; run: chmod 600 {path}")
    try:
        key = ECC.import_key(pem)
    except (ValueError, IndexError, TypeError) as exc:
        raise KeyFileError(f"signing key {path} is not a PEM private key") from exc
    if key.curve != "Ed25519" or not key.has_private():
        raise KeyFileError(f"signing key {path} is not an Ed25519 private key")
    return key


def _create(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pem = generate_signing_key().export_key(format="PEM")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return  # another process created it first; use theirs
    with os.fdopen(fd, "w") as handle:
        handle.write(pem)
        handle.flush()
        os.fsync(handle.fileno())
