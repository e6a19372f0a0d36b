"""The log's signing key file: created once, whole, and readable by its owner only."""

from __future__ import annotations

import os
import stat
from concurrent.futures import ProcessPoolExecutor

import pytest

from ledger import keys
from ledger.errors import KeyFileError


def test_a_missing_key_is_created_with_mode_0600_and_then_kept(tmp_path):
    path = tmp_path / "var" / "ledger.key"
    first = keys.load_or_create_signing_key(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert keys.public_key_bytes(keys.load_or_create_signing_key(path)) == \
        keys.public_key_bytes(first)
    assert [p.name for p in path.parent.iterdir()] == ["ledger.key"]  # no temporary left


def test_a_start_that_dies_while_writing_leaves_no_empty_key_behind(tmp_path, monkeypatch):
    path = tmp_path / "ledger.key"

    def disk_full(_fd):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(keys.os, "fsync", disk_full)
    with pytest.raises(KeyFileError, match="cannot create signing key .*No space left"):
        keys.load_or_create_signing_key(path)
    monkeypatch.undo()
    assert list(tmp_path.iterdir()) == []
    assert keys.load_or_create_signing_key(path).has_private()  # the next start succeeds


def test_a_key_file_another_process_is_still_writing_is_never_read(tmp_path, monkeypatch):
    """The name appears only with the whole key: a start that finds the file
    can read a key from it."""
    path = tmp_path / "ledger.key"
    seen = []
    real_fsync = os.fsync

    def look_while_writing(fd):
        seen.append(path.exists())
        real_fsync(fd)
    monkeypatch.setattr(keys.os, "fsync", look_while_writing)
    keys.load_or_create_signing_key(path)
    assert seen == [False]


def _public_key_of(path: str) -> bytes:
    return keys.public_key_bytes(keys.load_or_create_signing_key(path))


def test_concurrent_first_starts_agree_on_one_key(tmp_path):
    path = str(tmp_path / "ledger.key")
    with ProcessPoolExecutor(4) as pool:
        public_keys = set(pool.map(_public_key_of, [path] * 16))
    assert public_keys == {keys.public_key_bytes(keys.load_signing_key(path))}


@pytest.mark.parametrize("mode", [0o644, 0o620, 0o604], ids=["world-readable",
                                                              "group-writable", "other-readable"])
def test_a_key_others_may_use_is_refused_naming_its_mode(tmp_path, mode):
    path = tmp_path / "ledger.key"
    keys.load_or_create_signing_key(path)
    path.chmod(mode)
    with pytest.raises(KeyFileError, match=rf"readable by others \(mode 0{mode:o}\); "
                                           r"run: chmod 600"):
        keys.load_signing_key(path)


def test_a_key_that_cannot_be_created_is_a_key_file_error(tmp_path):
    not_a_directory = tmp_path / "file"
    not_a_directory.write_text("")
    with pytest.raises(KeyFileError, match="cannot create signing key"):
        keys.load_or_create_signing_key(not_a_directory / "ledger.key")


@pytest.mark.parametrize("content", [
    os.urandom(64) + b"\xff",                              # binary, not even text
    b"-----BEGIN PRIVATE KEY-----\n\xc3\xa9\n-----END PRIVATE KEY-----\n",
    b"",
], ids=["binary", "non-ascii PEM", "empty"])
def test_a_key_file_that_is_not_a_pem_key_is_a_key_file_error(tmp_path, content):
    path = tmp_path / "ledger.key"
    path.write_bytes(content)
    path.chmod(0o600)
    with pytest.raises(KeyFileError, match="is not a PEM private key"):
        keys.load_signing_key(path)
