"""What the operator sees when the configuration is wrong: one line naming the
setting and the reason, exit status 1, no traceback, and never the database
password, for every command that reads the setting (run as processes, as an
operator runs them)."""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import psycopg
import pytest
from Crypto.PublicKey import ECC
from psycopg import sql

from tests.services.ports import free_port

TRADEZONE = Path(sys.executable).parent / "tradezone"
ROLE, PASSWORD = "tz_operator", "S3cret-Pw-for-tests"
DATABASE_COMMANDS = [
    ["db", "upgrade"], ["ledger", "check"], ["org", "create", "Acme", "--role", "firm"],
    ["serve", "--port", "0"], ["gateway"], ["mqtt", "sync", "--dir", "mqtt-auth"],
]


def tradezone(env: dict[str, str], *args: str, cwd: Path) -> subprocess.CompletedProcess:
    """Run the command line; a command still running after 60 s fails the test."""
    try:
        return subprocess.run([str(TRADEZONE), *args], env=env, cwd=cwd, capture_output=True,
                              text=True, timeout=60, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as expired:
        pytest.fail(f"{' '.join(args)} kept running: {expired.stderr!r}")


def assert_one_line_error(result: subprocess.CompletedProcess, *expected: str) -> str:
    """The last stderr line is click's ``Error: ...`` with each expected text."""
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith("Error: "), result.stderr
    for text in expected:
        assert text in line, line
    assert "S3cret" not in result.stdout + result.stderr
    return line


@pytest.fixture
def env(tmp_path) -> dict[str, str]:
    """A process environment of only what the commands read (SQLite under tmp_path)."""
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path),
            "TZ_VAR_DIR": str(tmp_path / "var"),
            "TZ_DATABASE_URL": f"sqlite:///{tmp_path / 'var' / 'tz.sqlite3'}",
            "TZ_MQTT_USERNAME": "tz-gateway", "TZ_MQTT_PASSWORD": "gateway-password",
            "TZ_MQTT_PORT": str(free_port()), "TZ_GATEWAY_METRICS_PORT": "0"}


@pytest.fixture
def keyed_env(env, tmp_path) -> dict[str, str]:
    """``env`` with the signing key an earlier `db upgrade` would have made."""
    key = tmp_path / "var" / "ledger.pem"
    key.parent.mkdir(parents=True, exist_ok=True)
    key.write_text(ECC.generate(curve="ed25519").export_key(format="PEM"))
    key.chmod(0o600)
    return {**env, "TZ_LEDGER_KEY_FILE": str(key)}


@pytest.fixture(scope="module")
def password_role(postgres) -> str:
    """A role and database on the test server that, unlike the superuser, must
    give its password (scram-sha-256): the URL of its database, without it."""
    with psycopg.connect(postgres.conninfo(), autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
            sql.Identifier(ROLE), sql.Literal(PASSWORD)))
        admin.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(
            sql.Identifier(ROLE), sql.Identifier(ROLE)))
        hba = postgres.data_dir / "pg_hba.conf"
        hba.write_text(f"host all {ROLE} 127.0.0.1/32 scram-sha-256\n" + hba.read_text())
        admin.execute("SELECT pg_reload_conf()")
    return f"{postgres.host}:{postgres.port}/{ROLE}"


@pytest.mark.parametrize("args", DATABASE_COMMANDS, ids=" ".join)
def test_a_refused_database_password_is_one_line_without_the_password(
        keyed_env, tmp_path, password_role, args):
    env = keyed_env
    env["TZ_DATABASE_URL"] = f"postgresql+psycopg://{ROLE}:{PASSWORD}-wrong@{password_role}"
    result = tradezone(env, *args, cwd=tmp_path)
    assert_one_line_error(result, f"TZ_DATABASE_URL=postgresql+psycopg://{ROLE}:***@",
                          "password authentication failed")


@pytest.mark.parametrize("args", DATABASE_COMMANDS, ids=" ".join)
def test_an_unreachable_database_is_one_line(keyed_env, tmp_path, args):
    env = keyed_env
    env["TZ_DATABASE_URL"] = f"postgresql+psycopg://{ROLE}:{PASSWORD}@127.0.0.1:{free_port()}/tz"
    result = tradezone(env, *args, cwd=tmp_path)
    assert_one_line_error(result, "cannot use the database TZ_DATABASE_URL=", "refused")


@pytest.mark.parametrize("args", [a for a in DATABASE_COMMANDS if a[0] != "db"], ids=" ".join)
def test_a_sqlite_database_not_made_yet_says_to_run_db_upgrade_and_is_not_created(
        env, tmp_path, args):
    database = Path(env["TZ_DATABASE_URL"].removeprefix("sqlite:///"))
    result = tradezone(env, *args, cwd=tmp_path)
    assert_one_line_error(result, f"the database TZ_DATABASE_URL=sqlite:///{database} does "
                                  "not exist: run `tradezone db upgrade`")
    assert not database.exists()  # only `db upgrade` makes it


@pytest.mark.parametrize("args", [a for a in DATABASE_COMMANDS if a[0] != "db"], ids=" ".join)
def test_a_database_without_the_schema_says_to_run_db_upgrade(keyed_env, tmp_path, postgres,
                                                              args):
    env = keyed_env
    name = f"tz_empty_{tmp_path.name[-20:]}".lower().replace("-", "_")
    postgres.create_database(name)
    env["TZ_DATABASE_URL"] = postgres.url(name)
    result = tradezone(env, *args, cwd=tmp_path)
    assert_one_line_error(result, "has no Tradezone tables: run `tradezone db upgrade`")


@pytest.mark.parametrize("url, expected", [
    (f"postgresql+psycopg://{ROLE}:{PASSWORD}@db.example:port/tz", "is not a database URL"),
    (f"postgresql+psycopg://{ROLE}:p@{PASSWORD}@db.example/tz", "host name contains '@'"),
    (f"postgresql+psycopg2://{ROLE}:{PASSWORD}@db.example/tz", "cannot use the dialect"),
    (f"postgresql+psycopg://{ROLE}:{PASSWORD}@127.0.0.1:1/tz?sslmod=require",
     'invalid connection option "sslmod"'),
    ("", "TZ_DATABASE_URL is empty"),
    ("sqlite:///{tmp}/a-file/tz.sqlite3", "cannot create the directory of the SQLite database"),
])
def test_a_malformed_database_url_is_one_line(env, tmp_path, url, expected):
    (tmp_path / "a-file").write_text("")
    env["TZ_DATABASE_URL"] = url.format(tmp=tmp_path)
    for args in (["db", "upgrade"], ["gateway"]):
        assert_one_line_error(tradezone(env, *args, cwd=tmp_path), "TZ_DATABASE_URL", expected)


def _key_file(kind: str, directory: Path) -> Path:
    """A TZ_LEDGER_KEY_FILE in ``directory`` that cannot be used, of ``kind``."""
    path = directory / "ledger.pem"
    if kind == "uncreatable":
        path.write_text("")  # a file where the key's directory would be
        return path / "ledger.pem"
    if kind == "a directory":
        path.mkdir()
        return path
    mode, pem = 0o600, ECC.generate(curve="ed25519").export_key(format="PEM").encode()
    if kind == "group-readable":
        mode = 0o640
    elif kind == "P-256":
        pem = ECC.generate(curve="P-256").export_key(format="PEM").encode()
    elif kind == "binary":
        pem = os.urandom(48) + b"\xff"
    path.write_bytes(pem)
    path.chmod(mode)
    return path


@pytest.mark.parametrize("kind, expected", [
    ("uncreatable", "cannot create signing key"),
    ("a directory", "cannot read signing key"),
    ("group-readable", "(mode 0640); run: chmod 600"),
    ("P-256", "is not an Ed25519 private key"),
    ("binary", "is not a PEM private key"),
])
def test_an_unusable_ledger_key_is_one_line(env, tmp_path, kind, expected):
    env["TZ_LEDGER_KEY_FILE"] = str(_key_file(kind, tmp_path))
    for args in (["db", "upgrade"], ["serve", "--port", "0"], ["gateway"]):
        assert_one_line_error(tradezone(env, *args, cwd=tmp_path), "TZ_LEDGER_KEY_FILE: ",
                              expected)


def test_serve_refuses_a_console_secret_others_can_read_before_starting_workers(env, tmp_path):
    assert tradezone(env, "db", "upgrade", cwd=tmp_path).returncode == 0
    secret = tmp_path / "var" / "console-session-key"
    secret.write_text("ab" * 32 + "\n")
    secret.chmod(0o644)
    result = tradezone(env, "serve", "--port", str(free_port()), cwd=tmp_path)
    assert_one_line_error(result, f"console secret {secret} is readable by others",
                          "TZ_LEDGER_KEY_FILE")
    assert "Booting worker" not in result.stderr


@pytest.mark.parametrize("name, value", [
    ("TZ_MQTT_PORT", "99999"), ("TZ_MQTT_PORT", "mqtt"), ("TZ_MAX_REQUEST_BYTES", "1MB"),
    ("TZ_LEDGER_ORIGIN", "zone ledger"), ("TZ_EXPORT_POLICY_FILE", "/nonexistent.toml"),
])
def test_a_bad_setting_is_one_line_naming_it(env, tmp_path, name, value):
    env[name] = value
    for args in (["db", "upgrade"], ["gateway"]):
        assert_one_line_error(tradezone(env, *args, cwd=tmp_path), f"{name}")


def test_a_gateway_metrics_port_in_use_is_one_line(env, tmp_path):
    assert tradezone(env, "db", "upgrade", cwd=tmp_path).returncode == 0
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        env["TZ_GATEWAY_METRICS_PORT"] = str(taken.getsockname()[1])
        result = tradezone(env, "gateway", cwd=tmp_path)
    assert_one_line_error(result, "TZ_GATEWAY_METRICS_PORT", "Address already in use")


@pytest.mark.parametrize("args", [["--port", "70000"], ["--port", "-1"], ["--workers", "0"]])
def test_serve_refuses_an_impossible_port_or_worker_count(env, tmp_path, args):
    # Before: a traceback from the socket (port), or a master with no worker
    # that accepted connections and never answered (workers).
    result = tradezone(env, "serve", *args, cwd=tmp_path)
    assert result.returncode == 2, result.stderr  # click's usage error
    assert "Traceback" not in result.stderr
    assert f"Invalid value for '{args[0]}'" in result.stderr


ROOT = Path(__file__).resolve().parents[2]


def gunicorn_by_hand(env, tmp_path) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(
            [str(TRADEZONE.parent / "gunicorn"), "--chdir", str(ROOT), "--bind",
             f"127.0.0.1:{free_port()}", "wsgi:app"], env=env, cwd=tmp_path,
            capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as expired:
        pytest.fail(f"gunicorn kept running: {expired.stderr!r}")


def assert_failed_to_boot(result: subprocess.CompletedProcess, line: str) -> None:
    """The worker's one line and gunicorn's "worker failed to boot" (exit 3),
    which ends it rather than starting worker after worker."""
    assert result.returncode == 3, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    assert line in result.stderr.splitlines()
    assert "Worker failed to boot" in result.stderr


def test_gunicorn_wsgi_app_by_hand_stops_at_a_bad_setting_with_one_line(env, tmp_path):
    """``gunicorn wsgi:app`` without ``tradezone serve``'s own checks."""
    env["TZ_MQTT_PORT"] = "mqtt"
    assert_failed_to_boot(gunicorn_by_hand(env, tmp_path),
                          "tradezone: TZ_MQTT_PORT must be an integer from 1 to 65535, not 'mqtt'")
    assert not (tmp_path / "var").exists()  # no database, key or secret was made


def test_gunicorn_wsgi_app_by_hand_stops_at_a_database_not_made_or_not_upgraded(env, tmp_path):
    from tests.app.test_migrations import PREVIOUS_REVISION, downgrade
    database = env["TZ_DATABASE_URL"].removeprefix("sqlite:///")
    assert_failed_to_boot(gunicorn_by_hand(env, tmp_path),
                          f"tradezone: the database TZ_DATABASE_URL=sqlite:///{database} does "
                          "not exist: run `tradezone db upgrade`")
    assert not (tmp_path / "var").exists()
    assert tradezone(env, "db", "upgrade", cwd=tmp_path).returncode == 0
    downgrade(env["TZ_DATABASE_URL"], PREVIOUS_REVISION)
    result = gunicorn_by_hand(env, tmp_path)
    assert result.returncode == 3, result.stderr
    assert f"is at schema revision {PREVIOUS_REVISION}; this code needs " in result.stderr


@pytest.mark.parametrize("name, value, expected", [
    ("TZ_MQTT_PORT", "mqtt", "TZ_MQTT_PORT must be an integer"),
    ("TZ_DATABASE_URL", f"postgresql+psycopg://{ROLE}:{PASSWORD}@127.0.0.1:1/tz",
     f"cannot use the database TZ_DATABASE_URL=postgresql+psycopg://{ROLE}:***@"),
])
def test_alembic_by_hand_reports_a_bad_setting_or_database_in_one_line(env, tmp_path, name,
                                                                       value, expected):
    env[name] = value
    result = subprocess.run([str(TRADEZONE.parent / "alembic"), "upgrade", "head"], env=env,
                            cwd=ROOT, capture_output=True, text=True, timeout=60,
                            stdin=subprocess.DEVNULL)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith(f"tradezone: {expected}")
    assert PASSWORD not in result.stdout + result.stderr
    assert not (tmp_path / "var").exists()  # the SQLite default was not created either


def _log_and_orgs(database: Path) -> tuple[int, int, int]:
    with closing(sqlite3.connect(database)) as connection:
        return tuple(connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
                     for table in ("ledger_entries", "ledger_checkpoints", "organizations"))


def _signed_log(env, tmp_path) -> tuple[Path, Path, tuple[int, int, int], bytes]:
    """A migrated database whose log an organisation's creation signed: the
    key file, the database, its counts (_log_and_orgs) and the key's bytes."""
    key = tmp_path / "var" / "ledger.pem"
    env["TZ_LEDGER_KEY_FILE"] = str(key)
    assert tradezone(env, "db", "upgrade", cwd=tmp_path).returncode == 0
    assert tradezone(env, "org", "create", "Acme", "--role", "firm", cwd=tmp_path).returncode == 0
    database = tmp_path / "var" / "tz.sqlite3"
    return key, database, _log_and_orgs(database), key.read_bytes()


def test_a_key_that_did_not_sign_the_log_is_refused_by_every_command_that_writes(env, tmp_path):
    # A lost key file silently replaced by a new one would give the log a
    # second identity, which every verifier and monitor rejects as forged.
    key, database, before, signing_key = _signed_log(env, tmp_path)
    key.write_text(ECC.generate(curve="ed25519").export_key(format="PEM"))
    for args in (["db", "upgrade"], ["org", "create", "Other", "--role", "firm"],
                 ["serve", "--port", str(free_port())], ["gateway"]):
        assert_one_line_error(tradezone(env, *args, cwd=tmp_path), "TZ_LEDGER_KEY_FILE",
                              f"latest checkpoint (size {before[0]}) is not signed by this key")
    assert _log_and_orgs(database) == before
    key.write_bytes(signing_key)
    env["TZ_LEDGER_ORIGIN"] = "another.example/log"
    assert_one_line_error(tradezone(env, "org", "create", "Other", "--role", "firm", cwd=tmp_path),
                          "TZ_LEDGER_ORIGIN", "not signed by this key as 'another.example/log'")
    assert _log_and_orgs(database) == before
    del env["TZ_LEDGER_ORIGIN"]
    assert tradezone(env, "org", "create", "Other", "--role", "firm", cwd=tmp_path).returncode == 0


def test_commands_that_check_copy_or_add_to_the_log_never_make_a_missing_key(env, tmp_path):
    key = tmp_path / "var" / "ledger.pem"
    env["TZ_LEDGER_KEY_FILE"] = str(key)
    assert tradezone(env, "db", "upgrade", cwd=tmp_path).returncode == 0
    key.unlink()
    backup = tmp_path / "backup.sqlite3"
    for args in (["ledger", "check"], ["db", "backup", str(backup)],
                 ["org", "create", "Acme", "--role", "firm"], ["org", "list"]):
        assert_one_line_error(tradezone(env, *args, cwd=tmp_path), "TZ_LEDGER_KEY_FILE",
                              f"cannot read signing key {key}: No such file or directory; "
                              "`tradezone db upgrade` makes one for a new log")
        assert not key.exists() and not backup.exists()


def test_a_lost_key_is_not_replaced_by_the_commands_that_make_one(env, tmp_path):
    # db upgrade, serve and gateway create a missing key for a new log only;
    # for a signed log they say to bring the key back, and leave no key behind.
    key, database, before, signing_key = _signed_log(env, tmp_path)
    key.unlink()
    for args in (["db", "upgrade"], ["serve", "--port", str(free_port())], ["gateway"]):
        assert_one_line_error(tradezone(env, *args, cwd=tmp_path),
                              f"TZ_LEDGER_KEY_FILE: {key} is missing, but the log in",
                              f"is already signed (latest checkpoint: size {before[0]},",
                              "put that key file back from a backup")
        assert not key.exists()
    assert _log_and_orgs(database) == before
    key.write_bytes(signing_key)
    key.chmod(0o600)
    assert tradezone(env, "db", "upgrade", cwd=tmp_path).returncode == 0


def test_a_database_behind_the_code_is_refused_by_the_commands_that_use_it(env, tmp_path):
    # New code on a database not yet upgraded would answer a 500 to every
    # request that touches a new column; checking and copying the log still work.
    from tests.app.test_migrations import PREVIOUS_REVISION, downgrade
    key = tmp_path / "var" / "ledger.pem"
    env["TZ_LEDGER_KEY_FILE"] = str(key)
    assert tradezone(env, "db", "upgrade", cwd=tmp_path).returncode == 0
    downgrade(env["TZ_DATABASE_URL"], PREVIOUS_REVISION)
    database = Path(env["TZ_DATABASE_URL"].removeprefix("sqlite:///"))
    before = _log_and_orgs(database)
    for args in (["serve", "--port", str(free_port())], ["gateway"],
                 ["org", "create", "Acme", "--role", "firm"], ["mqtt", "sync", "--dir", "auth"]):
        assert_one_line_error(tradezone(env, *args, cwd=tmp_path), "TZ_DATABASE_URL=",
                              f"is at schema revision {PREVIOUS_REVISION}; this code needs ",
                              "run `tradezone db upgrade`")
    assert _log_and_orgs(database) == before  # nothing written, not even a checkpoint
    assert not (tmp_path / "auth").exists()
    assert tradezone(env, "ledger", "check", cwd=tmp_path).returncode == 0
    assert tradezone(env, "db", "backup", str(tmp_path / "before-upgrade.sqlite3"),
                     cwd=tmp_path).returncode == 0
    assert tradezone(env, "db", "upgrade", cwd=tmp_path).returncode == 0
    assert tradezone(env, "org", "create", "Acme", "--role", "firm", cwd=tmp_path).returncode == 0
