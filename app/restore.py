"""Putting a backup of the embedded SQLite database back (`tradezone db restore`).

Restoring by hand goes wrong in three ways, each refused here:

- while the API, the gateway or ``mqtt sync`` still has the database open:
  they keep writing to the file that was replaced (or, once its ``-wal``
  file no longer matches, corrupt the new one). The database is taken with
  an exclusive lock first; any other connection makes that fail;
- over a database whose log has gone further than the backup's: every
  entry after the backup would be dropped, and the receipts firms hold for
  them would stop verifying, which monitors report as a rollback. Allowed
  only when asked for (``discard_newer``), for a database that is damaged;
- from a file that is no Tradezone database, or whose log does not verify
  against this platform's key (the caller's ``verify_log``: ``app.logcheck``).

Nothing is deleted: the database that is replaced is renamed beside it
(``NAME.replaced-<UTC time>``), to be examined or removed by the operator.
The backup is copied as a backup is taken (``app.backup``): a private
temporary file, SQLite's integrity check, fsync, and then one link into place
(which fails, rather than overwrite, if a file took the name meanwhile).
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from .backup import copy_pages, new_private_file
from .config import ConfigError, redacted_url
from .db import sqlite_file
from .durable import fsync_path


@dataclass(frozen=True)
class LogHead:
    """A database's log as the restore compares it: its size and the root
    of its latest checkpoint."""

    size: int
    checkpoint_size: int | None
    checkpoint_root: bytes | None


@dataclass(frozen=True)
class Restored:
    """What a restore did."""

    database: Path
    log: LogHead
    replaced: Path | None  # the database it replaced, renamed; None if there was none
    replaced_log: LogHead | None  # that database's log, None if it could not be read
    replaced_unreadable: str | None = None  # why it could not be read


def _backup_log(backup: Path) -> LogHead:
    """The log of the backup file, or ConfigError if it is no Tradezone database."""
    if not backup.is_file():
        raise ConfigError(f"{backup} is not a file")
    try:
        with closing(sqlite3.connect(f"file:{backup}?mode=ro", uri=True)) as connection:
            problems = connection.execute("PRAGMA quick_check").fetchall()
            if problems != [("ok",)]:
                raise ConfigError(f"{backup} fails SQLite's integrity check: {problems[0][0]}")
            return _log_head(connection)
    except sqlite3.DatabaseError as error:
        raise ConfigError(f"{backup} is not a Tradezone database: {error}") from error


def _restore_target(database_url: str) -> Path:
    """The SQLite file a restore replaces; ConfigError for a server database."""
    target = sqlite_file(database_url)
    if target is None:
        raise ConfigError(
            f"`db restore` restores the embedded SQLite database; TZ_DATABASE_URL="
            f"{redacted_url(database_url)} is not one: restore a server database with its own "
            "tools (for PostgreSQL: pg_restore, or point-in-time recovery)")
    return target.absolute()


def restore_sqlite(database_url: str, backup: Path, verify_log: Callable[[Path], None], *,
                   discard_newer: bool = False) -> Restored:
    """Replace the SQLite database of ``database_url`` with a copy of ``backup``;
    ConfigError, with nothing changed, when the database is not SQLite, the
    backup is no Tradezone database, the database is in use or ahead of the
    backup (unless ``discard_newer``), or a file cannot be written.
    ``verify_log(backup)`` checks the backup's log once it is known to be a
    Tradezone database, and raises to stop the restore."""
    target = _restore_target(database_url)
    backup = Path(backup).absolute()
    if backup == target:
        raise ConfigError(f"{backup} is the configured database itself")
    restored_log = _backup_log(backup)
    verify_log(backup)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        copy = new_private_file(target)
    except OSError as error:
        raise ConfigError(f"cannot write beside the database {target}: "
                          f"{error.strerror or error}") from error
    try:
        try:
            copy_pages(backup, copy)
            fsync_path(copy)
        except sqlite3.Error as error:
            raise ConfigError(f"cannot copy the backup {backup}: {error}") from error
        if not target.exists():
            return _put_in_place(copy, target, restored_log)
        current = _lock_exclusively(target)
        try:
            current_log, unreadable = _readable_log(current)
            _refuse_to_go_back(current_log, restored_log, discard_newer)
            aside = _aside_name(target)
            folded = _fold_in_write_ahead_log(current)
            if not folded:
                # Closed before the renames: once renamed, a connection still
                # open would remove the -wal file by the old name, which by
                # then could be the restored database's.
                current.close()
            _rename_database(target, aside, folded)
            _put_in_place(copy, target, restored_log)
        finally:
            current.close()
        return Restored(target, restored_log, aside, current_log, unreadable)
    except OSError as error:
        raise ConfigError(f"cannot restore to {target}: {error.strerror or error}") from error
    finally:
        copy.unlink(missing_ok=True)


def _put_in_place(copy: Path, target: Path, log: LogHead) -> Restored:
    """Give the copy the database's name, which must be free: a database
    created there meanwhile (by `db upgrade`, say) is never overwritten."""
    try:
        os.link(copy, target)
    except FileExistsError as error:
        raise ConfigError(f"{target} appeared while the backup was being restored: "
                          "nothing restored over it") from error
    fsync_path(target.parent)
    return Restored(target, log, None, None)


def _lock_exclusively(path: Path) -> sqlite3.Connection:
    """A connection holding SQLite's exclusive lock on the database until it
    is closed: granted only when no other connection has the file open, and
    keeping out any process that starts meanwhile."""
    connection = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        connection.execute("PRAGMA locking_mode=EXCLUSIVE")
        connection.execute("BEGIN EXCLUSIVE")
        connection.execute("COMMIT")
    except sqlite3.DatabaseError as error:
        connection.close()
        if "locked" in str(error) or "busy" in str(error):
            raise ConfigError(
                f"the database {path} is in use: stop the API, the gateway and `mqtt sync` "
                "(every process that opened it) before restoring") from error
        raise ConfigError(f"cannot lock the database {path}: {error}") from error
    return connection


def _fold_in_write_ahead_log(connection: sqlite3.Connection) -> bool:
    """Move the write-ahead log's pages into the database file and stop using
    one, so that the replaced database is one self-contained file; False if
    the database is too damaged for that (its -wal file then goes with it)."""
    try:
        connection.execute("PRAGMA journal_mode=DELETE").fetchall()
        return True
    except sqlite3.DatabaseError:
        return False


def _rename_database(target: Path, aside: Path, folded: bool) -> None:
    """Rename the database and what SQLite keeps beside it: the -wal file
    (when not folded in) goes with it; the -shm file, an index of the -wal
    file that a process which died leaves behind, is dropped once the -wal
    file is folded in (it holds no data)."""
    os.rename(target, aside)
    for suffix in ("-wal", "-shm"):
        leftover = target.with_name(target.name + suffix)
        if not leftover.exists():
            continue
        if folded and suffix == "-shm":
            leftover.unlink()
        else:
            os.rename(leftover, aside.with_name(aside.name + suffix))


def _readable_log(connection: sqlite3.Connection) -> tuple[LogHead | None, str | None]:
    """The database's log, or why it cannot be read (a damaged database is the
    usual reason to restore)."""
    try:
        return _log_head(connection), None
    except sqlite3.DatabaseError as error:
        return None, str(error)


def _log_head(connection: sqlite3.Connection) -> LogHead:
    (size,) = connection.execute("SELECT size FROM ledger_head").fetchone() or (0,)
    latest = connection.execute(
        "SELECT size, root_hash FROM ledger_checkpoints ORDER BY size DESC LIMIT 1").fetchone()
    if latest is None:
        return LogHead(size, None, None)
    checkpoint_size, root = latest
    return LogHead(size, checkpoint_size, root if isinstance(root, bytes) else None)


def _refuse_to_go_back(current: LogHead | None, restored: LogHead, discard_newer: bool) -> None:
    if current is None or current.size <= restored.size or discard_newer:
        return
    raise ConfigError(
        f"the database's log has {current.size - restored.size:,} entries the backup has not "
        f"(size {current.size:,} against {restored.size:,}): restoring drops them, and the "
        "receipts issued for them stop verifying (monitors report a rollback). If the database "
        "is damaged and that is what you mean, pass --discard-newer (the database is kept "
        "beside the restored one)")


def _aside_name(target: Path) -> Path:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")
    return target.with_name(f"{target.name}.replaced-{stamp}")
