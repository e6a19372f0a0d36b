"""Database errors described without the values they quote: what logs and
command lines show of one.

The text of a database error is not safe to log. PostgreSQL's DETAIL line
repeats the values of a key (``Key (org_id, key)=(org_x, some-value) already
exists.``) or a whole row (``Failing row contains (...)``); its CONTEXT line
can quote the line of a ``COPY`` (``COPY documents, line 1: "..."``); the
primary message of a data error quotes the input (``invalid input syntax for
type integer: "..."``); and SQLAlchemy's wrapper adds the SQL. None of that
goes through ``hide_parameters``, which only hides the bound parameters.
``logger.exception(...)`` would print all of it: the last line of a traceback
is the error's whole text.

So a database error is shown by :func:`describe`, one line built from the
fields that name the failure and never a value (wrapped here)::

    psycopg.errors.NotNullViolation SQLSTATE 23502 (table organizations, column role):
        null value in column "role" of relation "organizations" violates not-null constraint
    sqlite3.IntegrityError SQLITE_CONSTRAINT_NOTNULL: NOT NULL constraint failed: organizations.role

and its traceback by :func:`safe_traceback`: Python's frames (file, line and
source line: code, no values) for the error and every error it chains to, as
Python prints them, but with each database error's last line replaced by its
description. To log one, ``log_database_error(logger, "database error", error)``
logs the two together.

What is shown of PostgreSQL's messages: the SQLSTATE, the constraint, table
and column names, and the primary message only for the classes of SQLSTATE
whose primary message names schema objects or states, never data
(``_PRIMARY_MESSAGE_SHOWN``). An error psycopg raises itself has no SQLSTATE
and shows its class alone. SQLite's messages name the constraint, table and
column (``UNIQUE constraint failed: t.k``) or quote the SQL near a syntax
error, never a bound value: they are shown whole, after SQLite's error name.
"""

from __future__ import annotations

import logging
import sqlite3
import traceback

import psycopg
from sqlalchemy.exc import DBAPIError

# SQLSTATE classes (their first two characters) whose primary message names
# only schema objects (constraint, table, column, type) or a state of the
# server: 08 connection, 23 integrity, 25 transaction state, 40 rollback
# (deadlock, serialization), 42 syntax or access rule, 53 resources, 54
# program limits, 55 object state (a lock not granted), 57 operator
# intervention (a statement timeout). Not 22 (data exceptions quote the input)
# nor P0 (a PL/pgSQL RAISE says what it was given to say).
_PRIMARY_MESSAGE_SHOWN = frozenset({"08", "23", "25", "40", "42", "53", "54", "55", "57"})

_CAUSE = "\nThe above exception was the direct cause of the following exception:\n\n"
_CONTEXT = "\nDuring handling of the above exception, another exception occurred:\n\n"


# Errors of the drivers themselves: the ledger's hot statements use the
# driver's cursor directly (``ledger.sqlstore``), so SQLAlchemy never wraps them.
DRIVER_ERRORS = (sqlite3.Error, psycopg.Error)
# A database error: a driver's own, or SQLAlchemy's wrapper of one.
DATABASE_ERRORS = (DBAPIError, *DRIVER_ERRORS)


def is_database_error(error: BaseException) -> bool:
    """Whether ``error`` is raised by a database driver or wraps one (SQLAlchemy)."""
    return isinstance(error, DATABASE_ERRORS)


def describe(error: BaseException) -> str:
    """One line naming a database error: the driver's error class, its SQLSTATE
    (or SQLite's error name) and what failed, without any value it quotes.
    A SQLAlchemy error is described by the driver error it wraps."""
    if isinstance(error, DBAPIError) and error.orig is not None:
        error = error.orig
    name = f"{type(error).__module__}.{type(error).__qualname__}"
    if isinstance(error, psycopg.Error):
        return _describe_psycopg(name, error)
    if isinstance(error, sqlite3.Error):
        code = getattr(error, "sqlite_errorname", None)
        return f"{name} {code}: {error}" if code else f"{name}: {error}"
    return name


def _describe_psycopg(name: str, error: psycopg.Error) -> str:
    if error.sqlstate is None:
        return f"{name} (raised by the driver, no SQLSTATE)"
    diag = error.diag
    names = [f"{kind} {value}" for kind, value in (
        ("constraint", diag.constraint_name), ("table", diag.table_name),
        ("column", diag.column_name)) if value]
    line = f"{name} SQLSTATE {error.sqlstate}"
    if names:
        line += f" ({', '.join(names)})"
    if error.sqlstate[:2] in _PRIMARY_MESSAGE_SHOWN and diag.message_primary:
        line += f": {diag.message_primary}"
    return line


def safe_traceback(error: BaseException) -> str:
    """The traceback Python would print for ``error`` and the errors it chains
    to (``raise ... from``, or raised while handling another), with each
    database error's message replaced by :func:`describe`."""
    parts: list[str] = []
    for link, joint in _chain(error):
        parts.append(joint)
        if link.__traceback__ is not None:
            parts.append("Traceback (most recent call last):\n")
            parts.extend(traceback.format_tb(link.__traceback__))
        parts.append(_last_line(link))
    return "".join(parts).rstrip("\n")


def _chain(error: BaseException) -> list[tuple[BaseException, str]]:
    """``error`` and the errors it chains to, oldest first as Python prints
    them, each with the sentence printed before it."""
    links: list[tuple[BaseException, str]] = []
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None:
        seen.add(id(current))
        older, joint = None, ""
        if current.__cause__ is not None:
            older, joint = current.__cause__, _CAUSE
        elif current.__context__ is not None and not current.__suppress_context__:
            older, joint = current.__context__, _CONTEXT
        if older is not None and id(older) in seen:  # a cycle: stop here
            older, joint = None, ""
        links.append((current, joint))
        current = older
    return links[::-1]


def _last_line(error: BaseException) -> str:
    """The line under an error's frames: for a database error, its description."""
    if isinstance(error, DBAPIError):  # SQLAlchemy's wrapper, then the driver's error
        return f"{type(error).__module__}.{type(error).__qualname__}: {describe(error)}\n"
    if is_database_error(error):
        return describe(error) + "\n"
    return "".join(traceback.format_exception_only(type(error), error))


def log_database_error(logger: logging.Logger, what: str, error: BaseException,
                       level: int = logging.ERROR) -> None:
    """Log ``what: <describe(error)>`` and the safe traceback on ``logger``."""
    logger.log(level, "%s: %s\n%s", what, describe(error), safe_traceback(error),
               stacklevel=2)
