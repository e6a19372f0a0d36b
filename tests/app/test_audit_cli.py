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


@pytest.mark.parametrize("change, message", [
    (lambda b: b["entries"].append(b["entries"][0]), "log order"),
    (lambda b: b.update(checkpoint=b["checkpoint"] + "\u2014 witness AAAA\u00e9AAA\n"),
     "FAIL bundle"),
    (lambda b: b.update(checkpoint="\ud800" + b["checkpoint"]), "FAIL bundle"),
    (lambda b: b["entries"][0].update(index=float("nan")), "not a JSON bundle"),
])
def test_tampered_receipts_fail_cleanly(receipt_file, key, change, message):
    bundle = json.loads(receipt_file.read_text())
    change(bundle)
    receipt_file.write_text(json.dumps(bundle))
    result = verify(receipt_file, key)
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.exception
    assert message in result.output


def _one_entry_bundle(platform, data: bytes) -> dict:
    """A bundle of a one-entry log holding ``data``, signed with the log's key: what
    an operator who had logged hostile bytes could hand out (the tree's root is
    the leaf hash, the proof empty)."""
    checkpoint = ledger.Checkpoint(platform.notary.origin, 1, ledger.leaf_hash(data))
    return {"format": ledger.BUNDLE_FORMAT,
            "checkpoint": platform.notary.signer.sign(checkpoint.body()),
            "entries": [{"index": 0, "leaf_data": base64.b64encode(data).decode(),
                         "inclusion_proof": []}]}


_ENTRY = b'{"actor":"org_a","at":"2026-11-23T09:00:00Z",%s"type":"org.created","v":1}'


@pytest.mark.parametrize("data, expected", [
    (_ENTRY % b"", "OK: 1 entries verified, 0 failures"),  # the same bundle, untouched
    (_ENTRY % (b'"n":' + b"9" * 5000 + b","), "FAIL entry 0: entry is not a well-formed"),
    (_ENTRY % (b'"n":' + b"[" * 100_000 + b"]" * 100_000 + b","), "FAIL entry 0: entry is not"),
    (_ENTRY % b'"actor":"org_b",', "FAIL entry 0: entry is not a well-formed"),
    (b"\xff" + _ENTRY % b"", "FAIL entry 0: entry is not a well-formed"),
], ids=["canonical", "integer-of-5000-digits", "nested-100000-deep", "member-repeated",
        "not-utf8"])
def test_hostile_logged_bytes_fail_on_their_entry_with_one_line(tmp_path, platform, key, data,
                                                                 expected):
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(_one_entry_bundle(platform, data)))
    result = verify(path, key)
    # exit status 0 is no exception; anything but SystemExit would be a traceback
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == (0 if expected.startswith("OK") else 1)
    assert result.output.startswith(expected), result.output


def test_a_key_of_bytes_that_are_not_utf8_is_malformed_not_a_traceback(tmp_path, key):
    """A shell passes an argument it cannot decode as lone surrogates."""
    name, rest = key.split("+", 1)
    result = verify(tmp_path / "nope.json", name + "\udcff+" + rest)
    assert result.exit_code == 1, result.exception
    assert "verifier key is malformed: key name" in result.output


def test_missing_file_and_malformed_key(tmp_path, key):
    missing = verify(tmp_path / "nope.json", key)
    assert missing.exit_code == 1 and "cannot read" in missing.output
    bad_key = verify(tmp_path / "nope.json", "not-a-key")
    assert bad_key.exit_code == 1 and "verifier key is malformed" in bad_key.output


# -- tradezone audit monitor ---------------------------------------------------


@pytest.fixture
def served_by(client, monkeypatch):
    """Route the monitor's HTTP requests to the test app instead of the network."""
    from ledger import monitor

    def fetch(url, timeout=30.0):
        response = client.get(url.removeprefix("http://tradezone.test"))
        if response.status_code != 200:
            raise monitor.MonitorError(f"GET {url}: HTTP {response.status_code}")
        return response.get_data()

    monkeypatch.setattr(monitor, "urllib_fetch", fetch)
    return "http://tradezone.test"


def monitor_once(url, key, state):
    return CliRunner().invoke(main, ["audit", "monitor", url, "--key", key, "--state",
                                     str(state), "--once"])


def test_the_monitor_follows_a_growing_log(served_by, key, submit, tmp_path):
    import os
    import stat

    state = tmp_path / "state.json"
    first = monitor_once(served_by, key, state)
    assert first.exit_code == 0, first.output
    assert first.output.startswith("OK: first checkpoint size ")
    assert stat.S_IMODE(os.stat(state).st_mode) == 0o600
    submit("commercial_invoice")
    second = monitor_once(served_by, key, state)
    assert second.exit_code == 0 and "is consistent with the saved size" in second.output


def test_the_monitor_raises_the_alarm_on_a_forged_checkpoint(served_by, key, platform,
                                                             tmp_path):
    from sqlalchemy import update

    from ledger.sqlstore import SqlLog, checkpoints

    state = tmp_path / "state.json"
    assert monitor_once(served_by, key, state).exit_code == 0
    with platform.db.write() as session:
        size = SqlLog(session.connection()).size
        forged = ledger.Checkpoint(platform.notary.origin, size, bytes(32))
        session.execute(update(checkpoints).where(checkpoints.c.size == size).values(
            root_hash=forged.root_hash, note=platform.notary.signer.sign(forged.body())))
    result = monitor_once(served_by, key, state)
    assert result.exit_code == 1
    assert result.output.startswith("ALARM split_view: the log signed two different trees")
    assert "received checkpoint:\n    tradezone.example/ledger" in result.output
    assert json.loads(state.read_text())["alarms"][0]["kind"] == "split_view"


def test_the_monitor_cannot_check_an_unreachable_server(key, tmp_path):
    result = monitor_once("http://127.0.0.1:9", key, tmp_path / "state.json")
    assert result.exit_code == 3 and "error: GET http://127.0.0.1:9/api/v1/ledger/checkpoint" \
        in result.output
    assert not (tmp_path / "state.json").exists()


def test_the_monitor_refuses_a_malformed_key(tmp_path, key):
    result = monitor_once("http://127.0.0.1:9", "not-a-key", tmp_path / "state.json")
    assert result.exit_code == 2 and "--key is not a verifier key" in result.output
    name, rest = key.split("+", 1)
    result = monitor_once("http://127.0.0.1:9", name + "\udcff+" + rest, tmp_path / "state.json")
    assert result.exit_code == 2 and "--key is not a verifier key" in result.output


def _repeating(member: str):
    def change(body: bytes) -> bytes:
        return json.dumps(json.loads(body)).replace(
            f'"{member}": ', f'"{member}": 0, "{member}": ', 1).encode()
    return change


def _with_integer_of_5000_digits(body: bytes) -> bytes:
    return json.dumps({**json.loads(body), "n": 0}).replace('"n": 0', '"n": ' + "9" * 5000).encode()


@pytest.mark.parametrize("change, message", [
    (_repeating("size"), "repeats the member name 'size'"),
    (_repeating("checkpoint"), "repeats the member name 'checkpoint'"),
    (_with_integer_of_5000_digits, "the answer is not JSON"),
    (lambda body: body.replace(b"{", b"[" * 100_000, 1), "the answer is not JSON"),
], ids=["size-twice", "checkpoint-twice", "integer-of-5000-digits", "nested-100000-deep"])
def test_the_monitor_refuses_a_hostile_answer_with_one_line(served_by, key, tmp_path,
                                                            monkeypatch, change, message):
    from ledger import monitor

    served = monitor.urllib_fetch
    monkeypatch.setattr(monitor, "urllib_fetch", lambda url, timeout=30.0: change(served(url)))
    state = tmp_path / "state.json"
    result = monitor_once(served_by, key, state)
    assert result.exit_code == 3 and isinstance(result.exception, SystemExit), result.exception
    assert result.output.startswith("error: GET ") and message in result.output
    assert result.output.count("\n") == 1 and not state.exists()


@pytest.mark.parametrize("content, message", [
    (b'{"format": "tradezone.monitor-state.v1", "n": ' + b"9" * 5000 + b"}", "4300 digits"),
    (b'{"format": "tradezone.monitor-state.v1", "checkpoint": null, "checkpoint": null}',
     "duplicate member name 'checkpoint'"),
], ids=["integer-of-5000-digits", "checkpoint-twice"])
def test_the_monitor_refuses_a_hostile_state_file_with_one_line(served_by, key, tmp_path,
                                                                content, message):
    state = tmp_path / "state.json"
    state.write_bytes(content)
    result = monitor_once(served_by, key, state)
    assert result.exit_code == 3 and isinstance(result.exception, SystemExit), result.exception
    assert result.output.startswith(f"error: state file {state} is not JSON: ")
    assert message in result.output and result.output.count("\n") == 1
    assert state.read_bytes() == content
