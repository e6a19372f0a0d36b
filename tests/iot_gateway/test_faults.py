"""Faults: the gateway process SIGKILLed mid-stream and restarted, the broker
restarted mid-stream, a clean SIGTERM. Afterwards every published event is
notarized exactly once, none is missing, and the log verifies."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select

import ledger
from app.devices.models import DeviceEvent, QuarantinedEvent
from app.logcheck import check_platform_log
from iot_gateway.config import GatewayOptions
from iot_gateway.service import Gateway
from ledger.jws import parse_compact
from ledger.sqlstore import SqlLog

from .helpers import DeviceSide, GatewayBroker, last_seqs, wait_until

pytestmark = pytest.mark.slow

DEVICES, EVENTS_PER_DEVICE = 5, 600
TRADEZONE = Path(sys.executable).parent / "tradezone"


@pytest.fixture
def own_broker():
    broker = GatewayBroker()
    try:
        yield broker.start()
    finally:
        broker.stop()


class GatewayProcess:
    """``tradezone gateway`` as a child process, configured by environment."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.env = env
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None

    def start(self) -> "GatewayProcess":
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen([str(TRADEZONE), "gateway"], env=self.env,
                                         stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        assert wait_until(lambda: '"event":"subscribed"' in self.log_text()[offset:]
                          or self.proc.poll() is not None, timeout=60), self.log_text()
        assert self.proc.poll() is None, self.log_text()
        return self

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def children(self) -> set[int]:
        return {pid for pid in _all_pids() if _parent_of(pid) == self.proc.pid}

    def signal(self, number: int, timeout: float = 60) -> int:
        self.proc.send_signal(number)
        return self.proc.wait(timeout=timeout)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)


def _all_pids() -> list[int]:
    """Live processes (zombies, which only wait to be reaped, excluded)."""
    pids = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                state = Path(f"/proc/{name}/stat").read_text().rsplit(")", 1)[1].split()[0]
            except OSError:
                continue
            if state != "Z":
                pids.append(int(name))
    return pids


def _parent_of(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[1])


def gateway_env(config, broker, client_id: str, **extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("TZ_")}
    env.update({"TZ_DATABASE_URL": config.database_url,
                "TZ_LEDGER_KEY_FILE": str(config.ledger_key_file),
                "TZ_LEDGER_ORIGIN": config.ledger_origin,
                "TZ_MQTT_HOST": broker.host, "TZ_MQTT_PORT": str(broker.port),
                "TZ_GATEWAY_CLIENT_ID": client_id, "TZ_GATEWAY_METRICS_PORT": "0",
                "TZ_GATEWAY_RECONNECT_MAX_S": "2", **extra})
    return env


def signed_stream(register, per_device: int = EVENTS_PER_DEVICE
                  ) -> tuple[list, list[tuple[str, bytes]]]:
    """5 devices (EdDSA and ES256), ``per_device`` pre-signed events each, interleaved."""
    devices = [register("EdDSA" if n % 2 == 0 else "ES256") for n in range(DEVICES)]
    events = [(device.device_id, device.sign(device.event(seq)))
              for seq in range(1, per_device + 1) for device in devices]
    return devices, events


def notarized_count(platform) -> int:
    with platform.db.read() as session:
        return session.scalar(select(func.count()).select_from(DeviceEvent))


def resend_until_answered(side: DeviceSide, events, timeout: float = 240) -> int:
    """Re-send (same bytes) whatever has no answer after a quiet spell, as a
    device would; returns the number of re-sends."""
    resent, deadline = 0, time.monotonic() + timeout
    while time.monotonic() < deadline:
        if wait_until(lambda: len(_answered(side)) == len(events), timeout=10):
            return resent
        answered = _answered(side)
        for device_id, token in events:
            if (device_id, _seq_of(token)) not in answered:
                side.publish(device_id, token)
                resent += 1
    raise AssertionError(f"{len(events) - len(_answered(side))} events never answered")


def _answered(side: DeviceSide) -> set[tuple[str, int]]:
    with side.answers.arrived:
        return {(device_id, answer["seq"]) for device_id, answers in
                list(side.answers.by_device.items()) for answer in answers
                if answer["status"] in ("notarized", "duplicate")}


def _seq_of(token: bytes) -> int:
    return json.loads(parse_compact(token).payload)["seq"]


def check_exactly_once(platform, devices, per_device: int = EVENTS_PER_DEVICE) -> None:
    with platform.db.read() as session:
        stored = Counter(session.execute(select(DeviceEvent.device_id, DeviceEvent.seq)).all())
        quarantined = session.scalar(select(func.count()).select_from(QuarantinedEvent))
        log = SqlLog(session.connection())
        entries = [ledger.decode_entry(data) for _, data in log.read_entries(0, log.size)]
    report = check_platform_log(platform)
    expected = {(d.device_id, seq) for d in devices for seq in range(1, per_device + 1)}
    assert set(stored) == expected and set(stored.values()) == {1}
    assert quarantined == 0
    logged = Counter((e["device"], e["seq"]) for e in entries if e["type"] == "device.event")
    assert set(logged) == expected and set(logged.values()) == {1}
    assert report.ok, report.problems
    assert last_seqs(platform) == {d.device_id: per_device for d in devices}


def test_gateway_killed_mid_stream_loses_and_repeats_nothing(platform, config, own_broker,
                                                             register, tmp_path):
    devices, events = signed_stream(register)
    env = gateway_env(config, own_broker, f"gw-kill-{uuid.uuid4().hex[:6]}")
    gateway = GatewayProcess(env, tmp_path / "gateway.log")
    side = None
    try:
        gateway.start()
        workers = gateway.children()
        assert len(workers) >= 2  # the signature worker processes
        side = DeviceSide(own_broker.host, own_broker.port)
        for device_id, token in events:
            side.publish(device_id, token)
        assert wait_until(lambda: notarized_count(platform) >= len(events) // 3, timeout=120)
        assert gateway.signal(signal.SIGKILL) == -signal.SIGKILL
        killed_at = notarized_count(platform)
        assert killed_at < len(events), "the stream ended before the kill"
        assert wait_until(lambda: not (workers & set(_all_pids())), timeout=10), \
            "signature workers outlived the killed gateway"

        gateway.start()  # the same client id: picks up the session's backlog
        assert wait_until(lambda: notarized_count(platform) == len(events), timeout=180)
        resent = resend_until_answered(side, events)
        print(f"killed at {killed_at} notarized; {resent} events re-sent for lost answers")
        check_exactly_once(platform, devices)
        assert '"event":"gateway_started"' in gateway.log_text()
        assert gateway.signal(signal.SIGTERM) == 0
    finally:
        gateway.stop()
        if side is not None:
            side.close()


def test_broker_restart_mid_stream_loses_and_repeats_nothing(platform, config, own_broker,
                                                             register):
    devices, events = signed_stream(register)
    # batch_size: the stream must outlast what the gateway holds when the broker goes.
    options = GatewayOptions(client_id=f"gw-restart-{uuid.uuid4().hex[:6]}", metrics_port=0,
                             verify_workers=2, reconnect_min_s=1, reconnect_max_s=2,
                             batch_size=256)
    gateway = Gateway(platform, dataclasses.replace(config, mqtt_host=own_broker.host,
                                                    mqtt_port=own_broker.port), options)
    side = None
    try:
        gateway.start()
        assert gateway.link.subscribed.wait(30)
        side = DeviceSide(own_broker.host, own_broker.port)
        for device_id, token in events:
            side.publish(device_id, token)
        assert wait_until(lambda: notarized_count(platform) >= len(events) // 3, timeout=120)
        own_broker.restart()
        assert notarized_count(platform) < len(events), "the stream ended before the restart"
        assert gateway.link.subscribed.wait(30), "the gateway did not come back"
        assert wait_until(lambda: notarized_count(platform) == len(events), timeout=180)
        resent = resend_until_answered(side, events)
        print(f"{resent} events re-sent for lost answers")
        check_exactly_once(platform, devices)
        assert gateway.metrics.batch_failures._value.get() == 0
    finally:
        gateway.stop()
        if side is not None:
            side.close()


def test_sigterm_mid_stream_finishes_the_batch_and_exits_cleanly(platform, config, own_broker,
                                                                 register, tmp_path):
    devices, events = signed_stream(register, per_device=300)
    # Batches small enough that the 1,500 events outlast the (up to 4) batches
    # already taken when SIGTERM comes after the first 300.
    env = gateway_env(config, own_broker, f"gw-term-{uuid.uuid4().hex[:6]}",
                      TZ_GATEWAY_BATCH_SIZE="128")
    gateway = GatewayProcess(env, tmp_path / "gateway.log")
    side = None
    try:
        gateway.start()
        workers = gateway.children()
        side = DeviceSide(own_broker.host, own_broker.port)
        for device_id, token in events:
            side.publish(device_id, token)
        assert wait_until(lambda: notarized_count(platform) >= 300, timeout=120)
        assert gateway.signal(signal.SIGTERM, timeout=30) == 0
        stopped_at = notarized_count(platform)
        assert stopped_at < len(events), "the stream ended before SIGTERM"
        assert '"event":"gateway_stopped"' in gateway.log_text()
        assert wait_until(lambda: not (workers & set(_all_pids())), timeout=10), \
            "workers outlived a clean stop"

        gateway.start()
        assert wait_until(lambda: notarized_count(platform) == len(events), timeout=180)
        resend_until_answered(side, events)
        check_exactly_once(platform, devices, per_device=300)
    finally:
        gateway.stop()
        if side is not None:
            side.close()


def _check_workers(gateway: GatewayProcess) -> set[int]:
    """The gateway's check worker processes (not multiprocessing's resource tracker)."""
    workers = set()
    for pid in gateway.children():
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"resource_tracker" not in command:
            workers.add(pid)
    return workers


def _reads_a_pipe(pid: int) -> bool:
    try:
        return "pipe" in Path(f"/proc/{pid}/wchan").read_text()
    except OSError:
        return False


def test_a_killed_check_worker_is_replaced_and_sigterm_still_exits(platform, config, own_broker,
                                                                   register, tmp_path):
    devices, events = signed_stream(register, per_device=100)
    env = gateway_env(config, own_broker, f"gw-worker-{uuid.uuid4().hex[:6]}")
    gateway = GatewayProcess(env, tmp_path / "gateway.log")
    side = None
    try:
        gateway.start()
        workers = _check_workers(gateway)
        assert len(workers) == 2
        # As the OOM killer would; the idle worker that reads the call queue
        # (the other waits for the queue's lock, which this one holds).
        os.kill(max(workers, key=_reads_a_pipe), signal.SIGKILL)
        side = DeviceSide(own_broker.host, own_broker.port)
        for device_id, token in events:
            side.publish(device_id, token)
        assert wait_until(lambda: notarized_count(platform) == len(events), timeout=120)
        assert '"event":"check_worker_died"' in gateway.log_text()
        # The broken pool's other worker does not outlive it: only the new pool's two remain.
        assert wait_until(lambda: not (workers & set(_all_pids())), timeout=10), \
            "a worker of the broken pool was left behind"
        assert len(_check_workers(gateway)) == 2
        assert gateway.signal(signal.SIGTERM, timeout=30) == 0
        resend_until_answered(side, events)
        check_exactly_once(platform, devices, per_device=100)
    finally:
        gateway.stop()
        if side is not None:
            side.close()
