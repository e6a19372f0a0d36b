"""Notarizing: append entries and sign a checkpoint in the caller's transaction."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

import ledger
from ledger.sqlstore import SqlLog, StoredCheckpoint, pipelined

from app.bulkinsert import BulkInsert
from app.config import ConfigError

from .models import EntryMeta, EntryRef

# Driver-level inserts: at the gateway's rates SQLAlchemy's per-row work showed.
_REFS = BulkInsert(EntryRef.__table__, ("kind", "ref", "entry_idx"))
_META = BulkInsert(EntryMeta.__table__, ("entry_idx", "entry_type", "at"))
# Up to this many entries (an API request's), a record's rows reach PostgreSQL
# in one round trip (ledger.sqlstore.pipelined); a larger batch (the
# gateway's) goes by COPY, which pipeline mode cannot carry.
PIPELINED_ENTRIES = 16


@dataclass(frozen=True)
class PendingEntry:
    """An entry to log, and the subjects it names (kind, id) for lookups."""

    body: Mapping[str, Any]
    refs: tuple[tuple[str, str], ...] = field(default=())


@dataclass(frozen=True)
class Notarized:
    """Where one entry landed, and the first tree size that includes it."""

    index: int
    leaf_data: bytes
    leaf_hash: bytes
    tree_size: int
    checkpoint: str  # the signed note of ``tree_size``
    proof: tuple[bytes, ...] | None = None  # into ``tree_size``, known for the newest entry


def make_entry(entry_type: str, actor: str, at: datetime, **fields: Any) -> dict[str, Any]:
    """An entry body with the fields every entry has (contract section 2)."""
    return {"v": 1, "type": entry_type, "at": ledger.utc_timestamp(at), "actor": actor, **fields}


class Notary:
    """Appends entries to the log and signs a checkpoint after each batch."""

    def __init__(self, signer: ledger.NoteSigner, clock: Callable[[], datetime]) -> None:
        self.signer = signer
        self.clock = clock
        self.verifier = ledger.NoteVerifier(signer.name, signer.public_key)  # of its own notes
        self._signs_for_this_log = False

    @property
    def origin(self) -> str:
        return self.signer.name

    def record(self, session: Session, entries: Sequence[PendingEntry]) -> list[Notarized]:
        """Log ``entries`` in ``session``'s transaction; they commit with it."""
        connection = session.connection()
        log = SqlLog(connection)
        leaf_data = [ledger.encode_entry(entry.body) for entry in entries]
        # A batch's entries mostly share one time: parse each distinct one once.
        times = {text: datetime.fromisoformat(text) for text in {e.body["at"] for e in entries}}
        small = len(entries) <= PIPELINED_ENTRIES
        self._check_key(log)
        with pipelined(connection) if small else nullcontext():
            result = log.append(leaf_data)
            _REFS.execute(connection, [(kind, ref, result.first_index + offset)
                                       for offset, entry in enumerate(entries)
                                       for kind, ref in set(entry.refs)])
            _META.execute(connection, [
                (result.first_index + offset, entry.body["type"], times[entry.body["at"]])
                for offset, entry in enumerate(entries)])
            note = self._sign(log, result.tree_size, result.root_hash)
        newest = result.tree_size - 1
        return [Notarized(index, data, leaf, result.tree_size, note,
                          result.last_leaf_proof if index == newest else None)
                for index, data, leaf in zip(range(result.first_index, result.tree_size),
                                             leaf_data, result.leaf_hashes)]

    def ensure_checkpoint(self, session: Session) -> StoredCheckpoint:
        """Sign the current tree unless its size already has a checkpoint.

        The head stays locked until the caller commits: two processes starting
        at once (the API and the gateway, say) would otherwise both find no
        checkpoint and both sign one, and the second insert would fail."""
        log = SqlLog(session.connection())
        size = log.lock_size()
        self._check_key(log)
        stored = log.checkpoint_at(size)
        if stored is None:
            self._sign(log, size, ledger.prove.tree_root(log, size))
            stored = log.checkpoint_at(size)
        return stored

    def _check_key(self, log: SqlLog) -> None:
        """Refuse to sign for a log whose latest checkpoint another key (or
        origin) signed: a lost key file silently replaced, or the wrong one
        configured, would give the log a second identity that every verifier
        and monitor rejects. Checked once per process, at its first write."""
        if self._signs_for_this_log:
            return
        latest = log.latest_checkpoint()
        if latest is not None:
            try:
                self.verifier.verify(latest.note)
            except ledger.VerificationError as error:
                raise ConfigError(
                    f"TZ_LEDGER_KEY_FILE, TZ_LEDGER_ORIGIN: the log's latest checkpoint (size "
                    f"{latest.size}) is not signed by this key as {self.origin!r} ({error}); "
                    f"configure the key file and origin the log was signed with") from error
        self._signs_for_this_log = True

    def _sign(self, log: SqlLog, size: int, root: bytes) -> str:
        checkpoint = ledger.Checkpoint(self.origin, size, root)
        note = self.signer.sign(checkpoint.body())
        log.add_checkpoint(checkpoint, note, self.clock())
        return note
