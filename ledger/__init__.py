"""A verifiable append-only Merkle log: RFC 9162 hashing and proofs, C2SP
signed checkpoints. Auditors' tools import this package on its own; it needs
no web framework and no database driver (the SQL storage is the separate
``ledger.sqlstore`` module)."""

from .bundle import (
    BUNDLE_FORMAT, BundleFormatError, BundleReport, EvidenceError, verify_bundle,
)
from .checkpoint import Checkpoint, open_checkpoint
from .entry import decode_entry, encode_entry, utc_timestamp
from .errors import (
    CheckpointFormatError,
    ConsistencyProofError,
    EntryFormatError,
    InclusionProofError,
    IntegrityError,
    KeyFileError,
    LedgerError,
    NoteFormatError,
    ProofError,
    SignatureError,
    TreeSizeError,
    VerificationError,
)
from .hashing import EMPTY_ROOT, HASH_SIZE, leaf_hash, node_hash, root_hash
from .note import NoteSigner, NoteVerifier, key_hash, verifier_key
from .store import HashReader, MemoryHashStore
from .verify import verify_consistency, verify_inclusion
from .monitor import LogMisbehaviour, MonitorError
from . import keys, prove

__all__ = [
    "Checkpoint", "open_checkpoint", "decode_entry", "encode_entry", "utc_timestamp",
    "CheckpointFormatError", "ConsistencyProofError",
    "EntryFormatError", "InclusionProofError", "IntegrityError", "KeyFileError", "LedgerError",
    "NoteFormatError", "ProofError", "SignatureError", "TreeSizeError", "VerificationError",
    "EMPTY_ROOT", "HASH_SIZE", "leaf_hash", "node_hash", "root_hash",
    "NoteSigner", "NoteVerifier", "key_hash", "verifier_key",
    "HashReader", "MemoryHashStore", "verify_consistency", "verify_inclusion",
    "keys", "prove",
    "BUNDLE_FORMAT", "BundleFormatError", "BundleReport", "EvidenceError", "verify_bundle",
    "LogMisbehaviour", "MonitorError",
]
