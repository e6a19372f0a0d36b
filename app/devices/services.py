"""The device registry: registering and revoking customs edge devices, and
reading their notarized events and the quarantine.

Registration and revocation are ledger entries (``device.registered``,
``device.revoked``) committed in the same transaction as the change. The
device's MQTT password is generated here, returned once, and stored only as
a Mosquitto ``$7$`` hash; it never reaches the ledger or a log.

Who sees what: a customs organisation its own devices (their events, their
quarantined messages); regulators everything; admins the registry itself.
Devices another organisation owns answer 404, as if they did not exist.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.errors import Conflict, NotFound, ValidationFailed
from app.identity.auth import Principal
from app.identity.models import Organization, Role
from app.notary.service import Notarized, Notary, PendingEntry, make_entry
from iot_gateway.messages import REVOKED as REVOKED_REASON
from ledger.publickeys import KeyFormatError, load_public_key

from . import broker_config
from .models import DEVICE_ID_PATTERN, Device, DeviceEvent, DeviceStatus, QuarantinedEvent

# Ids that cannot name a device: "quarantine" is the route of the quarantine
# listing, and "." and ".." are removed from URLs by HTTP clients (RFC 3986
# section 5.2.4), so such a device could never be read or revoked.
RESERVED_IDS = frozenset({"quarantine", ".", ".."})
KIND_PATTERN = r"^[a-z][a-z0-9_]{0,31}$"
_DEVICE_ID = re.compile(DEVICE_ID_PATTERN)


@dataclass(frozen=True)
class Registration:
    """What the registry answers a new device: the device, its ledger entry,
    and its MQTT password (the only copy)."""

    device: Device
    notarized: list[Notarized]
    mqtt_password: str


@dataclass(frozen=True)
class NewDevice:
    device_id: str
    alg: str
    public_key: str | dict[str, Any]
    kind: str
    owner_org_id: str | None = None


def _invalid(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(message, errors={"json": {field: [message]}})


def register(session: Session, notary: Notary, principal: Principal, new: NewDevice,
             mqtt_password: str, now: datetime, reserved_usernames: frozenset[str] = frozenset(),
             ) -> Registration:
    """Register a device owned by the principal's organisation (an admin may name
    a customs owner); 409 when the id is taken, 422 naming the field otherwise."""
    check_device_id(new.device_id, reserved_usernames)
    try:
        key = load_public_key(new.alg, new.public_key)
    except KeyFormatError as error:
        raise _invalid("public_key", str(error)) from error
    owner = _owner(session, principal, new.owner_org_id)
    if session.get(Device, new.device_id) is not None:
        raise Conflict(f"device {new.device_id} is already registered")
    device = Device(id=new.device_id, owner_org_id=owner, alg=new.alg, public_jwk=key.to_jwk(),
                    kind=new.kind, status=DeviceStatus.ACTIVE,
                    mqtt_password_hash=broker_config.hash_password(mqtt_password),
                    registration_entry_idx=-1, registered_at=now)
    session.add(device)
    _flush_new(session, new.device_id)
    notarized = notary.record(session, [PendingEntry(
        make_entry("device.registered", principal.org_id, now, device=device.id, owner=owner,
                   alg=device.alg, kind=device.kind, thumbprint=key.thumbprint()),
        refs=device_refs(device, principal))])
    device.registration_entry_idx = notarized[0].index
    return Registration(device, notarized, mqtt_password)


def revoke(session: Session, notary: Notary, principal: Principal, device_id: str,
           now: datetime) -> tuple[Device, list[Notarized]]:
    """Revoke a device: its next event is rejected (the gateway reads the status
    per event). Customs may revoke only its own devices, admins any."""
    if not _DEVICE_ID.fullmatch(device_id):  # e.g. a NUL, which no query takes
        raise not_found(device_id)
    device = session.scalar(select(Device).where(Device.id == device_id).with_for_update())
    if device is None or not _may_manage(principal, device):
        raise not_found(device_id)
    if device.status == DeviceStatus.REVOKED:
        raise Conflict(f"device {device_id} is already revoked")
    device.status = DeviceStatus.REVOKED
    device.revoked_at = now
    notarized = notary.record(session, [PendingEntry(
        make_entry("device.revoked", principal.org_id, now, device=device.id),
        refs=device_refs(device, principal))])
    return device, notarized


def check_device_id(device_id: str, reserved_usernames: frozenset[str] = frozenset()) -> None:
    """422 unless ``device_id`` is 1-64 of ``A-Z a-z 0-9 . _ -`` and not reserved
    (route names, dot segments, the gateway's MQTT user name)."""
    if not _DEVICE_ID.fullmatch(device_id):
        raise _invalid("device_id", "must be 1 to 64 of A-Z a-z 0-9 . _ -")
    if device_id in RESERVED_IDS or device_id in reserved_usernames:
        raise _invalid("device_id", f"{device_id!r} is reserved")


def device_refs(device: Device, principal: Principal) -> tuple[tuple[str, str], ...]:
    """The subjects a registry entry names: the device, its owner, and who acted."""
    orgs = sorted({device.owner_org_id, principal.org_id})
    return (("device", device.id),) + tuple(("org", org) for org in orgs)


def get_device(session: Session, principal: Principal, device_id: str) -> Device:
    """The device if the principal may see it, else 404."""
    if not _DEVICE_ID.fullmatch(device_id):  # e.g. a NUL, which no query takes
        raise not_found(device_id)
    device = session.get(Device, device_id)
    if device is None or not _may_see(principal, device):
        raise not_found(device_id)
    return device


def list_devices(session: Session, principal: Principal, status: str | None, kind: str | None,
                 limit: int, before: int | None) -> tuple[list[Device], int | None]:
    """Devices the principal may see, newest registration first, and the next cursor."""
    query = select(Device)
    if principal.role == Role.CUSTOMS:
        query = query.where(Device.owner_org_id == principal.org_id)
    if status:
        query = query.where(Device.status == DeviceStatus(status))
    if kind:
        query = query.where(Device.kind == kind)
    if before is not None:
        query = query.where(Device.registration_entry_idx < before)
    return _page(session, query.order_by(Device.registration_entry_idx.desc()), limit,
                 lambda device: device.registration_entry_idx)


def device_events(session: Session, principal: Principal, device_id: str, limit: int,
                  before: int | None) -> tuple[list[DeviceEvent], int | None]:
    """A device's notarized events, newest first (``before``: a ledger index)."""
    get_device(session, principal, device_id)
    query = select(DeviceEvent).where(DeviceEvent.device_id == device_id)
    if before is not None:
        query = query.where(DeviceEvent.entry_idx < before)
    return _page(session, query.order_by(DeviceEvent.entry_idx.desc()), limit,
                 lambda event: event.entry_idx)


def quarantine(session: Session, principal: Principal, device: str | None, reason: str | None,
               limit: int, before: int | None) -> tuple[list[QuarantinedEvent], int | None]:
    """Rejected device messages, newest first. Customs sees those published on
    its own devices' topics; messages on unregistered ids only regulators see."""
    query = select(QuarantinedEvent)
    if principal.role == Role.CUSTOMS:
        query = query.where(QuarantinedEvent.topic_device_id.in_(
            select(Device.id).where(Device.owner_org_id == principal.org_id)))
    if device:
        query = query.where(QuarantinedEvent.topic_device_id == device)
    if reason:
        query = query.where(QuarantinedEvent.reason == reason)
    if before is not None:
        query = query.where(QuarantinedEvent.id < before)
    return _page(session, query.order_by(QuarantinedEvent.id.desc()), limit, lambda row: row.id)


def admitted_mqtt_credentials(session: Session, revoked_after: datetime, told_before: datetime
                              ) -> list[tuple[str, str | None, bool]]:
    """(device id, stored MQTT hash, revoked) of every device the broker admits,
    by id: the active ones, and those revoked after ``revoked_after`` that the
    gateway has not yet answered ``revoked`` before ``told_before``."""
    told = (select(QuarantinedEvent.id)
            .where(QuarantinedEvent.topic_device_id == Device.id,
                   QuarantinedEvent.reason == REVOKED_REASON,
                   QuarantinedEvent.received_at <= told_before)
            .exists())
    rows = session.execute(
        select(Device.id, Device.mqtt_password_hash, Device.status)
        .where(or_(Device.status == DeviceStatus.ACTIVE,
                   and_(Device.revoked_at > revoked_after, ~told)))
        .order_by(Device.id))
    return [(row.id, row.mqtt_password_hash, row.status != DeviceStatus.ACTIVE) for row in rows]


def not_found(device_id: str) -> NotFound:
    """The answer for a device the principal may not know about."""
    return NotFound(f"device {device_id} not found")


def _page(session: Session, query: Select, limit: int, cursor_of) -> tuple[list, int | None]:
    rows = list(session.scalars(query.limit(limit + 1)))
    page = rows[:limit]
    return page, cursor_of(page[-1]) if len(rows) > limit else None


def _owner(session: Session, principal: Principal, requested: str | None) -> str:
    """Customs registers for itself; an admin for itself or for a customs organisation."""
    if requested is None or requested == principal.org_id:
        return principal.org_id
    if principal.role != Role.ADMIN:
        raise _invalid("owner_org_id", "a customs organisation registers devices for itself")
    org = session.get(Organization, requested)
    if org is None or org.role != Role.CUSTOMS:
        raise _invalid("owner_org_id", "must name a customs organisation")
    return org.id


def _flush_new(session: Session, device_id: str) -> None:
    """Insert now, so a concurrent registration of the same id is a 409, not a 500."""
    try:
        session.flush()
    except IntegrityError as error:
        raise Conflict(f"device {device_id} is already registered") from error


def _may_manage(principal: Principal, device: Device) -> bool:
    return principal.role == Role.ADMIN or device.owner_org_id == principal.org_id


def _may_see(principal: Principal, device: Device) -> bool:
    return principal.role in (Role.REGULATOR, Role.ADMIN) or device.owner_org_id == principal.org_id
