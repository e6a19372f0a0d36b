"""Fixtures for the audit API: devices registered over HTTP with events stored
as the gateway stores them, and documents signed by their owner's key."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import pytest
from Crypto.PublicKey import ECC

from app.devices.models import DeviceEvent
from app.notary.service import PendingEntry, make_entry
from ledger.jws import generate_private_key, public_key_of, sign_compact


@dataclass(frozen=True)
class EdgeDevice:
    device_id: str
    alg: str
    private_key: ECC.EccKey
    owner: str


@pytest.fixture
def register_device(client, cast):
    """POST /api/v1/devices with a fresh key (contract section 6)."""

    def do(device_id: str, alg: str = "ES256", as_org=None) -> EdgeDevice:
        org = as_org or cast.customs
        key = generate_private_key(alg)
        response = client.post("/api/v1/devices", headers=org.headers, json={
            "device_id": device_id, "alg": alg, "kind": "scanner",
            "public_key": public_key_of(key, alg).to_jwk()})
        assert response.status_code == 201, response.get_json()
        return EdgeDevice(device_id, alg, key, org.org_id)

    return do


@pytest.fixture
def notarize_event(platform):
    """A device event logged and stored as the gateway does it (iot_gateway/store.py)."""

    def do(device: EdgeDevice, seq: int, shipment: str | None = "SHP-1") -> int:
        payload = {"device_id": device.device_id, "seq": seq, "ts": "2026-11-23T09:00:00Z",
                   "type": "customs.scan", "data": {"container": "MSCU1234565"}}
        fields = {"device": device.device_id, "seq": seq, "event_type": "customs.scan",
                  "device_ts": "2026-11-23T09:00:00Z"}
        refs = [("device", device.device_id), ("org", device.owner)]
        if shipment:
            payload["shipment"] = fields["shipment"] = shipment
            refs.append(("shipment", shipment))
        jws = sign_compact(json.dumps(payload).encode(), device.private_key, device.alg,
                           kid=device.device_id)
        digest = hashlib.sha256(jws.encode()).digest()
        now = platform.now()
        with platform.db.write() as session:
            [notarized] = platform.notary.record(session, [PendingEntry(make_entry(
                "device.event", f"device:{device.device_id}", now,
                jws_sha256="sha256:" + digest.hex(), **fields), refs=tuple(refs))])
            session.add(DeviceEvent(entry_idx=notarized.index, device_id=device.device_id,
                                    seq=seq, event_type="customs.scan", shipment=shipment,
                                    device_ts="2026-11-23T09:00:00Z", jws=jws, jws_sha256=digest,
                                    received_at=now))
        return notarized.index

    return do


@pytest.fixture
def sign_document(client):
    """Register a key for ``org`` and sign the document's current version with it."""

    def do(org, document: dict, alg: str = "EdDSA") -> dict:
        key = generate_private_key(alg)
        registered = client.post("/api/v1/keys", headers=org.headers, json={
            "alg": alg, "public_key": public_key_of(key, alg).to_jwk()})
        assert registered.status_code == 201, registered.get_json()
        claims = {"document": document["id"], "version": document["version"],
                  "digest": document["digest"]}
        jws = sign_compact(json.dumps(claims).encode(), key, alg,
                           kid=registered.get_json()["id"])
        response = client.post(f"/api/v1/documents/{document['id']}/signatures",
                               headers=org.headers, json={"jws": jws})
        assert response.status_code == 201, response.get_json()
        return response.get_json()

    return do


@pytest.fixture
def export(client):
    """GET /api/v1/audit/bundles as ``who``: the response."""

    def do(who, **query):
        return client.get("/api/v1/audit/bundles", headers=who.headers, query_string=query)

    return do
