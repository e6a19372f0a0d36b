"""The console's session-signing secret: random, per instance, in a 0600 file.

It lives next to the ledger's signing key (``console-session-key``) and is
created on first start. Every gunicorn worker must sign with the same secret,
so creation is atomic: the secret is written to a private temporary file
which is then hard-linked into place; a worker that loses the race reads the
winner's. Deleting the file and restarting signs everyone out.
"""

from __future__ import annotations

import os
import secrets
import stat
import tempfile
from pathlib import Path

SECRET_FILE_NAME = "console-session-key"
_SECRET_BYTES = 32


class SecretFileError(RuntimeError):
    """The secret file is unreadable, malformed, or readable by others."""


def secret_file_for(ledger_key_file: Path) -> Path:
    """Where an instance keeps its console secret: beside its ledger key."""
    return Path(ledger_key_file).parent / SECRET_FILE_NAME


def load_or_create_secret(path: Path) -> bytes:
    """The secret in ``path``, created (mode 0600) when the file is missing."""
    try:
        if not path.exists():
            _create(path)
    except OSError as exc:
        raise SecretFileError(f"cannot create console secret {path}: "
                              f"{exc.strerror or exc}") from exc
    return _load(path)


def _load(path: Path) -> bytes:
    try:
        mode = path.stat().st_mode
        text = path.read_text().strip()
    except OSError as exc:
        raise SecretFileError(f"cannot read console secret {path}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise SecretFileError(f"console secret {path} is not hex") from exc
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise SecretFileError(f"console secret {path} is readable by others; "
                              f"run: chmod 600 {path}")
    try:
        secret = bytes.fromhex(text)
    except ValueError as exc:
        raise SecretFileError(f"console secret {path} is not hex") from exc
    if len(secret) < _SECRET_BYTES:
        raise SecretFileError(f"console secret {path} is shorter than {_SECRET_BYTES} bytes")
    return secret


def _create(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".console-secret-")  # 0600
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(_SECRET_BYTES) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(temporary, path)  # atomic, and fails if another process won
        except FileExistsError:
            pass
    finally:
        os.unlink(temporary)
