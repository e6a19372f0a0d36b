"""The gateway benchmark's load generator: its MQTT packets, and a real round
trip through the tests' broker (a subscriber standing in for the gateway)."""

from __future__ import annotations

import importlib
import json
import sys
import threading
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.fixture(scope="module")
def bench():
    sys.path.insert(0, str(BENCH))
    try:
        yield importlib.import_module("gateway_bench")
    finally:
        sys.path.remove(str(BENCH))


def test_packets_split_whole_and_keep_the_rest(bench):
    publish = bench.mqtt_publish_qos1(7, "tz/devices/d/events", b"x" * 300)  # 2-byte length
    buffer = bytearray(bench.mqtt_puback(5) + publish + publish[:10])
    packets = bench.split_mqtt_packets(buffer)
    assert [(kind, flags) for kind, flags, _ in packets] == [(4, 0), (3, 2)]
    assert packets[0][2] == b"\x00\x05"
    assert packets[1][2] == publish[3:]  # after 0x32 and two length bytes
    assert buffer == publish[:10]
    buffer += publish[10:]
    assert [kind for kind, _, _ in bench.split_mqtt_packets(buffer)] == [3] and buffer == b""


def test_devices_publish_at_qos1_and_collect_answers(bench, broker):
    """Each device's events reach a subscriber; its answers come back to the device."""
    answered = threading.Event()
    gateway = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="load-test-gateway")

    def answer(client, userdata, message):
        device = message.topic.split("/")[2]
        client.publish(f"tz/devices/{device}/acks", json.dumps(
            {"seq": json.loads(message.payload)["seq"], "status": "notarized"}), qos=1)

    gateway.on_message = answer
    gateway.on_subscribe = lambda *args: answered.set()
    gateway.connect(broker.host, broker.port)
    gateway.subscribe("tz/devices/+/events", qos=1)
    gateway.loop_start()
    assert answered.wait(10)
    load = bench.LoadGenerator(broker, {"dev-a": "pw-a", "dev-b": "pw-b"}, answers=True)
    try:
        events = [bench.Event(device, seq, json.dumps({"seq": seq}).encode())
                  for seq in range(1, 51) for device in ("dev-a", "dev-b")]
        load.run(load.encode(events), timeout_s=20)
    finally:
        load.close()
        gateway.disconnect()
        gateway.loop_stop()
    assert load.statuses == {"notarized": 100}
    assert set(load.answered) == set(load.sent) == {(e.device_id, e.seq) for e in events}
    assert load.acknowledged == 100  # the broker's PUBACKs
