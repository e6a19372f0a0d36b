"""Salted per-field digests that allow selective disclosure.

Each top-level field of a document is hashed with its own random salt, and
the document digest is computed over the field hashes (the approach of
OpenAttestation/TradeTrust). The ledger holds only the digest, so nobody can
guess content from it; a holder can hand over some fields with their salts
and the hashes of the others, and the receiver checks the result against the
notarized digest without seeing what was withheld.

    field hash = SHA-256(JCS({"field": name, "salt": salt, "value": value}))
    digest     = "sha256:" + hex(SHA-256(JCS({"fields": {name: hex(field hash)}, "type": type})))
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import rfc8785

from .canonical import canonical_json
from .errors import VerificationError

SALT_BYTES = 16
DIGEST_PREFIX = "sha256:"


class DisclosureError(VerificationError):
    """A disclosed document does not match its digest, or is malformed."""


def new_salts(field_names, token_bytes=secrets.token_bytes) -> dict[str, str]:
    """A fresh random salt (base64url) for each field name."""
    return {name: base64.urlsafe_b64encode(token_bytes(SALT_BYTES)).decode().rstrip("=")
            for name in field_names}


def field_hash(name: str, value: Any, salt: str) -> str:
    """Hex SHA-256 of one salted field."""
    encoded = canonical_json({"field": name, "salt": salt, "value": value})
    return hashlib.sha256(encoded).hexdigest()


def digest_of_hashes(doc_type: str, field_hashes: Mapping[str, str]) -> str:
    """The document digest over its field hashes."""
    encoded = canonical_json({"fields": dict(field_hashes), "type": doc_type})
    return DIGEST_PREFIX + hashlib.sha256(encoded).hexdigest()


def document_digest(doc_type: str, content: Mapping[str, Any], salts: Mapping[str, str]) -> str:
    """The digest of a whole document; every field must have a salt."""
    if set(salts) != set(content):
        raise ValueError("every field needs exactly one salt")
    return digest_of_hashes(doc_type, {name: field_hash(name, value, salts[name])
                                       for name, value in content.items()})


@dataclass(frozen=True)
class Disclosure:
    """Some fields of a document in clear (with salts), the others as hashes."""

    doc_type: str
    digest: str
    disclosed: dict[str, dict[str, Any]]  # name -> {"value": ..., "salt": ...}
    hidden: dict[str, str]  # name -> hex field hash

    def to_json(self) -> dict[str, Any]:
        return {"type": self.doc_type, "digest": self.digest, "disclosed": self.disclosed,
                "hidden": self.hidden}


def disclose(doc_type: str, content: Mapping[str, Any], salts: Mapping[str, str],
             fields: set[str]) -> Disclosure:
    """A disclosure of ``fields`` (those present) of a document, the rest hidden."""
    disclosed = {name: {"value": content[name], "salt": salts[name]}
                 for name in sorted(content) if name in fields}
    hidden = {name: field_hash(name, content[name], salts[name])
              for name in sorted(content) if name not in fields}
    return Disclosure(doc_type, document_digest(doc_type, content, salts), disclosed, hidden)


def verify_disclosure(unverified: Mapping[str, Any], expected_digest: str | None = None) -> dict:
    """Check a disclosure (as JSON) against its digest, and that digest against
    ``expected_digest`` (the notarized one) when given; return the disclosed values."""
    try:
        doc_type, digest = unverified["type"], unverified["digest"]
        disclosed, hidden = dict(unverified["disclosed"]), dict(unverified["hidden"])
        hashes = {name: field_hash(name, item["value"], item["salt"])
                  for name, item in disclosed.items()}
    except (KeyError, TypeError, AttributeError, rfc8785.CanonicalizationError) as exc:
        raise DisclosureError(f"malformed disclosure: {exc!r}") from exc
    overlap = set(hashes) & set(hidden)
    if overlap:
        raise DisclosureError(f"fields both disclosed and hidden: {sorted(overlap)}")
    computed = digest_of_hashes(doc_type, {**hidden, **hashes})
    if computed != digest:
        raise DisclosureError(f"disclosed fields do not match the digest {digest}")
    if expected_digest is not None and digest != expected_digest:
        raise DisclosureError(f"digest {digest} is not the notarized {expected_digest}")
    return {name: item["value"] for name, item in disclosed.items()}
