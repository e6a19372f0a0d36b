"""Running one gateway as a process: logging, signals, exit status."""

from __future__ import annotations

import logging
import signal
import threading

from app.config import Config
from app.db import (
    DATABASE_MADE_PRIVATE, make_database_file_private, require_existing_database,
)
from app.migrate import require_current_schema
from app.platform import Platform, build_platform

from . import logs
from .config import GatewayOptions
from .logs import log_event
from .service import Gateway

log = logging.getLogger("iot_gateway")


def run_gateway(config: Config, options: GatewayOptions) -> int:
    """Run until SIGTERM or SIGINT (0) or until the gateway cannot go on (1)."""
    logs.configure(options.log_level)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda number, frame: stop.set())
    platform = build_platform(config)
    require_existing_database(config.database_url)
    if make_database_file_private(config.database_url):  # copied in by hand, say
        log_event(log, logging.WARNING, "database_made_private", detail=DATABASE_MADE_PRIVATE)
    _check_database(platform)
    gateway = Gateway(platform, config, options)
    try:
        gateway.start()
        while not stop.is_set() and not gateway.finished.is_set():
            stop.wait(0.5)
        log_event(log, logging.INFO, "gateway_stopping", fatal=gateway.fatal)
    finally:
        gateway.stop()
        platform.db.dispose()
    return 1 if gateway.fatal else 0


def _check_database(platform: Platform) -> None:
    """Fail at start, as ``tradezone serve`` does, when the database cannot be
    used (unreachable, refusing the credentials, not migrated), rather than at
    the first event; and sign a checkpoint of the log if it has none yet."""
    require_current_schema(platform.db, platform.config.database_url)
    with platform.db.write() as session:
        platform.notary.ensure_checkpoint(session)
