"""The registered devices a batch names: status, algorithm and public key.

Read once per batch, outside the write transaction, so signatures are checked
without holding the database's write lock; the write transaction reads the
status again (a device revoked meanwhile is still refused, see store.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select

from app.db import Database
from app.devices.models import Device, DeviceStatus


@dataclass(frozen=True)
class RegisteredDevice:
    """What verifying a device's event needs; ``jwk_text`` is the stored
    public JWK as canonical JSON text (hashable, cached by load_public_key)."""

    device_id: str
    alg: str
    jwk_text: str
    revoked: bool


def load_devices(db: Database, device_ids: Iterable[str]) -> dict[str, RegisteredDevice]:
    """The registered devices among ``device_ids``, by id (unknown ids are absent)."""
    wanted = sorted(set(device_ids))
    if not wanted:
        return {}
    devices = Device.__table__.c  # Core columns: no ORM compile step per batch
    with db.read() as session:
        rows = session.execute(
            select(devices.id, devices.alg, devices.public_jwk, devices.status)
            .where(devices.id.in_(wanted))).all()
    return {row.id: RegisteredDevice(row.id, row.alg, _jwk_text(row.public_jwk),
                                     row.status == DeviceStatus.REVOKED) for row in rows}


def _jwk_text(jwk: object) -> str:
    if isinstance(jwk, str):  # a JSON column may hand back text on some drivers
        return jwk
    return json.dumps(jwk, sort_keys=True, separators=(",", ":"))
