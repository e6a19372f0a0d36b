"""The device side of contract section 5, reusable by the simulator, tests and
benchmarks: signing an event, and one device's MQTT connection with its
publish/ack bookkeeping.

An event stays in the device's :class:`Outbox` until the gateway answers it on
``tz/devices/<id>/acks``. The broker's PUBACK only says the broker has it, in
memory: a broker crash can still lose it. So after every reconnect the device
publishes again each unanswered event that the broker had acknowledged (paho
itself re-sends those it had not), and, like any retransmitting protocol, also
when an answer is overdue (after ``resend_after`` seconds, doubling up to 16
times that): a re-send that reached the broker before the gateway had
subscribed again would otherwise wait for ever. The gateway answers a repeat
``duplicate``.

Those are the transient failures. Two answers are final, and a device that
gets one stops (no reconnect, no re-send), keeping its unanswered events: the
gateway rejecting an event as ``revoked``, and the broker refusing its
credentials (CONNACK 0x86 or 0x87, what Mosquitto answers once ``tradezone
mqtt sync --watch`` has removed a revoked device). A device not yet admitted since
:meth:`DeviceClient.start` is given ``admit_within`` seconds first: one
registered a moment ago is let in at the registry watcher's next look.
"""

from __future__ import annotations

import functools
import json
import logging
import threading
from collections import Counter
from collections.abc import Mapping
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import paho.mqtt.client as mqtt
from Crypto.PublicKey import ECC
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from ledger.entry import utc_timestamp
from ledger.jws import sign_compact

log = logging.getLogger(__name__)

ACK_STATUSES = ("notarized", "duplicate", "rejected")
DEFAULT_MAX_IN_FLIGHT = 1000  # far below paho's 65,535 packet ids
DEFAULT_RESEND_AFTER = 30.0  # seconds without an answer before an event goes again
DEFAULT_ADMIT_WITHIN = 10.0  # seconds a new device's refused connections are retried
# CONNACK reason codes by which the broker refuses the device's credentials
# (MQTT 5 section 3.2.2.2): 0x86 Bad User Name or Password, 0x87 Not authorized
REFUSED_CREDENTIALS = (0x86, 0x87)
_MAX_BACKOFF_DOUBLINGS = 4


def events_topic(device_id: str) -> str:
    return f"tz/devices/{device_id}/events"


def acks_topic(device_id: str) -> str:
    return f"tz/devices/{device_id}/acks"


@dataclass(frozen=True)
class DeviceCredentials:
    """What a device holds: its id, signing key and algorithm, MQTT password."""

    device_id: str
    alg: str
    private_key: ECC.EccKey = field(repr=False)
    mqtt_password: str | None = field(default=None, repr=False)


def event_payload(device_id: str, seq: int, event_type: str, data: Mapping[str, Any], *,
                  ts: datetime | None = None, shipment: str | None = None) -> bytes:
    """The JWS payload of contract section 5, as compact JSON."""
    body: dict[str, Any] = {"device_id": device_id, "seq": seq,
                            "ts": utc_timestamp(ts or datetime.now(timezone.utc)),
                            "type": event_type, "data": dict(data)}
    if shipment is not None:
        body["shipment"] = shipment
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


def sign_event(credentials: DeviceCredentials, seq: int, event_type: str,
               data: Mapping[str, Any], *, ts: datetime | None = None,
               shipment: str | None = None) -> str:
    """A compact JWS of the event, header ``{"alg", "kid": device id}``."""
    payload = event_payload(credentials.device_id, seq, event_type, data, ts=ts,
                            shipment=shipment)
    return sign_compact(payload, credentials.private_key, credentials.alg,
                        kid=credentials.device_id)


class AckFormatError(ValueError):
    """A message on the acks topic is not an ack of contract section 5."""


@dataclass(frozen=True)
class Ack:
    seq: int | None  # None: a rejection of a message whose seq the gateway could not read
    status: str
    reason: str | None = None
    ledger_index: int | None = None

    @property
    def outcome(self) -> str:
        """``notarized``, ``duplicate`` or ``rejected:<reason>``."""
        return f"rejected:{self.reason or 'unspecified'}" if self.status == "rejected" \
            else self.status


def parse_ack(payload: bytes) -> Ack:
    """The gateway's answer ``{"seq", "status", "reason"?, "ledger_index"?}``."""
    try:
        body = json.loads(payload)
    except (ValueError, UnicodeDecodeError) as error:
        raise AckFormatError("ack is not JSON") from error
    if not isinstance(body, dict):
        raise AckFormatError("ack is not a JSON object")
    seq, status = body.get("seq"), body.get("status")
    if status not in ACK_STATUSES or not (_is_int(seq) or (seq is None and status == "rejected")):
        raise AckFormatError("ack lacks a known status, or an integer seq (null only when rejected)")
    reason, index = body.get("reason"), body.get("ledger_index")
    if (reason is not None and not isinstance(reason, str)) or \
            (index is not None and not _is_int(index)):
        raise AckFormatError("ack reason or ledger_index has the wrong type")
    return Ack(seq, status, reason, index)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass
class _Pending:
    jws: str
    info: mqtt.MQTTMessageInfo | None = None  # None: not handed to paho (yet)
    broker_acked: bool = False
    sent_at: float = 0.0  # time.monotonic() of the last publish
    sends: int = 0

    def overdue(self, now: float, resend_after: float) -> bool:
        wait = resend_after * 2 ** min(max(self.sends - 1, 0), _MAX_BACKOFF_DOUBLINGS)
        return now - self.sent_at >= wait


class Outbox:
    """Events published but not yet answered by the gateway, and the answers so
    far. Thread-safe: paho's network thread reports PUBACKs and acks."""

    def __init__(self, max_in_flight: int = DEFAULT_MAX_IN_FLIGHT) -> None:
        if not 1 <= max_in_flight <= 60_000:
            raise ValueError("max_in_flight must be 1 to 60,000 (paho has 65,535 packet ids)")
        self.max_in_flight = max_in_flight
        self.outcomes: Counter[str] = Counter()
        self.stray_acks = 0  # answers to nothing pending: repeats, earlier runs
        self._pending: dict[int, _Pending] = {}
        self._mids: dict[int, int] = {}  # paho packet id -> seq, until its PUBACK
        self._early: dict[int, Any] = {}  # PUBACKs that beat mark_sent
        self._lock = threading.Lock()

    def has_room(self) -> bool:
        with self._lock:
            return len(self._pending) < self.max_in_flight

    def add(self, seq: int, jws: str) -> None:
        """Keep ``jws`` until its answer; call before publishing it."""
        with self._lock:
            self._pending[seq] = _Pending(jws)

    def mark_sent(self, seq: int, info: mqtt.MQTTMessageInfo) -> None:
        """paho accepted the message (rc success or no connection yet)."""
        with self._lock:
            early = self._early.pop(info.mid, None)
            if early is None:
                self._mids[info.mid] = seq  # even if already answered: its PUBACK will come
            pending = self._pending.get(seq)
            if pending is None:
                return
            pending.info, pending.broker_acked = info, False
            pending.sent_at, pending.sends = time.monotonic(), pending.sends + 1
            if early is not None:
                self._broker_answered(seq, early)

    def mark_unsent(self, seq: int) -> None:
        """paho refused the message (its queue is full): publish it again later."""
        with self._lock:
            if seq in self._pending:
                self._pending[seq].info = None

    def broker_acked(self, mid: int, reason_code: Any) -> None:
        """paho's on_publish: the broker's PUBACK (reason code) for packet ``mid``."""
        with self._lock:
            seq = self._mids.pop(mid, None)
            if seq is None:
                self._early[mid] = reason_code
            elif seq in self._pending:
                self._broker_answered(seq, reason_code)

    def answer(self, ack: Ack) -> bool:
        """The gateway's answer: count it once and forget the event; False for strays."""
        with self._lock:
            if self._pending.pop(ack.seq, None) is None:
                self.stray_acks += 1
                return False
            self.outcomes[ack.outcome] += 1
            return True

    def to_resend(self, everything: bool = True, resend_after: float | None = None,
                  now: float | None = None) -> list[tuple[int, str]]:
        """Events to publish again: those paho never took, and among those the
        broker acknowledged (paho no longer holds them) all after a reconnect
        (``everything``), else the ones whose answer is overdue."""
        now = time.monotonic() if now is None else now
        with self._lock:
            return [(seq, p.jws) for seq, p in sorted(self._pending.items())
                    if p.info is None or ((p.broker_acked or _published(p.info)) and (
                        everything or (resend_after is not None
                                       and p.overdue(now, resend_after))))]

    def unanswered(self) -> list[tuple[int, str]]:
        with self._lock:
            return [(seq, p.jws) for seq, p in sorted(self._pending.items())]

    def __len__(self) -> int:
        with self._lock:
            return len(self._pending)

    def _broker_answered(self, seq: int, reason_code: Any) -> None:
        if getattr(reason_code, "is_failure", False):
            # The broker refused it (0x87: the ACL); sending it again cannot help.
            del self._pending[seq]
            self.outcomes[f"refused by broker:{reason_code}"] += 1
        else:
            self._pending[seq].broker_acked = True


def _published(info: mqtt.MQTTMessageInfo) -> bool:
    """paho's own view; it raises for a message queued while disconnected."""
    if info.rc != mqtt.MQTT_ERR_SUCCESS:
        return False
    return info.is_published()


def _guarded(handler):
    """Log a callback's exception instead of letting it end paho's network loop."""
    @functools.wraps(handler)
    def wrapper(self, *args, **kwargs):
        try:
            return handler(self, *args, **kwargs)
        except Exception:  # noqa: BLE001 - the loop must survive any handler bug
            log.exception("device %s: %s failed", self.credentials.device_id, handler.__name__)
    return wrapper


class DeviceClient:
    """One device's MQTT 5 connection (paho-mqtt 2, its own credentials and a
    persistent session): publishes events at QoS 1 and collects the acks.

    All publishing happens on the caller's thread (``publish_event``,
    ``service``); paho's network thread only records PUBACKs and acks.
    """

    def __init__(self, credentials: DeviceCredentials, host: str, port: int,
                 outbox: Outbox | None = None, *, keepalive: int = 30,
                 session_expiry: int = 3600,
                 resend_after: float | None = DEFAULT_RESEND_AFTER,
                 admit_within: float = DEFAULT_ADMIT_WITHIN) -> None:
        self.credentials = credentials
        self.host, self.port, self.keepalive = host, port, keepalive
        self.session_expiry = session_expiry
        self.resend_after = resend_after
        self.admit_within = admit_within
        self._admit_by = float("inf")  # set by start()
        self._refused: Any = None  # the last CONNACK refusing the credentials
        self.stopped_because: str | None = None  # why the device was stopped for good
        self._next_scan = 0.0
        self.outbox = outbox if outbox is not None else Outbox()
        self.published = 0
        self.resent = 0
        self.connections = 0
        self.refusals: Counter[str] = Counter()  # CONNACK failures by reason
        self.malformed_acks = 0
        self._connected = threading.Event()
        self._resend_due = threading.Event()
        self.client = self._make_client()

    def start(self) -> None:
        """Connect in the background; paho reconnects on its own after a loss."""
        self._admit_by = time.monotonic() + self.admit_within
        properties = Properties(PacketTypes.CONNECT)
        properties.SessionExpiryInterval = self.session_expiry
        self.client.connect_async(self.host, self.port, self.keepalive, clean_start=False,
                                  properties=properties)
        self.client.loop_start()

    def wait_connected(self, timeout: float) -> bool:
        """True once connected; False after ``timeout`` or as soon as the device stops."""
        deadline = time.monotonic() + timeout
        while not self._connected.wait(min(0.05, max(0.0, deadline - time.monotonic()))):
            if self.stopped or time.monotonic() >= deadline:
                return False
        return True

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    @property
    def stopped(self) -> bool:
        """Stopped for good (``stopped_because`` says why): it neither connects
        nor publishes again."""
        return self.stopped_because is not None

    def publish_event(self, seq: int, jws: str) -> None:
        """Keep the event and publish it (a stopped device only keeps it); check
        ``outbox.has_room()`` first."""
        self.outbox.add(seq, jws)
        if self.stopped:
            return
        self._publish(seq, jws)
        self.published += 1

    def service(self) -> int:
        """Call often from the owner's loop: publishes again what the gateway has
        not answered and paho no longer holds, all of it after a reconnect, the
        overdue part otherwise; the number re-sent."""
        now = time.monotonic()
        if self._refused is not None and not self.connections and now >= self._admit_by:
            self._stop(_refusal(self._refused))  # never admitted within admit_within
        if self.stopped:
            return 0
        reconnected = self._resend_due.is_set()
        if not reconnected and (self.resend_after is None or now < self._next_scan
                                or not self.connected):
            return 0
        self._resend_due.clear()
        if self.resend_after is not None:
            self._next_scan = now + min(1.0, self.resend_after / 4)
        again = self.outbox.to_resend(reconnected, self.resend_after, now)
        for seq, jws in again:
            self._publish(seq, jws)
        self.resent += len(again)
        return len(again)

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def _publish(self, seq: int, jws: str) -> None:
        info = self.client.publish(events_topic(self.credentials.device_id), jws.encode(), qos=1)
        if info.rc in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
            self.outbox.mark_sent(seq, info)  # NO_CONN: paho sends it on reconnect
        elif info.rc == mqtt.MQTT_ERR_QUEUE_SIZE:
            self.outbox.mark_unsent(seq)  # taken again by the next service()
        else:
            raise RuntimeError(f"paho refused to publish: {mqtt.error_string(info.rc)}")

    def _make_client(self) -> mqtt.Client:
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2,
                             client_id=self.credentials.device_id, protocol=mqtt.MQTTv5)
        if self.credentials.mqtt_password is not None:
            client.username_pw_set(self.credentials.device_id, self.credentials.mqtt_password)
        client.max_queued_messages_set(self.outbox.max_in_flight)
        client.reconnect_delay_set(min_delay=1, max_delay=8)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        client.on_message = self._on_message
        return client

    @_guarded
    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            self.refusals[str(reason_code)] += 1
            if reason_code.value in REFUSED_CREDENTIALS:
                self._refused = reason_code
                # Admitted before (the broker has put it out), or not admitted in time.
                if self.connections or time.monotonic() >= self._admit_by:
                    self._stop(_refusal(reason_code))
            return
        client.subscribe(acks_topic(self.credentials.device_id), qos=1)
        self.connections += 1
        self._connected.set()
        self._resend_due.set()

    @_guarded
    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        self._connected.clear()

    @_guarded
    def _on_publish(self, client, userdata, mid, reason_code, properties) -> None:
        self.outbox.broker_acked(mid, reason_code)

    @_guarded
    def _on_message(self, client, userdata, message) -> None:
        try:
            ack = parse_ack(message.payload)
        except AckFormatError:
            self.malformed_acks += 1
            return
        self.outbox.answer(ack)
        if ack.status == "rejected" and ack.reason == "revoked":
            self._stop("revoked (the gateway's answer)")

    def _stop(self, why: str) -> None:
        """Give the device up for good: paho neither reconnects nor sends again
        (from a callback too); its unanswered events stay in the outbox."""
        if self.stopped_because is None:
            self.stopped_because = why
            log.warning("device %s: %s, stopped", self.credentials.device_id, why)
        self.client.disconnect()


def _refusal(reason_code: Any) -> str:
    return f"refused by the broker ({str(reason_code).lower()})"
