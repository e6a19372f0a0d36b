"""Electronic bills of lading as transferable records (UNCITRAL MLETR).

Singularity and control: exactly one holder at a time; only the holder can
offer the record to another organisation, which must accept; the holder can
surrender it to the carrier, after which nothing more happens to it. Every
step is a ledger entry.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from app.identity.auth import Principal
from app.identity.models import Organization, Role
from app.identity.tokens import is_identifier, new_identifier
from app.notary.service import Notarized, Notary, PendingEntry, make_entry

from .access import has_full_access, load_document, not_found
from .models import Document, DocumentStatus, EblTransfer, TransferStatus
from .services import BILL_OF_LADING, FINAL_STATES, document_refs


def offer_transfer(session: Session, notary: Notary, principal: Principal, document_id: str,
                   to_org_id: str, now: datetime) -> tuple[EblTransfer, list[Notarized]]:
    """The holder offers the eBL to ``to_org_id``; control moves when it accepts."""
    document = _ebl_for_holder(session, principal, document_id)
    if _pending(session, document) is not None:
        raise Conflict("a transfer of this eBL is already pending")
    transferee = session.get(Organization, to_org_id)
    # Only a firm can accept, transfer or surrender it: an offer to anyone else
    # could never be decided, and a pending offer blocks the eBL.
    if to_org_id == document.holder_org_id or transferee is None or transferee.role != Role.FIRM:
        raise ValidationFailed("invalid transferee", errors={"json": {"to_org_id": [
            "must be another existing firm"]}})
    transfer = EblTransfer(id=new_identifier("xfr_"), document_id=document.id,
                           from_org_id=principal.org_id, to_org_id=to_org_id,
                           status=TransferStatus.PENDING, offer_entry_idx=-1, created_at=now)
    notarized = _record(session, notary, principal, document, now, "ebl.transfer_offered",
                        transfer=transfer.id, to=to_org_id, extra_org=to_org_id)
    transfer.offer_entry_idx = notarized[0].index
    session.add(transfer)
    return transfer, notarized


def decide_transfer(session: Session, notary: Notary, principal: Principal, document_id: str,
                    transfer_id: str, accept: bool, now: datetime) -> tuple[EblTransfer, list[Notarized]]:
    """The transferee accepts (becoming the holder) or rejects a pending offer."""
    document = load_document(session, document_id, for_update=True)
    if not has_full_access(session, principal, document):
        raise not_found(document_id)
    # Not a transfer id (e.g. with a NUL, which no query takes): no such transfer.
    transfer = (session.get(EblTransfer, transfer_id)
                if is_identifier(transfer_id, "xfr_") else None)
    if transfer is None or transfer.document_id != document.id:
        raise NotFound(f"transfer {transfer_id} not found")
    if transfer.to_org_id != principal.org_id:
        raise PermissionDenied("only the organisation offered the eBL can accept or reject it")
    if transfer.status != TransferStatus.PENDING or document.status in FINAL_STATES:
        raise Conflict(f"transfer {transfer_id} is {transfer.status.value}; nothing to decide")
    transfer.status = TransferStatus.ACCEPTED if accept else TransferStatus.REJECTED
    transfer.decided_at = now
    if accept:
        document.holder_org_id = principal.org_id
        document.updated_at = now
    entry_type = "ebl.transfer_accepted" if accept else "ebl.transfer_rejected"
    notarized = _record(session, notary, principal, document, now, entry_type,
                        transfer=transfer.id, holder=document.holder_org_id,
                        extra_org=transfer.from_org_id)
    return transfer, notarized


def surrender(session: Session, notary: Notary, principal: Principal, document_id: str,
              now: datetime) -> tuple[Document, list[Notarized]]:
    """The holder surrenders the eBL to its carrier; the record is then final."""
    document = _ebl_for_holder(session, principal, document_id)
    if _pending(session, document) is not None:
        raise Conflict("a transfer of this eBL is pending; it must be decided first")
    surrendered_by = document.holder_org_id
    document.status = DocumentStatus.SURRENDERED
    document.holder_org_id = document.owner_org_id
    document.updated_at = now
    notarized = _record(session, notary, principal, document, now, "ebl.surrendered",
                        surrendered_by=surrendered_by, carrier=document.owner_org_id,
                        extra_org=surrendered_by)
    return document, notarized


def transfers(session: Session, document_id: str) -> list[EblTransfer]:
    return list(session.scalars(select(EblTransfer).where(EblTransfer.document_id == document_id)
                                .order_by(EblTransfer.offer_entry_idx)))


def _ebl_for_holder(session: Session, principal: Principal, document_id: str) -> Document:
    document = load_document(session, document_id, for_update=True)
    if not has_full_access(session, principal, document):
        raise not_found(document_id)
    if document.doc_type != BILL_OF_LADING:
        raise Conflict(f"document {document_id} is not an electronic bill of lading")
    if document.holder_org_id != principal.org_id:
        raise PermissionDenied("only the current holder of the eBL can do this")
    if document.status in FINAL_STATES:
        raise Conflict(f"the eBL is {document.status.value}; nothing more can happen to it")
    return document


def _pending(session: Session, document: Document) -> EblTransfer | None:
    return session.scalar(select(EblTransfer).where(
        EblTransfer.document_id == document.id, EblTransfer.status == TransferStatus.PENDING))


def _record(session: Session, notary: Notary, principal: Principal, document: Document,
            now: datetime, entry_type: str, extra_org: str, **fields) -> list[Notarized]:
    refs = document_refs(session, document) + (("org", extra_org),)
    return notary.record(session, [PendingEntry(
        make_entry(entry_type, principal.org_id, now, document=document.id, **fields), refs)])
