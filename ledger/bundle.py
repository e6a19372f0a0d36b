"""Audit bundles and receipts: entries with inclusion proofs to one signed
checkpoint, verifiable offline with the log's verifier key.

    {"format": "tradezone.audit-bundle.v1",
     "checkpoint": "<signed note>",
     "entries": [{"index": I, "leaf_data": B64, "leaf_hash": B64,
                  "inclusion_proof": [B64, ...]}, ...]}

A receipt is a bundle of the entries of one action.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .checkpoint import Checkpoint, open_checkpoint
from .entry import decode_entry
from .errors import VerificationError
from .hashing import leaf_hash
from .note import NoteVerifier
from .verify import verify_inclusion

BUNDLE_FORMAT = "tradezone.audit-bundle.v1"


class BundleFormatError(VerificationError):
    """A bundle is not in the audit-bundle format."""


@dataclass(frozen=True)
class VerifiedEntry:
    index: int
    leaf_data: bytes
    entry: dict[str, Any]


@dataclass
class BundleReport:
    """The verified checkpoint and entries, and one error per entry that failed."""

    checkpoint: Checkpoint | None = None
    entries: list[VerifiedEntry] = field(default_factory=list)
    failures: list[tuple[int | None, VerificationError]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.checkpoint is not None and not self.failures


def verify_bundle(unverified: Mapping[str, Any], verifier: NoteVerifier) -> BundleReport:
    """Check the checkpoint signature, then every entry: its bytes are a
    canonical entry, its leaf hash matches, its inclusion proof verifies."""
    report = BundleReport()
    if not isinstance(unverified, Mapping) or unverified.get("format") != BUNDLE_FORMAT:
        report.failures.append((None, BundleFormatError(f"not a {BUNDLE_FORMAT} bundle")))
        return report
    try:
        report.checkpoint = open_checkpoint(unverified.get("checkpoint"), verifier)
    except VerificationError as error:
        report.failures.append((None, error))
        return report
    entries = unverified.get("entries")
    if not isinstance(entries, list):
        report.failures.append((None, BundleFormatError("entries must be a list")))
        return report
    for position, item in enumerate(entries):
        try:
            report.entries.append(verify_bundle_entry(item, report.checkpoint))
        except VerificationError as error:
            index = item.get("index") if isinstance(item, Mapping) else None
            report.failures.append((index if isinstance(index, int) else position, error))
    return report


def verify_bundle_entry(item: Any, checkpoint: Checkpoint) -> VerifiedEntry:
    """One bundle entry against a verified checkpoint; raises on any failure."""
    if not isinstance(item, Mapping):
        raise BundleFormatError("an entry must be an object")
    index = item.get("index")
    if not isinstance(index, int) or isinstance(index, bool):
        raise BundleFormatError("entry index must be an integer")
    data = _b64(item.get("leaf_data"), "leaf_data")
    computed = leaf_hash(data)
    if "leaf_hash" in item and _b64(item["leaf_hash"], "leaf_hash") != computed:
        raise BundleFormatError(f"entry {index}: leaf_hash is not the hash of leaf_data")
    proof = item.get("inclusion_proof")
    if not isinstance(proof, list):
        raise BundleFormatError(f"entry {index}: inclusion_proof must be a list")
    verify_inclusion(computed, index, checkpoint.size,
                     [_b64(p, "inclusion_proof") for p in proof], checkpoint.root_hash)
    return VerifiedEntry(index, data, decode_entry(data))


def _b64(value: Any, name: str) -> bytes:
    if not isinstance(value, str):
        raise BundleFormatError(f"{name} must be base64 text")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as error:
        raise BundleFormatError(f"{name} is not valid base64") from error
