"""Serving the API with gunicorn (``tradezone serve``)."""

from __future__ import annotations

import gc
import os
import shutil
import tempfile
from dataclasses import dataclass

from gunicorn.app.base import BaseApplication

from . import create_app
from .access_log import AccessLogger
from .config import Config, ConfigError
from .db import require_existing_database
from .console.secret import SecretFileError, load_or_create_secret, secret_file_for
from .platform import build_platform

# prometheus-client's multiprocess directory (app/metrics.py, which is not
# imported here: it would fix prometheus-client's mode before this sets it).
MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"


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
    if os.environ.get(MULTIPROCESS_DIR):  # the operator's own: left as it is
        _serve(config, host, port, workers, metrics)
        return
    # The workers' metrics files: fresh for each run, removed after it.
    master = os.getpid()
    metrics_dir = tempfile.mkdtemp(prefix="tradezone-metrics-")
    os.environ[MULTIPROCESS_DIR] = metrics_dir
    try:
        _serve(config, host, port, workers, metrics)
    finally:
        if os.getpid() == master:  # see _serve: a worker must not remove it
            del os.environ[MULTIPROCESS_DIR]
            shutil.rmtree(metrics_dir, ignore_errors=True)


def _serve(config: Config, host: str, port: int, workers: int,
           metrics: MetricsAddress | None) -> None:
    platform = build_platform(config)
    require_existing_database(config.database_url)
    _check_console_secret(config)
    with platform.db.write() as session:
        platform.notary.ensure_checkpoint(session)
    platform.db.dispose()
    master = os.getpid()
    exporter = _serve_metrics(platform, metrics) if metrics is not None else None
    try:
        _run_gunicorn(config, host, port, workers)
    finally:
        # gunicorn's workers leave through here too: a worker ends with
        # SystemExit, which unwinds the stack it was forked with. Only the
        # master stops what the master started (a worker that removed the
        # metrics directory on its way out, as on a reload by SIGHUP, made
        # every request of the other workers a 500).
        if exporter is not None and os.getpid() == master:
            exporter.shutdown()


def _serve_metrics(platform, address: MetricsAddress):
    # Imported only now, with MULTIPROCESS_DIR set (app/metrics.py says why).
    from .metrics import serve_exporter

    try:
        return serve_exporter(platform, address.host, address.port)
    except OSError as error:  # the port taken, the host not an address of this machine
        raise ConfigError(f"--metrics-host, --metrics-port: cannot serve metrics on "
                          f"{address.host}:{address.port}: {error.strerror or error}") from error


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
