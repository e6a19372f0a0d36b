"""Re-verifying a whole stored log: every entry, every stored hash, every
checkpoint. This is what ``tradezone ledger check`` runs; it trusts nothing
that was stored and recomputes the tree from the logged bytes."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from .checkpoint import open_checkpoint
from .entry import decode_entry
from .errors import IntegrityError, VerificationError
from .hashing import Frontier, leaf_hash
from .note import NoteVerifier


@dataclass(frozen=True)
class StoredCheckpointRow:
    size: int
    root_hash: bytes
    note: str


@dataclass
class LogReport:
    """What a check found; ``problems`` is empty when everything verified."""

    size: int = 0
    checkpoints_checked: int = 0
    problems: list[IntegrityError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def check_log(leaves: Iterable[tuple[int, bytes, bytes]],
              checkpoints: Iterable[StoredCheckpointRow], verifier: NoteVerifier,
              head_size: int | None = None,
              progress: Callable[[int], None] | None = None) -> LogReport:
    """Recompute the tree from ``leaves`` (index, logged bytes, stored hashes)
    in index order and report every way the stored log contradicts itself."""
    report = LogReport()
    frontier = Frontier()
    pending = deque(sorted(checkpoints, key=lambda row: row.size))
    _check_checkpoints(report, pending, frontier, verifier)
    for index, data, stored in leaves:
        if index != frontier.size:
            report.problems.append(IntegrityError(
                f"entries {frontier.size} to {index - 1} are missing", index=frontier.size))
            break
        data = _check_entry(report, index, data)
        completed = frontier.push(leaf_hash(data))
        if not isinstance(stored, bytes):
            report.problems.append(IntegrityError(
                f"stored hashes of leaf {index} are {type(stored).__name__}, not bytes",
                index=index))
        elif b"".join(completed) != stored:
            report.problems.append(IntegrityError(
                f"stored hashes of leaf {index} differ from the ones recomputed from its entry",
                index=index))
        _check_checkpoints(report, pending, frontier, verifier)
        if progress is not None:
            progress(frontier.size)
    report.size = frontier.size
    for row in pending:
        report.problems.append(IntegrityError(
            f"checkpoint for size {row.size} is beyond the log's {frontier.size} entries",
            index=row.size))
    if head_size is not None and head_size != frontier.size:
        report.problems.append(IntegrityError(
            f"log head says {head_size} entries but {frontier.size} are stored", index=head_size))
    return report


def _check_entry(report: LogReport, index: int, data: object) -> bytes:
    """Report a malformed entry (or one stored as other than bytes); the bytes
    to recompute the tree with."""
    if not isinstance(data, bytes):
        report.problems.append(IntegrityError(
            f"entry {index} is stored as {type(data).__name__}, not bytes", index=index))
        return str(data).encode("utf-8", "surrogatepass")
    try:
        decode_entry(data)
    except VerificationError as exc:
        report.problems.append(IntegrityError(f"entry {index} is malformed: {exc}", index=index))
    return data


def _check_checkpoints(report: LogReport, pending: deque[StoredCheckpointRow],
                       frontier: Frontier, verifier: NoteVerifier) -> None:
    while pending and pending[0].size == frontier.size:
        row = pending.popleft()
        report.checkpoints_checked += 1
        root = frontier.root()
        try:
            signed = open_checkpoint(row.note, verifier)
        except VerificationError as exc:
            report.problems.append(IntegrityError(
                f"checkpoint for size {row.size} does not verify: {exc}", index=row.size))
            continue
        if (signed.size, signed.root_hash) != (row.size, root):
            report.problems.append(IntegrityError(
                f"checkpoint for size {row.size} does not match the tree recomputed from the "
                f"entries (signed root {signed.root_hash.hex()}, recomputed {root.hex()})",
                index=row.size))
        elif row.root_hash != root:
            shown = row.root_hash.hex() if isinstance(row.root_hash, bytes) else repr(row.root_hash)
            report.problems.append(IntegrityError(
                f"checkpoint for size {row.size}: the stored root hash {shown} is not the signed "
                f"and recomputed one {root.hex()}", index=row.size))
