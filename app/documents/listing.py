"""Listing documents an organisation may see in full, filtered, newest first,
by cursor: what it owns or holds (customs: what is addressed to it;
regulators: everything), and an eBL offered to it while the offer is pending,
so that a transferee finds what it is asked to accept (``offered``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from app.cursor import newest_first_page
from app.identity.auth import Principal
from app.identity.models import Role

from .models import Document, DocumentParty, DocumentStatus, EblTransfer, TransferStatus


@dataclass(frozen=True)
class DocumentFilter:
    doc_type: str | None = None
    status: str | None = None
    counterparty: str | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None
    offered: bool = False  # only eBLs with a transfer pending to the caller


def list_documents(session: Session, principal: Principal, wanted: DocumentFilter, limit: int,
                   cursor: str | None) -> tuple[list[Document], str | None]:
    """One page of documents and the cursor of the next page (None at the end)."""
    query = select(Document).where(
        _offered_to(principal) if wanted.offered else _visible_to(principal))
    if wanted.doc_type:
        query = query.where(Document.doc_type == wanted.doc_type)
    if wanted.status:
        query = query.where(Document.status == DocumentStatus(wanted.status))
    if wanted.counterparty:
        query = query.where(Document.id.in_(select(DocumentParty.document_id).where(
            DocumentParty.org_id == wanted.counterparty)))
    if wanted.created_from:
        query = query.where(Document.created_at >= wanted.created_from)
    if wanted.created_to:
        query = query.where(Document.created_at < wanted.created_to)
    return newest_first_page(session, query, Document.created_at, Document.id, limit, cursor)


def list_covered(session: Session, owner_org_id: str, document_ids: list[str],
                 document_types: list[str], limit: int,
                 cursor: str | None) -> tuple[list[Document], str | None]:
    """One page of the owner's documents that a consent names by id or by type
    (``app.consent.services.covers``), newest first, and the next cursor."""
    query = select(Document).where(Document.owner_org_id == owner_org_id, or_(
        Document.id.in_(document_ids), Document.doc_type.in_(document_types)))
    return newest_first_page(session, query, Document.created_at, Document.id, limit, cursor)


def _visible_to(principal: Principal):
    """Documents the principal sees in full (``access.has_full_access``)."""
    if principal.role == Role.REGULATOR:
        return Document.id.is_not(None)
    if principal.role == Role.CUSTOMS:
        return Document.addressed_to_org_id == principal.org_id
    return or_(Document.owner_org_id == principal.org_id,
               Document.holder_org_id == principal.org_id, _offered_to(principal))


def _offered_to(principal: Principal):
    return Document.id.in_(select(EblTransfer.document_id).where(
        EblTransfer.to_org_id == principal.org_id, EblTransfer.status == TransferStatus.PENDING))
