"""``tradezone mqtt sync --watch``: the registry watcher keeps a real Mosquitto's
password and ACL files in step with the registry, reloading it only on a change.

What Mosquitto 2.0.11 does on SIGHUP, as asserted here: a user added to the
password file can connect; a connected user removed from it has its connection
closed at once (no DISCONNECT packet: paho sees a lost connection) and every
reconnect is refused with CONNACK 0x87; users still in the file stay connected.
"""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import text

from app.cli import main
from app.db import Database
from app.devices import broker_config
from app.devices.broker_sync import RELOAD_OWED, RegistryWatcher, current_files
from tests.services.mosquitto import MosquittoBroker

from .probe import NOT_AUTHORIZED, Probe

GATEWAY, GATEWAY_PASSWORD = "tz-gateway", "correct horse battery staple"
TRADEZONE = Path(sys.executable).parent / "tradezone"
INTERVAL = 0.2  # seconds between the watcher's looks at the registry
DEADLINE = 15.0  # seconds to wait for what a few intervals should bring


@pytest.fixture
def auth_dir(database_url, tmp_path):
    """The broker's files as the one-shot ``mqtt sync`` writes them before the
    broker starts (as ``make run`` does)."""
    directory = tmp_path / "mqtt-auth"
    result = CliRunner().invoke(main, ["mqtt", "sync", "--dir", str(directory)],
                                env=_env(database_url, tmp_path))
    assert result.exit_code == 0, result.output
    return directory


@pytest.fixture
def broker(auth_dir, tmp_path):
    """A real Mosquitto reading ``auth_dir``'s files, and a pid file naming it."""
    with MosquittoBroker(allow_anonymous=False, password_file=auth_dir / "passwd",
                         acl_file=auth_dir / "acl") as running:
        running.pid_file = tmp_path / "mosquitto.pid"
        running.pid_file.write_text(f"{running.pid}\n")
        yield running


@pytest.fixture
def watcher(database_url, auth_dir, broker, tmp_path):
    """``tradezone mqtt sync --watch`` as a process of its own, its output in a file;
    stopped by the test (or at teardown). It puts a revoked device out at once
    (``--revoked-grace 0``; the grace has a test of its own)."""
    process = WatcherProcess(_env(database_url, tmp_path), auth_dir, broker.pid_file,
                             tmp_path / "watcher.log")
    yield process
    process.stop(signal.SIGTERM)


@pytest.fixture
def probes():
    """connect(broker, user, password) -> (Probe, CONNACK reason); all closed at teardown."""
    opened: list[Probe] = []

    def connect(broker, user, password, client_id=""):
        probe = Probe(broker.host, broker.port, user, password, client_id=client_id)
        reason = probe.connect()
        if not reason.is_failure:
            opened.append(probe)
        return probe, reason

    yield connect
    for probe in opened:
        probe.close()


class WatcherProcess:
    def __init__(self, env: dict[str, str], auth_dir: Path, pid_file: Path, log: Path) -> None:
        self.log = log
        with open(log, "wb") as output:
            self.process = subprocess.Popen(
                [str(TRADEZONE), "mqtt", "sync", "--dir", str(auth_dir), "--reload-pid",
                 str(pid_file), "--watch", str(INTERVAL), "--revoked-grace", "0"],
                env={**os.environ, **env}, stdout=output, stderr=subprocess.STDOUT)
        self.wait_for_line("watching the registry")

    def lines(self) -> list[str]:
        return self.log.read_text().splitlines()

    def wait_for_line(self, fragment: str, count: int = 1) -> None:
        _wait_until(lambda: sum(fragment in line for line in self.lines()) >= count,
                    f"{count} watcher lines with {fragment!r}", self)

    def stop(self, signum: int) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signum)
            try:
                self.process.wait(timeout=DEADLINE)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


def test_a_device_registered_later_gets_in_and_a_revoked_one_is_put_out(
        client, cast, register, broker, watcher, probes):
    gateway, reason = probes(broker, GATEWAY, GATEWAY_PASSWORD, client_id="gw")
    assert not reason.is_failure
    gateway.subscribe("tz/devices/+/events")
    late = register("dev-late")
    assert probes(broker, "dev-late", late.mqtt_password)[1].value == NOT_AUTHORIZED  # not yet

    device = _connect_within_deadline(probes, broker, "dev-late", late.mqtt_password)
    assert device.publish("tz/devices/dev-late/events", b"first").value == 0
    assert gateway.received().payload == b"first"
    assert client.post("/api/v1/devices/dev-late/revoke",
                       headers=cast.customs.headers).status_code == 200

    # At the next reload the broker closes the revoked device's connection at once
    # (no DISCONNECT packet, so paho reports a lost connection) ...
    assert device.disconnects.get(timeout=DEADLINE).value == 128  # "Unspecified error"
    # ... and refuses it from then on, while the gateway stays connected.
    assert probes(broker, "dev-late", late.mqtt_password)[1].value == NOT_AUTHORIZED
    assert gateway.client.is_connected() and gateway.disconnects.empty()

    watcher.wait_for_line("reloaded the broker", count=2)
    assert watcher.stop(signal.SIGTERM) == 0
    reloads = [line for line in watcher.lines() if "reloaded the broker" in line]
    assert len(reloads) == 2  # one per change of the registry, none on the idle ticks
    assert "added dev-late" in reloads[0] and "removed dev-late" in reloads[1]
    assert _broker_reloads(broker) == 2
    assert watcher.lines()[-1].endswith(" stopped")
    output = watcher.log.read_text()
    for secret in (GATEWAY_PASSWORD, late.mqtt_password, "$7$"):
        assert secret not in output  # no password, no hash


def test_nothing_changed_means_no_rewrite_and_no_reload(register, database_url, auth_dir,
                                                         broker):
    register("dev-a")
    result = CliRunner().invoke(main, ["mqtt", "sync", "--dir", str(auth_dir)],
                                env=_env(database_url, auth_dir.parent))
    assert result.exit_code == 0, result.output
    before = [_identity(auth_dir / name) for name in ("passwd", "acl")]
    reports: list[str] = []
    database = Database(database_url)
    try:
        gateway = broker_config.gateway_entry(GATEWAY, GATEWAY_PASSWORD,
                                              current_files(auth_dir)[0])
        watcher = RegistryWatcher(database, gateway, auth_dir, broker.pid_file,
                                  report=reports.append)
        assert [watcher.sync() for _ in range(5)] == [False] * 5
        assert [_identity(auth_dir / name) for name in ("passwd", "acl")] == before
        assert reports == [] and _broker_reloads(broker) == 0

        register("dev-b")
        assert watcher.sync() is True
        assert watcher.sync() is False
    finally:
        database.dispose()
    for name in ("passwd", "acl"):
        assert stat.S_IMODE((auth_dir / name).stat().st_mode) == 0o600
    assert _identity(auth_dir / "passwd") != before[0]
    assert _identity(auth_dir / "acl") != before[1]  # rewritten together, same content
    assert reports == [f"reloaded the broker (pid {broker.pid}): gateway and 2 active devices"
                       "; added dev-b"]
    _wait_until(lambda: _broker_reloads(broker) == 1, "the broker's reload")


def test_a_database_error_is_reported_once_and_the_watcher_carries_on(
        platform, register, broker, watcher, probes):
    with platform.db.write() as session:
        session.execute(text("ALTER TABLE devices RENAME TO devices_away"))
    watcher.wait_for_line("error:")
    assert watcher.process.poll() is None
    with platform.db.write() as session:
        session.execute(text("ALTER TABLE devices_away RENAME TO devices"))
    device = register("dev-after-error")

    _connect_within_deadline(probes, broker, "dev-after-error", device.mqtt_password)
    watcher.wait_for_line("added dev-after-error")
    assert watcher.stop(signal.SIGINT) == 0  # Ctrl-C stops it cleanly too
    lines = watcher.lines()
    errors = [line for line in lines if "error:" in line]
    assert len(errors) == 1 and "devices" in errors[0], errors  # not one per tick
    assert any("in step with the registry again" in line for line in lines)
    assert "Traceback" not in watcher.log.read_text()


def test_a_reload_that_failed_is_tried_again(register, database_url, auth_dir, broker):
    """The files are rewritten but the broker cannot be signalled (e.g. while it
    restarts): the next sync signals it, though the files no longer differ."""
    reports: list[str] = []
    missing = auth_dir.parent / "no-such.pid"
    database = Database(database_url)
    try:
        watcher = RegistryWatcher(database, broker_config.gateway_entry(
            GATEWAY, GATEWAY_PASSWORD, current_files(auth_dir)[0]), auth_dir, missing,
            report=reports.append)
        register("dev-a")
        watcher.tick(INTERVAL)
        assert "dev-a:" in (auth_dir / "passwd").read_text()
        assert reports == [f"error: cannot read the pid file {missing}: [Errno 2] No such file "
                           f"or directory: '{missing}' (trying again every {INTERVAL:g} s)"]
        watcher.reload_pid = broker.pid_file
        assert watcher.sync() is True
    finally:
        database.dispose()
    _wait_until(lambda: _broker_reloads(broker) == 1, "the broker's reload")


def test_a_watcher_restarted_before_the_broker_was_told_tells_it(register, database_url,
                                                                 auth_dir, broker):
    """A watcher that wrote the files and stopped before its SIGHUP got through
    (killed, or the broker restarting): the next watcher finds the files in step
    with the registry, yet reloads the broker, which has not loaded them."""
    database = Database(database_url)
    try:
        def watcher(pid_file: Path, reports: list[str]) -> RegistryWatcher:
            return RegistryWatcher(database, broker_config.gateway_entry(
                GATEWAY, GATEWAY_PASSWORD, current_files(auth_dir)[0]), auth_dir, pid_file,
                report=reports.append)
        register("dev-a")
        first: list[str] = []
        watcher(auth_dir.parent / "no-such.pid", first).tick(INTERVAL)
        assert "dev-a:" in (auth_dir / "passwd").read_text() and first[0].startswith("error:")
        restarted: list[str] = []
        again = watcher(broker.pid_file, restarted)
        assert again.sync() is True
        assert again.sync() is False
        assert restarted == [f"reloaded the broker (pid {broker.pid}): gateway and 1 active "
                             "devices"]
        assert not (auth_dir / RELOAD_OWED).exists()
        # Once the broker has the files, a watcher started later has nothing to do.
        assert watcher(broker.pid_file, []).sync() is False
    finally:
        database.dispose()
    _wait_until(lambda: _broker_reloads(broker) == 1, "the broker's reload")


def test_after_a_failed_reload_the_next_one_names_every_change_the_broker_had_not_taken(
        client, cast, register, database_url, auth_dir, broker):
    """The log line of a reload compares with what the broker last loaded, not
    with the files a failed pass already wrote."""
    reports: list[str] = []
    register("dev-a"), register("dev-b")
    database = Database(database_url)
    try:
        watcher = RegistryWatcher(database, broker_config.gateway_entry(
            GATEWAY, GATEWAY_PASSWORD, current_files(auth_dir)[0]), auth_dir, broker.pid_file,
            revoked_grace=timedelta(0), report=reports.append)
        assert watcher.sync() is True
        _wait_until(lambda: _broker_reloads(broker) == 1, "the broker's reload")
        watcher.reload_pid = auth_dir.parent / "no-such.pid"  # e.g. the broker restarting
        assert client.post("/api/v1/devices/dev-a/revoke",
                           headers=cast.customs.headers).status_code == 200
        watcher.tick(INTERVAL)  # files written without dev-a; the broker not told
        register("dev-c")
        watcher.tick(INTERVAL)  # and again, with dev-c
        watcher.reload_pid = broker.pid_file
        assert watcher.sync() is True
    finally:
        database.dispose()
    reloads = [line for line in reports if line.startswith("reloaded")]
    reloaded = f"reloaded the broker (pid {broker.pid}): gateway and 2 active devices"
    assert reloads == [f"{reloaded}; added dev-a, dev-b", f"{reloaded}; added dev-c; removed dev-a"]
    _wait_until(lambda: _broker_reloads(broker) == 2, "the broker's reloads")


def test_a_revoked_device_stays_admitted_until_told_or_its_grace_has_passed(
        client, cast, clock, quarantine_message, register, database_url, auth_dir, broker,
        probes):
    """A revoked device's events still reach the gateway, which answers them
    "revoked"; the broker puts it off 10 s after that first answer (a stolen
    device that goes on sending), or once its grace has passed (one that
    never sent again)."""
    told, quiet = register("dev-told"), register("dev-quiet")
    reports: list[str] = []
    database = Database(database_url)
    try:
        watcher = RegistryWatcher(database, broker_config.gateway_entry(
            GATEWAY, GATEWAY_PASSWORD, current_files(auth_dir)[0]), auth_dir, broker.pid_file,
            revoked_grace=timedelta(minutes=10), clock=clock, report=reports.append)
        assert watcher.sync() is True
        gateway = probes(broker, GATEWAY, GATEWAY_PASSWORD, client_id="gw")[0]
        gateway.subscribe("tz/devices/+/events")
        probe = _connect_within_deadline(probes, broker, "dev-told", told.mqtt_password)
        for device_id in ("dev-told", "dev-quiet"):
            assert client.post(f"/api/v1/devices/{device_id}/revoke",
                               headers=cast.customs.headers).status_code == 200

        clock.advance(minutes=1)
        assert watcher.sync() is False  # the same files: nothing to reload
        assert probe.publish("tz/devices/dev-told/events", b"revoked, not yet put out").value == 0
        assert gateway.received().payload == b"revoked, not yet put out"
        quarantine_message("dev-told", "revoked", seq=2)  # what the gateway does with it

        clock.advance(seconds=9)
        assert watcher.sync() is False  # the answer is on its way to the device
        clock.advance(seconds=1)
        assert watcher.sync() is True
        assert probe.disconnects.get(timeout=DEADLINE).value == 128  # "Unspecified error"
        assert probes(broker, "dev-told", told.mqtt_password)[1].value == NOT_AUTHORIZED

        clock.advance(minutes=8, seconds=49)  # 9:59 after the revocation
        assert watcher.sync() is False
        clock.advance(seconds=1)
        assert watcher.sync() is True
        assert probes(broker, "dev-quiet", quiet.mqtt_password)[1].value == NOT_AUTHORIZED
    finally:
        database.dispose()
    reloaded = f"reloaded the broker (pid {broker.pid}): gateway and"
    assert reports == [f"{reloaded} 2 active devices; added dev-quiet, dev-told",
                       f"{reloaded} 0 active devices and 1 revoked within their grace; "
                       "removed dev-told",
                       f"{reloaded} 0 active devices; removed dev-quiet"]
    _wait_until(lambda: _broker_reloads(broker) == 3, "the broker's reloads")


def test_watch_needs_a_broker_to_reload(database_url, tmp_path):
    result = CliRunner().invoke(main, ["mqtt", "sync", "--dir", str(tmp_path / "auth"),
                                       "--watch", "2"], env=_env(database_url, tmp_path))
    assert result.exit_code == 2 and "--watch needs --reload-pid" in result.output
    assert not (tmp_path / "auth").exists()


def _env(database_url: str, tmp_path: Path) -> dict[str, str]:
    return {"TZ_DATABASE_URL": database_url,
            "TZ_LEDGER_KEY_FILE": str(tmp_path / "keys" / "ledger.pem"),
            "TZ_MQTT_USERNAME": GATEWAY, "TZ_MQTT_PASSWORD": GATEWAY_PASSWORD}


def _connect_within_deadline(probes, broker, user: str, password: str) -> Probe:
    """Connect as soon as the watcher has let ``user`` in (it is refused until then)."""
    deadline = time.monotonic() + DEADLINE
    while True:
        probe, reason = probes(broker, user, password, client_id=user)
        if not reason.is_failure:
            return probe
        assert reason.value == NOT_AUTHORIZED and time.monotonic() < deadline, \
            f"{user} still refused ({reason}) after {DEADLINE} s"
        time.sleep(INTERVAL / 2)


def _broker_reloads(broker: MosquittoBroker) -> int:
    return broker.log_path.read_text().count("Reloading config.")


def _identity(path: Path) -> tuple[int, int]:
    info = path.stat()
    return info.st_ino, info.st_mtime_ns


def _wait_until(condition, what: str, watcher: WatcherProcess | None = None) -> None:
    deadline = time.monotonic() + DEADLINE
    while not condition():
        if watcher is not None and watcher.process.poll() is not None:
            raise AssertionError(f"the watcher exited ({watcher.process.returncode}):\n"
                                 + watcher.log.read_text())
        assert time.monotonic() < deadline, f"no {what} within {DEADLINE} s"
        time.sleep(0.02)
