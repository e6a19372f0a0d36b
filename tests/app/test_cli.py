"""The operator's command line (contract section 7)."""

from __future__ import annotations

import json
import stat

import pytest
from click.testing import CliRunner

from app import create_app
from app.cli import main
from app.config import Config


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


def test_bad_role_is_a_usage_error(cli_env):
    result = CliRunner().invoke(main, ["org", "create", "X", "--role", "king"], env=cli_env)
    assert result.exit_code == 2
    assert "king" in result.output
