"""Notarization receipts: proof that entries are in the log, checkable offline.

A receipt is an audit bundle (``docs/`` describes the format) with the
entries of one action: each entry's exact bytes and inclusion proof to a
signed checkpoint, and that checkpoint. With the log's verifier key, anyone
can check it without asking the server again.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence

from sqlalchemy.orm import Session

import ledger
from ledger.bundle import BUNDLE_FORMAT
from ledger.sqlstore import SqlLog

from .service import Notarized


def b64(value: bytes) -> str:
    """Standard base64 text of bytes, as the ledger API and receipts show hashes."""
    return base64.b64encode(value).decode()


def entry_evidence(log: SqlLog, index: int, leaf_data: bytes, tree_size: int,
                   proof: Sequence[bytes] | None = None) -> dict:
    """One bundle entry: the logged bytes and their inclusion proof at
    ``tree_size`` (read from the log unless the caller has it)."""
    if proof is None:
        proof = ledger.prove.inclusion_proof(log, index, tree_size)
    return {"index": index, "leaf_data": b64(leaf_data), "leaf_hash": b64(ledger.leaf_hash(leaf_data)),
            "inclusion_proof": [b64(p) for p in proof]}


def receipt_for(session: Session, notarized: Sequence[Notarized],
                earlier: Sequence[tuple[int, bytes]] = ()) -> dict:
    """The receipt of entries just recorded in ``session`` (same transaction),
    after those of ``earlier`` entries (index and logged bytes, read before
    the write began: logged entries never change), all proved into the
    checkpoint signed with them: no checkpoint or head to read, since this
    transaction wrote both."""
    last = max(notarized, key=lambda item: item.tree_size)
    tree_size = last.tree_size
    log = SqlLog(session.connection(), known_size=tree_size)
    entries = [entry_evidence(log, index, data, tree_size) for index, data in earlier]
    entries += [entry_evidence(log, item.index, item.leaf_data, tree_size,
                               item.proof if item.tree_size == tree_size else None)
                for item in notarized]
    return {"format": BUNDLE_FORMAT, "checkpoint": last.checkpoint, "entries": entries}


def receipt_for_indexes(session: Session, indexes: Sequence[int]) -> dict:
    """A receipt proving earlier entries into the latest checkpoint."""
    log = SqlLog(session.connection())
    checkpoint = log.latest_checkpoint()
    rows = log.read_entries_at(indexes)
    return {"format": BUNDLE_FORMAT, "checkpoint": checkpoint.note,
            "entries": [entry_evidence(log, index, data, checkpoint.size) for index, data in rows]}
