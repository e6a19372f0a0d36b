"""Engine and transactions for SQLite (embedded default) and PostgreSQL.

Writers use :meth:`Database.write`: on SQLite it begins ``IMMEDIATE`` so the
transaction holds the database's write lock from its first statement (the
ledger's head row cannot be read stale); on PostgreSQL the ledger's append
holds its head row from the ``UPDATE`` that moves it. Readers use :meth:`Database.read`.

SQLite writers first queue on a lock file next to the database (``flock``):
SQLite's own busy handler makes a waiting writer sleep and poll (1, 2, 5 ...
100 ms), so under contention the lock sat idle between writers; the kernel
wakes the next one as soon as the lock is released.
"""

from __future__ import annotations

import fcntl
import os
import select
import sqlite3
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from datetime import datetime, timezone
from pathlib import Path

import psycopg
from sqlalchemy import (
    Connection, DateTime, Engine, MetaData, TypeDecorator, create_engine, event,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.orm import DeclarativeBase, Session

from ledger.sqlstore import NAMING_CONVENTION

from .config import ConfigError, redacted_url, url_passwords
from .db_errors import describe, is_database_error
from .errors import database_unavailable

_WRITE_OPTION = "tradezone_write"


class Base(DeclarativeBase):
    """Declarative base of the application's own tables."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UtcDateTime(TypeDecorator):
    """A timestamp stored in UTC and always read back timezone-aware
    (SQLite would hand back naive datetimes)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("refusing to store a naive datetime")
        return value.astimezone(timezone.utc)

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


def make_engine(url: str, autocommit: bool = False) -> Engine:
    """An engine for ``url``, with SQLite set up for concurrent processes.

    ``autocommit``: its connections run each statement on its own, without a
    transaction (a pool of their own: switching a pooled connection's
    isolation level back and forth costs more than the query it serves).
    """
    parsed = make_url(url)
    # Errors and echoed SQL never carry the bound values: document fields,
    # token hashes and personal data stay out of logs.
    options: dict = {"hide_parameters": True}
    if autocommit:
        options["isolation_level"] = "AUTOCOMMIT"
    if parsed.get_backend_name() == "postgresql" and parsed.get_driver_name() == "psycopg":
        engine = create_engine(url, pool_size=5, max_overflow=10, **options)
        event.listen(engine, "checkout", _discard_if_server_hung_up)
        return engine
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10, **options)
    if parsed.database and parsed.database != ":memory:":
        _make_directory_of(Path(parsed.database))
    engine = create_engine(url, connect_args={"timeout": 30}, **options)
    event.listen(engine, "connect", _configure_sqlite_connection)
    if not autocommit:
        event.listen(engine, "begin", _begin_sqlite_transaction)
    return engine


def _make_directory_of(database: Path) -> None:
    try:
        database.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ConfigError(f"TZ_DATABASE_URL: cannot create the directory of the SQLite "
                          f"database {database}: {error.strerror or error}") from error


def _discard_if_server_hung_up(dbapi_connection, _record, _proxy) -> None:
    """Make the pool replace a pooled PostgreSQL connection the server has
    given up on (restarted, or ended the backend): the server then sends an
    error and closes the socket, so an idle connection's socket is readable.

    A local poll, where ``pool_pre_ping`` costs a round trip on every
    checkout: with it, bench/api_bench.py --postgres (sync x3) served 1,789
    proofs/s, without it 2,285/s. Raising DisconnectionError makes the pool
    try another connection.
    """
    if dbapi_connection.closed:
        raise DisconnectionError("the connection is closed")
    poller = select.poll()
    poller.register(dbapi_connection.fileno(), select.POLLIN)
    if poller.poll(0):
        raise DisconnectionError("the server sent data to an idle connection (it closed it)")


def _configure_sqlite_connection(dbapi_connection, _record) -> None:
    # Let SQLAlchemy's "begin" event emit BEGIN itself (pysqlite's own
    # implicit BEGIN cannot be made IMMEDIATE).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    # synchronous=FULL: a commit is on disk before it is answered (a receipt,
    # an MQTT acknowledgement). NORMAL would lose the last commits on a power
    # loss, and the log could then sign another root for a size it showed.
    for pragma in ("journal_mode=WAL", "synchronous=FULL", "foreign_keys=ON",
                   "busy_timeout=30000"):
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


def _begin_sqlite_transaction(connection) -> None:
    options = connection.get_execution_options()
    if options.get("isolation_level") == "AUTOCOMMIT":
        return  # each statement is its own transaction
    connection.exec_driver_sql("BEGIN IMMEDIATE" if options.get(_WRITE_OPTION) else "BEGIN")


class WriterQueue:
    """Serializes SQLite writers of all processes and threads: ``flock`` on
    ``<database>.writers`` between processes, a mutex between threads (a
    flock is shared by every thread of the process that holds it)."""

    def __init__(self, database_path: Path) -> None:
        self.path = database_path.with_name(database_path.name + ".writers")
        self._mutex = threading.Lock()
        self._fd: int | None = None
        _call_after_fork_in_child(self._forget_parent)

    @contextmanager
    def turn(self) -> Iterator[None]:
        with self._mutex:
            if self._fd is None:
                self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            fcntl.flock(self._fd, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(self._fd, fcntl.LOCK_UN)

    def _forget_parent(self) -> None:
        # A forked child must not share its parent's open file (a flock belongs
        # to the open file, so the child would hold the parent's lock) nor
        # inherit its mutex, perhaps taken by a thread that does not exist here.
        self._mutex = threading.Lock()
        self._fd = None


def _call_after_fork_in_child(method) -> None:
    """Call a bound method in each forked child, unless its object is gone."""
    reference = weakref.WeakMethod(method)

    def call() -> None:
        bound = reference()
        if bound is not None:
            bound()
    os.register_at_fork(after_in_child=call)


def writer_queue_for(url: str) -> WriterQueue | None:
    """The queue of a SQLite database file's writers (None for other databases)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return WriterQueue(Path(parsed.database))


class Database:
    """The application's engine and its two kinds of transaction."""

    def __init__(self, url: str) -> None:
        self.engine = make_engine(url)
        self._autocommit_engine = make_engine(url, autocommit=True)
        self._writer = self.engine.execution_options(**{_WRITE_OPTION: True})
        self._writer_queue = writer_queue_for(url)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A session whose transaction commits on success and rolls back on error."""
        queue = self._writer_queue.turn() if self._writer_queue else nullcontext()
        with queue, Session(self._writer, expire_on_commit=False) as session:
            with session.begin():
                yield session

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A session for reads; it never commits."""
        with Session(self.engine) as session:
            yield session

    @contextmanager
    def autocommit(self) -> Iterator[Connection]:
        """A connection without a transaction, for reads that need no snapshot:
        one statement, or several over append-only data (the ledger's proofs)."""
        with self._autocommit_engine.connect() as connection:
            yield connection

    def dispose(self) -> None:
        self.engine.dispose()
        self._autocommit_engine.dispose()


def require_existing_database(url: str) -> None:
    """ConfigError when ``url`` names a SQLite file that does not exist: opening
    it would create it empty, for a command meant to run after `db upgrade`.
    Server databases, in-memory ones and SQLite URIs (their own ``mode=``) pass."""
    database = sqlite_file(url)
    if database is not None and not database.exists():
        raise ConfigError(f"the database TZ_DATABASE_URL={redacted_url(url)} does not "
                          "exist: run `tradezone db upgrade`")


DATABASE_MADE_PRIVATE = "the SQLite database was readable by other users: it is 0600 now"


def make_database_file_private(url: str) -> bool:
    """Make a SQLite database file readable by its owner only (0600), as the
    key files are: it holds every document, consent and token hash. A missing
    file is created so (SQLite gives its -wal and -shm files the same mode);
    an existing one loses any group and other access. True if an existing
    file's mode changed. Server databases guard their own files."""
    database = sqlite_file(url)
    if database is None:
        return False
    _make_directory_of(database)
    try:
        os.close(os.open(database, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        return False
    except FileExistsError:
        pass
    except OSError as error:
        raise ConfigError(f"TZ_DATABASE_URL: cannot create the SQLite database {database}: "
                          f"{error.strerror or error}") from error
    mode = database.stat().st_mode & 0o777
    if not mode & 0o077:
        return False
    try:
        database.chmod(mode & 0o700)
    except OSError as error:
        raise ConfigError(f"TZ_DATABASE_URL: the SQLite database {database} is readable by "
                          f"other users and cannot be made private: "
                          f"{error.strerror or error}") from error
    return True


def sqlite_file(url: str) -> Path | None:
    """The file of a SQLite database URL; None for server databases, in-memory
    ones and SQLite URIs (their own ``mode=``)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:") \
            or parsed.query.get("uri"):
        return None
    return Path(parsed.database)


def unusable_database_line(error: BaseException, url: str) -> str | None:
    """One line for an operator when ``error`` says the database at ``url``
    cannot be used (unreachable, refusing the credentials, missing, or without
    the schema), naming TZ_DATABASE_URL without its password; None for any
    other error (a bug, worth its traceback)."""
    if not is_database_error(error):
        return None
    cause = error.orig if isinstance(error, DBAPIError) else error
    where = f"the database TZ_DATABASE_URL={redacted_url(url)}"
    if _is_missing_table(cause):
        return f"{where} has no Tradezone tables: run `tradezone db upgrade`"
    if not (database_unavailable(error) or _is_bad_connection_option(cause)):
        return None
    if getattr(cause, "sqlstate", None):
        # The server answered a statement (a deadlock, a timeout): its DETAIL
        # and CONTEXT lines can quote rows, so only the description is shown.
        return f"cannot use {where}: {describe(cause)}"
    # No SQLSTATE: libpq could not connect, or SQLite could not open or lock
    # the file; the text names the host, port, user or file.
    reason = " ".join(line.strip() for line in str(cause).splitlines() if line.strip())
    for password in url_passwords(url):
        reason = reason.replace(password, "***")
    return f"cannot use {where}: {reason or type(cause).__name__}"


def _is_bad_connection_option(cause: BaseException | None) -> bool:
    """A query parameter of the URL that libpq does not know (``?sslmod=...``)."""
    return (isinstance(cause, psycopg.ProgrammingError)
            and str(cause).startswith("invalid connection option"))


def _is_missing_table(cause: BaseException | None) -> bool:
    if isinstance(cause, psycopg.errors.UndefinedTable):
        return True
    return isinstance(cause, sqlite3.OperationalError) and "no such table" in str(cause)
