"""A throwaway Eclipse Mosquitto broker for tests, from the Debian package.

Usage::

    with MosquittoBroker() as broker:
        client.connect(broker.host, broker.port)
"""
from __future__ import annotations

import atexit
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from .ports import free_port, port_is_open

MOSQUITTO = "/usr/sbin/mosquitto"
MOSQUITTO_PASSWD = "/usr/bin/mosquitto_passwd"
INSTALL_HINT = "install the Debian package 'mosquitto' (bash deploy/ensure-packages.sh mosquitto)"


class MosquittoError(RuntimeError):
    """The test broker could not be found, started or stopped."""


def make_password_file(path: str | os.PathLike, users: dict[str, str]) -> Path:
    """Write a Mosquitto password file (mode 0600) holding ``users`` {name: password}.

    The plain text file is hashed in place with ``mosquitto_passwd -U``, so no
    password appears on a command line.
    """
    if not os.path.exists(MOSQUITTO_PASSWD):
        raise MosquittoError(f"{MOSQUITTO_PASSWD} not found; {INSTALL_HINT}")
    path = Path(path)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        for user, password in users.items():
            f.write(f"{user}:{password}\n")
    os.chmod(path, 0o600)  # in case it already existed with looser bits
    result = subprocess.run([MOSQUITTO_PASSWD, "-U", str(path)],
                            capture_output=True, text=True, timeout=30)
    if result.returncode != 0:
        raise MosquittoError(f"mosquitto_passwd -U failed: {result.stdout}{result.stderr}")
    return path


class MosquittoBroker:
    """One mosquitto process on a free 127.0.0.1 port, config and data in a temp dir.

    The port and the persistence directory are kept across restart() and
    kill()+start(), so persistent sessions and their queued messages survive a
    graceful restart; stop() is final and removes the temp dir.
    """

    host = "127.0.0.1"

    def __init__(self, allow_anonymous: bool = True,
                 password_file: str | os.PathLike | None = None,
                 acl_file: str | os.PathLike | None = None,
                 startup_timeout: float = 10.0, stop_timeout: float = 10.0):
        self.allow_anonymous = allow_anonymous
        self.password_file = password_file
        self.acl_file = acl_file
        self.startup_timeout = startup_timeout
        self.stop_timeout = stop_timeout
        self.base_dir: Path | None = None
        self.port: int | None = None
        self._proc: subprocess.Popen | None = None
        self._log = None

    # -- lifecycle ---------------------------------------------------------

    def start(self) -> "MosquittoBroker":
        """Start the broker (first call: new temp dir and port); return self once it listens."""
        if self._proc is not None:
            return self
        if not os.path.exists(MOSQUITTO):
            raise MosquittoError(f"{MOSQUITTO} not found; {INSTALL_HINT}")
        if self.base_dir is None:
            self.base_dir = Path(tempfile.mkdtemp(prefix="tz-mqtt-"))
            (self.base_dir / "data").mkdir()
            self.port = free_port()
            atexit.register(self.stop)
        try:
            self._write_config()
            self._spawn()
            self._wait_ready()
        except BaseException:
            self._terminate(signal.SIGKILL)
            raise
        return self

    def stop(self) -> None:
        """Stop the broker (SIGTERM, SIGKILL after stop_timeout) and remove its temp dir.

        Safe to call more than once.
        """
        self._terminate(signal.SIGTERM)
        if self.base_dir is not None:
            shutil.rmtree(self.base_dir, ignore_errors=True)
            self.base_dir = None
        atexit.unregister(self.stop)

    def restart(self) -> "MosquittoBroker":
        """Stop gracefully (persistence is saved) and start again on the same port."""
        self._terminate(signal.SIGTERM)
        return self.start()

    def kill(self) -> None:
        """SIGKILL the broker, as in a crash; start() may bring it back on the same port."""
        self._terminate(signal.SIGKILL)

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def __enter__(self) -> "MosquittoBroker":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- internals ---------------------------------------------------------

    @property
    def pid(self) -> int:
        """The running broker's process id (for signals such as SIGHUP)."""
        if self._proc is None:
            raise MosquittoError("the broker is not running")
        return self._proc.pid

    @property
    def config_path(self) -> Path:
        return self.base_dir / "mosquitto.conf"

    @property
    def log_path(self) -> Path:
        return self.base_dir / "mosquitto.log"

    def _write_config(self) -> None:
        lines = [
            f"listener {self.port} {self.host}",
            f"allow_anonymous {'true' if self.allow_anonymous else 'false'}",
            "persistence true",
            f"persistence_location {self.base_dir / 'data'}/",
            f"log_dest file {self.log_path}",
            "log_type all",
            "connection_messages true",
        ]
        if os.geteuid() == 0:
            # Started as root, mosquitto drops privileges to user "mosquitto"
            # right after reading the config, and could then no longer write
            # our root-owned 0700 temp dir nor read 0600 password/acl files
            # owned by root. "user root" keeps it as root: simpler than
            # chowning every file a test hands in, and harmless on a loopback
            # throwaway broker.
            lines.append("user root")
        if self.password_file is not None:
            lines.append(f"password_file {self.password_file}")
        if self.acl_file is not None:
            lines.append(f"acl_file {self.acl_file}")
        self.config_path.write_text("\n".join(lines) + "\n")
        os.chmod(self.config_path, 0o600)

    def _spawn(self) -> None:
        self._log = open(self.base_dir / "stdout.log", "ab")
        self._proc = subprocess.Popen(
            [MOSQUITTO, "-c", str(self.config_path)],
            stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
            cwd=self.base_dir,
        )

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise MosquittoError(
                    f"mosquitto exited with {self._proc.returncode} on port {self.port}\n"
                    + self._log_tail()
                )
            if port_is_open(self.port, self.host):
                return
            time.sleep(0.02)
        raise MosquittoError(
            f"mosquitto did not listen on port {self.port} within "
            f"{self.startup_timeout}s\n" + self._log_tail()
        )

    def _terminate(self, sig: signal.Signals) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(sig)
            try:
                proc.wait(timeout=self.stop_timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        if self._log is not None:
            self._log.close()
            self._log = None

    def _log_tail(self, lines: int = 30) -> str:
        parts = []
        for path in (self.base_dir / "stdout.log", self.log_path):
            try:
                text = path.read_text(errors="replace")
            except OSError:
                continue
            parts.append(f"{path.name} tail:\n" + "\n".join(text.splitlines()[-lines:]))
        return "\n".join(parts) or "(no broker log)"
