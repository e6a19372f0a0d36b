"""The platform's long-lived parts, built once from a Config.

Both the web app and the command line use :func:`build_platform`, so a
CLI command and an HTTP request share the same database and notary setup.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from flask import current_app
from sqlalchemy import inspect

import ledger
from ledger.keys import load_or_create_signing_key, load_signing_key
from ledger.note import signers
from ledger.rowcache import TreeRowCache
from ledger.sqlstore import SqlLog, checkpoints as ledger_checkpoints

from .config import Config, ConfigError, redacted_url
from .consent.policy import ExportPolicy
from .consent.policy.errors import PolicyFileError
from .db import Database, sqlite_file
from .db_errors import DATABASE_ERRORS
from .errors import database_unavailable
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


def build_platform(config: Config, *, create_key: bool = True) -> Platform:
    """The platform of ``config``; a key or policy file that cannot be used is a
    ConfigError naming its setting. Without ``create_key``, a missing signing
    key is such an error too; with it, a missing key is made only for a log
    that no key has signed yet (the only time this connects to the database)."""
    database = Database(config.database_url)
    if create_key and not config.ledger_key_file.exists():
        _refuse_a_new_key_for_a_signed_log(config, database)
    notary = Notary(_signer(config, create_key), config.clock)
    return Platform(config, database, notary, _export_policy(config))


def _refuse_a_new_key_for_a_signed_log(config: Config, database: Database) -> None:
    """A lost key file must come back from a backup: a new key would sign
    checkpoints that every verifier of this log rejects as forged (and the
    notary would refuse to use it), so none is made, not even left behind.
    A database that cannot be reached now is not asked: the app still starts
    (and answers 503 until it can), and the notary checks before it signs."""
    path = sqlite_file(config.database_url)
    if path is not None and not path.exists():
        return  # a new database: `db upgrade` creates it (connecting would, too)
    try:
        with database.autocommit() as connection:
            if not inspect(connection).has_table(ledger_checkpoints.name):
                return
            latest = SqlLog(connection).latest_checkpoint()
    except DATABASE_ERRORS as error:
        if database_unavailable(error):
            return
        raise
    if latest is not None:
        raise ConfigError(
            f"TZ_LEDGER_KEY_FILE: {config.ledger_key_file} is missing, but the log in "
            f"{redacted_url(config.database_url)} is already signed (latest checkpoint: size "
            f"{latest.size}, signed by {', '.join(signers(latest.note))}); put that key file "
            f"back from a backup: a new key would not match")


def _signer(config: Config, create_key: bool) -> ledger.NoteSigner:
    load = load_or_create_signing_key if create_key else load_signing_key
    try:
        key = load(config.ledger_key_file)
    except ledger.KeyFileError as error:
        hint = ""
        if not create_key and not config.ledger_key_file.exists():
            hint = ("; `tradezone db upgrade` makes one for a new log, and a log "
                    "already signed needs its own key back")
        raise ConfigError(f"TZ_LEDGER_KEY_FILE: {error}{hint}") from error
    try:
        return ledger.NoteSigner(config.ledger_origin, key)
    except ledger.NoteFormatError as error:
        raise ConfigError(f"TZ_LEDGER_ORIGIN: {error}") from error


def _export_policy(config: Config) -> ExportPolicy:
    try:
        return ExportPolicy.load(config.export_policy_file)
    except PolicyFileError as error:
        raise ConfigError(f"TZ_EXPORT_POLICY_FILE: {error}") from error


def current_platform() -> Platform:
    """The platform of the Flask app handling this request."""
    return current_app.extensions["tradezone"]
