"""``tradezone audit verify``: offline, clear messages, non-zero exit on any failure."""

from __future__ import annotations

import base64
import json

import pytest
from click.testing import CliRunner

import ledger
from app.cli import main


@pytest.fixture
def receipt_file(submit, tmp_path):
    path = tmp_path / "receipt.json"
    path.write_text(json.dumps(submit("commercial_invoice")["receipt"]))
    return path


@pytest.fixture
def key(platform):
    return platform.notary.signer.verifier_key


def verify(path, key):
    return CliRunner().invoke(main, ["audit", "verify", str(path), "--key", key])


def test_a_receipt_verifies(receipt_file, key):
    result = verify(receipt_file, key)
    assert result.exit_code == 0, result.output
    assert "OK: 1 entries verified, 0 failures" in result.output


def test_a_changed_entry_is_named(receipt_file, key):
    bundle = json.loads(receipt_file.read_text())
    data = base64.b64decode(bundle["entries"][0]["leaf_data"]).replace(b"issued", b"amended")
    bundle["entries"][0]["leaf_data"] = base64.b64encode(data).decode()
    receipt_file.write_text(json.dumps(bundle))
    result = verify(receipt_file, key)
    assert result.exit_code == 1
    assert f"FAIL entry {bundle['entries'][0]['index']}" in result.output


def test_a_flipped_proof_hash_fails(receipt_file, key):
    bundle = json.loads(receipt_file.read_text())
    proof = bundle["entries"][0]["inclusion_proof"]
    raw = bytearray(base64.b64decode(proof[0]))
    raw[0] ^= 1
    proof[0] = base64.b64encode(bytes(raw)).decode()
    receipt_file.write_text(json.dumps(bundle))
    result = verify(receipt_file, key)
    assert result.exit_code == 1 and "FAIL entry" in result.output


def test_a_wrong_key_fails_on_the_checkpoint(receipt_file):
    other = ledger.NoteSigner("tradezone.example/ledger", ledger.keys.generate_signing_key())
    result = verify(receipt_file, other.verifier_key)
    assert result.exit_code == 1
    assert "FAIL bundle" in result.output and "signature" in result.output


@pytest.mark.parametrize("content, message", [
    (b"", "not a JSON bundle"),
    (b"\x89PNG\r\n", "not a JSON bundle"),
    (b'{"format": "tradezone.audit-bundle.v1", "checkp', "not a JSON bundle"),
    (b'[1, 2, 3]', "not a tradezone.audit-bundle.v1 bundle"),
    (b'{"format": "tradezone.audit-bundle.v1", "checkpoint": "x", "entries": []}', "FAIL bundle"),
])
def test_bad_files_get_a_message_not_a_traceback(tmp_path, key, content, message):
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    result = verify(path, key)
    assert result.exit_code == 1
    assert message in result.output
    assert "Traceback" not in result.output


def test_missing_file_and_malformed_key(tmp_path, key):
    missing = verify(tmp_path / "nope.json", key)
    assert missing.exit_code == 1 and "cannot read" in missing.output
    bad_key = verify(tmp_path / "nope.json", "not-a-key")
    assert bad_key.exit_code == 1 and "verifier key is malformed" in bad_key.output
