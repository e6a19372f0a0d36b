"""Reading a document: in full for those entitled to it, otherwise only the
fields a live consent covers, with proof material and a ledger entry per read."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

import ledger
from app.consent.models import Consent
from app.consent.services import consent_for_read
from app.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from app.identity.auth import Principal
from app.notary.receipts import receipt_for, receipt_for_indexes
from app.notary.service import Notary, PendingEntry, make_entry
from ledger.disclosure import Disclosure, disclose
from ledger.sqlstore import SqlLog

from .access import has_full_access, load_document
from .models import Document, DocumentAccess, DocumentVersion
from .services import current_version, document_refs
from .types import document_type


@dataclass(frozen=True)
class ReadPlan:
    """What a read will show, decided in a read transaction: the document, and
    for a read under consent, the consent and the disclosure to log, with what
    the write needs that cannot change meanwhile (the subjects its entry names,
    the logged bytes of the version's entry), so the write stays short."""

    document: Document
    version: DocumentVersion
    consent: Consent | None = None
    fields: frozenset[str] = frozenset()
    disclosure: Disclosure | None = None
    refs: tuple[tuple[str, str], ...] = ()
    version_entry: tuple[int, bytes] | None = None

    def full_view(self) -> dict[str, Any]:
        return {"access": "full", "content": self.version.content, "salts": self.version.salts}


def plan_read(session: Session, principal: Principal, document_id: str,
              consent_id: str | None, now: datetime) -> ReadPlan:
    """Decide what ``principal`` may see of the document (404/403 otherwise);
    works out the disclosure, so the write that logs the read stays short."""
    document = load_document(session, document_id)
    version = current_version(session, document)
    if has_full_access(session, principal, document) and consent_id is None:
        return ReadPlan(document, version)
    consent = consent_for_read(session, principal, document, consent_id, now)
    fields = _fields_of(document.doc_type, consent.data_categories)
    disclosure = disclose(document.doc_type, version.content, version.salts, fields)
    # The subjects the access entry names, as of the version read: a party that
    # an amendment adds meanwhile is named by that amendment's own entry.
    refs = document_refs(session, document) + (("consent", consent.id), ("org", principal.org_id))
    logged = SqlLog(session.connection()).read_entries_at([version.entry_idx])
    if not logged:
        raise ledger.IntegrityError(f"the entry of {document.id} version {version.version} "
                                    f"is missing from the log", index=version.entry_idx)
    return ReadPlan(document, version, consent, fields, disclosure, refs, logged[0])


def log_consent_read(session: Session, notary: Notary, principal: Principal, plan: ReadPlan,
                     now: datetime) -> dict[str, Any]:
    """Log a read under consent (``document.accessed``) and answer with the
    disclosure and its evidence. The consent is checked again here: a
    revocation committed since the plan was made wins, and a limit committed
    since is :class:`ConsentChanged` (the read is planned again)."""
    document, version, consent = plan.document, plan.version, plan.consent
    # Locked for share: a revocation or limit in flight (each locks the consent
    # for update) commits first and is seen here, so no access is logged after it.
    current = session.get(Consent, consent.id, with_for_update={"read": True})
    refusal = current.refusal(now)
    if refusal is not None:
        raise PermissionDenied(refusal)
    if _terms(current) != _terms(consent):
        raise ConsentChanged(f"consent {consent.id} was limited while this read was prepared")
    notarized = notary.record(session, [PendingEntry(
        make_entry("document.accessed", principal.org_id, now, document=document.id,
                   version=version.version, digest=version.digest, consent=consent.id,
                   reader=principal.org_id), plan.refs)])
    session.execute(insert(DocumentAccess.__table__), [{
        "entry_idx": notarized[0].index, "document_id": document.id,
        "version": version.version, "consent_id": consent.id,
        "reader_org_id": principal.org_id, "fields": sorted(plan.fields), "at": now}])
    evidence = receipt_for(session, notarized, earlier=[plan.version_entry])
    return {"access": "consent", "consent_id": consent.id,
            "disclosure": plan.disclosure.to_json(), "evidence": evidence}


def redacted_copy(session: Session, principal: Principal, document_id: str,
                  version_number: int | None, field_names: set[str],
                  categories: set[str]) -> dict[str, Any]:
    """A redacted copy of a version for a reader with full access to hand over
    outside the platform: an audit bundle of the version's ledger entry whose
    evidence discloses ``field_names`` and the fields of ``categories`` (the
    others as salted hashes). ``tradezone audit verify`` checks it offline,
    down to each disclosed value. Nothing is logged: nothing is read that the
    caller may not read in full."""
    document = load_document(session, document_id)
    if not has_full_access(session, principal, document):
        raise NotFound(f"document {document_id} not found")
    number = document.version if version_number is None else version_number
    version = session.get(DocumentVersion, (document.id, number))
    if version is None:
        raise NotFound(f"document {document_id} has no version {number}")
    unknown = sorted(field_names - set(document_type(document.doc_type).field_categories))
    if unknown:
        raise ValidationFailed(f"a {document.doc_type} has no field {', '.join(unknown)}",
                               errors={"query": {"fields": [f"unknown: {', '.join(unknown)}"]}})
    chosen = field_names | _fields_of(document.doc_type, categories)
    disclosure = disclose(document.doc_type, version.content, version.salts, chosen)
    bundle = receipt_for_indexes(session, [version.entry_idx])
    bundle["entries"][0]["evidence"] = {"disclosure": disclosure.to_json()}
    return {**bundle, "subject": {"kind": "document", "ref": document.id,
                                  "version": version.version}}


def _fields_of(doc_type: str, categories) -> frozenset[str]:
    """The fields of a document type that fall in some data ``categories``."""
    return frozenset(name for name, category in document_type(doc_type).field_categories.items()
                     if category in categories)


class ConsentChanged(Conflict):
    """The consent a read was planned under was limited before it was logged."""


def _terms(consent: Consent) -> tuple:
    """What a planned read relied on, besides the consent being live."""
    return (sorted(consent.document_ids), sorted(consent.document_types),
            sorted(consent.data_categories), sorted(consent.allowed_actions))


def accesses(session: Session, document: Document, limit: int,
             after: int | None) -> list[DocumentAccess]:
    query = (select(DocumentAccess).where(DocumentAccess.document_id == document.id)
             .order_by(DocumentAccess.entry_idx).limit(limit))
    if after is not None:
        query = query.where(DocumentAccess.entry_idx > after)
    return list(session.scalars(query))
