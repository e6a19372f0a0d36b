"""The console's session secret: one per instance, in a 0600 file beside the
ledger key, agreed on by every worker (they sign each other's cookies)."""

from __future__ import annotations

import os
import stat
from concurrent.futures import ProcessPoolExecutor

import pytest

from app import create_app
from app.console.secret import SecretFileError, load_or_create_secret, secret_file_for

from .conftest import sign_in


def test_secret_is_created_private_and_then_reused(tmp_path):
    path = secret_file_for(tmp_path / "var" / "ledger.pem")
    assert path == tmp_path / "var" / "console-session-key"
    first = load_or_create_secret(path)
    assert len(first) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_secret(path) == first
    assert os.listdir(path.parent) == ["console-session-key"]  # no temporary left behind


def test_concurrent_first_starts_agree_on_one_secret(tmp_path):
    path = tmp_path / "console-session-key"
    with ProcessPoolExecutor(max_workers=4) as pool:
        secrets = set(pool.map(load_or_create_secret, [path] * 8))
    assert len(secrets) == 1


def test_a_secret_others_can_read_is_refused(tmp_path):
    path = tmp_path / "console-session-key"
    load_or_create_secret(path)
    path.chmod(0o644)
    with pytest.raises(SecretFileError, match="chmod 600"):
        load_or_create_secret(path)


@pytest.mark.parametrize("content", ["not hex\n", "abcd\n"])
def test_a_malformed_secret_is_refused(tmp_path, content):
    path = tmp_path / "console-session-key"
    path.write_text(content)
    path.chmod(0o600)
    with pytest.raises(SecretFileError):
        load_or_create_secret(path)


def test_a_binary_secret_file_is_refused(tmp_path):
    path = tmp_path / "console-session-key"
    path.write_bytes(b"\xff\xfe" + os.urandom(32))
    path.chmod(0o600)
    with pytest.raises(SecretFileError, match="is not hex"):
        load_or_create_secret(path)


def test_a_secret_that_cannot_be_created_is_a_secret_file_error(tmp_path):
    # As beside a ledger key mounted from a secrets volume: no file can be made there.
    not_a_directory = tmp_path / "file"
    not_a_directory.write_text("")
    with pytest.raises(SecretFileError, match="cannot create console secret"):
        load_or_create_secret(not_a_directory / "console-session-key")


def test_workers_of_one_instance_accept_each_others_sessions(platform, regulator, config):
    first, second = create_app(platform=platform), create_app(platform=platform)
    assert first.secret_key == second.secret_key
    client = first.test_client()
    assert sign_in(client, regulator.token).status_code == 303
    cookie = client.get_cookie("tz_console", path="/console")
    other = second.test_client()
    other.set_cookie("tz_console", cookie.value, path="/console")
    assert other.get("/console/").status_code == 200
    assert (config.ledger_key_file.parent / "console-session-key").exists()
