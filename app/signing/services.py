"""Registering public keys and recording verified signatures over document digests.

A signature is a compact JWS (``kid`` = a registered key of the signer's
organisation) whose payload is ``{"digest", "document", "version"}`` for a
version of the document (any version up to the current one: the entry names
the version signed). The platform verifies it with the registered key and
algorithm (never the header's choice), keeps the JWS so that any reader can
verify it again, and logs ``document.signed``. A cancelled document, or a
surrendered electronic bill of lading, is signed no more.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.documents.access import has_full_access, load_document, not_found
from app.documents.models import Document, DocumentStatus, DocumentVersion
from app.documents.services import document_refs
from app.errors import Conflict, NotFound, ValidationFailed
from app.identity.auth import Principal
from app.identity.tokens import is_identifier, new_identifier
from app.notary.service import Notarized, Notary, PendingEntry, make_entry
from ledger.jws import JwsError, parse_compact, verify_jws
from ledger.publickeys import KeyFormatError, load_public_key
from ledger.strictjson import DuplicateMemberError, loads_strict

from .models import DocumentSignature, SigningKey


def _invalid(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(message, errors={"json": {field: [message]}})


def register_key(session: Session, notary: Notary, principal: Principal, alg: str,
                 public_key: str | dict[str, Any], now: datetime) -> tuple[SigningKey, list[Notarized]]:
    """Register a public key (PEM or JWK) for the principal's organisation."""
    try:
        key = load_public_key(alg, public_key)
    except KeyFormatError as error:
        raise _invalid("public_key", str(error)) from error
    row = SigningKey(id=new_identifier("key_"), org_id=principal.org_id, alg=alg,
                     public_jwk=key.to_jwk(), thumbprint=key.thumbprint(), created_at=now)
    session.add(row)
    notarized = notary.record(session, [PendingEntry(make_entry(
        "key.registered", principal.org_id, now, key=row.id, org=principal.org_id, alg=alg,
        thumbprint=row.thumbprint), (("org", principal.org_id), ("key", row.id)))])
    return row, notarized


def revoke_key(session: Session, notary: Notary, principal: Principal, key_id: str,
               now: datetime) -> tuple[SigningKey, list[Notarized]]:
    # Locked: a concurrent revocation commits first and this one is then a 409.
    row = _registered_key(session, key_id, lock=True)
    if row is None or row.org_id != principal.org_id:
        raise NotFound(f"key {key_id} not found")
    if row.revoked_at is not None:
        raise Conflict(f"key {key_id} is already revoked")
    row.revoked_at = now
    notarized = notary.record(session, [PendingEntry(make_entry(
        "key.revoked", principal.org_id, now, key=row.id, org=principal.org_id),
        (("org", principal.org_id), ("key", row.id)))])
    return row, notarized


_FINAL = (DocumentStatus.CANCELLED, DocumentStatus.SURRENDERED)


def sign_document(session: Session, notary: Notary, principal: Principal, document_id: str,
                  jws: str, now: datetime) -> tuple[DocumentSignature, list[Notarized]]:
    """Verify and record the principal's JWS over a version of a document; a
    cancelled document or a surrendered eBL (final: nothing more happens to
    it) is a 409."""
    # Locked for share: a cancellation in flight (it locks the document for
    # update) commits first and is seen here, so no signature is logged after it.
    document = load_document(session, document_id, for_share=True)
    if not has_full_access(session, principal, document):
        raise not_found(document_id)
    if document.status in _FINAL:
        raise Conflict(f"document {document_id} is {document.status.value}; it cannot be signed")
    try:
        unverified = parse_compact(jws)
    except JwsError as error:
        raise _invalid("jws", f"{error.reason}: {error}") from error
    # Locked for share: a revocation in flight (it locks the key for update)
    # commits first and is seen here, so no signature is logged after it.
    key = _registered_key(session, unverified.kid, lock={"read": True}) \
        if unverified.kid else None
    if key is None or key.org_id != principal.org_id or key.revoked_at is not None:
        raise _invalid("jws", "kid must name an unrevoked key registered by your organisation")
    try:
        payload = verify_jws(unverified, load_public_key(key.alg, key.public_jwk))
    except JwsError as error:
        raise _invalid("jws", f"{error.reason}: {error}") from error
    version = _signed_version(session, document, payload)
    signature = DocumentSignature(entry_idx=-1, document_id=document_id, version=version.version,
                                  key_id=key.id, jws=jws, signed_at=now)
    notarized = notary.record(session, [PendingEntry(make_entry(
        "document.signed", principal.org_id, now, document=document_id,
        version=version.version, digest=version.digest, key=key.id,
        jws_sha256="sha256:" + hashlib.sha256(jws.encode()).hexdigest()),
        document_refs(session, document) + (("org", principal.org_id), ("key", key.id)))])
    signature.entry_idx = notarized[0].index
    session.add(signature)
    return signature, notarized


def key_of(session: Session, key_id: str) -> SigningKey:
    return session.get(SigningKey, key_id)


def signatures(session: Session, document_id: str) -> list[tuple[DocumentSignature, SigningKey]]:
    rows = session.execute(select(DocumentSignature, SigningKey).join(SigningKey)
                           .where(DocumentSignature.document_id == document_id)
                           .order_by(DocumentSignature.entry_idx))
    return [(row.DocumentSignature, row.SigningKey) for row in rows]


def _registered_key(session: Session, key_id: str,
                    lock: bool | dict[str, bool] = False) -> SigningKey | None:
    """The key with this id, or None; an id that is not a key id (e.g. with a
    NUL, which no query takes) names no key. ``lock``: lock its row, as
    ``Session.get``'s ``with_for_update`` takes it (True: FOR UPDATE)."""
    if not is_identifier(key_id, "key_"):
        return None
    return session.get(SigningKey, key_id, with_for_update=lock)


def _signed_version(session: Session, document: Document, payload: bytes) -> DocumentVersion:
    # Strictly: a payload read one way here and another way by a later verifier
    # (a repeated "document", say) would be a signature on two statements.
    try:
        claims = loads_strict(payload)
        named = (claims["document"], claims["version"], claims["digest"])
    except DuplicateMemberError as error:
        raise _invalid("jws", f"payload repeats the member name {error.name!r}") from error
    except (ValueError, TypeError, KeyError) as error:
        raise _invalid("jws", 'payload must be {"document", "version", "digest"}') from error
    # Only versions 1..current exist: checked before the look-up, since a number
    # beyond the column's range is a database error, not a missing row.
    version = session.get(DocumentVersion, (document.id, named[1])) \
        if isinstance(named[1], int) and not isinstance(named[1], bool) \
        and 1 <= named[1] <= document.version else None
    if named[0] != document.id or version is None or version.digest != named[2]:
        raise _invalid("jws", "payload does not name this document's version and digest")
    return version
