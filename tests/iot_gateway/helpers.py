"""Test helpers for the gateway: devices registered straight through the ORM,
signed events, an MQTT client that publishes events and collects answers,
and a snapshot of everything the gateway may write."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field

import paho.mqtt.client as mqtt
from Crypto.PublicKey import ECC
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from sqlalchemy import func, select

from app.devices.models import Device, DeviceEvent, DeviceStatus, QuarantinedEvent
from app.notary.models import EntryRef
from app.notary.service import PendingEntry, make_entry
from app.platform import Platform
from ledger.jws import generate_private_key, public_key_of, sign_compact
from ledger.sqlstore import SqlLog
from tests.services.mosquitto import MosquittoBroker

TIMEOUT = 15.0


class GatewayBroker(MosquittoBroker):
    """The tests' throwaway Mosquitto, configured as docs/GATEWAY.md asks:
    ``max_queued_messages 0`` (Mosquitto's default, 1,000 queued beyond the
    in-flight window, silently DROPS a slow or absent gateway's backlog) and,
    as deploy/mosquitto, ``max_inflight_messages 1000``: the Receive Maximum
    the broker grants the gateway's answers (TZ_GATEWAY_ANSWERS_IN_FLIGHT)."""

    def _write_config(self) -> None:
        super()._write_config()
        with open(self.config_path, "a") as config:
            config.write("max_queued_messages 0\nmax_inflight_messages 1000\n")


@dataclass(frozen=True)
class SimDevice:
    device_id: str
    alg: str
    key: ECC.EccKey

    def event(self, seq: int, *, type_: str = "sensor.temperature", data: dict | None = None,
              **extra) -> dict:
        return {"device_id": self.device_id, "seq": seq, "ts": "2026-11-23T09:00:00Z",
                "type": type_, "data": {"celsius": 4.5} if data is None else data, **extra}

    def sign(self, payload: dict | bytes, *, kid: str | None = "", alg: str | None = None,
             key: ECC.EccKey | None = None) -> bytes:
        """A compact JWS of ``payload``; kid defaults to the device id."""
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        return sign_compact(body, key or self.key, alg or self.alg,
                            kid=self.device_id if kid == "" else kid).encode()


def register_device(platform: Platform, owner_org_id: str, alg: str = "EdDSA",
                    device_id: str | None = None, revoked: bool = False) -> SimDevice:
    """Insert a Device row (and its registration entry) directly, as the registry would."""
    device_id = device_id or f"dev-{uuid.uuid4().hex[:10]}"
    key = generate_private_key(alg)
    now = platform.now()
    with platform.db.write() as session:
        [receipt] = platform.notary.record(session, [PendingEntry(
            make_entry("device.registered", f"org:{owner_org_id}", now, device=device_id),
            refs=(("device", device_id), ("org", owner_org_id)))])
        session.add(Device(
            id=device_id, owner_org_id=owner_org_id, alg=alg,
            public_jwk=public_key_of(key, alg).to_jwk(), kind="scanner",
            status=DeviceStatus.REVOKED if revoked else DeviceStatus.ACTIVE,
            registration_entry_idx=receipt.index, registered_at=now,
            revoked_at=now if revoked else None))
    return SimDevice(device_id, alg, key)


def snapshot(platform: Platform) -> dict[str, int]:
    """Row counts of everything the gateway may write."""
    with platform.db.read() as session:
        log = SqlLog(session.connection())
        return {
            "entries": log.size,
            "checkpoints": len(list(log.iter_checkpoints())),
            "entry_refs": session.scalar(select(func.count()).select_from(EntryRef)),
            "device_events": session.scalar(select(func.count()).select_from(DeviceEvent)),
            "quarantined": session.scalar(select(func.count()).select_from(QuarantinedEvent)),
        }


def last_seqs(platform: Platform) -> dict[str, int | None]:
    with platform.db.read() as session:
        return dict(session.execute(select(Device.id, Device.last_seq)).all())


@dataclass
class Answers:
    """Answers received on tz/devices/+/acks, per device, in arrival order."""

    by_device: dict[str, list[dict]] = field(default_factory=lambda: defaultdict(list))
    arrived: threading.Condition = field(default_factory=threading.Condition)

    def add(self, device_id: str, answer: dict) -> None:
        with self.arrived:
            self.by_device[device_id].append(answer)
            self.arrived.notify_all()

    def wait_for(self, device_id: str, count: int, timeout: float = TIMEOUT) -> list[dict]:
        with self.arrived:
            ok = self.arrived.wait_for(lambda: len(self.by_device[device_id]) >= count,
                                       timeout=timeout)
            answers = list(self.by_device[device_id])
        assert ok, f"{device_id}: {len(answers)} answers of {count} within {timeout}s"
        return answers


class DeviceSide:
    """One MQTT client standing in for many devices: publishes their events at
    QoS 1 and collects the gateway's answers. Its session persists (expiry
    300 s), so answers and unacknowledged publishes survive a broker restart."""

    def __init__(self, host: str, port: int, client_id: str | None = None) -> None:
        self.answers = Answers()
        self.client_id = client_id or f"devices-{uuid.uuid4().hex[:8]}"
        self._subscribed = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=self.client_id,
                                  protocol=mqtt.MQTTv5)
        self.client.max_inflight_messages_set(20)  # Mosquitto's Receive Maximum
        self.client.reconnect_delay_set(1, 2)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda *args: self._subscribed.set()
        self.client.on_message = self._on_message
        properties = Properties(PacketTypes.CONNECT)
        properties.SessionExpiryInterval = 300
        self.client.connect_async(host, port, clean_start=False, properties=properties)
        self.client.loop_start()
        assert self._subscribed.wait(TIMEOUT), "device side could not subscribe"

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if not reason_code.is_failure:
            client.subscribe("tz/devices/+/acks", qos=1)

    def _on_message(self, client, userdata, message) -> None:
        device_id = message.topic.split("/")[2]
        self.answers.add(device_id, json.loads(message.payload))

    def publish(self, device_id: str, payload: bytes, topic: str | None = None):
        return self.client.publish(topic or f"tz/devices/{device_id}/events", payload, qos=1)

    def ask(self, device_id: str, payload: bytes, topic: str | None = None) -> dict:
        """Publish one message and return the next answer for ``device_id``."""
        count = len(self.answers.by_device[device_id]) + 1
        self.publish(device_id, payload, topic)
        return self.answers.wait_for(device_id, count)[-1]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def forget_session(host: str, port: int, client_id: str, username: str | None = None,
                   password: str | None = None) -> None:
    """Make the broker drop a persistent session (clean start, expiry 0)."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                         protocol=mqtt.MQTTv5)
    if username is not None:
        client.username_pw_set(username, password)
    connected = threading.Event()
    client.on_connect = lambda *args: connected.set()
    try:
        client.connect(host, port, clean_start=True)
    except OSError:
        return
    client.loop_start()
    connected.wait(5)
    client.disconnect()
    client.loop_stop()


def wait_until(predicate, timeout: float = TIMEOUT, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()

