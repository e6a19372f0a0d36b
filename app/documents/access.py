"""Who may see a document in full, and loading a document for a principal.

Full access: the owner, the current holder of an eBL (and an organisation
offered it), the customs authority a declaration is addressed to, and
regulators. Anyone else reads only under a live consent (``app.consent``),
and cannot even learn that a document exists otherwise (404).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.errors import NotFound
from app.identity.auth import Principal
from app.identity.models import Role
from app.identity.tokens import is_identifier

from .models import BILL_OF_LADING, Document, EblTransfer, TransferStatus


def has_full_access(session: Session, principal: Principal, document: Document) -> bool:
    if principal.role == Role.REGULATOR or principal.org_id == document.owner_org_id:
        return True
    if principal.org_id in (document.holder_org_id, document.addressed_to_org_id):
        return True
    if document.doc_type != BILL_OF_LADING:
        return False  # nothing else is ever offered to another organisation
    offered = session.scalar(select(EblTransfer.id).where(
        EblTransfer.document_id == document.id, EblTransfer.to_org_id == principal.org_id,
        EblTransfer.status == TransferStatus.PENDING))
    return offered is not None


def load_document(session: Session, document_id: str, *, for_update: bool = False,
                  for_share: bool = False) -> Document:
    """The document, or 404 (callers decide what the principal may see).

    ``for_update``: lock its row against other writers of the document (on
    PostgreSQL ``FOR NO KEY UPDATE``, which does not block the key-share lock
    that a foreign key to the document takes: a signature or an access logged
    meanwhile holds the ledger's head while it inserts its row, and waiting
    for it there would deadlock with a writer waiting for the head).
    ``for_share``: lock it against writers only (``FOR SHARE``), for a caller
    that relies on its status until it commits; take it before the ledger's
    head, as the writers do."""
    if not is_identifier(document_id, "doc_"):  # e.g. a NUL, which no query takes
        raise NotFound(f"document {document_id} not found")
    query = select(Document).where(Document.id == document_id)
    if for_update:
        query = query.with_for_update(key_share=True)
    elif for_share:
        query = query.with_for_update(read=True)
    document = session.scalar(query)
    if document is None:
        raise NotFound(f"document {document_id} not found")
    return document


def not_found(document_id: str) -> NotFound:
    """The answer for a document the principal may not know about."""
    return NotFound(f"document {document_id} not found")
