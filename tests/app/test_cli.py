"""The operator's command line (contract section 7)."""

from __future__ import annotations

import json
import sqlite3
import stat
from contextlib import closing
from datetime import datetime, timedelta

import pytest
from click.testing import CliRunner

from app import create_app
from app.cli import main
from app.config import Config
from app.identity.tokens import parse_token


@pytest.fixture
def cli_env(database_url, tmp_path):
    return {"TZ_DATABASE_URL": database_url,
            "TZ_LEDGER_KEY_FILE": str(tmp_path / "cli-key.pem")}


def run(env, *args):
    result = CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)
    return result


def test_org_create_json_prints_one_object_and_the_token_works(cli_env):
    assert run(cli_env, "db", "upgrade").exit_code == 0
    result = run(cli_env, "org", "create", "Zone Regulator", "--role", "regulator", "--json")
    assert result.exit_code == 0
    created = json.loads(result.stdout)
    assert set(created) == {"org_id", "token"}
    client = create_app(Config.from_env(cli_env)).test_client()
    headers = {"Authorization": f"Bearer {created['token']}"}
    entries = client.get("/api/v1/ledger/entries", headers=headers).get_json()["entries"]
    assert [e["entry"]["type"] for e in entries] == ["org.created", "token.created"]
    assert created["token"] not in json.dumps(entries)  # no secret on the ledger


def test_key_file_is_created_private(cli_env, tmp_path):
    run(cli_env, "db", "upgrade")
    mode = (tmp_path / "cli-key.pem").stat().st_mode
    assert stat.S_IMODE(mode) == 0o600


def test_db_upgrade_creates_a_sqlite_database_only_its_owner_reads(tmp_path):
    database = tmp_path / "data" / "zone.sqlite3"
    env = {"TZ_DATABASE_URL": f"sqlite:///{database}",
           "TZ_LEDGER_KEY_FILE": str(tmp_path / "cli-key.pem")}
    assert run(env, "db", "upgrade").exit_code == 0
    assert run(env, "org", "create", "Acme", "--role", "firm").exit_code == 0
    assert stat.S_IMODE(database.stat().st_mode) == 0o600
    # SQLite gives its write-ahead log and shared-memory files the database's mode.
    with closing(sqlite3.connect(database)) as connection:
        connection.execute("UPDATE ledger_head SET size = size")  # a write: the WAL exists
        connection.commit()
        for suffix in ("-wal", "-shm"):
            beside = database.with_name(database.name + suffix)
            assert stat.S_IMODE(beside.stat().st_mode) == 0o600, suffix
    database.chmod(0o644)  # made by an earlier version, or by hand
    again = run(env, "db", "upgrade")
    assert again.exit_code == 0 and "it is 0600 now" in again.stderr
    assert stat.S_IMODE(database.stat().st_mode) == 0o600
    quiet = run(env, "db", "upgrade")
    assert "0600" not in quiet.stderr


def test_token_create_and_revoke(cli_env):
    run(cli_env, "db", "upgrade")
    org = json.loads(run(cli_env, "org", "create", "Acme", "--role", "firm", "--json").stdout)
    second = json.loads(run(cli_env, "token", "create", org["org_id"], "--json").stdout)
    client = create_app(Config.from_env(cli_env)).test_client()
    headers = {"Authorization": f"Bearer {second['token']}"}
    assert client.get("/api/v1/ledger/entries", headers=headers).status_code == 200
    assert run(cli_env, "token", "revoke", second["token_id"]).exit_code == 0
    assert client.get("/api/v1/ledger/entries", headers=headers).status_code == 401
    again = CliRunner().invoke(main, ["token", "revoke", second["token_id"]], env=cli_env)
    assert again.exit_code == 1
    assert "already revoked" in again.output
    assert "Traceback" not in again.output


def test_org_list_and_token_list_show_no_secret(cli_env):
    run(cli_env, "db", "upgrade")
    firm = json.loads(run(cli_env, "org", "create", "Acme", "--role", "firm", "--json").stdout)
    run(cli_env, "org", "create", "Zone Customs", "--role", "customs")
    second = json.loads(run(cli_env, "token", "create", firm["org_id"], "--label", "ERP",
                            "--json").stdout)
    run(cli_env, "token", "revoke", second["token_id"])
    third = json.loads(run(cli_env, "token", "create", firm["org_id"], "--expires-in-days", "90",
                           "--json").stdout)
    listed = [json.loads(line) for line in run(cli_env, "org", "list", "--json").stdout.splitlines()]
    assert [(org["name"], org["role"]) for org in listed] == [("Zone Customs", "customs"),
                                                              ("Acme", "firm")]
    firms = run(cli_env, "org", "list", "--role", "firm").stdout.splitlines()
    assert len(firms) == 1 and firms[0].startswith(firm["org_id"]) and firms[0].endswith("Acme")
    tokens = [json.loads(line) for line in
              run(cli_env, "token", "list", firm["org_id"], "--json").stdout.splitlines()]
    assert [(t["label"], t["revoked_at"] is None, t["expires_at"] is None) for t in tokens] == [
        (None, True, True), ("ERP", False, True), (None, True, False)]
    created = datetime.fromisoformat(tokens[2]["created_at"])
    assert datetime.fromisoformat(tokens[2]["expires_at"]) - created == timedelta(days=90)
    text = run(cli_env, "token", "list", firm["org_id"]).stdout
    assert "revoked" in text and "active" in text and "expires" in text
    assert text.count("never used") == 3
    for output in (text, json.dumps(tokens)):
        for token in (firm["token"], second["token"], third["token"]):
            assert parse_token(token).secret not in output
    missing = CliRunner().invoke(main, ["token", "list", "org_aaaaaaaaaaaaaaaa"], env=cli_env)
    assert missing.exit_code == 1 and "not found" in missing.output


def test_ledger_check_passes_then_names_an_altered_entry(cli_env):
    from sqlalchemy import update
    from app.db import Database
    from ledger.sqlstore import entries

    run(cli_env, "db", "upgrade")
    run(cli_env, "org", "create", "Acme", "--role", "firm")
    clean = run(cli_env, "ledger", "check")
    assert clean.exit_code == 0
    assert "2 entries, 2 checkpoints checked, 0 problems" in clean.output
    database = Database(cli_env["TZ_DATABASE_URL"])
    with database.write() as session:
        session.execute(update(entries).where(entries.c.idx == 1).values(
            data=b'{"actor":"operator","at":"2026-01-01T00:00:00Z","type":"token.created","v":1}'))
    database.dispose()
    broken = CliRunner().invoke(main, ["ledger", "check"], env=cli_env)
    assert broken.exit_code == 1
    assert "index 1: stored hashes of leaf 1 differ" in broken.output


@pytest.mark.parametrize("data, words", [
    (b'{"actor":"operator","n":' + b"9" * 5000 + b',"type":"token.created","v":1}',
     "4300 digits"),
    (b"[" * 100_000, "nested too deeply"),
    (b'{"actor":"operator","type":"token.created","v":1,"v":1}', "duplicate member name 'v'"),
], ids=["integer-of-5000-digits", "nested-100000-deep", "member-repeated"])
def test_ledger_check_names_an_entry_altered_into_hostile_bytes(cli_env, data, words):
    from sqlalchemy import update
    from app.db import Database
    from ledger.sqlstore import entries

    run(cli_env, "db", "upgrade")
    run(cli_env, "org", "create", "Acme", "--role", "firm")
    database = Database(cli_env["TZ_DATABASE_URL"])
    with database.write() as session:
        session.execute(update(entries).where(entries.c.idx == 1).values(data=data))
    database.dispose()
    broken = CliRunner().invoke(main, ["ledger", "check"], env=cli_env)
    assert broken.exit_code == 1 and isinstance(broken.exception, SystemExit), broken.exception
    assert broken.output.startswith("index 1: entry 1 is malformed: entry is not JSON: ")
    assert words in broken.output.splitlines()[0]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # PostgreSQL keeps types
@pytest.mark.parametrize("edit, first_line", [
    ("UPDATE ledger_entries SET data = CAST(data AS TEXT) WHERE idx = 1",
     "index 1: entry 1 is stored as str, not bytes"),
    ("UPDATE ledger_tree SET hashes = hex(hashes) WHERE leaf_index = 1",
     "index 1: stored hashes of leaf 1 are str, not bytes"),
    ("UPDATE ledger_checkpoints SET root_hash = lower(hex(root_hash)) WHERE size = 2",
     "index 2: checkpoint for size 2: the stored root hash '"),
    # The signing time is not signed: nothing to report, and nothing to trip on.
    ("UPDATE ledger_checkpoints SET signed_at = 'yesterday' WHERE size = 2",
     "2 entries, 2 checkpoints checked, 0 problems"),
], ids=["entry-as-text", "hashes-as-text", "root-as-text", "signing-time-not-a-time"])
def test_ledger_check_names_a_value_edited_into_another_type(cli_env, edit, first_line):
    # What an edit by hand in the sqlite3 shell leaves: SQLite keeps any type.
    from sqlalchemy import text
    from app.db import Database

    run(cli_env, "db", "upgrade")
    run(cli_env, "org", "create", "Acme", "--role", "firm")
    database = Database(cli_env["TZ_DATABASE_URL"])
    with database.write() as session:
        session.execute(text(edit))
    database.dispose()
    result = CliRunner().invoke(main, ["ledger", "check"], env=cli_env)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.output.splitlines()[0].startswith(first_line)
    assert result.exit_code == (0 if "0 problems" in first_line else 1)


def test_bad_role_is_a_usage_error(cli_env):
    result = CliRunner().invoke(main, ["org", "create", "X", "--role", "king"], env=cli_env)
    assert result.exit_code == 2
    assert "king" in result.output


def ledger_size(cli_env) -> int:
    client = create_app(Config.from_env(cli_env)).test_client()
    return client.get("/api/v1/ledger/checkpoint").get_json()["size"]


@pytest.mark.parametrize("name", [
    "Acme\x00",             # PostgreSQL refuses a NUL; SQLite kept it
    "Acme\x1b[31m Corp",    # a terminal escape, shown wherever the name is
    "Acme\nCorp",
    "Acme\u2028Corp",
    "Acme\udcff",           # a byte of a name that is not UTF-8, as Python decodes argv
])
def test_org_names_with_control_characters_are_one_line_errors(cli_env, name):
    run(cli_env, "db", "upgrade")
    result = CliRunner().invoke(main, ["org", "create", name, "--role", "firm", "--json"],
                                env=cli_env)
    assert result.exit_code == 1, result.exception
    assert isinstance(result.exception, SystemExit)  # a ClickException, not a traceback
    assert result.stdout == ""
    assert "organisation name must not contain" in result.stderr
    assert ledger_size(cli_env) == 0  # nothing written


@pytest.mark.parametrize("args, message", [
    (["token", "create", "org_\x00"], "does not exist"),
    (["token", "create", "org_\udcff"], "does not exist"),
    (["token", "revoke", "aaaaaaaaaaaaaaa\x00"], "does not exist"),
    (["token", "revoke", "\udcff"], "does not exist"),
    (["token", "create", "ORG", "--label", "x" * 101], "token label must be 1 to 100"),
    (["token", "create", "ORG", "--label", "CI\x00"], "token label must not contain"),
])
def test_token_commands_refuse_what_no_database_takes_in_one_line(cli_env, args, message):
    run(cli_env, "db", "upgrade")
    org = json.loads(run(cli_env, "org", "create", "Acme", "--role", "firm", "--json").stdout)
    args = [org["org_id"] if arg == "ORG" else arg for arg in args]
    result = CliRunner().invoke(main, args, env=cli_env)
    assert result.exit_code == 1, result.exception
    assert isinstance(result.exception, SystemExit)
    assert message in result.stderr
    assert ledger_size(cli_env) == 2  # the organisation's two entries only


def test_ledger_check_of_a_log_growing_meanwhile_reports_no_problem(cli_env, monkeypatch):
    # The check reads the head, the checkpoints, then the leaves in chunks:
    # an append committed between those reads (the gateway running) must not
    # read as a head contradicting the stored entries (PostgreSQL's READ
    # COMMITTED gives each statement its own snapshot).
    from app.notary.service import PendingEntry, make_entry
    from app.platform import build_platform
    from ledger.sqlstore import SqlLog

    run(cli_env, "db", "upgrade")
    run(cli_env, "org", "create", "Acme", "--role", "firm")
    writer = build_platform(Config.from_env(cli_env))
    iter_checkpoints = SqlLog.iter_checkpoints

    def append_first(log):
        with writer.db.write() as session:
            writer.notary.record(session, [PendingEntry(make_entry("test.meanwhile", "operator",
                                                                   writer.now()))])
        return iter_checkpoints(log)

    monkeypatch.setattr(SqlLog, "iter_checkpoints", append_first)
    result = CliRunner().invoke(main, ["ledger", "check"], env=cli_env)
    writer.db.dispose()
    assert result.exit_code == 0, result.output
    assert "2 entries, 2 checkpoints checked, 0 problems" in result.output


def test_an_unexpected_database_error_shows_its_frames_but_not_the_row(cli_env, monkeypatch):
    import psycopg

    from app import cli

    def failing(*args, **kwargs):
        raise psycopg.errors.UniqueViolation(
            "duplicate key\nDETAIL:  Key (name)=(PERSONAL-DATA-MARKER) already exists.")
    assert run(cli_env, "db", "upgrade").exit_code == 0
    monkeypatch.setattr(cli.identity, "create_organization", failing)
    result = CliRunner().invoke(main, ["org", "create", "Acme", "--role", "firm"], env=cli_env)
    assert result.exit_code == 1, result.output
    assert "Traceback (most recent call last)" in result.stderr  # the frames: a bug to find
    assert result.stderr.splitlines()[-1] == (
        "Error: database error: psycopg.errors.UniqueViolation SQLSTATE 23505")
    assert "PERSONAL-DATA-MARKER" not in result.output


@pytest.mark.parametrize("days", ["0", "-3", "3661", "soon"])
def test_a_token_expiry_out_of_range_is_refused_and_writes_nothing(cli_env, days):
    run(cli_env, "db", "upgrade")
    org = json.loads(run(cli_env, "org", "create", "Acme", "--role", "firm", "--json").stdout)
    refused = CliRunner().invoke(main, ["token", "create", org["org_id"], "--expires-in-days",
                                        days], env=cli_env)
    assert refused.exit_code == 2 and "--expires-in-days" in refused.output
    listed = run(cli_env, "token", "list", org["org_id"], "--json").stdout.splitlines()
    assert len(listed) == 1  # only the organisation's first token
