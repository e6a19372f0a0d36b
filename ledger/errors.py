"""The ledger's exception hierarchy.

Every failure the ledger reports is a :class:`LedgerError`. Anything a
verifier rejects is a :class:`VerificationError`, so an auditor's tool needs
to catch exactly one class to know "this does not verify".
"""

from __future__ import annotations


class LedgerError(Exception):
    """Root of every error raised by the ``ledger`` package."""


class TreeSizeError(LedgerError, ValueError):
    """An index or tree size is out of range for the log or for the request."""


class VerificationError(LedgerError):
    """Something presented as evidence does not verify."""


class ProofError(VerificationError):
    """A Merkle proof does not verify.

    When the failure is a root mismatch, ``expected`` and ``computed`` carry
    the two hashes so the caller can report the evidence.
    """

    def __init__(self, message: str, *, expected: bytes | None = None,
                 computed: bytes | None = None) -> None:
        super().__init__(message)
        self.expected = expected
        self.computed = computed


class InclusionProofError(ProofError):
    """An inclusion proof (RFC 9162 section 2.1.3) does not verify."""


class ConsistencyProofError(ProofError):
    """A consistency proof (RFC 9162 section 2.1.4) does not verify."""


class NoteFormatError(VerificationError):
    """A signed note or verifier key is not exactly in the C2SP format."""


class CheckpointFormatError(VerificationError):
    """A checkpoint body is not exactly in the C2SP tlog-checkpoint format."""


class SignatureError(VerificationError):
    """No signature by the expected key verifies."""


class EntryFormatError(VerificationError):
    """A ledger entry is not a well-formed canonical entry (contract section 2)."""


class IntegrityError(VerificationError):
    """Stored log data contradicts itself: a hash, an entry or a checkpoint.

    ``index`` names the leaf (or tree size, for a checkpoint) where the
    contradiction was found.
    """

    def __init__(self, message: str, *, index: int | None = None) -> None:
        super().__init__(message)
        self.index = index


class KeyFileError(LedgerError):
    """A signing key file is missing, malformed, or readable by others."""
