"""An online backup of the embedded SQLite database (`tradezone db backup`).

Copying the database file while the API or the gateway runs gives a torn
copy: the last commits sit in the ``-wal`` file, and pages change under the
copy. SQLite's backup API copies every page inside one read transaction
instead, so the copy is the database as of one commit, while writers go on
(WAL readers do not block them). The copy is written under a temporary name
with mode 0600 (it holds every document, consent and token hash), made
durable, and only then linked to the name asked for: an interrupted backup
never leaves a file that looks like a finished one.

The copy holds no secret key: the ledger's signing key (TZ_LEDGER_KEY_FILE)
is backed up on its own, like any private key.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from .config import ConfigError, redacted_url
from .db import require_existing_database, sqlite_file
from .durable import fsync_path


@dataclass(frozen=True)
class BackupCopy:
    """Where a backup went and how big it is."""

    path: Path
    bytes: int

    @property
    def url(self) -> str:
        return f"sqlite:///{self.path}"


def backup_sqlite(database_url: str, destination: Path) -> BackupCopy:
    """Copy the SQLite database of ``database_url`` to the new file
    ``destination`` as of one commit, while other processes keep writing.

    ConfigError, and nothing left behind, when the database is not a SQLite
    file, does not exist, or cannot be read, or ``destination`` exists or
    cannot be written."""
    source = sqlite_file(database_url)
    if source is None:
        raise ConfigError(
            f"`db backup` copies the embedded SQLite database; TZ_DATABASE_URL="
            f"{redacted_url(database_url)} is not one: back a server database up with its own "
            "tools (for PostgreSQL: pg_dump --format=custom, or continuous WAL archiving)")
    require_existing_database(database_url)
    destination = Path(destination).absolute()
    if destination.exists():
        raise ConfigError(f"{destination} exists: a backup never overwrites a file")
    try:
        partial = new_private_file(destination)
        try:
            copy_pages(source, partial)
            fsync_path(partial)
            os.link(partial, destination)  # fails, never replaces, if it appeared meanwhile
            fsync_path(destination.parent)
        finally:
            partial.unlink(missing_ok=True)
    except FileExistsError as error:
        raise ConfigError(f"{destination} exists: a backup never overwrites a file") from error
    except OSError as error:
        raise ConfigError(f"cannot write the backup {destination}: "
                          f"{error.strerror or error}") from error
    except sqlite3.Error as error:
        raise ConfigError(f"cannot back up the SQLite database {source}: {error}") from error
    return BackupCopy(destination, destination.stat().st_size)


def new_private_file(destination: Path) -> Path:
    """A new empty file beside ``destination``, mode 0600 (SQLite keeps the
    mode it finds), with a name of its own: two backups never share one."""
    descriptor, name = tempfile.mkstemp(prefix=f".{destination.name}.", suffix=".partial",
                                        dir=destination.parent)
    os.close(descriptor)
    return Path(name)


def copy_pages(source: Path, target: Path) -> None:
    # pages=-1: every page in one step, so one read transaction (one commit's
    # view); a stepwise copy restarts whenever a writer commits meanwhile.
    with closing(sqlite3.connect(source, timeout=30)) as reader, \
            closing(sqlite3.connect(target)) as writer:
        reader.backup(writer, pages=-1)
        problems = writer.execute("PRAGMA integrity_check").fetchall()
        if problems != [("ok",)]:
            raise sqlite3.DatabaseError("the copy fails SQLite's integrity check: "
                                        + "; ".join(row[0] for row in problems[:5]))
