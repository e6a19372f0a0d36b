"""Running one gateway as a process: logging, signals, exit status."""

from __future__ import annotations

import logging
import signal
import threading

from app.config import Config
from app.platform import build_platform

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
