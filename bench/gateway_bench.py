#!/usr/bin/env python3
"""Gateway benchmark: signed device events per second from publisher to
notarized entry, and their latency, against the two raw rates that bound it:
verifying the same signatures with pycryptodome, and a broker whose
subscriber only acknowledges.

    .venv/bin/python bench/gateway_bench.py --quick     # 3,000 events, under a minute
    .venv/bin/python bench/gateway_bench.py             # 20,000 events, also with inline checks
    .venv/bin/python bench/gateway_bench.py --postgres  # PostgreSQL instead of SQLite
    .venv/bin/python bench/gateway_bench.py --quick --gateway-env TZ_GATEWAY_BATCH_SIZE=256

What each figure includes (the table repeats it in short):

- ``events_per_s`` (burst): every event pre-signed, and its MQTT PUBLISH
  packet pre-encoded, before timing (the publisher's signing is not
  measured); each of the ``--devices`` simulated devices publishes its
  events at QoS 1 on its own connection, with its own client id, user name
  and password, to its own ``tz/devices/<id>/events`` (the broker runs the
  password and ACL files ``tradezone mqtt sync`` writes), as fast as
  Mosquitto takes them, to ``tradezone gateway`` running as its own process
  (its default options: checks in 2 worker processes); the rate is events /
  (last answer received - first publish). Each event: publish, broker, the
  gateway's checks, its batch transaction (ledger append, checkpoint,
  device_events row, commit), its PUBACK and its answer on
  ``tz/devices/<id>/acks`` (to which each device subscribes at QoS 1) back
  to its device. The devices and answer collector share the 2 cores with
  the gateway and the broker.
- The load generator (:class:`LoadGenerator`) is to MQTT what ``wrk`` is to
  HTTP: real MQTT 3.1.1 clients through the real broker, but as cheap per
  event as Python allows (pre-encoded packets written to non-blocking
  sockets, one thread and one select loop for all devices, PUBACKs counted,
  answers parsed and PUBACKed), so that its CPU is not taken from the
  gateway it measures: ~25 us per event where a paho client cost ~115 us.
  Debian's ``mosquitto_pub -l`` would cost a process per device, give no
  per-event send time for latencies, and still need a subscriber for the
  answers.
- ``latency_ms_p50/p99``: PUBLISH written to its device's socket to answer
  received, per event, in a
  second run paced at half the burst rate (a burst's latencies are mostly
  queueing: they are reported as ``burst_latency_ms_*``).
- ``raw_verify_per_s``: ``ledger.jws.parse_compact`` + ``PublicKey.verify``
  (pycryptodome) of the same tokens, split over one process per CPU (the
  gateway's whole budget); ``raw_verify_1cpu_per_s`` in this process alone.
  Keys loaded before timing.
- ``raw_broker_per_s``: the same payloads, topics and publisher, through the
  same Mosquitto, to a subscriber process (paho, MQTT 5, manual ack,
  Receive Maximum as the gateway's) that only acknowledges each message;
  events / (last message acknowledged - first publish).
- ``inline_events_per_s`` (not with --quick): the burst again with
  ``TZ_GATEWAY_VERIFY_WORKERS=0`` (checks in the gateway's own batching
  thread), to justify the default.
- ``cpu_us_per_event_*``: user + system CPU time per event of the best burst,
  by process (from /proc): the gateway's main process, its check workers,
  Mosquitto, the PostgreSQL server (with --postgres) and this process (the
  publisher and answer collector). Their sum bounds the rate on 2 CPUs.

Rates are the best of 2 runs (--quick) or 3, each gateway run on a fresh copy
of a template database (so every run starts from the same state and the same
pre-signed events serve every run); the machine is shared, and the table
lists every run. After each gateway run the benchmark checks that every event
was notarized exactly once, answered ``notarized``, and that the stored log
verifies.
The last line printed is one JSON object of all figures. Every process
started (broker, gateway, PostgreSQL, subscriber) is stopped and every temp
file removed, also on Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import itertools
import json
import multiprocessing
import os
import platform as pyplatform
import re
import secrets
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))

import paho.mqtt.client as mqtt  # noqa: E402
from paho.mqtt.packettypes import PacketTypes  # noqa: E402
from paho.mqtt.properties import Properties  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

import ledger  # noqa: E402
from app.config import Config  # noqa: E402
from app.db import make_engine  # noqa: E402
from app.devices.broker_config import (  # noqa: E402
    GATEWAY_ITERATIONS, PasswordEntry, hash_password, render_acl_file, render_password_file)
from app.devices.models import DeviceEvent  # noqa: E402
from app.identity.models import Role  # noqa: E402
from app.identity.services import create_organization  # noqa: E402
from app.logcheck import check_platform_log  # noqa: E402
from app.migrate import upgrade  # noqa: E402
from app.platform import build_platform  # noqa: E402
from iot_gateway.config import GatewayOptions  # noqa: E402
from ledger.jws import parse_compact  # noqa: E402
from ledger.publickeys import load_public_key  # noqa: E402
from tests.iot_gateway.helpers import GatewayBroker, forget_session, register_device  # noqa: E402
from tests.services.mosquitto import MosquittoBroker  # noqa: E402
from tests.services.ports import free_port  # noqa: E402
import harness  # noqa: E402
import report  # noqa: E402
from report import fmt, percentile, print_table, ratio  # noqa: E402

GATEWAY_ENV: dict[str, str] = {}  # --gateway-env KEY=VALUE
GOAL_EVENTS_PER_S = 5000
GOAL_SHARE_OF_RAW = 0.5
TRADEZONE = Path(sys.executable).parent / "tradezone"
perf = time.perf_counter


@dataclass(frozen=True)
class Settings:
    events: int
    devices: int
    algs: tuple[str, ...]
    postgres: bool
    quick: bool
    paced_share: float
    tmpdir: str | None


def parse_args(argv: Sequence[str] | None = None) -> Settings:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="3,000 events (under a minute)")
    parser.add_argument("--events", type=int, help="events per run (default 20,000; quick 3,000)")
    parser.add_argument("--devices", type=int, default=20, help="simulated devices (default 20)")
    parser.add_argument("--algs", default="EdDSA,ES256",
                        help="device algorithms, used in turn (default EdDSA,ES256)")
    parser.add_argument("--postgres", action="store_true",
                        help="a throwaway PostgreSQL cluster instead of SQLite")
    parser.add_argument("--paced-share", type=float, default=0.5,
                        help="latency run's rate as a share of the burst rate (default 0.5)")
    parser.add_argument("--tmpdir", help="where the database and broker files go")
    parser.add_argument("--gateway-env", action="append", default=[], metavar="TZ_GATEWAY_X=V",
                        help="a gateway option for every gateway run (repeatable)")
    args = parser.parse_args(argv)
    for item in args.gateway_env:
        name, equals, value = item.partition("=")
        if not (equals and name.startswith("TZ_GATEWAY_")):
            parser.error(f"--gateway-env: TZ_GATEWAY_<OPTION>=<value>, not {item!r}")
        GATEWAY_ENV[name] = value
    algs = tuple(a.strip() for a in args.algs.split(",") if a.strip())
    if not algs or set(algs) - {"EdDSA", "ES256"}:
        parser.error("--algs: EdDSA and/or ES256")
    return Settings(args.events or (3_000 if args.quick else 20_000), args.devices, algs,
                    args.postgres, args.quick, args.paced_share, args.tmpdir)


# -- results -------------------------------------------------------------------

@dataclass
class Row:
    measurement: str
    figure: float | str
    unit: str
    includes: str
    ratio: str = "-"


class Results(report.Results):
    def row(self, *args, **kwargs) -> None:
        self.rows.append(Row(*args, **kwargs))


def log_progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# -- set-up --------------------------------------------------------------------

@dataclass(frozen=True)
class Event:
    device_id: str
    seq: int
    token: bytes


@dataclass
class Setup:
    """A migrated template database (devices registered) and the broker.
    Every gateway run gets a fresh copy, so the same pre-signed events serve
    every run and each run starts from the same database."""

    key_file: Path
    devices: list
    broker: MosquittoBroker
    new_database: Callable[[], str]
    mqtt_passwords: dict[str, str]  # user name (device id, or the gateway's) -> password

    def config(self, url: str) -> Config:
        return Config(database_url=url, ledger_key_file=self.key_file)


class QuietBroker(GatewayBroker):
    """The tests' throwaway Mosquitto as the gateway needs it, logging errors
    and warnings only: its ``log_type all`` writes a line per packet, which
    would slow the broker measurably here (a production broker would not log that)."""

    def _write_config(self) -> None:
        super()._write_config()
        text = self.config_path.read_text().replace("log_type all\n",
                                                    "log_type error\nlog_type warning\n")
        self.config_path.write_text(text)


GATEWAY_USER = "tz-gateway"


def write_broker_auth(workdir: Path, users: Sequence[str]) -> tuple[Path, Path, dict[str, str]]:
    """The broker's password and ACL files as ``tradezone mqtt sync`` writes them
    (each device publishes only its own events and reads only its own acks),
    with a fresh password per user; returns both paths and the passwords."""
    passwords = {user: secrets.token_urlsafe(24) for user in users}
    passwords[GATEWAY_USER] = secrets.token_urlsafe(24)
    entries = [PasswordEntry(user, hash_password(password, iterations=GATEWAY_ITERATIONS
                                                 if user == GATEWAY_USER else 101))
               for user, password in passwords.items()]
    password_file, acl_file = workdir / "mqtt-passwd", workdir / "mqtt-acl"
    for path, text in ((password_file, render_password_file(entries)),
                       (acl_file, render_acl_file(GATEWAY_USER))):
        path.write_text(text)
        path.chmod(0o600)
    return password_file, acl_file, passwords


def make_setup(stack: ExitStack, settings: Settings, workdir: Path) -> Setup:
    copies = itertools.count(1)
    if settings.postgres:
        from tests.services.postgres import PostgresCluster
        log_progress("starting a throwaway PostgreSQL cluster on 127.0.0.1")
        pg = stack.enter_context(PostgresCluster(durable=True))
        pg.create_database("gateway_template")
        url = pg.url("gateway_template")

        def new_database() -> str:
            name = f"gateway_run_{next(copies)}"
            pg.create_database(name, template="gateway_template")
            return pg.url(name)
    else:
        template = workdir / "template.sqlite3"
        url = f"sqlite:///{template}"

        def new_database() -> str:
            path = workdir / f"run-{next(copies)}.sqlite3"
            shutil.copyfile(template, path)
            return f"sqlite:///{path}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    key_file = workdir / "ledger.pem"
    platform = build_platform(Config(database_url=url, ledger_key_file=key_file))
    try:
        with platform.db.write() as session:
            platform.notary.ensure_checkpoint(session)
            org, _token = create_organization(session, platform.notary, "Bench Customs",
                                              Role.CUSTOMS, platform.now())
        devices = [register_device(platform, org.id, settings.algs[n % len(settings.algs)],
                                   f"bench-{n:03d}") for n in range(settings.devices)]
    finally:
        platform.db.dispose()  # the template must be idle (and checkpointed) to be copied
    password_file, acl_file, passwords = write_broker_auth(
        workdir, [device.device_id for device in devices])
    broker = QuietBroker(allow_anonymous=False, password_file=password_file, acl_file=acl_file)
    stack.callback(broker.stop)
    broker.start()
    return Setup(key_file, devices, broker, new_database, passwords)


def sign_events(devices, count: int, first_seq: int) -> list[Event]:
    """``count`` events round-robin over ``devices``, seqs from ``first_seq``."""
    events = []
    for n in range(count):
        device = devices[n % len(devices)]
        seq = first_seq + n // len(devices)
        events.append(Event(device.device_id, seq, device.sign(device.event(
            seq, type_="customs.scan", data={"container": f"MSCU{n:07d}", "result": "clear"},
            shipment=f"SHP-{n % 97:04d}"))))
    return events


# -- (a) raw signature verification --------------------------------------------

def _verify_tokens(jobs: list[tuple[str, str, bytes]]) -> int:
    keys = {(alg, jwk) for alg, jwk, _ in jobs}
    loaded = {key: load_public_key(*key) for key in keys}
    started = perf()
    for alg, jwk, token in jobs:
        jws = parse_compact(token)
        loaded[(alg, jwk)].verify(jws.signing_input, jws.signature)
    return perf() - started


def measure_raw_verify(devices, events: list[Event], repeats: int) -> tuple[float, float]:
    """Signatures per second: in this process, and split over one process per CPU."""
    jwks = {d.device_id: (d.alg, json.dumps(ledger.jws.public_key_of(d.key, d.alg).to_jwk(),
                                            sort_keys=True)) for d in devices}
    jobs = [(*jwks[e.device_id], e.token) for e in events]
    one_cpu = best_of(repeats, lambda: len(jobs) / _verify_tokens(jobs))
    cpus = os.cpu_count() or 1
    with ProcessPoolExecutor(cpus, mp_context=multiprocessing.get_context("spawn")) as pool:
        list(pool.map(_verify_tokens, [jobs[:cpus]] * cpus))  # start and warm the workers

        def all_cpus() -> float:
            started = perf()
            list(pool.map(_verify_tokens, [jobs[n::cpus] for n in range(cpus)]))
            return len(jobs) / (perf() - started)

        return one_cpu, best_of(repeats, all_cpus)


# -- (b) raw broker ------------------------------------------------------------

def _ack_only_subscriber(host: str, port: int, password: str, expected: int,
                         receive_maximum: int, ready, done) -> None:
    """A subscriber process that acknowledges every message at once."""
    count = 0

    def on_message(client, userdata, message):
        nonlocal count
        client.ack(message.mid, message.qos)
        count += 1
        if count == expected:
            done.set()

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-ack-only",
                         protocol=mqtt.MQTTv5, manual_ack=True)
    client.username_pw_set(GATEWAY_USER, password)
    client.on_message = on_message
    client.on_subscribe = lambda *args: ready.set()
    client.on_connect = lambda c, *args: c.subscribe("tz/devices/+/events", qos=1)
    properties = Properties(PacketTypes.CONNECT)
    properties.ReceiveMaximum = receive_maximum
    client.connect(host, port, clean_start=True, properties=properties)
    client.loop_start()
    done.wait(600)
    client.disconnect()
    client.loop_stop()


def measure_raw_broker(setup: Setup, events: list[Event]) -> float:
    """Messages per second through the broker to a subscriber that only acks."""
    context = multiprocessing.get_context("spawn")
    ready, done = context.Event(), context.Event()
    subscriber = context.Process(target=_ack_only_subscriber, args=(
        setup.broker.host, setup.broker.port, setup.mqtt_passwords[GATEWAY_USER], len(events),
        GatewayOptions().receive_maximum, ready, done))
    subscriber.start()
    try:
        if not ready.wait(30):
            raise RuntimeError("the ack-only subscriber did not subscribe")
        load = device_load(setup, answers=False)
        try:
            started = load.run(load.encode(events))
            if not done.wait(300):
                raise RuntimeError("the ack-only subscriber did not get every message")
            elapsed = perf() - started
        finally:
            load.close()
    finally:
        subscriber.join(timeout=30)
        if subscriber.is_alive():
            subscriber.kill()
    return len(events) / elapsed


# -- the load generator: one raw MQTT 3.1.1 connection per simulated device -------

MQTT_CONNACK, MQTT_PUBLISH, MQTT_PUBACK, MQTT_SUBACK = 2, 3, 4, 9
DEVICE_WINDOW = 1000  # QoS 1 publishes in flight per device (iot_gateway.device_client's default)


def _mqtt_string(text: str | bytes) -> bytes:
    data = text.encode() if isinstance(text, str) else text
    return len(data).to_bytes(2, "big") + data


def _mqtt_packet(first_byte: int, body: bytes) -> bytes:
    """Fixed header (MQTT 3.1.1 section 2.2: the variable-length remaining length) + body."""
    length, encoded = len(body), bytearray()
    while True:
        length, digit = divmod(length, 128)
        encoded.append(digit | (0x80 if length else 0))
        if not length:
            return bytes([first_byte]) + bytes(encoded) + body


def mqtt_connect(client_id: str, username: str, password: str) -> bytes:
    """CONNECT, MQTT 3.1.1, clean session, user name and password, no keep-alive."""
    body = (_mqtt_string("MQTT") + bytes([4, 0x80 | 0x40 | 0x02]) + (0).to_bytes(2, "big")
            + _mqtt_string(client_id) + _mqtt_string(username) + _mqtt_string(password))
    return _mqtt_packet(0x10, body)


def mqtt_subscribe(packet_id: int, topic: str, qos: int) -> bytes:
    return _mqtt_packet(0x82, packet_id.to_bytes(2, "big") + _mqtt_string(topic) + bytes([qos]))


def mqtt_publish_qos1(packet_id: int, topic: str, payload: bytes) -> bytes:
    return _mqtt_packet(0x32, _mqtt_string(topic) + packet_id.to_bytes(2, "big") + payload)


def mqtt_puback(packet_id: int) -> bytes:
    return b"\x40\x02" + packet_id.to_bytes(2, "big")


def split_mqtt_packets(buffer: bytearray) -> list[tuple[int, int, bytes]]:
    """(type, flags, body) of each whole packet at the start of ``buffer``, which
    loses them; a partial packet stays there for the next read."""
    packets, start, size = [], 0, len(buffer)
    while size - start >= 2:
        length, shift, at = 0, 0, start + 1
        while at < size:
            digit = buffer[at]
            length |= (digit & 0x7F) << shift
            at, shift = at + 1, shift + 7
            if not digit & 0x80:
                break
        else:
            break
        if at + length > size:
            break
        packets.append((buffer[start] >> 4, buffer[start] & 0x0F, bytes(buffer[at:at + length])))
        start = at + length
    del buffer[:start]
    return packets


class DeviceConnection:
    """One simulated device's own MQTT connection: its client id, user name and
    password, publishing only to its events topic and subscribed (QoS 1) to its
    acks topic. The PUBLISH packets are encoded in advance, the socket is
    non-blocking and driven by :class:`LoadGenerator`."""

    def __init__(self, host: str, port: int, device_id: str, password: str,
                 answers: bool) -> None:
        self.device_id = device_id
        self.acks_topic = f"tz/devices/{device_id}/acks".encode()
        self.sock = socket.create_connection((host, port), timeout=30)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.inbuf = bytearray()
        self.outbox = bytearray()
        self.pending: deque[tuple[int, bytes]] = deque()  # (seq, PUBLISH) due, not yet sent
        self.in_flight = 0
        self.waiting_to_write = False  # registered for EVENT_WRITE
        self._handshake(mqtt_connect(device_id, device_id, password), MQTT_CONNACK)
        if answers:
            self._handshake(mqtt_subscribe(1, self.acks_topic.decode(), 1), MQTT_SUBACK)
        self.sock.setblocking(False)

    def _handshake(self, packet: bytes, answer_type: int) -> None:
        self.sock.sendall(packet)
        while True:
            self.inbuf += self.sock.recv(4096) or b""
            for kind, _flags, body in split_mqtt_packets(self.inbuf):
                if kind != answer_type or body[-1] >= 0x80 or (kind == MQTT_CONNACK and body[1]):
                    raise RuntimeError(f"{self.device_id}: the broker refused "
                                       f"(packet type {kind}, code {body[-1]})")
                return

    def release(self, now: float, sent: dict) -> None:
        """Move due events into the outbox while the device's window allows."""
        while self.pending and self.in_flight < DEVICE_WINDOW:
            seq, packet = self.pending.popleft()
            self.outbox += packet
            self.in_flight += 1
            sent[(self.device_id, seq)] = now

    def flush(self) -> None:
        if self.outbox:
            try:
                del self.outbox[:self.sock.send(self.outbox)]
            except BlockingIOError:
                pass

    def close(self) -> None:
        try:
            self.sock.setblocking(True)
            self.sock.sendall(b"\xe0\x00")  # DISCONNECT
        except OSError:
            pass
        self.sock.close()


class LoadGenerator:
    """The benchmark's devices, like ``wrk`` for HTTP (see the module docstring
    for why not paho nor ``mosquitto_pub``): real MQTT clients through the
    real broker with each device's own credentials and topic, publishing
    pre-signed, pre-encoded events at QoS 1 from one thread and one select
    loop, with at most ``DEVICE_WINDOW`` unacknowledged per device."""

    def __init__(self, broker, credentials: dict[str, str], answers: bool) -> None:
        self.answers = answers
        self.connections = {device_id: DeviceConnection(broker.host, broker.port, device_id,
                                                        password, answers)
                            for device_id, password in credentials.items()}
        self.sent: dict[tuple[str, int], float] = {}
        self.answered: dict[tuple[str, int], float] = {}
        self.statuses: dict[str, int] = {}
        self.acknowledged = 0  # PUBACKs from the broker
        self._packet_ids = {device_id: itertools.count() for device_id in credentials}
        self._selector = selectors.DefaultSelector()
        for connection in self.connections.values():
            self._selector.register(connection.sock, selectors.EVENT_READ, connection)

    def encode(self, events: Sequence[Event]) -> list[tuple[DeviceConnection, int, bytes]]:
        """Each event's PUBLISH (QoS 1, packet ids 2..65535 in turn), before timing."""
        encoded = []
        for event in events:
            packet_id = next(self._packet_ids[event.device_id]) % 65534 + 2
            encoded.append((self.connections[event.device_id], event.seq, mqtt_publish_qos1(
                packet_id, f"tz/devices/{event.device_id}/events", event.token)))
        return encoded

    def run(self, encoded: list[tuple[DeviceConnection, int, bytes]],
            pace_per_s: float | None = None, timeout_s: float = 600) -> float:
        """Publish ``encoded`` (all at once, or at ``pace_per_s``) until every one
        is acknowledged by the broker and, with answers, answered; returns the
        time of the first publish."""
        started = perf()
        released, deadline = 0, started + timeout_s
        while not self._finished(len(encoded)):
            now = perf()
            if now > deadline:
                raise RuntimeError(f"{len(self.answered)} answers and {self.acknowledged} "
                                   f"PUBACKs of {len(encoded)} events within {timeout_s}s")
            due = len(encoded) if pace_per_s is None else min(
                len(encoded), int((now - started) * pace_per_s) + 1)
            for connection, seq, packet in encoded[released:due]:
                connection.pending.append((seq, packet))
            released = due
            self._exchange(now, 0.01 if released < len(encoded) else 0.5)
        return started

    def _finished(self, count: int) -> bool:
        """Every event PUBACKed by the broker, and answered when answers count."""
        return self.acknowledged >= count and (not self.answers or len(self.answered) >= count)

    def _exchange(self, now: float, wait_s: float) -> None:
        for connection in self.connections.values():
            connection.release(now, self.sent)
            connection.flush()
            if bool(connection.outbox) != connection.waiting_to_write:
                connection.waiting_to_write = bool(connection.outbox)
                self._selector.modify(connection.sock, selectors.EVENT_READ | (
                    selectors.EVENT_WRITE if connection.outbox else 0), connection)
        for key, mask in self._selector.select(wait_s):
            if mask & selectors.EVENT_READ:
                self._read(key.data)

    def _read(self, connection: DeviceConnection) -> None:
        try:
            data = connection.sock.recv(262144)
        except BlockingIOError:
            return
        if not data:
            raise RuntimeError(f"{connection.device_id}: the broker closed the connection")
        now = perf()
        connection.inbuf += data
        for kind, flags, body in split_mqtt_packets(connection.inbuf):
            if kind == MQTT_PUBACK:
                connection.in_flight -= 1
                self.acknowledged += 1
            elif kind == MQTT_PUBLISH:
                self._answer(connection, flags, body, now)

    def _answer(self, connection: DeviceConnection, flags: int, body: bytes,
                now: float) -> None:
        """An answer on the device's acks topic (PUBACKed when QoS 1)."""
        topic_end = 2 + int.from_bytes(body[:2], "big")
        if body[2:topic_end] != connection.acks_topic:
            raise RuntimeError(f"{connection.device_id}: a message on {body[2:topic_end]!r}")
        if flags & 0x06:
            connection.outbox += mqtt_puback(int.from_bytes(body[topic_end:topic_end + 2], "big"))
            topic_end += 2
        answer = json.loads(body[topic_end:])
        self.statuses[answer["status"]] = self.statuses.get(answer["status"], 0) + 1
        self.answered.setdefault((connection.device_id, answer["seq"]), now)

    def close(self) -> None:
        self._selector.close()
        for connection in self.connections.values():
            connection.close()


def device_load(setup: Setup, answers: bool) -> LoadGenerator:
    """The benchmark's devices, connected (and subscribed to their acks if ``answers``)."""
    return LoadGenerator(setup.broker, {device.device_id: setup.mqtt_passwords[device.device_id]
                                        for device in setup.devices}, answers)


# -- end to end ------------------------------------------------------------------

class GatewayProcess:
    """``tradezone gateway`` with the benchmark's database and broker."""

    def __init__(self, setup: Setup, url: str, workdir: Path, workers: int) -> None:
        self.metrics_port = free_port()
        self.client_id = f"bench-gateway-{workers}"
        self.log_path = workdir / f"gateway-{workers}.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith("TZ_")}
        env.update({"TZ_DATABASE_URL": url, "TZ_LEDGER_KEY_FILE": str(setup.key_file),
                    "TZ_MQTT_HOST": setup.broker.host, "TZ_MQTT_PORT": str(setup.broker.port),
                    "TZ_MQTT_USERNAME": GATEWAY_USER,
                    "TZ_MQTT_PASSWORD": setup.mqtt_passwords[GATEWAY_USER],
                    "TZ_GATEWAY_CLIENT_ID": self.client_id,
                    "TZ_GATEWAY_METRICS_PORT": str(self.metrics_port),
                    "TZ_GATEWAY_VERIFY_WORKERS": str(workers), **GATEWAY_ENV})
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen([str(TRADEZONE), "gateway"], env=env,
                                         stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        deadline = time.monotonic() + 60
        while '"event":"subscribed"' not in self.log_path.read_text(errors="replace")[offset:]:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the gateway did not start:\n" + self.log_path.read_text())
            time.sleep(0.05)

    def metric(self, name: str) -> float:
        text = urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics",
                                      timeout=5).read().decode()
        match = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
        return float(match.group(1)) if match else float("nan")

    def stop(self) -> int | None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)
        return self.proc.returncode


@dataclass
class RunFigures:
    rate: float
    p50_ms: float
    p99_ms: float
    mean_batch: float
    cpu_us: dict[str, float]  # CPU time per event, by process


def _children(pid: int) -> list[int]:
    return [child for child in harness.live_pids()
            if (fields := harness.process_stat(child)) is not None and int(fields[1]) == pid]


def _descendants_named(pid: int, name: str) -> list[int]:
    found, todo = [], [pid]
    while todo:
        for child in _children(todo.pop()):
            todo.append(child)
            try:
                if Path(f"/proc/{child}/comm").read_text().strip() == name:
                    found.append(child)
            except OSError:
                pass
    return found


class CpuMeter:
    """CPU seconds used by the gateway, its check workers, the broker, the
    PostgreSQL server (its processes alive at the end) and this process."""

    def __init__(self, gateway_pid: int) -> None:
        self.groups = {"gateway main": [gateway_pid],
                       "check workers": _children(gateway_pid),
                       "broker": _descendants_named(os.getpid(), "mosquitto")}
        self.postgres = _descendants_named(os.getpid(), "postgres")
        self.start = self._sample()

    def _sample(self) -> dict[str, float]:
        sample = {name: sum(map(harness.process_cpu_seconds, pids))
                  for name, pids in self.groups.items()}
        if self.postgres:
            # Backends started meanwhile (the gateway's connections) count from 0.
            self.postgres = sorted(set(self.postgres)
                                   | set(_descendants_named(os.getpid(), "postgres")))
            sample["postgresql server"] = sum(map(harness.process_cpu_seconds, self.postgres))
        sample["publisher + collector"] = sum(os.times()[:2])
        return sample

    def per_event_us(self, events: int) -> dict[str, float]:
        end = self._sample()
        return {name: (end[name] - self.start.get(name, 0.0)) / events * 1e6 for name in end}


def run_end_to_end(setup: Setup, workdir: Path, events: list[Event], workers: int,
                   pace_per_s: float | None = None) -> RunFigures:
    """Publish ``events`` (all at once, or at ``pace_per_s``) to a fresh gateway
    process on a fresh copy of the database; check what it stored afterwards."""
    url = setup.new_database()
    gateway = GatewayProcess(setup, url, workdir, workers)
    load = None
    try:
        load = device_load(setup, answers=True)
        encoded = load.encode(events)  # before timing, as the signatures
        meter = CpuMeter(gateway.proc.pid)
        started = load.run(encoded, pace_per_s)
        elapsed = max(load.answered.values()) - started
        cpu_us = meter.per_event_us(len(events))
        mean_batch = (gateway.metric("tz_gateway_batch_size_sum")
                      / gateway.metric("tz_gateway_batch_size_count"))
    finally:
        if load is not None:
            load.close()
        status = gateway.stop()
        # Drop its broker session, or the broker would queue later runs' events for it.
        forget_session(setup.broker.host, setup.broker.port, gateway.client_id,
                       GATEWAY_USER, setup.mqtt_passwords[GATEWAY_USER])
    if status != 0:
        raise RuntimeError(f"the gateway exited with {status} on SIGTERM")
    if load.statuses != {"notarized": len(events)}:
        raise RuntimeError(f"answers were not all 'notarized': {load.statuses}")
    if set(load.answered) != {(event.device_id, event.seq) for event in events}:
        raise RuntimeError("the answers do not name exactly the events published")
    check_stored(setup.config(url), len(events))
    latencies = [(load.answered[key] - sent) * 1000 for key, sent in load.sent.items()]
    return RunFigures(len(events) / elapsed, percentile(latencies, 50),
                      percentile(latencies, 99), mean_batch, cpu_us)


def check_stored(config: Config, expected_events: int) -> None:
    """Every event notarized exactly once, and the whole log verifies."""
    platform = build_platform(config)
    try:
        _check_platform(platform, expected_events)
    finally:
        platform.db.dispose()


def _check_platform(platform, expected_events: int) -> None:
    with platform.db.read() as session:
        stored = session.scalar(select(func.count()).select_from(DeviceEvent))
        distinct = session.execute(select(func.count()).select_from(
            select(DeviceEvent.device_id, DeviceEvent.seq).distinct().subquery())).scalar()
    report = check_platform_log(platform)
    if stored != expected_events or distinct != expected_events:
        raise RuntimeError(f"{stored} device_events ({distinct} distinct), "
                           f"expected {expected_events}")
    if not report.ok:
        raise RuntimeError(f"the log does not verify: {report.problems[:3]}")


# -- output ----------------------------------------------------------------------

def print_rows(rows: list[Row]) -> None:
    print_table(("measurement", "figure", "unit", "ratio", "what it includes"),
                ("<", ">", "<", ">", "<"),
                [(r.measurement, fmt(r.figure), r.unit, r.ratio, r.includes) for r in rows])


def add_goals(results: Results) -> None:
    f = results.figures
    lower_raw = min(f["raw_verify_per_s"], f["raw_broker_per_s"])
    results.put("ratio_to_raw_verify", round(f["events_per_s"] / f["raw_verify_per_s"], 3))
    results.put("ratio_to_raw_broker", round(f["events_per_s"] / f["raw_broker_per_s"], 3))
    results.put("goal_events_per_s_met", f["events_per_s"] >= GOAL_EVENTS_PER_S)
    results.put("goal_half_of_raw_met", f["events_per_s"] >= GOAL_SHARE_OF_RAW * lower_raw)
    results.row(f"GOAL end-to-end >= {GOAL_EVENTS_PER_S:,}/s", f["events_per_s"], "events/s",
                "met" if f["goal_events_per_s_met"] else "NOT MET",
                ratio(f["events_per_s"], GOAL_EVENTS_PER_S))
    results.row(f"GOAL end-to-end >= {GOAL_SHARE_OF_RAW:.0%} of min(raw verify, raw broker)",
                f["events_per_s"], "events/s",
                "met" if f["goal_half_of_raw_met"] else "NOT MET",
                ratio(f["events_per_s"], lower_raw))


# -- main ------------------------------------------------------------------------

def best_of(repeats: int, measure: Callable[[], float]) -> float:
    return max(measure() for _ in range(repeats))


def run(settings: Settings, results: Results) -> None:
    repeats = 2 if settings.quick else 3
    results.put("repeats", repeats)
    with ExitStack() as stack:
        workdir = stack.enter_context(harness.temporary_dir("tz-gateway-bench-", settings.tmpdir))
        log_progress(f"set-up: {'PostgreSQL' if settings.postgres else 'SQLite'}, Mosquitto, "
                     f"{settings.devices} devices ({'/'.join(settings.algs)})")
        setup = make_setup(stack, settings, workdir)
        log_progress(f"pre-signing {settings.events:,} events")
        events = sign_events(setup.devices, settings.events, 1)
        paced = events[:max(500, settings.events // 3)]

        log_progress(f"(a) raw signature verification, best of {repeats}")
        one_cpu, all_cpus = measure_raw_verify(setup.devices, events, repeats)
        cpus = os.cpu_count() or 1
        results.put("raw_verify_per_s", round(all_cpus))
        results.put("raw_verify_1cpu_per_s", round(one_cpu))
        results.put("raw_verify_us_per_signature_1cpu", round(1e6 / one_cpu))
        results.row(f"(a) raw verify, {cpus} processes", all_cpus, "sig/s",
                    "parse_compact + pycryptodome verify of the same tokens, pool warm")
        results.row("(a) raw verify, 1 process", one_cpu, "sig/s",
                    f"same, {1e6 / one_cpu:.0f} us per signature")
        log_progress(f"(b) raw broker rate, best of {repeats}")
        broker_rate = best_of(repeats, lambda: measure_raw_broker(setup, events))
        results.put("raw_broker_per_s", round(broker_rate))
        results.row("(b) raw broker", broker_rate, "msg/s",
                    "same publisher and payloads, QoS 1, subscriber process only acks")
        lower = min(all_cpus, broker_rate)

        log_progress(f"end to end, bursts of {len(events):,} events, best of {repeats}")
        bursts = [run_end_to_end(setup, workdir, events, workers=2) for _ in range(repeats)]
        best = max(bursts, key=lambda figures: figures.rate)
        results.put("events_per_s", round(best.rate))
        results.put("events_per_s_runs", [round(figures.rate) for figures in bursts])
        results.put("burst_latency_ms_p50", round(best.p50_ms, 1))
        results.put("burst_latency_ms_p99", round(best.p99_ms, 1))
        results.put("mean_batch", round(best.mean_batch, 1))
        results.row("end to end, burst", best.rate, "events/s",
                    "publish -> checks (2 workers) -> commit -> answer received",
                    ratio(best.rate, lower))
        results.row("  all runs", " / ".join(f"{f.rate:,.0f}" for f in bursts), "events/s",
                    "each on a fresh copy of the database")
        results.row("  burst latency p50 / p99", f"{best.p50_ms:,.0f} / {best.p99_ms:,.0f}",
                    "ms", "mostly queueing: everything is published at once")
        results.row("  mean batch (gateway metric)", best.mean_batch, "events",
                    "events per transaction and checkpoint")
        for name, micros in best.cpu_us.items():
            results.put(f"cpu_us_per_event_{name.split()[0]}", round(micros))
            results.row(f"  CPU per event: {name}", micros, "us", "user + system time, this run")
        total = sum(best.cpu_us.values())
        results.row("  CPU per event: total", total, "us",
                    f"= {2e6 / total:,.0f} events/s if 2 CPUs were ours alone")

        if not settings.quick:
            log_progress(f"end to end, bursts of {len(events):,} events, inline checks")
            inline = max(run_end_to_end(setup, workdir, events, workers=0).rate
                         for _ in range(repeats))
            results.put("inline_events_per_s", round(inline))
            results.row("end to end, burst, checks inline (workers=0)", inline, "events/s",
                        "same, checks in the gateway's own batching thread",
                        ratio(inline, best.rate))

        pace = best.rate * settings.paced_share
        log_progress(f"end to end, {len(paced):,} events paced at {pace:,.0f}/s")
        paced_figures = run_end_to_end(setup, workdir, paced, workers=2, pace_per_s=pace)
        results.put("paced_rate_per_s", round(pace))
        results.put("latency_ms_p50", round(paced_figures.p50_ms, 1))
        results.put("latency_ms_p99", round(paced_figures.p99_ms, 1))
        results.row(f"latency p50, paced at {pace:,.0f}/s", paced_figures.p50_ms, "ms",
                    "PUBLISH sent -> answer received (includes the batch wait)")
        results.row(f"latency p99, paced at {pace:,.0f}/s", paced_figures.p99_ms, "ms", "same")


def main(argv: Sequence[str] | None = None) -> int:
    settings = parse_args(argv)
    harness.stop_on_sigterm()
    started = perf()
    results = Results()
    results.put("events", settings.events)
    results.put("devices", settings.devices)
    results.put("algs", list(settings.algs))
    results.put("backend", "postgresql" if settings.postgres else "sqlite")
    results.put("quick", settings.quick)
    results.put("gateway_env", dict(GATEWAY_ENV))
    results.put("loadavg_start", round(os.getloadavg()[0], 2))
    run(settings, results)
    add_goals(results)
    results.put("cpus", os.cpu_count())
    results.put("python", pyplatform.python_version())
    results.put("loadavg_end", round(os.getloadavg()[0], 2))
    results.put("elapsed_s", round(perf() - started, 1))
    options = GatewayOptions()
    print(f"\nGateway benchmark: {settings.events:,} signed events per run, "
          f"{settings.devices} devices ({'/'.join(settings.algs)}), "
          f"{results.figures['backend']}, {os.cpu_count()} CPUs, Python "
          f"{pyplatform.python_version()}; gateway defaults: batch {options.batch_size} / "
          f"{options.batch_ms} ms, {options.verify_workers} verify workers")
    print("ratio: end to end / the lower raw rate; inline / pooled; goals: figure / goal")
    print(f"1-minute load average: {results.figures['loadavg_start']} at start, "
          f"{results.figures['loadavg_end']} at end (other work on the machine skews figures)\n")
    print_rows(results.rows)
    report.print_json_line(results.figures)
    return 0


if __name__ == "__main__":
    harness.run(main)
