"""`tradezone db backup`: an online copy of the SQLite database, private,
consistent while writers go on, and verified."""

from __future__ import annotations

import sqlite3
import stat
import threading
from contextlib import closing

import pytest
from click.testing import CliRunner

from app.backup import backup_sqlite
from app.cli import main
from app.config import ConfigError
from app.identity.models import Role
from app.identity.services import create_organization

sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture
def cli_env(database_url, config, platform):  # the platform made the signing key
    return {"TZ_DATABASE_URL": database_url, "TZ_LEDGER_KEY_FILE": str(config.ledger_key_file)}


def run(env, *args):
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def rows(path, query):
    with closing(sqlite3.connect(path)) as connection:
        return connection.execute(query).fetchall()


def add_orgs(platform, count):
    for number in range(count):
        with platform.db.write() as session:
            create_organization(session, platform.notary, f"Firm {number}", Role.FIRM,
                                platform.now())


@sqlite_only
def test_backup_is_a_private_verified_copy_of_the_database(platform, cli_env, tmp_path):
    add_orgs(platform, 3)
    destination = tmp_path / "backups" / "zone.sqlite3"
    destination.parent.mkdir()
    result = run(cli_env, "db", "backup", str(destination))
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(destination.stat().st_mode) == 0o600
    source = platform.config.database_url.removeprefix("sqlite:///")
    for query in ("SELECT id, name FROM organizations ORDER BY id",
                  "SELECT idx, data FROM ledger_entries ORDER BY idx",
                  "SELECT size, root_hash, note FROM ledger_checkpoints ORDER BY size"):
        assert rows(destination, query) == rows(source, query)
    size = rows(source, "SELECT size FROM ledger_head")[0][0]
    assert f"{size} entries" in result.stdout and "0 problems" in result.stdout
    assert f"its latest checkpoint: size {size}, root " in result.stdout
    # Nothing beside it: no temporary file, no -wal the copy would depend on.
    assert sorted(p.name for p in destination.parent.iterdir()) == ["zone.sqlite3"]


@sqlite_only
def test_a_backup_taken_while_writers_commit_is_one_consistent_commit(platform, cli_env,
                                                                      tmp_path):
    add_orgs(platform, 1)
    stop = threading.Event()
    failures: list[BaseException] = []

    def write_until_stopped():
        try:
            while not stop.is_set():
                add_orgs(platform, 1)
        except BaseException as error:  # reported below, not lost in the thread
            failures.append(error)

    writer = threading.Thread(target=write_until_stopped)
    writer.start()
    try:
        copies = []
        for number in range(5):
            destination = tmp_path / f"copy-{number}.sqlite3"
            result = run(cli_env, "db", "backup", str(destination))
            assert result.exit_code == 0, result.output
            assert "0 problems" in result.stdout
            copies.append(destination)
    finally:
        stop.set()
        writer.join()
    assert not failures
    sizes = [rows(copy, "SELECT size FROM ledger_head")[0][0] for copy in copies]
    assert sizes == sorted(sizes) and sizes[-1] > sizes[0]  # the log grew between copies
    for copy, size in zip(copies, sizes):
        # Each copy is whole as of its commit: every entry up to its head, and
        # a checkpoint for the head, since each write signs one.
        assert rows(copy, "SELECT count(*), max(idx) FROM ledger_entries")[0] == (size, size - 1)
        assert rows(copy, "SELECT max(size) FROM ledger_checkpoints")[0][0] == size


@sqlite_only
def test_an_existing_destination_is_never_overwritten(platform, cli_env, tmp_path):
    destination = tmp_path / "earlier-backup.sqlite3"
    destination.write_bytes(b"an earlier backup")
    result = run(cli_env, "db", "backup", str(destination))
    assert result.exit_code == 1
    assert result.output.strip() == f"Error: {destination} exists: a backup never overwrites a file"
    assert destination.read_bytes() == b"an earlier backup"
    assert sorted(p.name for p in tmp_path.iterdir() if "partial" in p.name) == []


@sqlite_only
def test_the_database_itself_is_not_a_destination(platform):
    url = platform.config.database_url
    with pytest.raises(ConfigError, match="exists"):
        backup_sqlite(url, url.removeprefix("sqlite:///"))


@sqlite_only
def test_a_destination_in_a_missing_directory_is_one_line(platform, cli_env, tmp_path):
    destination = tmp_path / "missing" / "zone.sqlite3"
    result = run(cli_env, "db", "backup", str(destination))
    assert result.exit_code == 1
    assert result.output == (f"Error: cannot write the backup {destination}: "
                             "No such file or directory\n")


@sqlite_only
def test_a_file_that_is_no_database_is_refused_and_leaves_nothing(tmp_path, config, platform):
    source = tmp_path / "not-a-database.sqlite3"
    source.write_bytes(b"these bytes are no SQLite database" * 200)
    env = {"TZ_DATABASE_URL": f"sqlite:///{source}",
           "TZ_LEDGER_KEY_FILE": str(config.ledger_key_file)}
    out = tmp_path / "out"
    out.mkdir()
    result = run(env, "db", "backup", str(out / "copy.sqlite3"))
    assert result.exit_code == 1
    assert result.output.startswith(f"Error: cannot back up the SQLite database {source}: ")
    assert list(out.iterdir()) == []


@sqlite_only
def test_a_missing_database_is_not_created_by_a_backup(tmp_path, config, platform):
    source = tmp_path / "none.sqlite3"
    env = {"TZ_DATABASE_URL": f"sqlite:///{source}",
           "TZ_LEDGER_KEY_FILE": str(config.ledger_key_file)}
    result = run(env, "db", "backup", str(tmp_path / "copy.sqlite3"))
    assert result.exit_code == 1
    assert "does not exist: run `tradezone db upgrade`" in result.output
    assert not source.exists() and not (tmp_path / "copy.sqlite3").exists()


@sqlite_only
def test_a_copy_of_a_tampered_log_says_so(platform, cli_env, tmp_path):
    add_orgs(platform, 2)
    source = platform.config.database_url.removeprefix("sqlite:///")
    with closing(sqlite3.connect(source)) as connection:
        connection.execute("UPDATE ledger_entries SET data = data || X'20' WHERE idx = 1")
        connection.commit()
    destination = tmp_path / "copy.sqlite3"
    result = run(cli_env, "db", "backup", str(destination))
    assert result.exit_code == 1
    assert "index 1: " in result.stdout
    assert "the copy is faithful: run `tradezone ledger check`" in result.stderr
    assert destination.exists()  # a faithful copy is still a copy


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_server_database_is_pointed_at_its_own_tools(cli_env, tmp_path):
    result = run(cli_env, "db", "backup", str(tmp_path / "copy"))
    assert result.exit_code == 1
    assert "back a server database up with its own tools (for PostgreSQL: pg_dump" \
        in result.output
    assert list(tmp_path.glob("copy*")) == [] and list(tmp_path.glob(".copy*")) == []
