"""Fixtures for the device registry: keys, registering over HTTP, and notarized
events and quarantined messages as the gateway would store them."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import pytest
from Crypto.PublicKey import ECC

from app.devices.models import DeviceEvent, QuarantinedEvent
from app.notary.service import PendingEntry, make_entry
from ledger.jws import generate_private_key, public_key_of, sign_compact


@dataclass(frozen=True)
class RegisteredDevice:
    device_id: str
    alg: str
    private_key: ECC.EccKey
    body: dict  # the 201 answer

    @property
    def mqtt_password(self) -> str:
        return self.body["mqtt_password"]


def public_pem(private_key: ECC.EccKey, alg: str) -> str:
    return public_key_of(private_key, alg).to_pem()


@pytest.fixture
def register(client, cast):
    """POST a new device (a fresh key) as ``as_org`` (default: the customs cast)."""

    def do(device_id: str, alg: str = "ES256", kind: str = "scanner", as_org=None,
           as_jwk: bool = False, **extra) -> RegisteredDevice:
        key = generate_private_key(alg)
        public = public_key_of(key, alg)
        response = client.post("/api/v1/devices", headers=(as_org or cast.customs).headers, json={
            "device_id": device_id, "alg": alg, "kind": kind,
            "public_key": public.to_jwk() if as_jwk else public.to_pem(), **extra})
        assert response.status_code == 201, response.get_json()
        return RegisteredDevice(device_id, alg, key, response.get_json())

    return do


def signed_event(device: RegisteredDevice, seq: int, event_type: str = "customs.scan",
                 shipment: str | None = "SHP-1") -> str:
    payload = {"device_id": device.device_id, "seq": seq, "ts": "2026-11-23T09:00:00Z",
               "type": event_type, "data": {"container": "MSCU1234565"}}
    if shipment:
        payload["shipment"] = shipment
    return sign_compact(json.dumps(payload).encode(), device.private_key, device.alg,
                        kid=device.device_id)


@pytest.fixture
def notarize_event(platform):
    """Store an event as the gateway does: a ``device.event`` entry and its row."""

    def do(device: RegisteredDevice, seq: int, **kwargs) -> int:
        jws = signed_event(device, seq, **kwargs)
        now = platform.now()
        digest = hashlib.sha256(jws.encode()).digest()
        with platform.db.write() as session:
            [notarized] = platform.notary.record(session, [PendingEntry(
                make_entry("device.event", device.device_id, now, device=device.device_id,
                           seq=seq, jws_sha256=digest.hex()),
                refs=(("device", device.device_id),))])
            session.add(DeviceEvent(entry_idx=notarized.index, device_id=device.device_id,
                                    seq=seq, event_type="customs.scan", shipment="SHP-1",
                                    device_ts="2026-11-23T09:00:00Z", jws=jws, jws_sha256=digest,
                                    received_at=now))
        return notarized.index

    return do


@pytest.fixture
def quarantine_message(platform):
    """Store a refused message as the gateway does."""

    def do(topic_device_id: str, reason: str, raw: bytes = b"not a jws",
           seq: int | None = None) -> None:
        with platform.db.write() as session:
            session.add(QuarantinedEvent(
                topic_device_id=topic_device_id, reason=reason, detail=f"test: {reason}",
                seq=seq, raw=raw[:256], raw_size=len(raw), raw_sha256=hashlib.sha256(raw).digest(),
                received_at=platform.now()))

    return do
