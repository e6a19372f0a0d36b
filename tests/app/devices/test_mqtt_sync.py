"""``tradezone mqtt sync`` and the shipped broker configuration, with a real
Mosquitto: registered devices get in and stay on their own topics, revoked
ones are put out, and nobody gets in anonymously."""

from __future__ import annotations

import getpass
import os
import signal
import stat
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner

from app.cli import main
from tests.services.mosquitto import MOSQUITTO, MosquittoBroker
from tests.services.ports import free_port, port_is_open

from .probe import NOT_AUTHORIZED, Probe

GATEWAY, GATEWAY_PASSWORD = "tz-gateway", "correct horse battery staple"
TRADEZONE = Path(sys.executable).parent / "tradezone"


@pytest.fixture
def sync(database_url, tmp_path):
    """Run ``tradezone mqtt sync --dir DIR [args]`` against the test database."""
    env = {"TZ_DATABASE_URL": database_url,
           "TZ_LEDGER_KEY_FILE": str(tmp_path / "keys" / "ledger.pem"),
           "TZ_MQTT_USERNAME": GATEWAY, "TZ_MQTT_PASSWORD": GATEWAY_PASSWORD}
    auth_dir = tmp_path / "mqtt-auth"

    def run(*args: str, expect: int = 0, **env_changes: str):
        result = CliRunner().invoke(main, ["mqtt", "sync", "--dir", str(auth_dir), *args],
                                    env={**env, **env_changes})
        assert result.exit_code == expect, result.output
        return result

    run.dir = auth_dir
    return run


def _write_pid_file(path, pid: int):
    path.write_text(f"{pid}\n")
    return path


def test_sync_writes_private_files_without_secrets_or_revoked_devices(client, cast, register,
                                                                      clock, sync):
    devices = [register("dev-a"), register("dev-b", alg="EdDSA"), register("dev-c")]
    clock.now = datetime.now(timezone.utc)  # the command reads the real time
    assert client.post("/api/v1/devices/dev-c/revoke",
                       headers=cast.customs.headers).status_code == 200
    result = sync()  # within its grace (an hour): still admitted, to hear "revoked"
    assert "gateway and 2 active devices and 1 revoked within their grace" in result.output
    assert _users(sync.dir) == [GATEWAY, "dev-a", "dev-b", "dev-c"]
    result = sync("--revoked-grace", "0")
    assert "gateway and 2 active devices)" in result.output
    for name in ("passwd", "acl"):
        assert stat.S_IMODE((sync.dir / name).stat().st_mode) == 0o600
    passwd = (sync.dir / "passwd").read_text()
    assert _users(sync.dir) == [GATEWAY, "dev-a", "dev-b"]
    for secret in [GATEWAY_PASSWORD] + [d.mqtt_password for d in devices]:
        assert secret not in passwd and secret not in result.output
    assert not [p for p in sync.dir.iterdir() if p.name.startswith(".")]  # no temp files left


def test_a_revoked_device_is_left_out_once_its_grace_has_passed(client, cast, register,
                                                                 clock, sync):
    register("dev-a"), register("dev-b")
    revoked_at = datetime.now(timezone.utc) - timedelta(seconds=120)
    clock.now = revoked_at
    assert client.post("/api/v1/devices/dev-b/revoke",
                       headers=cast.customs.headers).status_code == 200
    sync("--revoked-grace", "300")
    assert _users(sync.dir) == [GATEWAY, "dev-a", "dev-b"]
    sync("--revoked-grace", "60")
    assert _users(sync.dir) == [GATEWAY, "dev-a"]


def test_a_revoked_device_the_gateway_has_answered_is_left_out(client, cast, register, clock,
                                                               quarantine_message, sync):
    """10 s after the gateway answered it "revoked" (time for the answer to reach
    it), within its grace all the same."""
    register("dev-a"), register("dev-b")
    now = datetime.now(timezone.utc)
    clock.now = now - timedelta(seconds=60)
    for device_id in ("dev-a", "dev-b"):
        assert client.post(f"/api/v1/devices/{device_id}/revoke",
                           headers=cast.customs.headers).status_code == 200
    for device_id, ago in (("dev-a", 30), ("dev-b", 5)):
        clock.now = now - timedelta(seconds=ago)  # the gateway's answer, so long ago
        quarantine_message(device_id, "revoked", seq=2)
    sync()
    assert _users(sync.dir) == [GATEWAY, "dev-b"]


@pytest.mark.parametrize("grace", ["-1", "1.5", "nan", str(366 * 24 * 3600 + 1)])
def test_a_bad_grace_is_refused_before_anything_is_written(sync, grace):
    result = sync("--revoked-grace", grace, expect=2)
    assert "--revoked-grace" in result.output and "Traceback" not in result.output
    assert not sync.dir.exists()


def _users(directory: Path) -> list[str]:
    return [line.split(":")[0] for line in (directory / "passwd").read_text().splitlines()]


def test_sync_needs_the_gateways_credentials(sync):
    result = sync(expect=1, TZ_MQTT_PASSWORD="")
    assert "TZ_MQTT_PASSWORD" in result.output and "Traceback" not in result.output
    result = sync(expect=1, TZ_MQTT_USERNAME="bad:name")
    assert "TZ_MQTT_USERNAME" in result.output


@pytest.mark.parametrize("content", ["0", "1", "\u00b2", "9" * 30, "12x"])
def test_a_bad_pid_file_is_reported_after_writing(sync, tmp_path, content):
    pid_file = tmp_path / "pid"
    pid_file.write_text(content + "\n")
    result = sync("--reload-pid", str(pid_file), expect=1)
    assert "does not hold a process id" in result.output and "Traceback" not in result.output
    assert (sync.dir / "passwd").exists()
    result = sync("--reload-pid", str(tmp_path / "missing.pid"), expect=1)
    assert "cannot read the pid file" in result.output


def test_a_pid_file_naming_another_program_is_not_signalled(sync, tmp_path):
    # A stale pid file whose number now belongs to another process: SIGHUP
    # would end it (the default action), and reload no broker.
    other = subprocess.Popen(["sleep", "60"])
    try:
        result = sync("--reload-pid", str(_write_pid_file(tmp_path / "pid", other.pid)),
                      expect=1)
        assert f"process {other.pid} named in" in result.output
        assert "'sleep', not mosquitto" in result.output
        time.sleep(0.2)
        assert other.poll() is None  # still running: it was not sent SIGHUP
    finally:
        other.kill()
        other.wait()


def test_a_directory_that_cannot_be_written_is_one_line(sync, tmp_path):
    not_a_directory = tmp_path / "file"
    not_a_directory.write_text("")
    result = sync("--dir", str(not_a_directory / "auth"), expect=1)  # the last --dir counts
    assert isinstance(result.exception, SystemExit)  # a ClickException, not a traceback
    assert f"cannot write the broker's files in {not_a_directory / 'auth'}" in result.output


def test_devices_stay_on_their_own_topics_and_revoked_ones_are_put_out(
        client, cast, clock, register, sync, tmp_path):
    a, b = register("dev-a"), register("dev-b", alg="EdDSA")
    sync()
    with MosquittoBroker(allow_anonymous=False, password_file=sync.dir / "passwd",
                         acl_file=sync.dir / "acl") as broker:
        probes = []

        def connect(user, password, **kwargs):
            probe = Probe(broker.host, broker.port, user, password, **kwargs)
            reason = probe.connect()
            if not reason.is_failure:
                probes.append(probe)
            return probe, reason

        try:
            gateway, _ = connect(GATEWAY, GATEWAY_PASSWORD)
            gateway.subscribe("tz/devices/+/events")
            dev_a, reason = connect("dev-a", a.mqtt_password, client_id="dev-a")
            assert not reason.is_failure
            dev_b, reason = connect("dev-b", b.mqtt_password, client_id="dev-b")
            assert not reason.is_failure
            dev_a.subscribe("tz/devices/dev-a/acks")
            dev_a.subscribe("tz/devices/dev-b/acks")  # granted, but nothing is delivered
            dev_a.subscribe("tz/devices/+/events")

            assert dev_a.publish("tz/devices/dev-a/events", b"own").value == 0
            delivered = gateway.received()
            assert (delivered.topic, delivered.payload) == ("tz/devices/dev-a/events", b"own")
            for topic in ("tz/devices/dev-b/events", "tz/devices/dev-a/acks", "tz/other"):
                assert dev_a.publish(topic, b"forged").value == NOT_AUTHORIZED, topic
            assert gateway.nothing_received()

            assert gateway.publish("tz/devices/dev-b/acks", b'{"seq": 1}').value == 0
            assert gateway.publish("tz/devices/dev-a/acks", b'{"seq": 2}').value == 0
            assert dev_a.received().payload == b'{"seq": 2}'
            assert dev_b.publish("tz/devices/dev-b/events", b"b's own").value == 0
            assert gateway.received().payload == b"b's own"
            assert dev_a.nothing_received()  # neither b's ack nor b's event
            assert connect(None, None)[1].value == NOT_AUTHORIZED
            assert connect("dev-a", b.mqtt_password)[1].value == NOT_AUTHORIZED

            clock.now = datetime.now(timezone.utc)  # the command reads the real time
            revoked = client.post("/api/v1/devices/dev-b/revoke", headers=cast.customs.headers)
            assert revoked.status_code == 200
            pid_file = _write_pid_file(tmp_path / "mosquitto.pid", broker.pid)
            # Within its grace the revoked device may still publish (and so hear
            # "revoked" from the gateway) ...
            result = sync("--reload-pid", str(pid_file))
            assert f"SIGHUP to the broker (pid {broker.pid})" in result.output
            assert "1 revoked within their grace" in result.output
            assert dev_b.publish("tz/devices/dev-b/events", b"after revocation").value == 0
            assert gateway.received().payload == b"after revocation"
            assert dev_b.disconnects.empty()
            # ... and once it has passed (here at once), the broker puts it out.
            result = sync("--reload-pid", str(pid_file), "--revoked-grace", "0")
            assert f"SIGHUP to the broker (pid {broker.pid})" in result.output
            assert dev_b.disconnects.get(timeout=10)  # put out at once
            assert connect("dev-b", b.mqtt_password)[1].value == NOT_AUTHORIZED
            assert dev_a.publish("tz/devices/dev-a/events", b"still here").value == 0
            assert gateway.received().payload == b"still here"
        finally:
            for probe in probes:
                probe.close()


def test_the_shipped_configuration_runs_and_queues_far_beyond_1000(register, sync, tmp_path):
    """Mosquitto's default max_queued_messages (1000) silently drops the rest of a
    backlog; the shipped configuration keeps all of it for an offline gateway."""
    device = register("scanner-q")
    sync()
    port, pid_file = free_port(), tmp_path / "run" / "mosquitto.pid"
    pid_file.parent.mkdir()
    (tmp_path / "state").mkdir()
    config = CliRunner().invoke(main, [
        "mqtt", "config", "--dir", str(sync.dir), "--state-dir", str(tmp_path / "state"),
        "--port", str(port), "--pid-file", str(pid_file), "--log-file", str(tmp_path / "log"),
        "--user", "root" if os.geteuid() == 0 else getpass.getuser()])
    assert config.exit_code == 0, config.output
    assert "max_queued_messages 1000000" in config.output and "${" not in config.output
    assert f"listener {port} 127.0.0.1" in config.output
    (tmp_path / "mosquitto.conf").write_text(config.output)
    broker = subprocess.Popen([MOSQUITTO, "-c", str(tmp_path / "mosquitto.conf")],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_until(lambda: port_is_open(port) and pid_file.exists(), broker, tmp_path / "log")
        assert int(pid_file.read_text()) == broker.pid
        _queue_beyond_the_default(port, device)
        assert "SIGHUP" in sync("--reload-pid", str(pid_file)).output
        assert broker.poll() is None  # a reload, not a stop
    finally:
        broker.send_signal(signal.SIGTERM)
        try:
            broker.wait(timeout=10)
        except subprocess.TimeoutExpired:
            broker.kill()
            broker.wait(timeout=10)
    assert not port_is_open(port)


def _queue_beyond_the_default(port: int, device, count: int = 1500) -> None:
    gateway = Probe("127.0.0.1", port, GATEWAY, GATEWAY_PASSWORD, client_id="gw-queue")
    assert not gateway.connect(clean_start=False, session_expiry=300).is_failure
    gateway.subscribe("tz/devices/+/events")
    gateway.close()  # offline: the broker queues for its session
    sender = Probe("127.0.0.1", port, "scanner-q", device.mqtt_password, client_id="scanner-q")
    assert not sender.connect().is_failure
    try:
        infos = [sender.client.publish("tz/devices/scanner-q/events", str(n).encode(), qos=1)
                 for n in range(count)]
        for info in infos:
            info.wait_for_publish(10)
    finally:
        sender.close()
    gateway = Probe("127.0.0.1", port, GATEWAY, GATEWAY_PASSWORD, client_id="gw-queue")
    assert not gateway.connect(clean_start=False, session_expiry=300).is_failure
    try:
        received = {int(gateway.received().payload) for _ in range(count)}
    finally:
        gateway.close()
    assert received == set(range(count))


def _wait_until(ready, process, log_path, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log = log_path.read_text() if log_path.exists() else "(no log)"
            raise AssertionError(f"mosquitto exited with {process.returncode}:\n{log}")
        if ready():
            return
        time.sleep(0.05)
    raise AssertionError("mosquitto did not start")


@pytest.mark.skipif(os.geteuid() != 0, reason="giving files away needs root")
def test_owner_gives_both_files_to_the_brokers_user(sync):
    import pwd

    nobody = pwd.getpwnam("nobody")
    sync("--owner", "nobody")
    for name in ("passwd", "acl"):
        info = (sync.dir / name).stat()
        assert (info.st_uid, stat.S_IMODE(info.st_mode)) == (nobody.pw_uid, 0o600)


def test_an_unknown_owner_is_refused_before_anything_is_written(sync):
    result = sync("--owner", "no-such-user-tz", expect=1)
    assert "no user 'no-such-user-tz'" in result.output and "Traceback" not in result.output
    assert not sync.dir.exists()



@pytest.mark.parametrize("mode", [[], ["--reload-pid", "mosquitto.pid", "--watch", "0.1"]],
                         ids=["once", "watch"])
def test_no_database_yet_is_one_line_and_nothing_is_created(tmp_path, mode):
    """TZ_DATABASE_URL unset, before `tradezone db upgrade`: the SQLite default
    under TZ_VAR_DIR does not exist, and a command that only reads the registry
    must not create it (empty) nor write files for an empty registry."""
    var, auth_dir = tmp_path / "var", tmp_path / "mqtt-auth"
    env = {name: value for name, value in os.environ.items() if not name.startswith("TZ_")}
    env.update(TZ_VAR_DIR=str(var), TZ_MQTT_USERNAME=GATEWAY, TZ_MQTT_PASSWORD=GATEWAY_PASSWORD)
    try:
        result = subprocess.run([str(TRADEZONE), "mqtt", "sync", "--dir", str(auth_dir), *mode],
                                env=env, cwd=tmp_path, capture_output=True, text=True,
                                timeout=30, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as expired:  # the watcher retrying for ever
        pytest.fail(f"still running after 30 s: {expired.stdout!r}")
    assert (result.returncode, result.stdout) == (1, ""), result.stderr
    assert result.stderr == (f"Error: the database TZ_DATABASE_URL=sqlite:///"
                             f"{var / 'tradezone.sqlite3'} does not exist: run `tradezone db "
                             f"upgrade`\n")
    assert list(tmp_path.iterdir()) == []  # no var/, no database file, no broker files
