"""Each kind of bad input gets its exact answer, its quarantine row (or ledger
entry) and nothing else written; on SQLite and PostgreSQL, real Mosquitto."""

from __future__ import annotations

import hashlib
import json

import pytest
from sqlalchemy import select

import ledger
from app.devices.models import DeviceEvent, QuarantinedEvent
from app.logcheck import check_platform_log
from app.notary.models import EntryRef
from ledger.jws import (
    base64url_encode, generate_private_key, parse_compact, public_key_of, verify_jws,
)
from ledger.publickeys import load_public_key
from ledger.sqlstore import SqlLog

from .helpers import last_seqs, snapshot

NOTHING = {"entries": 0, "checkpoints": 0, "entry_refs": 0, "device_events": 0,
           "quarantined": 0}
ONE_REJECTED = {**NOTHING, "quarantined": 1}


def written(platform, before: dict) -> dict:
    after = snapshot(platform)
    return {name: after[name] - before[name] for name in after}


def quarantined(platform) -> list[QuarantinedEvent]:
    with platform.db.read() as session:
        return list(session.scalars(select(QuarantinedEvent).order_by(QuarantinedEvent.id)))


def check_rejected(platform, devices, before, device_id, raw, reason, seq=None,
                   topic=None, answer_device=None) -> QuarantinedEvent:
    """Publish ``raw``; expect the rejected answer, one quarantine row, nothing else."""
    answer = devices.ask(answer_device or device_id, raw, topic)
    assert answer == {"seq": seq, "status": "rejected", "reason": reason}
    assert written(platform, before) == ONE_REJECTED
    [row] = quarantined(platform)
    assert (row.topic_device_id, row.reason, row.seq) == (answer_device or device_id, reason, seq)
    assert bytes(row.raw) == raw[:4096] and row.raw_size == len(raw)
    assert bytes(row.raw_sha256) == hashlib.sha256(raw).digest()
    assert row.detail and len(row.detail) <= 300
    return row


@pytest.mark.parametrize("alg", ["EdDSA", "ES256"])
def test_valid_event_is_notarized(platform, gateway, devices, register, customs, alg):
    device = register(alg)
    token = device.sign(device.event(1, shipment="SHP-0001"))
    before = snapshot(platform)

    answer = devices.ask(device.device_id, token)

    assert answer["status"] == "notarized" and answer["seq"] == 1
    assert set(answer) == {"seq", "status", "ledger_index"}
    assert written(platform, before) == {**NOTHING, "entries": 1, "checkpoints": 1,
                                         "entry_refs": 3, "device_events": 1}
    with platform.db.read() as session:
        log = SqlLog(session.connection())
        [(index, data)] = log.read_entries(answer["ledger_index"], answer["ledger_index"] + 1)
        stored = session.get(DeviceEvent, index)
        refs = set(session.execute(select(EntryRef.kind, EntryRef.ref)
                                   .where(EntryRef.entry_idx == index)).all())
    entry = ledger.decode_entry(data)
    assert entry == {"v": 1, "type": "device.event", "at": entry["at"],
                     "actor": f"device:{device.device_id}", "device": device.device_id,
                     "seq": 1, "event_type": "sensor.temperature", "shipment": "SHP-0001",
                     "jws_sha256": "sha256:" + hashlib.sha256(token).hexdigest(),
                     "device_ts": "2026-11-23T09:00:00Z"}
    assert "celsius" not in data.decode()  # no event data on the ledger
    assert refs == {("device", device.device_id), ("org", customs.org_id),
                    ("shipment", "SHP-0001")}
    assert stored.jws == token.decode()
    assert bytes(stored.jws_sha256) == hashlib.sha256(token).digest()
    assert (stored.device_id, stored.seq, stored.event_type, stored.shipment,
            stored.device_ts) == (device.device_id, 1, "sensor.temperature", "SHP-0001",
                                  "2026-11-23T09:00:00Z")
    key = load_public_key(alg, json.dumps(device_jwk(device)))
    assert json.loads(verify_jws(parse_compact(stored.jws), key))["seq"] == 1
    assert last_seqs(platform)[device.device_id] == 1
    check_whole_log(platform)


def device_jwk(device) -> dict:
    return public_key_of(device.key, device.alg).to_jwk()


def check_whole_log(platform) -> None:
    report = check_platform_log(platform)
    assert report.ok, report.problems


def test_forged_signature_is_rejected(platform, gateway, devices, register):
    device = register("EdDSA")
    forged = device.sign(device.event(1), key=generate_private_key("EdDSA"))
    before = snapshot(platform)
    check_rejected(platform, devices, before, device.device_id, forged, "bad_signature", seq=1)
    assert last_seqs(platform)[device.device_id] is None


def test_flipped_signature_bit_is_rejected(platform, gateway, devices, register):
    device = register("ES256")
    header, payload, signature = device.sign(device.event(1)).decode().split(".")
    raw = parse_compact(device.sign(device.event(1))).signature
    flipped = base64url_encode(bytes([raw[0] ^ 1]) + raw[1:])
    before = snapshot(platform)
    check_rejected(platform, devices, before, device.device_id,
                   f"{header}.{payload}.{flipped}".encode(), "bad_signature", seq=1)


def test_wrong_alg_is_rejected_even_with_a_valid_signature(platform, gateway, devices, register):
    device = register("ES256")
    other_key = generate_private_key("EdDSA")  # a valid EdDSA JWS, but the device is ES256
    token = device.sign(device.event(1), alg="EdDSA", key=other_key)
    before = snapshot(platform)
    check_rejected(platform, devices, before, device.device_id, token, "alg_mismatch", seq=1)


def test_kid_not_matching_the_topic_is_rejected(platform, gateway, devices, register):
    device, other = register(), register()
    token = device.sign(device.event(1), kid=other.device_id)
    before = snapshot(platform)
    check_rejected(platform, devices, before, device.device_id, token, "kid_mismatch", seq=1)


def test_missing_kid_is_a_kid_mismatch(platform, gateway, devices, register):
    device = register()
    before = snapshot(platform)
    check_rejected(platform, devices, before, device.device_id,
                   device.sign(device.event(3), kid=None), "kid_mismatch", seq=3)


def test_unknown_device_is_rejected(platform, gateway, devices, register):
    device = register()
    stranger = type(device)("dev-never-registered", "EdDSA", generate_private_key("EdDSA"))
    before = snapshot(platform)
    check_rejected(platform, devices, before, stranger.device_id,
                   stranger.sign(stranger.event(1)), "unknown_device", seq=1)


def test_revoked_device_is_rejected(platform, gateway, devices, register):
    device = register("EdDSA", revoked=True)
    before = snapshot(platform)
    check_rejected(platform, devices, before, device.device_id,
                   device.sign(device.event(1)), "revoked", seq=1)


def test_replay_same_seq_other_bytes_is_rejected(platform, gateway, devices, register):
    device = register()
    first = devices.ask(device.device_id, device.sign(device.event(5)))
    assert first["status"] == "notarized"
    before = snapshot(platform)
    other = device.sign(device.event(5, data={"celsius": 99}))
    row = check_rejected(platform, devices, before, device.device_id, other, "replay", seq=5)
    assert "other bytes" in row.detail


def test_replay_of_a_lower_seq_never_notarized_is_rejected(platform, gateway, devices, register):
    device = register()
    assert devices.ask(device.device_id, device.sign(device.event(5)))["status"] == "notarized"
    before = snapshot(platform)
    check_rejected(platform, devices, before, device.device_id,
                   device.sign(device.event(4)), "replay", seq=4)


def test_duplicate_is_answered_and_not_logged_twice(platform, gateway, devices, register):
    device = register()
    token = device.sign(device.event(1))
    first = devices.ask(device.device_id, token)
    before = snapshot(platform)

    again = devices.ask(device.device_id, token)

    assert again == {"seq": 1, "status": "duplicate", "ledger_index": first["ledger_index"]}
    assert written(platform, before) == NOTHING


@pytest.mark.parametrize("cut", [1, 20, -1])
def test_truncated_jws_is_malformed(platform, gateway, devices, register, cut):
    device = register()
    token = device.sign(device.event(1))
    before = snapshot(platform)
    check_rejected(platform, devices, before, device.device_id, token[:cut], "malformed")


def test_non_json_payload_is_bad_payload(platform, gateway, devices, register):
    device = register()
    before = snapshot(platform)
    check_rejected(platform, devices, before, device.device_id,
                   device.sign(b"seq=1 not json"), "bad_payload")


@pytest.mark.parametrize("field", ["device_id", "seq", "ts", "type", "data"])
def test_payload_missing_a_field_is_bad_payload(platform, gateway, devices, register, field):
    device = register()
    event = device.event(1)
    del event[field]
    before = snapshot(platform)
    check_rejected(platform, devices, before, device.device_id, device.sign(event),
                   "bad_payload", seq=None if field == "seq" else 1)


@pytest.mark.parametrize("change", [{"seq": True}, {"seq": -1}, {"seq": 1.0},
                                    {"ts": "2026-13-01T00:00:00Z"}, {"ts": "yesterday"},
                                    {"data": [1]}, {"type": 7}, {"shipment": "S" * 65},
                                    {"shipment": None},
                                    # Text no column takes (NUL) or no UTF-8 writes (a
                                    # lone surrogate): refused, not an internal_error.
                                    {"type": "scan\u0000"}, {"type": "\ud800"},
                                    {"shipment": "SHP\u0000"}, {"shipment": "\udfff"}])
def test_payload_with_a_bad_field_is_bad_payload(platform, gateway, devices, register, change):
    device = register()
    before = snapshot(platform)
    answer = devices.ask(device.device_id, device.sign({**device.event(2), **change}))
    assert answer["status"] == "rejected" and answer["reason"] == "bad_payload"
    assert written(platform, before) == ONE_REJECTED


def test_oversized_payload_is_rejected_before_parsing(platform, gateway, devices, register):
    device = register()
    token = device.sign(device.event(1, data={"blob": "x" * 20000}))
    assert len(token) > 16 * 1024
    before = snapshot(platform)
    row = check_rejected(platform, devices, before, device.device_id, token, "oversized")
    assert len(bytes(row.raw)) == 4096  # only a prefix is kept


def test_payload_device_id_not_the_topic_is_rejected(platform, gateway, devices, register):
    device, other = register(), register()
    token = device.sign({**device.event(1), "device_id": other.device_id})
    before = snapshot(platform)
    check_rejected(platform, devices, before, device.device_id, token, "device_mismatch", seq=1)


def test_bad_topic_is_quarantined_without_an_answer(platform, gateway, devices, register):
    device = register()
    long_id = "x" * 65  # not a valid device id (1 to 64 characters)
    before = snapshot(platform)
    devices.publish(long_id, device.sign(device.event(1)))
    assert devices.ask(device.device_id, device.sign(device.event(1)))["status"] == "notarized"
    assert written(platform, before)["quarantined"] == 1
    [row] = quarantined(platform)
    assert (row.reason, row.topic_device_id, row.seq) == ("bad_topic", long_id, None)
    assert long_id not in devices.answers.by_device
