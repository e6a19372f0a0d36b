from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON, BigInteger, Enum, ForeignKey, Index, Integer, LargeBinary, String, Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, UtcDateTime

DEVICE_ID_PATTERN = r"^[A-Za-z0-9._-]{1,64}$"  # contract section 6


class DeviceStatus(str, enum.Enum):
    ACTIVE = "active"
    REVOKED = "revoked"


class Device(Base):
    """A registered edge device: its key, algorithm, and replay state."""

    __tablename__ = "devices"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    owner_org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"), index=True)
    alg: Mapped[str] = mapped_column(String(8))
    public_jwk: Mapped[dict[str, Any]] = mapped_column(JSON)
    kind: Mapped[str] = mapped_column(String(32))
    status: Mapped[DeviceStatus] = mapped_column(
        Enum(DeviceStatus, name="device_status", native_enum=False, create_constraint=True,
             length=16, values_callable=lambda members: [m.value for m in members]))
    mqtt_password_hash: Mapped[str | None] = mapped_column(Text)  # mosquitto_passwd format
    last_seq: Mapped[int | None] = mapped_column(BigInteger)  # highest notarized seq
    registration_entry_idx: Mapped[int] = mapped_column(BigInteger)
    registered_at: Mapped[datetime] = mapped_column(UtcDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class DeviceEvent(Base):
    """A notarized device event: the exact JWS is kept for later verification."""

    __tablename__ = "device_events"

    entry_idx: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id"))
    seq: Mapped[int] = mapped_column(BigInteger)
    event_type: Mapped[str] = mapped_column(String(64))
    shipment: Mapped[str | None] = mapped_column(String(64))
    device_ts: Mapped[str] = mapped_column(String(40))
    jws: Mapped[str] = mapped_column(Text)
    jws_sha256: Mapped[bytes] = mapped_column(LargeBinary(32))
    received_at: Mapped[datetime] = mapped_column(UtcDateTime())

    __table_args__ = (
        UniqueConstraint("device_id", "seq", name="uq_device_events_device_seq"),
        Index("ix_device_events_device", "device_id", "entry_idx"),
        Index("ix_device_events_shipment", "shipment", "entry_idx"),
    )


class QuarantinedEvent(Base):
    """A rejected device message, with its reason and (up to a limit) its raw bytes."""

    __tablename__ = "quarantined_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    topic_device_id: Mapped[str] = mapped_column(String(128))
    reason: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str] = mapped_column(String(300))
    seq: Mapped[int | None] = mapped_column(BigInteger)
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    raw_size: Mapped[int] = mapped_column(Integer)
    raw_sha256: Mapped[bytes] = mapped_column(LargeBinary(32))
    received_at: Mapped[datetime] = mapped_column(UtcDateTime())

    __table_args__ = (
        Index("ix_quarantined_events_device", "topic_device_id", "id"),
        Index("ix_quarantined_events_received", "received_at"),
    )
