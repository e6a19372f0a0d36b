from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Enum, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, UtcDateTime

DIGEST_LENGTH = 71  # "sha256:" + 64 hex digits


class DocumentStatus(str, enum.Enum):
    ISSUED = "issued"
    AMENDED = "amended"
    CANCELLED = "cancelled"
    SURRENDERED = "surrendered"  # electronic bills of lading only; final


def _enum(cls: type[enum.Enum], name: str) -> Enum:
    return Enum(cls, name=name, native_enum=False, create_constraint=True, length=16,
                values_callable=lambda members: [member.value for member in members])


class Document(Base):
    """A trade document; its content lives in immutable ``DocumentVersion`` rows."""

    __tablename__ = "documents"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    owner_org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    doc_type: Mapped[str] = mapped_column(String(40))
    status: Mapped[DocumentStatus] = mapped_column(_enum(DocumentStatus, "document_status"))
    version: Mapped[int] = mapped_column(Integer)
    digest: Mapped[str] = mapped_column(String(DIGEST_LENGTH))
    holder_org_id: Mapped[str | None] = mapped_column(ForeignKey("organizations.id"))
    addressed_to_org_id: Mapped[str | None] = mapped_column(ForeignKey("organizations.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())

    __table_args__ = (
        Index("ix_documents_owner_created", "owner_org_id", "created_at"),
        Index("ix_documents_holder", "holder_org_id"),
        Index("ix_documents_addressed_to", "addressed_to_org_id"),
    )


class DocumentVersion(Base):
    """One issued version: never edited; each names the digest of the one before."""

    __tablename__ = "document_versions"

    document_id: Mapped[str] = mapped_column(ForeignKey("documents.id"), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    content: Mapped[dict[str, Any]] = mapped_column(JSON)
    salts: Mapped[dict[str, str]] = mapped_column(JSON)
    digest: Mapped[str] = mapped_column(String(DIGEST_LENGTH))
    previous_digest: Mapped[str | None] = mapped_column(String(DIGEST_LENGTH))
    entry_idx: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class DocumentParty(Base):
    """An organisation a document names as a trading party (its counterparties)."""

    __tablename__ = "document_parties"

    document_id: Mapped[str] = mapped_column(ForeignKey("documents.id"), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"), primary_key=True)

    __table_args__ = (Index("ix_document_parties_org", "org_id", "document_id"),)


# The one transferable document type: only its transfers (below) exist.
BILL_OF_LADING = "bill_of_lading"


class TransferStatus(str, enum.Enum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    REJECTED = "rejected"


class EblTransfer(Base):
    """An offer by the holder of an eBL to hand it to another organisation."""

    __tablename__ = "ebl_transfers"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    document_id: Mapped[str] = mapped_column(ForeignKey("documents.id"), index=True)
    from_org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    to_org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    status: Mapped[TransferStatus] = mapped_column(_enum(TransferStatus, "transfer_status"))
    offer_entry_idx: Mapped[int] = mapped_column(BigInteger)  # ledger order is the true order
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class DocumentAccess(Base):
    """A read under consent, with the ledger entry that records it."""

    __tablename__ = "document_accesses"

    entry_idx: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    document_id: Mapped[str] = mapped_column(ForeignKey("documents.id"))
    version: Mapped[int] = mapped_column(Integer)
    consent_id: Mapped[str] = mapped_column(ForeignKey("consents.id"))
    reader_org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    fields: Mapped[list[str]] = mapped_column(JSON)
    at: Mapped[datetime] = mapped_column(UtcDateTime())

    __table_args__ = (Index("ix_document_accesses_document", "document_id", "entry_idx"),)
