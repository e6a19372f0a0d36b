"""Serving the API with gunicorn (``tradezone serve``)."""

from __future__ import annotations

import gc
import os
import tempfile

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


def serve(config: Config, host: str, port: int, workers: int) -> None:
    """Check the database and keys, sign a checkpoint if needed, then serve."""
    if os.environ.get(MULTIPROCESS_DIR):  # the operator's own: left as it is
        _serve(config, host, port, workers)
        return
    # The workers' metrics files: fresh for each run, removed after it.
    with tempfile.TemporaryDirectory(prefix="tradezone-metrics-") as metrics_dir:
        os.environ[MULTIPROCESS_DIR] = metrics_dir
        try:
            _serve(config, host, port, workers)
        finally:
            del os.environ[MULTIPROCESS_DIR]


def _serve(config: Config, host: str, port: int, workers: int) -> None:
    platform = build_platform(config)
    require_existing_database(config.database_url)
    _check_console_secret(config)
    with platform.db.write() as session:
        platform.notary.ensure_checkpoint(session)
    platform.db.dispose()
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
