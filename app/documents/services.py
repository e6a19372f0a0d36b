"""Issuing, amending and cancelling documents; each step is a ledger entry
committed in the same transaction as the version it describes."""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from marshmallow import Schema, ValidationError
from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from app.bulkinsert import BulkInsert
from app.errors import Conflict, PermissionDenied, ValidationFailed
from app.identity.auth import Principal
from app.identity.models import Organization, Role
from app.identity.tokens import new_identifier
from app.notary.service import Notarized, Notary, PendingEntry, make_entry
from ledger.disclosure import document_digest, new_salts
from ledger.sqlstore import pipelined

from .access import has_full_access, load_document, not_found
from .models import (
    BILL_OF_LADING, Document, DocumentParty, DocumentStatus, DocumentVersion, EblTransfer,
    TransferStatus,
)
from .types import DOCUMENT_TYPES, DocumentType, UnknownDocumentType, document_type

# Driver-level inserts of new rows: submitting is the platform's busiest write.
_DOCUMENTS = BulkInsert(Document.__table__, [column.key for column in Document.__table__.columns])
_PARTIES = BulkInsert(DocumentParty.__table__, ("document_id", "org_id"))
_VERSIONS = BulkInsert(DocumentVersion.__table__, (
    "document_id", "version", "content", "salts", "digest", "previous_digest", "entry_idx",
    "created_at"))

CUSTOMS_DECLARATION = "customs_declaration"
FINAL_STATES = (DocumentStatus.CANCELLED, DocumentStatus.SURRENDERED)


@dataclass(frozen=True)
class Outcome:
    """A changed document and the ledger entries that record the change."""

    document: Document
    notarized: list[Notarized]


@functools.cache
def _loader(type_name: str) -> Schema:
    """One schema instance per type: building one deep-copies every nested field,
    which cost more than the validation itself. Loading does not mutate it."""
    return document_type(type_name).schema()


def validate_content(type_name: str, raw: Any) -> tuple[DocumentType, dict[str, Any]]:
    """The document type and its strictly validated content, or a 422 naming the fields."""
    try:
        dtype = document_type(type_name)
    except UnknownDocumentType:
        raise ValidationFailed("unknown document type", errors={"json": {"type": [
            f"unknown document type {type_name!r}; known: {', '.join(sorted(DOCUMENT_TYPES))}"]}})
    if not isinstance(raw, Mapping):
        raise ValidationFailed("content must be an object",
                               errors={"json": {"content": ["must be an object"]}})
    try:
        return dtype, _loader(dtype.name).load(raw)
    except ValidationError as error:
        raise ValidationFailed("document content is invalid",
                               errors={"json": {"content": error.messages}}) from error


@dataclass(frozen=True)
class Draft:
    """A new version's validated content, salts and digest (version 1 for a
    submission): everything that needs no database, worked out before the
    write transaction begins."""

    doc_type: DocumentType
    content: dict[str, Any]
    salts: dict[str, str]
    digest: str
    named_orgs: dict[str, str]  # org id -> the content field that names it


def prepare(type_name: str, raw_content: Any) -> Draft:
    """Validate a submission or amendment (422 naming the fields) and digest it."""
    dtype, content = validate_content(type_name, raw_content)
    salts = new_salts(content)
    return Draft(dtype, content, salts, document_digest(dtype.name, content, salts),
                 dict(_org_ids(content, "")))


def submit(session: Session, notary: Notary, principal: Principal, draft: Draft,
           now: datetime) -> Outcome:
    """Issue version 1 of a new document owned by the principal's organisation.

    Driver-level inserts rather than the ORM's unit of work: this is the
    platform's busiest write, and the rows are new, so there is nothing to track.
    """
    parties = _existing_orgs(session, draft.named_orgs)
    document = Document(id=new_identifier("doc_"), owner_org_id=principal.org_id,
                        doc_type=draft.doc_type.name, status=DocumentStatus.ISSUED, version=1,
                        digest=draft.digest, holder_org_id=None, addressed_to_org_id=None,
                        created_at=now, updated_at=now)
    _apply_type_rules(session, principal, document, draft.content)
    connection = session.connection()
    _DOCUMENTS.execute(connection, [tuple(getattr(document, name) for name in _DOCUMENTS.columns)])
    _PARTIES.execute(connection, [(document.id, org_id) for org_id in sorted(parties)])
    notarized = _add_version(session, notary, principal, document, draft.content, draft.salts,
                             None, now, "document.issued", parties)
    return Outcome(document, notarized)


def amend(session: Session, notary: Notary, principal: Principal, document_id: str,
          raw_content: Any, now: datetime) -> Outcome:
    """Issue a new version; it names the digest of the version before."""
    document = _owned(session, principal, document_id)
    _require_open(document)
    draft = prepare(document.doc_type, raw_content)
    if document.doc_type == BILL_OF_LADING and document.holder_org_id != _shipper(draft.content):
        raise Conflict("an eBL amendment may not change who holds it; transfer it instead")
    parties = _existing_orgs(session, draft.named_orgs)
    _apply_type_rules(session, principal, document, draft.content)
    known = set(session.scalars(select(DocumentParty.org_id)
                                .where(DocumentParty.document_id == document.id)))
    session.add_all(DocumentParty(document_id=document.id, org_id=org_id)
                    for org_id in parties - known)
    previous = document.digest
    document.status = DocumentStatus.AMENDED
    document.version += 1
    document.digest = draft.digest
    document.updated_at = now
    notarized = _add_version(session, notary, principal, document, draft.content, draft.salts,
                             previous, now, "document.amended", known | parties)
    return Outcome(document, notarized)


def cancel(session: Session, notary: Notary, principal: Principal, document_id: str,
           now: datetime) -> Outcome:
    """Cancel a document; nothing happens to it afterwards."""
    document = _owned(session, principal, document_id)
    _require_open(document)
    if document.doc_type == BILL_OF_LADING and _has_left_first_holder(session, document):
        raise Conflict("an eBL that has been transferred cannot be cancelled; surrender it")
    document.status = DocumentStatus.CANCELLED
    document.updated_at = now
    notarized = notary.record(session, [PendingEntry(
        make_entry("document.cancelled", principal.org_id, now, document=document.id,
                   version=document.version, digest=document.digest),
        refs=document_refs(session, document))])
    return Outcome(document, notarized)


def document_refs(session: Session, document: Document,
                  parties: set[str] | None = None) -> tuple[tuple[str, str], ...]:
    """The subjects an entry about ``document`` names: it and its organisations
    (``parties``: its counterparties, when the caller already knows them)."""
    orgs = {document.owner_org_id, document.holder_org_id, document.addressed_to_org_id}
    if parties is None:
        parties = set(session.scalars(select(DocumentParty.org_id)
                                      .where(DocumentParty.document_id == document.id)))
    orgs |= parties
    return (("document", document.id),) + tuple(("org", org) for org in sorted(orgs - {None}))


def versions(session: Session, document_id: str) -> list[DocumentVersion]:
    return list(session.scalars(select(DocumentVersion)
                                .where(DocumentVersion.document_id == document_id)
                                .order_by(DocumentVersion.version)))


def current_version(session: Session, document: Document) -> DocumentVersion:
    return session.get(DocumentVersion, (document.id, document.version))


def _add_version(session: Session, notary: Notary, principal: Principal, document: Document,
                 content: dict[str, Any], salts: dict[str, str], previous: str | None,
                 now: datetime, entry_type: str, parties: set[str]) -> list[Notarized]:
    """Notarize and store ``document``'s current version (its number and digest
    already set); ``previous``: the digest it amends, if any."""
    fields = {"document": document.id, "doc_type": document.doc_type,
              "version": document.version, "digest": document.digest}
    if previous:
        fields["previous_digest"] = previous
    entry = PendingEntry(make_entry(entry_type, principal.org_id, now, **fields),
                         refs=document_refs(session, document, parties))
    connection = session.connection()
    with pipelined(connection):  # the version row goes with the entry's rows (PostgreSQL)
        notarized = notary.record(session, [entry])
        _VERSIONS.execute(connection, [(
            document.id, document.version, content, salts, document.digest, previous,
            notarized[0].index, now)])
    return notarized


def _apply_type_rules(session: Session, principal: Principal, document: Document,
                      content: dict[str, Any]) -> None:
    if document.doc_type == BILL_OF_LADING:
        carrier_org = content.get("carrier", {}).get("org_id")
        if carrier_org not in (None, principal.org_id):
            raise ValidationFailed("an eBL is issued by its carrier", errors={"json": {
                "content": {"carrier": {"org_id": ["must be the issuing organisation"]}}}})
        shipper = session.get(Organization, _shipper(content))
        if shipper is None or shipper.role != Role.FIRM:  # the holder must be able to act
            raise ValidationFailed("an eBL is held by a firm", errors={"json": {
                "content": {"shipper": {"org_id": ["must name a firm"]}}}})
        document.holder_org_id = shipper.id
    if document.doc_type == CUSTOMS_DECLARATION:
        customs = content["customs_authority_org_id"]
        org = session.get(Organization, customs)
        if org is None or org.role != Role.CUSTOMS:
            raise ValidationFailed("not a customs authority", errors={"json": {"content": {
                "customs_authority_org_id": ["must name a customs organisation"]}}})
        if document.addressed_to_org_id not in (None, customs):  # amending
            raise Conflict("an amendment may not re-address a customs declaration; cancel it "
                           "and issue a new one")
        document.addressed_to_org_id = customs


def _shipper(content: Mapping[str, Any]) -> str:
    return content["shipper"]["org_id"]


_KNOWN_ORGS = select(Organization.id).where(Organization.id.in_(bindparam("ids", expanding=True)))


def _existing_orgs(session: Session, named: Mapping[str, str]) -> set[str]:
    """The named organisation ids, each checked to exist (422 naming the
    field that names an unknown one)."""
    if not named:
        return set()
    existing = set(session.scalars(_KNOWN_ORGS, {"ids": list(named)}))
    unknown = {path: ["names an unknown organisation"] for org_id, path in named.items()
               if org_id not in existing}
    if unknown:
        raise ValidationFailed("unknown organisation", errors={"json": {"content": unknown}})
    return set(named)


def _org_ids(value: Any, path: str) -> Iterator[tuple[str, str]]:
    # Validated content holds plain dicts and lists; checking against the Mapping
    # ABC made this walk half as slow again (33 against 21 us per invoice).
    if isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}" if path else key
            if key == "org_id" and isinstance(item, str):
                yield item, where
            else:
                yield from _org_ids(item, where)
    elif isinstance(value, list):
        for position, item in enumerate(value):
            yield from _org_ids(item, f"{path}[{position}]")


def _owned(session: Session, principal: Principal, document_id: str) -> Document:
    document = load_document(session, document_id, for_update=True)
    if document.owner_org_id != principal.org_id:
        if has_full_access(session, principal, document):
            raise PermissionDenied("only the document's owner can change it")
        raise not_found(document_id)
    return document


def _require_open(document: Document) -> None:
    if document.status in FINAL_STATES:
        raise Conflict(f"document {document.id} is {document.status.value}; it cannot change")


def _has_left_first_holder(session: Session, document: Document) -> bool:
    """True once any transfer was offered (pending or accepted)."""
    return session.scalar(select(EblTransfer.id).where(
        EblTransfer.document_id == document.id,
        EblTransfer.status != TransferStatus.REJECTED).limit(1)) is not None
