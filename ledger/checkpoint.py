"""C2SP tlog-checkpoint bodies (c2sp.org/tlog-checkpoint).

    <origin>\\n<size in decimal>\\n<base64 root hash>\\n[extension lines\\n]
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

from .errors import CheckpointFormatError
from .hashing import HASH_SIZE
from .note import NoteVerifier

_DECIMAL = re.compile(r"0|[1-9][0-9]{0,19}")


@dataclass(frozen=True)
class Checkpoint:
    """A log's size and root hash, under the log's origin name."""

    origin: str
    size: int
    root_hash: bytes

    def body(self) -> bytes:
        """The three checkpoint lines, each ending in a newline."""
        root = base64.b64encode(self.root_hash).decode()
        return f"{self.origin}\n{self.size}\n{root}\n".encode()

    @classmethod
    def parse(cls, body: bytes) -> "Checkpoint":
        """Parse a checkpoint body strictly; extension lines are allowed and ignored."""
        try:
            text = body.decode("utf-8")
        except (UnicodeDecodeError, AttributeError) as exc:
            raise CheckpointFormatError("checkpoint is not UTF-8 bytes") from exc
        lines = text.split("\n")
        if len(lines) < 4 or lines[-1] != "" or "" in lines[:-1]:
            raise CheckpointFormatError("checkpoint must be newline-terminated non-empty lines")
        origin, size_text, root_text = lines[:3]
        if not _DECIMAL.fullmatch(size_text):
            raise CheckpointFormatError(f"tree size {size_text!r} is not a canonical decimal")
        try:
            root = base64.b64decode(root_text, validate=True)
        except (binascii.Error, ValueError) as exc:  # ValueError: text that is not ASCII
            raise CheckpointFormatError("root hash is not base64") from exc
        if len(root) != HASH_SIZE or base64.b64encode(root).decode() != root_text:
            raise CheckpointFormatError("root hash is not a canonical 32-byte hash")
        return cls(origin, int(size_text), root)


def open_checkpoint(note_text: str, verifier: NoteVerifier) -> Checkpoint:
    """Verify a signed checkpoint note and return the checkpoint it carries."""
    body = verifier.verify(note_text)
    checkpoint = Checkpoint.parse(body)
    if checkpoint.origin != verifier.name:
        raise CheckpointFormatError(
            f"checkpoint origin {checkpoint.origin!r} is not the key name {verifier.name!r}")
    return checkpoint
