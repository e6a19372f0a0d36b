"""A throwaway PostgreSQL server for tests, from the Debian package's binaries.

Usage::

    with PostgresCluster() as pg:
        pg.create_database("app")
        engine = sqlalchemy.create_engine(pg.url("app"))
"""
from __future__ import annotations

import atexit
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg
from psycopg import sql

from .ports import free_port, port_is_open

PG_ROOT = Path("/usr/lib/postgresql")
SUPERUSER = "postgres"

SERVER_SETTINGS = {
    "listen_addresses": "127.0.0.1",
    "max_connections": "200",
    "shared_buffers": "128MB",
}
# Durability off for tests: the data dies with the test run anyway, and this
# makes CREATE DATABASE and commits much faster. Benchmarks keep PostgreSQL's
# durable defaults (durable=True), as production does.
NOT_DURABLE = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}


class PostgresError(RuntimeError):
    """The test server could not be found, started or stopped."""


def find_bin_dir() -> Path:
    """Return /usr/lib/postgresql/<newest version>/bin, or raise PostgresError."""
    candidates = []
    if PG_ROOT.is_dir():
        for child in PG_ROOT.iterdir():
            if child.name.isdigit() and (child / "bin" / "postgres").exists():
                candidates.append(child)
    if not candidates:
        raise PostgresError(
            f"PostgreSQL server binaries not found under {PG_ROOT}/<version>/bin; "
            "install the Debian package 'postgresql' "
            "(bash deploy/ensure-packages.sh postgresql mosquitto)"
        )
    newest = max(candidates, key=lambda p: int(p.name))
    return newest / "bin"


class PostgresCluster:
    """One initdb'd PostgreSQL server on a free 127.0.0.1 port, in a temp dir.

    Runs as the ``postgres`` system user when we are root (PostgreSQL refuses
    to run as root), else as the current user.
    """

    host = "127.0.0.1"

    def __init__(self, startup_timeout: float = 30.0, durable: bool = False):
        self.startup_timeout = startup_timeout
        self.settings = SERVER_SETTINGS if durable else {**SERVER_SETTINGS, **NOT_DURABLE}
        self.bin_dir: Path | None = None
        self.base_dir: Path | None = None
        self.port: int | None = None
        self._proc: subprocess.Popen | None = None
        self._log = None
        self._run_as: pwd.struct_passwd | None = None

    # -- lifecycle ---------------------------------------------------------

    def start(self) -> "PostgresCluster":
        """Create a fresh cluster and start it; return self once it accepts connections."""
        if self._proc is not None:
            return self
        self.bin_dir = find_bin_dir()
        self._run_as = self._server_user()
        self.base_dir = Path(tempfile.mkdtemp(prefix="tz-pg-"))
        atexit.register(self.stop)
        try:
            if self._run_as is not None:
                os.chown(self.base_dir, self._run_as.pw_uid, self._run_as.pw_gid)
            self._initdb()
            self._spawn()
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Shut the server down (fast), kill it if that fails, remove the temp dir.

        Safe to call more than once.
        """
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            try:
                self._run(
                    [self._bin("pg_ctl"), "stop", "-D", str(self.data_dir),
                     "-m", "fast", "-w", "-t", "20"],
                    timeout=30,
                )
            except (subprocess.SubprocessError, OSError):
                pass
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        if self._log is not None:
            self._log.close()
            self._log = None
        if self.base_dir is not None:
            shutil.rmtree(self.base_dir, ignore_errors=True)
            self.base_dir = None
        atexit.unregister(self.stop)

    def __enter__(self) -> "PostgresCluster":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- connection helpers ------------------------------------------------

    def url(self, dbname: str = "postgres") -> str:
        """Return the SQLAlchemy URL of database ``dbname`` as superuser ``postgres``."""
        return f"postgresql+psycopg://{SUPERUSER}@{self.host}:{self.port}/{dbname}"

    def conninfo(self, dbname: str = "postgres") -> str:
        """Return a libpq/psycopg connection string for database ``dbname``."""
        return f"host={self.host} port={self.port} user={SUPERUSER} dbname={dbname}"

    def create_database(self, name: str, template: str | None = None) -> None:
        """CREATE DATABASE ``name``, optionally copied from database ``template``."""
        query = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template is not None:
            query += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
        self._admin(query)

    def drop_database(self, name: str) -> None:
        """DROP DATABASE ``name`` if it exists, disconnecting its sessions."""
        self._admin(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )

    # -- internals ---------------------------------------------------------

    @property
    def data_dir(self) -> Path:
        return self.base_dir / "data"

    @property
    def log_path(self) -> Path:
        return self.base_dir / "server.log"

    def _admin(self, query) -> None:
        with psycopg.connect(self.conninfo(), autocommit=True) as conn:
            conn.execute(query)

    @staticmethod
    def _server_user() -> pwd.struct_passwd | None:
        if os.geteuid() != 0:
            return None
        try:
            return pwd.getpwnam("postgres")
        except KeyError:
            raise PostgresError(
                "running as root, PostgreSQL needs the 'postgres' system user, "
                "which the Debian package 'postgresql' creates"
            ) from None

    def _bin(self, name: str) -> str:
        return str(self.bin_dir / name)

    def _popen_kwargs(self) -> dict:
        # PG* variables of the caller (PGPORT, PGDATA...) must not leak in.
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        kwargs = {"env": env, "cwd": str(self.base_dir)}
        if self._run_as is not None:
            kwargs.update(user=self._run_as.pw_uid, group=self._run_as.pw_gid,
                          extra_groups=[])
            env["HOME"] = str(self.base_dir)
        return kwargs

    def _run(self, argv: list[str], timeout: float) -> None:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                                **self._popen_kwargs())
        if result.returncode != 0:
            raise PostgresError(
                f"{' '.join(argv)} failed ({result.returncode}):\n"
                f"{result.stdout}{result.stderr}"
            )

    def _initdb(self) -> None:
        self._run(
            [self._bin("initdb"), "-D", str(self.data_dir), "-U", SUPERUSER,
             "--auth=trust", "--encoding=UTF8", "--locale=C",
             "--no-sync", "--no-instructions"],
            timeout=120,
        )

    def _spawn(self) -> None:
        sock_dir = self.base_dir / "sock"
        sock_dir.mkdir()
        if self._run_as is not None:
            os.chown(sock_dir, self._run_as.pw_uid, self._run_as.pw_gid)
        self.port = free_port()
        argv = [self._bin("postgres"), "-D", str(self.data_dir),
                "-p", str(self.port), "-k", str(sock_dir)]
        for key, value in self.settings.items():
            argv += ["-c", f"{key}={value}"]
        self._log = open(self.log_path, "ab")
        self._proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self._log,
                                      stderr=subprocess.STDOUT, **self._popen_kwargs())

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise PostgresError(
                    f"postgres exited with {self._proc.returncode} on port {self.port}\n"
                    + self._log_tail()
                )
            if port_is_open(self.port):
                try:
                    with psycopg.connect(self.conninfo(), connect_timeout=2) as conn:
                        conn.execute("SELECT 1")
                    return
                except psycopg.OperationalError as exc:  # e.g. "starting up"
                    last_error = exc
            time.sleep(0.05)
        raise PostgresError(
            f"postgres did not accept connections on port {self.port} within "
            f"{self.startup_timeout}s (last error: {last_error})\n" + self._log_tail()
        )

    def _log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no server log)"
        return "server log tail:\n" + "\n".join(text.splitlines()[-lines:])
