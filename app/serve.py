"""Serving the API with gunicorn (``tradezone serve``)."""

from __future__ import annotations

import gc
import os
import shutil
import sys
import tempfile
import threading
from contextlib import ExitStack
from dataclasses import dataclass

from gunicorn.app.base import BaseApplication

from . import create_app
from .access_log import AccessLogger
from .config import Config, ConfigError
from .db import (
    DATABASE_MADE_PRIVATE, make_database_file_private, require_existing_database,
)
from .console.secret import SecretFileError, load_or_create_secret, secret_file_for
from .migrate import require_current_schema
from .platform import build_platform

# prometheus-client's multiprocess directory (app/metrics.py, which is not
# imported here: it would fix prometheus-client's mode before this sets it).
MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"
# Set beside it when `tradezone serve` made the directory (its master's pid):
# a master that gunicorn re-executes (USR2, a binary upgrade) inherits both,
# and makes a directory of its own, since the old master removes its own when
# it is stopped.
MULTIPROCESS_DIR_OWNER = "TZ_METRICS_DIR_OWNER"
# gunicorn sets it for a master it re-executes: the old master's pid.
REEXECUTED_FROM = "GUNICORN_PID"
RETRY_BIND_S = 1.0


class _Server(BaseApplication):
    def __init__(self, config: Config, options: dict) -> None:
        self._config = config
        self._options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self._options.items():
            self.cfg.set(key, value)

    def load(self):
        # Each worker builds its own platform: database connections are never
        # shared across a fork.
        app = create_app(self._config)
        # Everything built so far lives as long as the worker: keep it out of
        # the cyclic collector's way (it cost a fifth of the time on writes).
        gc.freeze()
        return app


@dataclass(frozen=True)
class MetricsAddress:
    """Where gunicorn's master serves the workers' metrics (app/metrics.py)."""

    host: str
    port: int


def serve(config: Config, host: str, port: int, workers: int,
          metrics: MetricsAddress | None = None) -> None:
    """Check the database and keys, sign a checkpoint if needed, then serve;
    with ``metrics``, also the Prometheus metrics at that address."""
    master = os.getpid()
    cleanup = ExitStack()
    try:
        if not os.environ.get(MULTIPROCESS_DIR) or os.environ.get(MULTIPROCESS_DIR_OWNER):
            # The workers' metrics files: fresh for each run, removed after it
            # (an operator's own directory is left as it is).
            cleanup.callback(_make_metrics_directory(master))
        platform = build_platform(config)
        require_existing_database(config.database_url)
        if make_database_file_private(config.database_url):  # copied in by hand, say
            print(DATABASE_MADE_PRIVATE, file=sys.stderr, flush=True)
        _check_console_secret(config)
        require_current_schema(platform.db, config.database_url)
        with platform.db.write() as session:
            platform.notary.ensure_checkpoint(session)
        platform.db.dispose()
        if metrics is not None:
            cleanup.callback(_serve_metrics(platform, metrics).shutdown)
        _run_gunicorn(config, host, port, workers)
    finally:
        # gunicorn's workers leave through here too: a worker ends with
        # SystemExit, which unwinds the stack it was forked with. Only the
        # master undoes what the master set up (a worker that removed the
        # metrics directory on its way out, as on a reload by SIGHUP, made
        # every request of the other workers a 500).
        if os.getpid() == master:
            cleanup.close()


def _make_metrics_directory(master: int):
    """Create the workers' metrics directory; returns what removes it. (Not a
    generator context manager: a worker collecting it at exit would run its
    ``finally``.)"""
    metrics_dir = tempfile.mkdtemp(prefix="tradezone-metrics-")
    os.environ[MULTIPROCESS_DIR] = metrics_dir
    os.environ[MULTIPROCESS_DIR_OWNER] = str(master)

    def remove() -> None:
        del os.environ[MULTIPROCESS_DIR], os.environ[MULTIPROCESS_DIR_OWNER]
        shutil.rmtree(metrics_dir, ignore_errors=True)

    return remove


def _serve_metrics(platform, address: MetricsAddress):
    # Imported only now, with MULTIPROCESS_DIR set (app/metrics.py says why).
    from .metrics import serve_exporter

    try:
        return serve_exporter(platform, address.host, address.port)
    except OSError as error:  # the port taken, the host not an address of this machine
        if REEXECUTED_FROM in os.environ:
            # A binary upgrade: the old master serves the port until it is stopped.
            return _LateExporter(lambda: serve_exporter(platform, address.host, address.port))
        raise ConfigError(f"--metrics-host, --metrics-port: cannot serve metrics on "
                          f"{address.host}:{address.port}: {error.strerror or error}") from error


class _LateExporter:
    """Starts the exporter once its port is free, trying every RETRY_BIND_S."""

    def __init__(self, start) -> None:
        self._start = start
        self._server = None
        self._stopped = threading.Event()
        threading.Thread(target=self._run, name="metrics-bind", daemon=True).start()

    def _run(self) -> None:
        while not self._stopped.wait(RETRY_BIND_S):
            try:
                self._server = self._start()
                return
            except OSError:
                continue

    def shutdown(self) -> None:
        self._stopped.set()
        if self._server is not None:
            self._server.shutdown()


def _run_gunicorn(config: Config, host: str, port: int, workers: int) -> None:
    # Sync workers measured fastest here (bench/api_bench.py). A sync worker
    # streaming a large audit bundle cannot heartbeat, so the timeout is long;
    # gunicorn's control socket is per user by default and would be shared by
    # every server on the machine.
    _Server(config, {"bind": f"{host}:{port}", "workers": workers, "worker_class": "sync",
                     "accesslog": "-", "logger_class": AccessLogger, "timeout": 600,
                     "control_socket_disable": True}).run()


def _check_console_secret(config: Config) -> None:
    """Create or check the console's secret here, where an unusable one is one
    line: each worker reads it again, and a worker failing on it is a traceback."""
    try:
        load_or_create_secret(secret_file_for(config.ledger_key_file))
    except SecretFileError as error:
        raise ConfigError(f"{error} (it lives beside TZ_LEDGER_KEY_FILE)") from error
