"""The device simulator and the device-side client, against a real Mosquitto and
a small in-test "gateway" that verifies each event and answers on the acks topic."""

from __future__ import annotations

import json
import os
import random
import re
import select
import signal
import stat
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from click.testing import CliRunner
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from werkzeug.serving import make_server

from app.cli import main
from app.devices.broker_config import PasswordEntry, hash_password, render_password_file
from app.identity.models import Role
from iot_gateway.device_client import (
    Ack, AckFormatError, DeviceClient, DeviceCredentials, Outbox, parse_ack, sign_event,
)
from iot_gateway.simulator import (
    KEYS_FORMAT, SEQ_BLOCK, EventSource, SimulatedDevice, Simulation, SimulationOptions,
    SimulatorError, container_check_digit, container_number, load_keys_file, prepare_devices,
    save_keys_file,
)
from ledger.jws import generate_private_key, parse_compact, public_key_of, verify_jws
from tests.services.mosquitto import MosquittoBroker

TIMEOUT = 10.0
RFC3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z")


class FakeGateway:
    """Subscribes to every device's events, verifies each JWS with the device's
    public key, and answers on its acks topic as contract section 5 says: a
    repeat with the same bytes is ``duplicate``, the same seq with other bytes
    ``rejected``/``replay``. ``answer`` may return None to stay silent."""

    def __init__(self, broker: MosquittoBroker, devices: list[SimulatedDevice],
                 answer: Callable[[str, int], dict | None] | None = None,
                 credentials: tuple[str, str] | None = None, persistent: bool = False) -> None:
        self.keys = {d.device_id: public_key_of(d.credentials().private_key, d.alg)
                     for d in devices}
        self.answer = answer or (lambda device_id, seq: {"status": "notarized"})
        self.received: dict[str, list[tuple[int, str]]] = defaultdict(list)
        self.payloads: dict[str, list[dict]] = defaultdict(list)
        self.stored: dict[tuple[str, int], str] = {}
        self.bad: list[str] = []
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="fake-gateway",
                                  protocol=mqtt.MQTTv5)
        if credentials:
            self.client.username_pw_set(*credentials)
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe("tz/devices/+/events", qos=1)
        self.client.on_subscribe = lambda *args: self._subscribed.set()
        self.client.on_message = self._on_message
        properties = Properties(PacketTypes.CONNECT)
        properties.SessionExpiryInterval = 300 if persistent else 0
        # persistent: like the real gateway, the broker keeps its subscription
        # and queues events for it across a graceful broker restart
        self.client.connect(broker.host, broker.port, clean_start=not persistent,
                            properties=properties)
        self.client.loop_start()
        assert self._subscribed.wait(TIMEOUT), "fake gateway did not subscribe"

    def times_seen(self, device_id: str) -> dict[int, int]:
        with self._lock:
            counts: dict[int, int] = defaultdict(int)
            for seq, _ in self.received[device_id]:
                counts[seq] += 1
            return counts

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def _on_message(self, client, userdata, message) -> None:
        try:
            self._handle(message)
        except Exception as error:  # noqa: BLE001 - recorded, asserted by the tests
            self.bad.append(f"{message.topic}: {error!r}")

    def _handle(self, message) -> None:
        device_id = message.topic.split("/")[2]
        jws = parse_compact(message.payload)
        assert jws.header == {"alg": self.keys[device_id].alg, "kid": device_id}
        payload = json.loads(verify_jws(jws, self.keys[device_id]))
        assert payload["device_id"] == device_id
        seq = payload["seq"]
        with self._lock:
            self.received[device_id].append((seq, jws.token))
            self.payloads[device_id].append(payload)
            answer = self.answer(device_id, seq)
            if answer is None:
                return
            earlier = self.stored.get((device_id, seq))
            if earlier is not None:
                answer = {"status": "duplicate"} if earlier == jws.token else \
                    {"status": "rejected", "reason": "replay"}
            elif answer["status"] == "notarized":
                self.stored[(device_id, seq)] = jws.token
                answer = {**answer, "ledger_index": len(self.stored)}
        self.client.publish(f"tz/devices/{device_id}/acks", json.dumps({"seq": seq, **answer}),
                            qos=1)


@pytest.fixture
def broker():
    """A broker of this test's own (these tests restart and kill it), in place
    of the session-wide one of tests/iot_gateway/conftest.py."""
    with MosquittoBroker() as running:
        yield running


def make_devices(tmp_path, count: int = 3) -> tuple[list[SimulatedDevice], object]:
    kinds, algs = ("scanner", "seal", "cold_chain_sensor"), ("ES256", "EdDSA")
    devices = [SimulatedDevice.new(f"sim-{n}", algs[n % 2], kinds[n % 3]) for n in range(count)]
    keys_file = tmp_path / "devices.json"
    save_keys_file(keys_file, devices)
    return devices, keys_file


def options(broker, **changes) -> SimulationOptions:
    values = {"rate": 20.0, "duration": 0.5, "host": broker.host, "port": broker.port,
              "ack_timeout": 10.0, "connect_timeout": 10.0}
    return SimulationOptions(**(values | changes))


# --- signing and parsing ---------------------------------------------------------------------

@pytest.mark.parametrize("alg", ["ES256", "EdDSA"])
def test_events_are_jws_the_registered_key_verifies(alg):
    key = generate_private_key(alg)
    credentials = DeviceCredentials("seal-1", alg, key)
    token = sign_event(credentials, 7, "seal.status", {"state": "closed"}, shipment="SHP-9")
    jws = parse_compact(token)
    assert jws.header == {"alg": alg, "kid": "seal-1"}
    payload = json.loads(verify_jws(jws, public_key_of(key, alg)))
    assert RFC3339.fullmatch(payload.pop("ts"))
    assert payload == {"device_id": "seal-1", "seq": 7, "type": "seal.status",
                       "data": {"state": "closed"}, "shipment": "SHP-9"}


@pytest.mark.parametrize("payload, expected", [
    (b'{"seq": 3, "status": "notarized", "ledger_index": 12}', Ack(3, "notarized", None, 12)),
    (b'{"seq": 4, "status": "duplicate"}', Ack(4, "duplicate")),
    (b'{"seq": 5, "status": "rejected", "reason": "replay"}', Ack(5, "rejected", "replay")),
    (b'{"seq": null, "status": "rejected", "reason": "malformed"}', Ack(None, "rejected", "malformed")),
])
def test_acks_are_parsed(payload, expected):
    assert parse_ack(payload) == expected


@pytest.mark.parametrize("payload", [b"", b"nope", b"[]", b'{"seq": "3", "status": "notarized"}',
                                     b'{"seq": true, "status": "notarized"}',
                                     b'{"seq": 3, "status": "fine"}',
                                     b'{"seq": null, "status": "notarized"}',
                                     b'{"seq": 3, "status": "rejected", "reason": 5}',
                                     b'{"seq": 3, "status": "notarized", "ledger_index": 1.5}',
                                     b"\xff\xfe"])
def test_malformed_acks_are_refused(payload):
    with pytest.raises(AckFormatError):
        parse_ack(payload)


def test_the_outbox_bounds_in_flight_events_and_counts_each_answer_once():
    outbox = Outbox(max_in_flight=2)
    outbox.add(1, "a")
    outbox.add(2, "b")
    assert not outbox.has_room() and len(outbox) == 2
    assert outbox.answer(Ack(1, "notarized", ledger_index=9))
    assert not outbox.answer(Ack(1, "duplicate"))  # a repeat's answer: counted once
    assert outbox.answer(Ack(2, "rejected", "bad_signature"))
    assert outbox.outcomes == {"notarized": 1, "rejected:bad_signature": 1}
    assert outbox.stray_acks == 1 and outbox.has_room()
    with pytest.raises(ValueError):
        Outbox(max_in_flight=65_535)


def _sent(outbox: Outbox, seq: int, mid: int) -> None:
    info = mqtt.MQTTMessageInfo(mid)
    info.rc = mqtt.MQTT_ERR_SUCCESS
    outbox.mark_sent(seq, info)


PUBACK_OK = ReasonCode(PacketTypes.PUBACK, "Success")


def test_overdue_answers_are_resent_with_a_doubling_wait():
    outbox = Outbox()
    outbox.add(1, "a")
    _sent(outbox, 1, mid=10)
    assert outbox.to_resend() == []  # paho still holds it: paho re-sends it, not us
    outbox.broker_acked(10, PUBACK_OK)
    sent_at = time.monotonic()
    assert outbox.to_resend(everything=True) == [(1, "a")]  # after a reconnect: at once
    assert outbox.to_resend(False, resend_after=10, now=sent_at + 5) == []
    assert outbox.to_resend(False, resend_after=10, now=sent_at + 11) == [(1, "a")]
    _sent(outbox, 1, mid=11)
    outbox.broker_acked(11, PUBACK_OK)
    again = time.monotonic()
    assert outbox.to_resend(False, resend_after=10, now=again + 11) == []  # now 20 s
    assert outbox.to_resend(False, resend_after=10, now=again + 21) == [(1, "a")]


def test_a_puback_that_beats_the_bookkeeping_still_counts():
    outbox = Outbox()
    outbox.add(1, "a")
    outbox.broker_acked(7, ReasonCode(PacketTypes.PUBACK, "Not authorized"))
    _sent(outbox, 1, mid=7)
    assert len(outbox) == 0 and outbox.outcomes == {"refused by broker:Not authorized": 1}


def test_container_numbers_carry_their_iso_6346_check_digit():
    assert container_check_digit("CSQU305438") == 3  # the standard's own example
    rng = random.Random(1)
    for _ in range(50):
        number = container_number(rng)
        assert re.fullmatch(r"[A-Z]{4}\d{7}", number)
        assert int(number[-1]) == container_check_digit(number[:10])


def test_each_kind_produces_its_event_type():
    types = {kind: EventSource(kind).next()[0] for kind in ("scanner", "seal",
                                                            "cold_chain_sensor")}
    assert types == {"scanner": "customs.scan", "seal": "seal.status",
                     "cold_chain_sensor": "sensor.temperature"}
    readings = [EventSource("seal").next()[1]["state"] for _ in range(20)]
    assert set(readings) <= {"open", "closed", "tampered"}


# --- whole runs -------------------------------------------------------------------------------

def test_a_run_publishes_signed_increasing_events_and_counts_the_acks(broker, tmp_path):
    devices, keys_file = make_devices(tmp_path)
    gateway = FakeGateway(broker, devices)
    try:
        summary = Simulation(devices, options(broker, shipment="SHP-42"), keys_file).run()
    finally:
        gateway.stop()
    assert gateway.bad == []
    assert summary.ok and summary.unanswered == 0
    per_device = {d.device_id: [seq for seq, _ in gateway.received[d.device_id]]
                  for d in devices}
    for device_id, seqs in per_device.items():
        assert seqs == list(range(1, len(seqs) + 1)), device_id  # strictly increasing
        assert 8 <= len(seqs) <= 11  # 20/s for 0.5 s
        assert {p["shipment"] for p in gateway.payloads[device_id]} == {"SHP-42"}
    assert summary.published == sum(map(len, per_device.values()))
    assert summary.as_dict()["notarized"] == summary.published
    assert summary.count("duplicate") == summary.count("rejected") == 0
    assert summary.algs == {"ES256": 2, "EdDSA": 1}


def test_seq_keeps_increasing_across_runs_and_the_keys_file_stays_private(broker, tmp_path):
    devices, keys_file = make_devices(tmp_path, count=2)
    gateway = FakeGateway(broker, devices)
    try:
        Simulation(load_keys_file(keys_file), options(broker), keys_file).run()
        after_first = {d.device_id: d.next_seq for d in load_keys_file(keys_file)}
        Simulation(load_keys_file(keys_file), options(broker), keys_file).run()
    finally:
        gateway.stop()
    assert stat.S_IMODE(keys_file.stat().st_mode) == 0o600
    assert json.loads(keys_file.read_text())["format"] == KEYS_FORMAT
    for device_id, next_seq in after_first.items():
        seqs = [seq for seq, _ in gateway.received[device_id]]
        assert seqs == sorted(set(seqs)) and seqs[0] == 1
        assert next_seq in seqs and next_seq - 1 in seqs  # the second run went on from there
    assert gateway.bad == []


def test_a_killed_run_never_reuses_a_seq(broker, tmp_path):
    """The keys file records a reserved block of seqs before events use it."""
    devices, keys_file = make_devices(tmp_path, count=1)
    gateway = FakeGateway(broker, devices)
    simulation = Simulation(devices, options(broker), keys_file)
    real_save = simulation._save
    simulation._save = lambda reserved: real_save(reserved) if reserved else None  # no final save
    try:
        simulation.run()
    finally:
        gateway.stop()
    used = max(seq for seq, _ in gateway.received["sim-0"])
    assert load_keys_file(keys_file)[0].next_seq == 1 + SEQ_BLOCK > used


def test_rejections_duplicates_and_silence_are_summarized(broker, tmp_path):
    devices, keys_file = make_devices(tmp_path, count=1)
    device_id = devices[0].device_id

    def answer(_, seq):
        if seq == 2:
            return {"status": "rejected", "reason": "bad_signature"}
        if seq == 3:
            return {"status": "duplicate"}
        if seq in (4, 5):
            return None  # the gateway never answers these
        return {"status": "notarized"}

    gateway = FakeGateway(broker, devices, answer)
    try:
        summary = Simulation(devices, options(broker, rate=10.0, duration=0.7, ack_timeout=1.0),
                             keys_file).run()
    finally:
        gateway.stop()
    figures = summary.as_dict()
    assert figures["published"] == 7
    assert (figures["notarized"], figures["duplicate"], figures["rejected"],
            figures["unacknowledged"]) == (3, 1, {"bad_signature": 1}, 2)
    assert not summary.ok
    lines = "\n".join(summary.lines())
    assert "rejected           1  (bad_signature 1)" in lines
    assert "unacknowledged     2" in lines
    kept = load_keys_file(keys_file)[0]
    assert [item["seq"] for item in kept.unanswered] == [4, 5]  # kept for the next run
    assert kept.next_seq == 8 and device_id == kept.device_id


def test_unanswered_events_of_an_earlier_run_are_sent_first(broker, tmp_path):
    devices, keys_file = make_devices(tmp_path, count=1)
    credentials = devices[0].credentials()
    old = sign_event(credentials, 1, "customs.scan", {"container": "CSQU3054383"})
    devices[0].unanswered = [{"seq": 1, "jws": old}]
    devices[0].next_seq = 2
    save_keys_file(keys_file, devices)
    gateway = FakeGateway(broker, devices)
    try:
        summary = Simulation(load_keys_file(keys_file), options(broker, duration=0),
                             keys_file).run()
    finally:
        gateway.stop()
    assert gateway.received[devices[0].device_id] == [(1, old)]
    assert summary.resent == 1 and summary.count("notarized") == 1 and summary.ok
    assert load_keys_file(keys_file)[0].unanswered == []


def test_unacknowledged_events_are_sent_again_after_a_broker_restart(broker, tmp_path):
    """A broker PUBACK is not storage: events the gateway never answered are
    re-sent once the device is back on a restarted broker."""
    devices, _ = make_devices(tmp_path, count=1)
    device_id = devices[0].device_id
    answering = threading.Event()
    gateway = FakeGateway(broker, devices,
                          lambda *_: {"status": "notarized"} if answering.is_set() else None,
                          persistent=True)
    client = DeviceClient(devices[0].credentials(), broker.host, broker.port,
                          resend_after=None)  # only the reconnect may trigger re-sending
    client.start()
    try:
        assert client.wait_connected(TIMEOUT)
        for seq in range(1, 6):
            client.publish_event(seq, sign_event(client.credentials, seq, "sensor.temperature",
                                                 {"celsius": 4.1}))
        _wait_for(lambda: len(gateway.times_seen(device_id)) == 5)
        _wait_for(lambda: len(client.outbox.to_resend()) == 5)  # all PUBACKed by the broker
        assert len(client.outbox) == 5  # ... but none answered
        answering.set()
        broker.restart()
        _wait_for(lambda: _serviced_until_empty(client))
    finally:
        client.stop()
        gateway.stop()
    assert client.connections >= 2 and client.resent >= 5
    assert all(count >= 2 for count in gateway.times_seen(device_id).values())
    assert client.outbox.outcomes["notarized"] + client.outbox.outcomes["duplicate"] == 5
    assert gateway.bad == []


def test_a_crashed_broker_loses_nothing_the_device_still_holds(broker, tmp_path):
    """SIGKILL: the broker forgets the gateway's subscription too, so a re-send
    right after the reconnect may find nobody; the overdue timer sends again."""
    devices, _ = make_devices(tmp_path, count=1)
    device_id = devices[0].device_id
    answering = threading.Event()
    gateway = FakeGateway(broker, devices,
                          lambda *_: {"status": "notarized"} if answering.is_set() else None)
    client = DeviceClient(devices[0].credentials(), broker.host, broker.port,
                          resend_after=0.5)
    client.start()
    try:
        assert client.wait_connected(TIMEOUT)
        for seq in range(1, 4):
            client.publish_event(seq, sign_event(client.credentials, seq, "customs.scan", {}))
        _wait_for(lambda: len(gateway.times_seen(device_id)) == 3)
        answering.set()
        broker.kill()  # SIGKILL: nothing saved
        broker.start()
        _wait_for(lambda: _serviced_until_empty(client))
    finally:
        client.stop()
        gateway.stop()
    assert sorted(gateway.times_seen(device_id)) == [1, 2, 3]
    assert sum(client.outbox.outcomes.values()) == 3


def test_a_device_waits_when_its_in_flight_events_reach_the_bound(broker, tmp_path):
    devices, keys_file = make_devices(tmp_path, count=1)
    gateway = FakeGateway(broker, devices, lambda *_: None)  # never answers
    try:
        summary = Simulation(devices, options(broker, rate=100.0, duration=0.3, max_in_flight=5,
                                              ack_timeout=0.2), keys_file).run()
    finally:
        gateway.stop()
    assert summary.published == 5 and summary.unanswered == 5 and summary.waits > 0
    assert not summary.ok


def test_the_broker_refusing_an_event_is_counted_not_retried(tmp_path):
    """With an ACL, a PUBACK 'Not authorized' (0x87) ends the event's journey."""
    from app.devices import broker_config
    from app.devices.broker_config import PasswordEntry

    devices, keys_file = make_devices(tmp_path, count=1)
    devices[0].mqtt_password = "device password"
    passwd, acl = tmp_path / "passwd", tmp_path / "acl"
    passwd.write_text(broker_config.render_password_file([
        PasswordEntry(devices[0].device_id, broker_config.hash_password("device password"))]))
    acl.write_text("pattern read tz/devices/%u/acks\n")  # may not publish events at all
    with MosquittoBroker(allow_anonymous=False, password_file=passwd, acl_file=acl) as broker:
        summary = Simulation(devices, options(broker, rate=10.0, duration=0.25, ack_timeout=2.0),
                             keys_file).run()
    assert summary.reasons("refused by broker") == {"Not authorized": summary.published}
    assert summary.unanswered == 0 and summary.resent == 0


def test_a_device_refused_until_its_connect_timeout_is_stopped_unpublished(tmp_path):
    """Wrong credentials: retried while a device registered a moment ago could
    still be let in (connect_timeout), then stopped before it publishes."""
    from app.devices import broker_config
    from app.devices.broker_config import PasswordEntry

    devices, keys_file = make_devices(tmp_path, count=1)
    devices[0].mqtt_password = "wrong"
    passwd = tmp_path / "passwd"
    passwd.write_text(broker_config.render_password_file([
        PasswordEntry(devices[0].device_id, broker_config.hash_password("right"))]))
    with MosquittoBroker(allow_anonymous=False, password_file=passwd) as broker:
        summary = Simulation(devices, options(broker, duration=0.1, ack_timeout=0.2,
                                              connect_timeout=1.5), keys_file).run()
    assert 1 <= summary.refused_connections["Not authorized"] <= 2  # at 0 and 1 s
    assert summary.stopped == {"sim-0": "refused by the broker (not authorized)"}
    assert summary.published == summary.unanswered == 0 and not summary.ok
    assert "device sim-0: refused by the broker (not authorized), stopped" in summary.lines()


def _password_file(path: Path, admitted: list[SimulatedDevice]) -> None:
    """The broker's password file: the fake gateway ("gw") and ``admitted``."""
    path.write_text(render_password_file(
        [PasswordEntry("gw", hash_password("gw password"))]
        + [PasswordEntry(d.device_id, hash_password(d.mqtt_password)) for d in admitted]))


def test_a_device_the_broker_puts_out_mid_run_is_stopped_and_the_others_go_on(tmp_path):
    """What a revoked device meets once the broker has re-read its password file
    (`tradezone mqtt sync --watch`): its connection closed and its reconnect
    refused (CONNACK 0x87). It stops there: no more reconnects or publishes,
    what it had not had answered kept for the keys file; the other device goes
    on, and the progress line and the summary say so."""
    devices, keys_file = make_devices(tmp_path, count=2)
    for device in devices:
        device.mqtt_password = f"{device.device_id} password"
    save_keys_file(keys_file, devices)
    passwd = tmp_path / "passwd"
    _password_file(passwd, devices)
    kept, put_out = devices
    finished: dict[str, object] = {}
    with MosquittoBroker(allow_anonymous=False, password_file=passwd) as broker:
        gateway = FakeGateway(broker, devices, credentials=("gw", "gw password"))
        simulation = Simulation(devices, options(broker, rate=50, duration=5, ack_timeout=0.5,
                                                 max_in_flight=50), keys_file)
        thread = threading.Thread(target=lambda: finished.update(summary=simulation.run()))
        thread.start()
        try:
            _wait_for(lambda: gateway.times_seen(put_out.device_id))  # its first events
            _password_file(passwd, [kept])
            os.kill(broker.pid, signal.SIGHUP)
            _wait_for(lambda: simulation.runners[1].client.stopped)  # at its refused reconnect
            assert "connections refused 1, devices stopped 1" in \
                simulation.progress().progress_line()
            sent_when_stopped = simulation.runners[1].sent_new
        except BaseException:
            simulation.stop()
            raise
        finally:
            thread.join(timeout=30)
            gateway.stop()
        refused_at_broker = broker.log_path.read_text().count("not authorised")
    assert not thread.is_alive()
    summary, runner = finished["summary"], simulation.runners[1]
    assert runner.client.refusals == {"Not authorized": 1} and refused_at_broker == 1
    assert runner.sent_new <= sent_when_stopped + 1 < simulation.runners[0].sent_new  # a race: 1
    assert summary.stopped == {put_out.device_id: "refused by the broker (not authorized)"}
    assert f"device {put_out.device_id}: refused by the broker (not authorized), stopped" \
        in summary.lines() and not summary.ok
    assert 0 < len(runner.client.outbox) == summary.unanswered <= 50  # at most max_in_flight
    assert summary.count("notarized") == summary.published - summary.unanswered
    assert gateway.bad == [] and simulation.runners[0].sent_new >= 200  # the other went on
    saved = {device.device_id: device for device in load_keys_file(keys_file)}
    assert len(saved[put_out.device_id].unanswered) == summary.unanswered
    assert not saved[kept.device_id].unanswered


def test_a_device_whose_event_is_rejected_as_revoked_is_stopped(broker, tmp_path):
    """The gateway's "revoked" answer (before the broker has put the device out)
    stops the device: nothing more is published or re-sent."""
    devices, keys_file = make_devices(tmp_path, count=2)
    revoked = devices[1].device_id

    def answer(device_id, seq):
        if device_id == revoked and seq >= 3:
            return {"status": "rejected", "reason": "revoked"}
        return {"status": "notarized"}

    gateway = FakeGateway(broker, devices, answer)
    try:
        summary = Simulation(devices, options(broker, duration=1.0, resend_after=0.2,
                                              ack_timeout=1.0), keys_file).run()
    finally:
        gateway.stop()
    seen = gateway.times_seen(revoked)
    assert set(seen.values()) == {1}  # nothing sent again
    assert 3 <= max(seen) < 10 and len(gateway.received[devices[0].device_id]) >= 19
    assert summary.stopped == {revoked: "revoked (the gateway's answer)"}
    assert summary.reasons("rejected")["revoked"] >= 1 and not summary.ok
    assert f"device {revoked}: revoked (the gateway's answer), stopped" in summary.lines()
    assert summary.as_dict()["stopped_devices"] == {revoked: "revoked (the gateway's answer)"}
    assert summary.count("notarized") == len(gateway.times_seen(devices[0].device_id)) + 2


def test_a_device_registered_a_moment_ago_is_retried_until_the_broker_admits_it(tmp_path):
    """Refused (0x87) until the registry watcher's next look has added it to the
    password file: within its admit_within, the device keeps trying."""
    devices, _ = make_devices(tmp_path, count=1)
    devices[0].mqtt_password = "new device password"
    passwd = tmp_path / "passwd"
    _password_file(passwd, [])
    with MosquittoBroker(allow_anonymous=False, password_file=passwd) as broker:
        client = DeviceClient(devices[0].credentials(), broker.host, broker.port,
                              admit_within=TIMEOUT)
        client.start()
        try:
            _wait_for(lambda: client.refusals)
            _password_file(passwd, devices)
            os.kill(broker.pid, signal.SIGHUP)
            assert client.wait_connected(TIMEOUT)
        finally:
            client.stop()
    assert not client.stopped and client.refusals["Not authorized"] >= 1


# --- registered over the API, admitted by the broker --------------------------------------------

@pytest.fixture
def api_url(app):
    """The platform's API served on a loopback port for the test's length."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)


def test_devices_registered_over_the_api_publish_with_their_own_credentials(
        api_url, make_org, database_url, tmp_path):
    customs = make_org(Role.CUSTOMS, "Zone Customs")
    keys_file = tmp_path / "sim-keys.json"
    devices = prepare_devices(keys_file, 3, api_url, customs.token)
    assert stat.S_IMODE(keys_file.stat().st_mode) == 0o600
    assert {d.alg for d in devices} == {"ES256", "EdDSA"}
    assert all(d.mqtt_password for d in devices)
    assert prepare_devices(keys_file, 3, None, None) == devices  # reused, not registered again

    env = {"TZ_DATABASE_URL": database_url,
           "TZ_LEDGER_KEY_FILE": str(tmp_path / "keys" / "ledger.pem"),
           "TZ_MQTT_USERNAME": "tz-gateway", "TZ_MQTT_PASSWORD": "gateway password"}
    synced = CliRunner().invoke(main, ["mqtt", "sync", "--dir", str(tmp_path / "auth")], env=env)
    assert synced.exit_code == 0, synced.output
    with MosquittoBroker(allow_anonymous=False, password_file=tmp_path / "auth" / "passwd",
                         acl_file=tmp_path / "auth" / "acl") as broker:
        gateway = FakeGateway(broker, devices, credentials=("tz-gateway", "gateway password"))
        try:
            summary = Simulation(devices, options(broker), keys_file).run()
        finally:
            gateway.stop()
    assert summary.ok and summary.published > 0 and not summary.refused_connections
    assert summary.count("notarized") == summary.published and gateway.bad == []


def test_a_refused_registration_is_reported(api_url, make_org, tmp_path):
    firm = make_org(Role.FIRM, "Not Customs")
    with pytest.raises(SimulatorError, match="403"):
        prepare_devices(tmp_path / "keys.json", 1, api_url, firm.token)
    assert load_keys_file(tmp_path / "keys.json") == []


# --- the command ------------------------------------------------------------------------------

def test_the_command_prints_the_summary_and_its_exit_status_says_if_all_were_acked(
        broker, tmp_path):
    devices, keys_file = make_devices(tmp_path, count=2)
    env = {"TZ_MQTT_HOST": broker.host, "TZ_MQTT_PORT": str(broker.port)}
    args = ["device", "simulate", "--devices", "2", "--rate", "10", "--duration", "0.3",
            "--keys-file", str(keys_file), "--ack-timeout", "5"]
    gateway = FakeGateway(broker, devices)
    try:
        result = CliRunner().invoke(main, args, env=env)
        as_json = CliRunner().invoke(main, args + ["--json"], env=env)
    finally:
        gateway.stop()
    assert result.exit_code == 0, result.output
    assert "simulated 2 devices (1 ES256, 1 EdDSA)" in result.output
    assert re.search(r"notarized\s+\d+", result.output)
    assert "unacknowledged     0" in result.output
    figures = json.loads(as_json.stdout)
    assert figures["notarized"] == figures["published"] > 0 and figures["unacknowledged"] == 0

    silent = CliRunner().invoke(main, args[:-2] + ["--ack-timeout", "0.2"], env=env)
    assert silent.exit_code == 1 and "unacknowledged" in silent.output  # nobody answers now


def test_sigterm_ends_a_run_with_its_summary_and_its_state_saved(broker, tmp_path):
    # make run stops the simulator with SIGTERM: it must report as it goes,
    # and on the signal stop publishing, save where each device got to and
    # print its summary (Python's default would end it on the spot).
    devices, keys_file = make_devices(tmp_path, count=2)
    env = dict(os.environ, TZ_MQTT_HOST=broker.host, TZ_MQTT_PORT=str(broker.port))
    gateway = FakeGateway(broker, devices)
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "tradezone"), "device", "simulate", "--devices", "2",
         "--rate", "20", "--duration", "600", "--progress", "0.2", "--keys-file", str(keys_file)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert select.select([process.stdout], [], [], 30)[0], "no progress line within 30 s"
        progress = process.stdout.readline()
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        gateway.stop()
    assert re.match(r"\d+ s: published \d+, notarized \d+", progress), progress
    assert "acks by status:" in output and "unacknowledged" in output
    saved = {device.device_id: device.next_seq for device in load_keys_file(keys_file)}
    for device in devices:
        used = [seq for seq, _ in gateway.received[device.device_id]]
        assert used and saved[device.device_id] == max(used) + 1  # not the reserved bound


def test_the_command_needs_devices_or_an_api_to_register_them(tmp_path):
    result = CliRunner().invoke(main, ["device", "simulate", "--keys-file",
                                       str(tmp_path / "none.json"), "--devices", "2"])
    assert result.exit_code == 1 and "--api" in result.output
    (tmp_path / "junk.json").write_text("[]")
    with pytest.raises(SimulatorError, match="not a simulator keys file"):
        prepare_devices(tmp_path / "junk.json", 1, None, None)


def _serviced_until_empty(client: DeviceClient) -> bool:
    client.service()  # the owner's loop: re-sends after a reconnect
    return len(client.outbox) == 0


def _wait_for(condition, timeout: float = TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.02)
    raise AssertionError("condition not met in time")
