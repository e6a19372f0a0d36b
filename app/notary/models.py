from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, UtcDateTime


class EntryRef(Base):
    """What an entry names (an organisation, a document, a device...).

    Kept beside the log, never in it: it lets a firm see the entries that
    name it and a regulator search by subject without scanning the log.
    """

    __tablename__ = "entry_refs"

    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    ref: Mapped[str] = mapped_column(String(80), primary_key=True)
    entry_idx: Mapped[int] = mapped_column(BigInteger, primary_key=True)

    __table_args__ = (Index("ix_entry_refs_entry_idx", "entry_idx"),)


class EntryMeta(Base):
    """Each entry's type and time, beside the log, for search by type and period."""

    __tablename__ = "entry_meta"

    entry_idx: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    entry_type: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UtcDateTime())

    __table_args__ = (
        Index("ix_entry_meta_type", "entry_type", "entry_idx"),
        Index("ix_entry_meta_at", "at", "entry_idx"),
    )
