"""`tradezone db restore`: a backup put back in place of the SQLite database
only when its log verifies against the platform's key, no process has the
database open, and the database's log has not gone further (unless told);
the replaced database kept beside it, nothing changed by a refusal."""

from __future__ import annotations

import hashlib
import signal
import sqlite3
import stat
import subprocess
import sys
import textwrap
from contextlib import closing
from pathlib import Path

import pytest
from click.testing import CliRunner
from Crypto.PublicKey import ECC

from app.cli import main
from app.identity.models import Role
from app.identity.services import create_organization

sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture
def cli_env(database_url, config, platform):  # the platform made the signing key
    return {"TZ_DATABASE_URL": database_url, "TZ_LEDGER_KEY_FILE": str(config.ledger_key_file)}


@pytest.fixture
def database(platform) -> Path:
    return Path(platform.config.database_url.removeprefix("sqlite:///"))


def run(env, *args):
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def rows(path: Path, query: str) -> list[tuple]:
    with closing(sqlite3.connect(path)) as connection:
        return connection.execute(query).fetchall()


def log_size(path: Path) -> int:
    return rows(path, "SELECT size FROM ledger_head")[0][0]


def add_orgs(platform, count: int) -> None:
    for number in range(count):
        with platform.db.write() as session:
            create_organization(session, platform.notary, f"Firm {number}", Role.FIRM,
                                platform.now())


def back_up(platform, cli_env, path: Path) -> Path:
    result = run(cli_env, "db", "backup", str(path))
    assert result.exit_code == 0, result.output
    return path


def fingerprint(directory: Path) -> dict[str, str]:
    """Every file in ``directory`` and a hash of its bytes: equal before and
    after means a refused restore changed nothing."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(directory.iterdir()) if p.is_file()}


@sqlite_only
def test_a_lost_database_comes_back_from_its_backup(platform, cli_env, database, tmp_path):
    add_orgs(platform, 3)
    backup = back_up(platform, cli_env, tmp_path / "backup.sqlite3")
    size = log_size(backup)
    platform.db.dispose()
    for suffix in ("", "-wal", "-shm"):
        database.with_name(database.name + suffix).unlink(missing_ok=True)
    result = run(cli_env, "db", "restore", str(backup))
    assert result.exit_code == 0, result.output
    assert f"restored {backup} to {database}: log size {size}, " in result.stdout
    assert "the database it replaced" not in result.stdout
    assert stat.S_IMODE(database.stat().st_mode) == 0o600
    assert rows(database, "SELECT name FROM organizations ORDER BY name") == \
        rows(backup, "SELECT name FROM organizations ORDER BY name")
    check = run(cli_env, "ledger", "check")
    assert check.exit_code == 0 and f"{size} entries" in check.stdout
    assert not [p for p in database.parent.iterdir() if "partial" in p.name]


@sqlite_only
def test_a_database_ahead_of_the_backup_is_kept_unless_asked(platform, cli_env, database,
                                                             tmp_path):
    backup = back_up(platform, cli_env, tmp_path / "backup.sqlite3")
    add_orgs(platform, 2)  # entries the backup has not
    platform.db.dispose()
    ahead, behind = log_size(database), log_size(backup)
    assert ahead > behind
    before = fingerprint(database.parent)
    refused = run(cli_env, "db", "restore", str(backup))
    assert refused.exit_code == 1
    assert (f"the database's log has {ahead - behind} entries the backup has not (size {ahead} "
            f"against {behind})") in refused.output
    assert "pass --discard-newer" in refused.output
    assert fingerprint(database.parent) == before

    restored = run(cli_env, "db", "restore", str(backup), "--discard-newer")
    assert restored.exit_code == 0, restored.output
    assert log_size(database) == behind
    (aside,) = database.parent.glob(f"{database.name}.replaced-*")
    assert f"the database it replaced (log size {ahead}) is now {aside}" in restored.stdout
    assert log_size(aside) == ahead  # nothing deleted: the entries are still there


@sqlite_only
def test_a_database_in_use_is_not_replaced(platform, cli_env, database, tmp_path):
    backup = back_up(platform, cli_env, tmp_path / "backup.sqlite3")
    add_orgs(platform, 1)  # the platform's pool keeps a connection open, as a server's does
    before = fingerprint(database.parent)
    result = run(cli_env, "db", "restore", str(backup), "--discard-newer")
    assert result.exit_code == 1
    assert result.output.strip() == (
        f"Error: the database {database} is in use: stop the API, the gateway and `mqtt sync` "
        "(every process that opened it) before restoring")
    assert fingerprint(database.parent) == before


@sqlite_only
def test_the_write_ahead_log_of_a_crashed_writer_stays_with_the_replaced_database(
        platform, cli_env, database, tmp_path):
    backup = back_up(platform, cli_env, tmp_path / "backup.sqlite3")
    platform.db.dispose()
    # A writer killed after its commit leaves the commit in the -wal file only.
    crashed = subprocess.run([sys.executable, "-c", textwrap.dedent(f"""
        import os, signal, sqlite3
        connection = sqlite3.connect({str(database)!r})
        connection.execute("PRAGMA wal_autocheckpoint=0")
        connection.execute("CREATE TABLE left_in_the_wal (x)")
        connection.execute("INSERT INTO left_in_the_wal VALUES ('committed')")
        connection.commit()
        os.kill(os.getpid(), signal.SIGKILL)
        """)])
    assert crashed.returncode == -signal.SIGKILL
    assert database.with_name(database.name + "-wal").stat().st_size > 0
    result = run(cli_env, "db", "restore", str(backup))
    assert result.exit_code == 0, result.output
    (aside,) = database.parent.glob(f"{database.name}.replaced-*")
    assert not aside.with_name(aside.name + "-wal").exists()  # folded into the file
    assert rows(aside, "SELECT x FROM left_in_the_wal") == [("committed",)]
    assert rows(database, "SELECT count(*) FROM sqlite_master "
                          "WHERE name = 'left_in_the_wal'") == [(0,)]


@sqlite_only
def test_a_backup_whose_log_does_not_verify_is_not_restored(platform, cli_env, database,
                                                            tmp_path):
    add_orgs(platform, 2)
    backup = back_up(platform, cli_env, tmp_path / "backup.sqlite3")
    with closing(sqlite3.connect(backup)) as connection:
        connection.execute("UPDATE ledger_entries SET data = data || X'20' WHERE idx = 1")
        connection.commit()
    platform.db.dispose()
    before = fingerprint(database.parent)
    result = run(cli_env, "db", "restore", str(backup))
    assert result.exit_code == 1
    assert "index 1: " in result.stdout
    assert (f"Error: the log of {backup} does not verify against this platform's key "
            "(TZ_LEDGER_KEY_FILE): nothing restored") in result.output
    assert fingerprint(database.parent) == before


@sqlite_only
def test_another_zones_backup_is_not_restored(platform, cli_env, database, tmp_path):
    backup = back_up(platform, cli_env, tmp_path / "backup.sqlite3")
    platform.db.dispose()
    other_key = tmp_path / "other-zone.pem"
    other_key.write_text(ECC.generate(curve="ed25519").export_key(format="PEM"))
    other_key.chmod(0o600)
    before = fingerprint(database.parent)
    result = run({**cli_env, "TZ_LEDGER_KEY_FILE": str(other_key)}, "db", "restore", str(backup))
    assert result.exit_code == 1
    assert "does not verify against this platform's key" in result.output
    assert fingerprint(database.parent) == before


@sqlite_only
@pytest.mark.parametrize("content, message", [
    (None, "is not a file"),
    (b"these bytes are no SQLite database" * 200, "is not a Tradezone database: "),
])
def test_a_backup_that_is_no_database_is_one_line(platform, cli_env, database, tmp_path,
                                                  content, message):
    backup = tmp_path / "backup.sqlite3"
    if content is not None:
        backup.write_bytes(content)
    platform.db.dispose()
    before = fingerprint(database.parent)
    result = run(cli_env, "db", "restore", str(backup))
    assert result.exit_code == 1
    assert result.output.startswith(f"Error: {backup.absolute()} {message}")
    assert fingerprint(database.parent) == before


@sqlite_only
def test_a_sqlite_database_without_the_ledger_is_not_a_backup(platform, cli_env, tmp_path):
    backup = tmp_path / "other.sqlite3"
    with closing(sqlite3.connect(backup)) as connection:
        connection.execute("CREATE TABLE t (x)")
    platform.db.dispose()
    result = run(cli_env, "db", "restore", str(backup))
    assert result.exit_code == 1
    assert result.output.strip() == (f"Error: {backup} is not a Tradezone database: "
                                     "no such table: ledger_head")


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_server_database_is_pointed_at_its_own_tools(cli_env, tmp_path):
    backup = tmp_path / "backup.sqlite3"
    with closing(sqlite3.connect(backup)) as connection:
        connection.execute("CREATE TABLE t (x)")
    result = run(cli_env, "db", "restore", str(backup))
    assert result.exit_code == 1
    assert "restore a server database with its own tools (for PostgreSQL: pg_restore" \
        in result.output

