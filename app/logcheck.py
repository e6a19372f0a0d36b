"""Re-verify the log stored in a database: what `tradezone ledger check` runs,
and `tradezone db backup` on the copy it made."""

from __future__ import annotations

from collections.abc import Callable

import ledger
from ledger.logcheck import LogReport, check_log
from ledger.sqlstore import SqlLog

from .db import Database
from .platform import Platform


def check_stored_log(database: Database, verifier: ledger.NoteVerifier,
                     progress: Callable[[int, int], None] | None = None) -> LogReport:
    """Every entry, stored hash and signed checkpoint of ``database``'s log,
    read in one snapshot; ``progress(done, size)`` as leaves are checked."""
    with database.read() as session:
        if database.dialect == "postgresql":
            # One snapshot for the head, the checkpoints and every chunk of
            # leaves, as SQLite's read transaction is: under READ COMMITTED an
            # append committed meanwhile read as a head behind its entries.
            session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
        log = SqlLog(session.connection())
        size = log.size
        checkpoints = list(log.iter_checkpoints())
        report_progress = (lambda done: progress(done, size)) if progress else None
        return check_log(log.iter_leaves(), checkpoints, verifier, head_size=size,
                         progress=report_progress)


def check_platform_log(platform: Platform, database: Database | None = None,
                       progress: Callable[[int, int], None] | None = None) -> LogReport:
    """Re-verify the log of ``database`` (default: the platform's own) against
    the platform's signing key."""
    verifier = ledger.NoteVerifier.from_verifier_key(platform.notary.signer.verifier_key)
    return check_stored_log(database or platform.db, verifier, progress)
