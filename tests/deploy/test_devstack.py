"""``make run``'s supervisor brings the whole platform up and takes it down again."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from unittest.mock import ANY

from tests.app.devices.probe import NOT_AUTHORIZED, Probe
from tests.services.ports import free_port

ROOT = Path(__file__).resolve().parents[2]


def _device_events(api: str, token: str) -> list[dict]:
    request = urllib.request.Request(f"{api}/api/v1/audit/entries?type=device.event&limit=50",
                                     headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=5) as answer:
        return json.load(answer)["entries"]


def test_devstack_runs_api_broker_watcher_gateway_and_simulator_then_stops_them(tmp_path):
    port, mqtt_port, metrics_port = free_port(), free_port(), free_port()
    api_metrics_port = free_port()
    env = dict(os.environ, TZ_VAR_DIR=str(tmp_path), TZ_GATEWAY_METRICS_PORT=str(metrics_port),
               TZ_API_METRICS_PORT=str(api_metrics_port))
    stack = subprocess.Popen([sys.executable, str(ROOT / "deploy/devstack.py"), "--port", str(port),
                              "--mqtt-port", str(mqtt_port), "--rate", "5"],
                             env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    api = f"http://127.0.0.1:{port}"
    try:
        deadline, events = time.monotonic() + 90, []
        while time.monotonic() < deadline and len(events) < 10:
            assert stack.poll() is None, stack.stdout.read()
            time.sleep(1)
            tokens = tmp_path / "demo-tokens.json"
            if tokens.exists():
                token = json.loads(tokens.read_text())["organisations"]["regulator"]["token"]
                try:
                    events = _device_events(api, token)
                except OSError:
                    continue
        assert len(events) >= 10, "the simulator's events were not notarized"
        assert {e["entry"]["device"] for e in events} <= set(
            json.loads((tmp_path / "demo-tokens.json").read_text())["devices"])
        first_seq: dict[str, int] = {}
        for event in events:  # in log order
            first_seq.setdefault(event["entry"]["device"], event["entry"]["seq"])
        # a first run: no event was published before the gateway's subscription existed
        assert set(first_seq.values()) == {1}, first_seq
        customs = json.loads(tokens.read_text())["organisations"]["customs"]["token"]
        _register_publish_and_revoke(api, customs, mqtt_port)
        # The API's metrics on the master's port, no token: the requests above counted.
        with urllib.request.urlopen(f"http://127.0.0.1:{api_metrics_port}/metrics",
                                    timeout=5) as answer:
            metrics = answer.read().decode()
        assert 'route="/api/v1/audit/entries",status="200"' in metrics
        assert "tz_ledger_entries" in metrics
    finally:
        children = _children(stack.pid)
        stack.send_signal(signal.SIGINT)
        try:
            output, _ = stack.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            for pid in [stack.pid, *children]:  # leave nothing running, then fail
                _kill(pid)
            stack.communicate()
            raise
    assert stack.returncode == 0, output
    assert "Tradezone is running" in output
    assert len(children) == 5  # api, mosquitto, mqtt-sync (registry watcher), gateway, simulator
    assert [pid for pid in children if _alive(pid)] == [], "a child outlived the stack"


def _register_publish_and_revoke(api: str, token: str, mqtt_port: int) -> None:
    """A device registered on the running platform that follows only the contract
    (joserfc for its JWS, a plain paho client) is let into the broker within
    seconds and gets ``notarized``; once revoked, its next event is answered
    ``revoked`` (contract section 6), and seconds after that answer the broker
    puts it off and refuses it from then on."""
    from joserfc import jws
    from joserfc.jwk import ECKey

    key, device_id = ECKey.generate_key("P-256"), "late-scanner-1"
    password = _post(f"{api}/api/v1/devices", token, {
        "device_id": device_id, "alg": "ES256", "kind": "scanner",
        "public_key": key.as_pem(private=False).decode()})["mqtt_password"]
    device = _connect_when_admitted(mqtt_port, device_id, password)
    try:
        device.subscribe(f"tz/devices/{device_id}/acks")

        def send(seq: int) -> dict:
            payload = json.dumps({"device_id": device_id, "seq": seq,
                                  "ts": "2026-11-23T09:00:00Z", "type": "customs.scan",
                                  "data": {"lane": 1}}).encode()
            token_text = jws.serialize_compact({"alg": "ES256", "kid": device_id}, payload, key)
            assert device.publish(f"tz/devices/{device_id}/events", token_text.encode()).value == 0
            return json.loads(device.received(timeout=30).payload)

        assert send(1) == {"seq": 1, "status": "notarized", "ledger_index": ANY}
        _post(f"{api}/api/v1/devices/{device_id}/revoke", token, None)
        time.sleep(3)  # the watcher has looked since (every 2 s), and left the device in
        assert send(2) == {"seq": 2, "status": "rejected", "reason": "revoked"}
        device.disconnects.get(timeout=30)  # told: the watcher put it off the broker
        refused = Probe("127.0.0.1", mqtt_port, device_id, password, client_id=device_id)
        assert refused.connect().value == NOT_AUTHORIZED
    finally:
        device.close()


def _connect_when_admitted(mqtt_port: int, device_id: str, password: str) -> Probe:
    deadline = time.monotonic() + 30
    while True:
        device = Probe("127.0.0.1", mqtt_port, device_id, password, client_id=device_id)
        reason = device.connect()
        if not reason.is_failure:
            return device
        assert time.monotonic() < deadline, f"{device_id} still refused by the broker: {reason}"
        time.sleep(0.5)


def _post(url: str, token: str, body: dict | None) -> dict:
    request = urllib.request.Request(url, data=json.dumps(body or {}).encode(), method="POST",
                                     headers={"Authorization": f"Bearer {token}",
                                              "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.load(answer)


def _children(pid: int) -> list[int]:
    found = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True)
    return [int(line) for line in found.stdout.split()]


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
