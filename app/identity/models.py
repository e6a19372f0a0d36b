from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Enum, ForeignKey, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db import Base, UtcDateTime


class Role(str, enum.Enum):
    """Contract section 1."""

    FIRM = "firm"
    CUSTOMS = "customs"
    REGULATOR = "regulator"
    ADMIN = "admin"


class Organization(Base):
    __tablename__ = "organizations"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[Role] = mapped_column(
        Enum(Role, name="org_role", native_enum=False, create_constraint=True,
             values_callable=lambda roles: [role.value for role in roles], length=16))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())

    tokens: Mapped[list["ApiToken"]] = relationship(back_populates="org")


class ApiToken(Base):
    """A bearer credential; only the SHA-256 of its secret is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"), index=True)
    secret_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    label: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime())  # None: until revoked
    # When it last authenticated a request, kept to the hour (services.LAST_USE_RESOLUTION).
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime())

    org: Mapped[Organization] = relationship(back_populates="tokens")
