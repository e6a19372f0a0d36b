"""Bringing the broker's password and ACL files in line with the device registry:
writing them (atomically, mode 0600) and having Mosquitto re-read them (SIGHUP),
once (``tradezone mqtt sync``) or, with ``--watch``, whenever the registry
changes (:class:`RegistryWatcher`).

What Mosquitto 2.0.11 (Debian 12) does on SIGHUP, observed with the real broker
(``tests/app/devices/test_mqtt_watch.py``): it re-reads both files and checks
every connected client against them at once. A user new in the password file
can connect from then on. A connected client whose user is no longer in it (a
revoked device), or whose password no longer matches its hash, has its TCP
connection closed at once, with no DISCONNECT packet (MQTT 5 and 3.1.1 alike;
paho reports a lost connection, 128 "Unspecified error"). So its later
publishes are neither refused with PUBACK 0x87 nor silently dropped: there is
no connection left to carry them, and every reconnect is refused with CONNACK
0x87 "Not authorized". Clients still in the file (the gateway) stay connected.

That is why a revoked device stays in the files until the gateway has
answered it (:func:`read_registry`), for a grace period at most
(:data:`REVOKED_GRACE`, ``--revoked-grace``): its next event reaches the
gateway, which answers ``revoked`` (contract section 6: "the device's next
event is rejected with reason revoked") and notarizes nothing of it; a
device that hears it stops. The first look :data:`TOLD_SETTLE` after that
answer, or after the grace, leaves the device out and the broker puts it off.
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError

from app.config import decimal, utc_now
from app.db import Database
from app.durable import fsync_path

from . import services
from .broker_config import BrokerConfigError, BrokerFiles, PasswordEntry, render_broker_files

PASSWD, ACL = "passwd", "acl"
# Present in the files' directory from before the watcher writes them until
# the broker has been told (SIGHUP): a watcher that stopped in between (killed,
# restarted) finds the files in step but knows the broker has not loaded them.
RELOAD_OWED = ".reload-owed"
BROKER_PROCESS = "mosquitto"  # the broker's command name, as /proc/<pid>/comm shows it
_NAMES_SHOWN = 5  # device ids named per reload line; the rest are counted
# How long the broker may still admit a device after its revocation, and how
# long after the gateway first answered it "revoked" (read_registry).
REVOKED_GRACE = timedelta(hours=1)
TOLD_SETTLE = timedelta(seconds=10)


class BrokerSyncError(Exception):
    """The broker's files could not be written, or the broker could not be signalled."""


@dataclass(frozen=True)
class Admitted:
    """The devices the broker is to admit: (device id, stored MQTT hash) by id,
    and which of them are revoked but still within their grace."""

    credentials: list[tuple[str, str | None]]
    revoked: frozenset[str]

    def describe(self, devices: Iterable[str]) -> str:
        """``N active devices`` of ``devices`` (those rendered), and how many revoked ones."""
        devices = set(devices)
        revoked = len(devices & self.revoked)
        return f"{len(devices) - revoked} active devices" + (
            f" and {revoked} revoked within their grace" if revoked else "")


def read_registry(database: Database, now: datetime, revoked_grace: timedelta) -> Admitted:
    """The active devices, and those revoked less than ``revoked_grace`` before
    ``now`` that the gateway has not answered ``revoked`` yet (or did less than
    :data:`TOLD_SETTLE` ago: the answer goes out after the commit that
    quarantines the event, and must reach the device before the broker puts
    it off). So a revoked device's next event reaches the gateway and is
    answered ``revoked`` (contract section 6), rather than the device losing
    its connection unanswered; and one that goes on sending all the same (a
    stolen one) is put off seconds after that first answer."""
    with database.read() as session:
        rows = services.admitted_mqtt_credentials(session, now - revoked_grace,
                                                  now - TOLD_SETTLE)
    return Admitted([(device_id, stored) for device_id, stored, _ in rows],
                    frozenset(device_id for device_id, _, revoked in rows if revoked))


def current_files(directory: Path) -> tuple[str | None, str | None]:
    """The password and ACL files as they are now (None: missing or unreadable)."""
    return _read(directory / PASSWD), _read(directory / ACL)


def write_broker_files(directory: Path, files: BrokerFiles, owner: str | None = None) -> None:
    """Replace both files in ``directory`` (created if need be), each atomically;
    BrokerSyncError if they cannot be written."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        write_private(directory / PASSWD, files.passwd, owner)
        write_private(directory / ACL, files.acl, owner)
    except OSError as error:
        raise BrokerSyncError(f"cannot write the broker's files in {directory}: "
                              f"{error.strerror or error}") from error


def write_private(path: Path, text: str, owner: str | None = None) -> None:
    """Replace ``path`` atomically with ``text``: a 0600 file written and synced
    beside it, then renamed over it, so the broker never reads half a file."""
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)  # mode 0600
    temporary = Path(name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        if owner is not None:
            shutil.chown(temporary, user=owner)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    fsync_path(path.parent)


def reload_broker(pid_file: Path) -> int:
    """Send SIGHUP to the process named in ``pid_file``; its pid. A process that
    /proc names as something other than Mosquitto is not signalled."""
    try:
        text = pid_file.read_text().strip()
    except OSError as error:
        raise BrokerSyncError(f"cannot read the pid file {pid_file}: {error}") from error
    pid = decimal(text)
    if pid is None or pid <= 1:  # "²" is a digit int() refuses
        raise BrokerSyncError(f"{pid_file} does not hold a process id")
    name = _process_name(pid)
    if name is not None and not name.startswith(BROKER_PROCESS):
        # A stale pid file whose number now belongs to another process: SIGHUP
        # would end most programs (its default action), and reload no broker.
        raise BrokerSyncError(f"process {pid} named in {pid_file} is {name!r}, not "
                              f"{BROKER_PROCESS} (stale pid file?); not signalled")
    try:
        os.kill(pid, signal.SIGHUP)
    except ProcessLookupError as error:
        raise BrokerSyncError(f"no broker process {pid} (stale {pid_file}?)") from error
    except PermissionError as error:
        raise BrokerSyncError(f"not allowed to signal process {pid}") from error
    return pid


class RegistryWatcher:
    """Keeps the broker's files in step with the registry. Each :meth:`sync`
    reads the devices to admit (:func:`read_registry`, as of ``clock()``) and
    renders both files; only when they differ from the files on disk (or the
    last reload failed) does it rewrite them and send SIGHUP. Reports one line
    per reload, naming devices, never secrets: the devices added and removed
    since the broker's last reload (or, before this watcher's first, since the
    files it found, those the broker was started with), so a change a failed
    reload left untold is named when a reload succeeds. A reload owed when a
    watcher stopped is made by the next one (:data:`RELOAD_OWED`)."""

    def __init__(self, database: Database, gateway: PasswordEntry, directory: Path,
                 reload_pid: Path, *, owner: str | None = None,
                 revoked_grace: timedelta = REVOKED_GRACE,
                 clock: Callable[[], datetime] = utc_now,
                 report: Callable[[str], None] = print) -> None:
        self.database, self.gateway = database, gateway
        self.revoked_grace, self.clock = revoked_grace, clock
        self.directory, self.reload_pid, self.owner = directory, reload_pid, owner
        self.report = report
        # files written, SIGHUP not yet delivered (by this watcher or one before it)
        self._reload_owed = (directory / RELOAD_OWED).exists()
        self._loaded: set[str] | None = None  # the devices in the broker's last loaded files
        self._failing: str | None = None  # the error last reported, until a sync succeeds

    def sync(self) -> bool:
        """Look at the registry once; True when the files changed and the broker
        was reloaded. Database, file and signal errors are raised."""
        admitted = read_registry(self.database, self.clock(), self.revoked_grace)
        files = render_broker_files(admitted.credentials, self.gateway)
        passwd, acl = current_files(self.directory)
        if self._loaded is None:
            self._loaded = _users(passwd) - {self.gateway.username}
        if (files.passwd, files.acl) == (passwd, acl) and not self._reload_owed:
            return False
        self._owe_reload()
        write_broker_files(self.directory, files, self.owner)
        pid = reload_broker(self.reload_pid)
        self._reload_owed = False
        (self.directory / RELOAD_OWED).unlink(missing_ok=True)
        for reason in files.skipped:
            self.report(f"left out device {reason}")
        self.report(f"reloaded the broker (pid {pid}): gateway and "
                    f"{admitted.describe(files.devices)}{_changes(self._loaded, files.devices)}")
        self._loaded = set(files.devices)
        return True

    def _owe_reload(self) -> None:
        self._reload_owed = True
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            (self.directory / RELOAD_OWED).touch(mode=0o600)
            fsync_path(self.directory)
        except OSError as error:
            raise BrokerSyncError(f"cannot write {self.directory / RELOAD_OWED}: "
                                  f"{error.strerror or error}") from error

    def run(self, interval: float, stop: threading.Event) -> None:
        """Sync now and every ``interval`` seconds until ``stop`` is set. A sync
        that fails (database unreachable, broker restarting, disk full) is
        reported once and tried again at the next tick; it never ends the loop."""
        while not stop.is_set():
            self.tick(interval)
            stop.wait(interval)

    def tick(self, interval: float) -> None:
        """One turn of :meth:`run`: a sync whose error is reported, not raised (a
        failure repeating itself is reported once)."""
        try:
            self.sync()
        except (SQLAlchemyError, OSError, BrokerConfigError, BrokerSyncError) as error:
            message = str(error).splitlines()[0] if str(error) else type(error).__name__
            if message != self._failing:
                self.report(f"error: {message} (trying again every {interval:g} s)")
            self._failing = message
            return
        if self._failing is not None:
            self.report("the broker's files are in step with the registry again")
        self._failing = None


def _users(passwd: str | None) -> set[str]:
    return {line.split(":", 1)[0] for line in (passwd or "").splitlines() if ":" in line}


def _changes(before: set[str], now: Iterable[str]) -> str:
    """``; added a, b; removed c`` (at most a few names each)."""
    now = set(now)
    parts = []
    for label, names in (("added", now - before), ("removed", before - now)):
        if names:
            shown = sorted(names)[:_NAMES_SHOWN]
            more = f" and {len(names) - len(shown)} more" if len(names) > len(shown) else ""
            parts.append(f"{label} {', '.join(shown)}{more}")
    return "".join(f"; {part}" for part in parts)


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def _process_name(pid: int) -> str | None:
    """The command name of process ``pid``; None where /proc cannot tell (no
    such process, or not Linux)."""
    try:
        return Path(f"/proc/{pid}/comm").read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return None
