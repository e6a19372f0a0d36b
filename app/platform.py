"""The platform's long-lived parts, built once from a Config.

Both the web app and the command line use :func:`build_platform`, so a
CLI command and an HTTP request share the same database and notary setup.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from flask import current_app

import ledger
from ledger.keys import load_or_create_signing_key
from ledger.rowcache import TreeRowCache

from .config import Config
from .consent.policy import ExportPolicy
from .db import Database
from .notary.service import Notary


class LogSizeSeen:
    """The largest log size this process has read. The log only grows, so a
    tree of at most this size exists without asking the database again."""

    def __init__(self) -> None:
        self.size = 0

    def covers(self, tree_size: int) -> bool:
        return tree_size <= self.size

    def saw(self, size: int) -> None:
        self.size = max(self.size, size)


@dataclass
class Platform:
    config: Config
    db: Database
    notary: Notary
    export_policy: ExportPolicy
    log_size_seen: LogSizeSeen = field(default_factory=LogSizeSeen)
    tree_rows: TreeRowCache = field(default_factory=TreeRowCache)  # for the proof routes

    def now(self):
        return self.config.clock()


def build_platform(config: Config) -> Platform:
    key = load_or_create_signing_key(config.ledger_key_file)
    signer = ledger.NoteSigner(config.ledger_origin, key)
    return Platform(config, Database(config.database_url), Notary(signer, config.clock),
                    ExportPolicy.load(config.export_policy_file))


def current_platform() -> Platform:
    """The platform of the Flask app handling this request."""
    return current_app.extensions["tradezone"]
