"""Re-verify the log stored in a database against the platform's signing key:
what `tradezone ledger check` runs, and `tradezone db backup` on its copy."""

from __future__ import annotations

from collections.abc import Callable

from ledger.logcheck import LogReport, check_log
from ledger.sqlstore import SqlLog

from .db import Database
from .platform import Platform


def check_platform_log(platform: Platform, database: Database | None = None,
                       progress: Callable[[int, int], None] | None = None) -> LogReport:
    """Every entry, stored hash and signed checkpoint of ``database``'s log
    (default: the platform's own), read in one snapshot and checked against
    the platform's key; ``progress(done, size)`` as leaves are checked."""
    database = database or platform.db
    with database.read() as session:
        if database.dialect == "postgresql":
            # One snapshot for the head, the checkpoints and every chunk of
            # leaves, as SQLite's read transaction is: under READ COMMITTED an
            # append committed meanwhile read as a head behind its entries.
            session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
        log = SqlLog(session.connection())
        size = log.size
        report_progress = (lambda done: progress(done, size)) if progress else None
        return check_log(log.iter_leaves(), list(log.iter_checkpoints()), platform.notary.verifier,
                         head_size=size, progress=report_progress)
