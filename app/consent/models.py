from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, BigInteger, Enum, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, UtcDateTime


class ConsentStatus(str, enum.Enum):
    ACTIVE = "active"
    REVOKED = "revoked"


class Consent(Base):
    """Permission from a data owner for one recipient to read some of its documents.

    Records what PIPL articles 23 and 39, GDPR article 7 and the Kantara
    consent receipt ask for: who may read, for what purpose, which documents
    and data categories, where the data goes, and for how long.
    """

    __tablename__ = "consents"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    owner_org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    recipient_org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    purpose: Mapped[str] = mapped_column(Text)
    document_ids: Mapped[list[str]] = mapped_column(JSON)
    document_types: Mapped[list[str]] = mapped_column(JSON)
    data_categories: Mapped[list[str]] = mapped_column(JSON)
    allowed_actions: Mapped[list[str]] = mapped_column(JSON)
    destination: Mapped[str] = mapped_column(String(2))
    valid_from: Mapped[datetime] = mapped_column(UtcDateTime())
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())
    subject_consent_ref: Mapped[str | None] = mapped_column(String(128))
    export_assessment_ref: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[ConsentStatus] = mapped_column(
        Enum(ConsentStatus, name="consent_status", native_enum=False, create_constraint=True,
             length=16, values_callable=lambda members: [m.value for m in members]))
    entry_idx: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime())

    __table_args__ = (
        Index("ix_consents_owner", "owner_org_id", "created_at"),
        Index("ix_consents_recipient", "recipient_org_id", "created_at"),
    )

    def refusal(self, now: datetime) -> str | None:
        """Why this consent does not allow access at ``now``, or None if it does."""
        if self.status == ConsentStatus.REVOKED:
            return f"consent {self.id} was revoked at {self.revoked_at.isoformat()}"
        if now < self.valid_from:
            return f"consent {self.id} is valid only from {self.valid_from.isoformat()}"
        if now >= self.expires_at:
            return f"consent {self.id} expired at {self.expires_at.isoformat()}"
        return None

