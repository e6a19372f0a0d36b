"""Reading a document: in full for those entitled to it, otherwise only the
fields a live consent covers, with proof material and a ledger entry per read."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.consent.services import consent_for_read
from app.identity.auth import Principal
from app.notary.receipts import receipt_for_indexes
from app.notary.service import Notary, PendingEntry, make_entry
from ledger.disclosure import disclose

from .access import has_full_access, load_document
from .models import Document, DocumentAccess
from .services import current_version, document_refs
from .types import document_type


def read_document(session: Session, notary: Notary, principal: Principal, document_id: str,
                  consent_id: str | None, now: datetime) -> tuple[Document, dict[str, Any]]:
    """``(document, view)`` where view has ``access`` = ``full`` or ``consent``."""
    document = load_document(session, document_id)
    version = current_version(session, document)
    if has_full_access(session, principal, document) and consent_id is None:
        return document, {"access": "full", "content": version.content, "salts": version.salts}
    consent = consent_for_read(session, principal, document, consent_id, now)
    categories = document_type(document.doc_type).field_categories
    fields = {name for name, category in categories.items()
              if category in consent.data_categories}
    disclosure = disclose(document.doc_type, version.content, version.salts, fields)
    notarized = notary.record(session, [PendingEntry(
        make_entry("document.accessed", principal.org_id, now, document=document.id,
                   version=version.version, digest=version.digest, consent=consent.id,
                   reader=principal.org_id),
        document_refs(session, document) + (("consent", consent.id),
                                            ("org", principal.org_id)))])
    session.add(DocumentAccess(entry_idx=notarized[0].index, document_id=document.id,
                               version=version.version, consent_id=consent.id,
                               reader_org_id=principal.org_id, fields=sorted(fields), at=now))
    evidence = receipt_for_indexes(session, [version.entry_idx, notarized[0].index])
    return document, {"access": "consent", "consent_id": consent.id,
                      "disclosure": disclosure.to_json(), "evidence": evidence}


def accesses(session: Session, document: Document, limit: int,
             after: int | None) -> list[DocumentAccess]:
    query = (select(DocumentAccess).where(DocumentAccess.document_id == document.id)
             .order_by(DocumentAccess.entry_idx).limit(limit))
    if after is not None:
        query = query.where(DocumentAccess.entry_idx > after)
    return list(session.scalars(query))
