"""Changing the database behind the server's back, as an insider could, on
both databases. Every change is found and named by at least one of the
tools a regulator or operator runs; none is silently accepted:

| change                              | found by                                        |
|-------------------------------------|-------------------------------------------------|
| one entry's bytes altered           | ledger check; the verifier (inclusion proof)    |
| an entry deleted                    | ledger check; search/bundles fail loudly        |
| the log's tail cut off (cleanly)    | only the monitor (rollback)                     |
| two entries swapped                 | ledger check; the verifier, for both indexes    |
| a stored tree hash replaced         | ledger check; the verifier; the monitor once    |
|                                     | the next append signs a root built on it        |
| another tree signed at a size       | the monitor (split view); ledger check;         |
| already published (real key)        | the verifier                                    |
| history rewritten and re-signed     | only the monitor (inconsistent): ledger check   |
| consistently                        | and fresh bundles cannot tell                   |
| an older backup restored (SQLite)   | only the monitor: a rollback, then an           |
|                                     | inconsistent history once the log grows past it |
"""

from __future__ import annotations

import base64
import http.client
import os
import urllib.error

import pytest
from click.testing import CliRunner

import ledger
from app.cli import main
from app.identity.models import Role
from app.identity.services import create_organization
from app.platform import build_platform
from ledger import monitor
from ledger.audit import verify_bundle_file
from tests.services.tradezone_server import serving

from .conftest import entry_index, json_error


@pytest.fixture
def invoice(cast, submit) -> tuple[dict, int]:
    document = submit("commercial_invoice")
    return document, entry_index(document["receipt"])


def _alarm(watch, kind: str) -> str:
    outcome = watch()
    assert not outcome.ok and outcome.alarm is not None, outcome.lines
    assert outcome.alarm.kind == kind, outcome.lines
    assert outcome.alarm.saved and outcome.alarm.received  # both notes kept as evidence
    return "\n".join(outcome.lines)


def test_an_altered_entry_is_named_by_ledger_check_and_the_verifier(
        cast, invoice, insider, ledger_check, audit, watch):
    document, index = invoice
    assert watch().ok
    altered = insider.entry(index).replace(b"commercial_invoice", b"commercial_invoicE")
    insider.set_entry(index, altered)
    checked = ledger_check()
    assert checked.exit_code == 1
    assert f"index {index}: stored hashes of leaf {index} differ" in checked.output
    lines = audit(cast.regulator, document=document["id"])
    assert lines[0].startswith(f"FAIL entry {index}: inclusion proof does not verify: ")
    assert lines[-1].startswith("FAILED: ")


def test_a_deleted_entry_is_named_and_never_silently_left_out(
        server, cast, invoice, submit, insider, ledger_check, tmp_path):
    document, index = invoice
    submit("packing_list")  # so the deleted entry is not the last one
    insider.delete_entry(index)
    checked = ledger_check()
    assert checked.exit_code == 1
    assert f"index {index}: entries {index} to {index} are missing" in checked.output
    with pytest.raises(urllib.error.HTTPError) as searched:
        server.get(f"/api/v1/audit/entries?document={document['id']}", cast.regulator.token)
    assert searched.value.code == 500
    assert json_error(searched.value)["message"] == f"ledger integrity failure at index {index}"
    # The bundle stops at the gap: the download is cut off, and what arrived
    # is refused by the verifier as truncated.
    with pytest.raises(http.client.IncompleteRead) as cut:
        server.get(f"/api/v1/audit/bundles?document={document['id']}", cast.regulator.token)
    path = tmp_path / "cut.json"
    path.write_bytes(cut.value.partial)
    result = verify_bundle_file(path, insider.platform.notary.signer.verifier_key)
    assert not result.ok and "truncated" in "\n".join(result.lines)


def test_a_cut_off_tail_is_a_rollback_to_the_monitor(cast, submit, insider, ledger_check, watch):
    submit("commercial_invoice")
    assert watch().ok
    submit("packing_list")
    assert watch().ok
    with insider.platform.db.read() as session:
        size = ledger.sqlstore.SqlLog(session.connection()).size
    insider.truncate(size - 2)
    shown = _alarm(watch, "rollback")
    assert f"saved size {size}" in shown and f"received size {size - 2}" in shown
    # A clean cut agrees with itself; only a monitor remembering more can tell.
    assert ledger_check().exit_code == 0


def test_swapped_entries_are_both_named(cast, submit, insider, ledger_check, audit):
    first = submit("commercial_invoice")
    second = submit("packing_list")
    a, b = entry_index(first["receipt"]), entry_index(second["receipt"])
    data_a, data_b = insider.entry(a), insider.entry(b)
    insider.set_entry(a, data_b)
    insider.set_entry(b, data_a)
    checked = ledger_check()
    assert checked.exit_code == 1
    assert f"index {a}: stored hashes of leaf {a} differ" in checked.output
    assert f"index {b}: stored hashes of leaf {b} differ" in checked.output
    assert audit(cast.regulator, document=first["id"])[0].startswith(f"FAIL entry {a}: ")
    assert audit(cast.regulator, document=second["id"])[0].startswith(f"FAIL entry {b}: ")


def test_a_replaced_tree_hash_is_found_by_all_three(cast, invoice, submit, insider, ledger_check,
                                                    audit, watch):
    document, index = invoice
    assert watch().ok
    with insider.platform.db.read() as session:
        size = ledger.sqlstore.SqlLog(session.connection()).size
    level = size.bit_length() - 1
    row = (1 << level) - 1  # the row holding the largest complete subtree: on every path
    hashes = bytearray(insider.tree_row(row))
    hashes[32 * level] ^= 0x01
    insider.set_tree_row(row, bytes(hashes))
    checked = ledger_check()
    assert checked.exit_code == 1 and f"index {row}: stored hashes of leaf {row} differ" \
        in checked.output
    lines = audit(cast.regulator, document=document["id"])
    assert lines[0].startswith(f"FAIL entry {index}: inclusion proof does not verify: ")
    submit("packing_list")  # the next append builds its signed root on the forged hash
    shown = _alarm(watch, "inconsistent")
    assert f"saved size {size}" in shown and "not a prefix" in shown
    assert "checkpoint for size" in ledger_check().output


def test_another_tree_signed_at_a_published_size_is_a_split_view(cast, invoice, insider,
                                                                 ledger_check, audit, watch,
                                                                 monitor_command):
    document, index = invoice
    assert watch().ok
    assert monitor_command().returncode == 0
    with insider.platform.db.read() as session:
        stored = ledger.sqlstore.SqlLog(session.connection()).latest_checkpoint()
    forged_root = ledger.hashing.node_hash(stored.root_hash, stored.root_hash)
    insider.replace_checkpoint(stored.size, forged_root)
    shown = _alarm(watch, "split_view")
    assert base64.b64encode(stored.root_hash).decode() in shown
    assert base64.b64encode(forged_root).decode() in shown
    command = monitor_command()  # the command line, as a regulator runs it
    assert command.returncode == 1, command.stdout + command.stderr
    assert command.stdout.startswith("ALARM split_view: ")
    checked = ledger_check()
    assert checked.exit_code == 1 and f"checkpoint for size {stored.size} does not match" \
        in checked.output
    lines = audit(cast.regulator, document=document["id"])
    assert lines[0].startswith(f"FAIL entry {index}: inclusion proof does not verify")


def test_a_consistently_rewritten_history_is_caught_by_the_monitor_alone(
        cast, invoice, submit, insider, ledger_check, audit, watch):
    document, index = invoice
    assert watch().ok
    insider.rewrite(index, insider.entry(index).replace(b'"version":1', b'"version":2'))
    assert ledger_check().exit_code == 0  # every hash and signature agrees with itself
    lines = audit(cast.regulator, document=document["id"])
    assert lines[-1].startswith("OK: ")  # a fresh bundle proves the rewritten entry
    shown = _alarm(watch, "split_view")  # same size, another root
    assert "two different trees of the same size" in shown


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # what `db backup` copies
def test_restoring_an_older_backup_is_a_rollback_then_a_rewritten_history_to_the_monitor(
        platform, make_org, tmp_path):
    # What README "Backups" warns of: a backup is behind the log the world saw.
    config = platform.config
    env = {**os.environ, "TZ_DATABASE_URL": config.database_url,
           "TZ_LEDGER_KEY_FILE": str(config.ledger_key_file), "TZ_VAR_DIR": str(tmp_path)}
    verifier = ledger.NoteVerifier.from_verifier_key(platform.notary.signer.verifier_key)
    state = tmp_path / "monitor-state.json"
    make_org(Role.FIRM, "Before the backup")
    backup = tmp_path / "backup.sqlite3"
    assert CliRunner().invoke(main, ["db", "backup", str(backup)], env=env).exit_code == 0
    make_org(Role.FIRM, "After the backup")  # its entries are in no backup
    with serving(env, tmp_path) as url:
        seen = monitor.run_once(url, verifier, state)
    assert seen.ok, seen.lines
    # Restored as the README says: every server stopped, `db restore` told
    # that the database is ahead of the backup and that this is meant.
    platform.db.dispose()
    put_back = CliRunner().invoke(main, ["db", "restore", str(backup), "--discard-newer"],
                                  env=env)
    assert put_back.exit_code == 0, put_back.output
    with serving(env, tmp_path) as url:
        rolled_back = monitor.run_once(url, verifier, state)
        assert not rolled_back.ok and rolled_back.alarm.kind == "rollback", rolled_back.lines
        restored = build_platform(config)
        try:
            for number in range(2):  # the log grows past the size the monitor saw
                with restored.db.write() as session:
                    create_organization(session, restored.notary, f"After the restore {number}",
                                        Role.FIRM, restored.now())
        finally:
            restored.db.dispose()
        rewritten = monitor.run_once(url, verifier, state)
    assert not rewritten.ok and rewritten.alarm.kind == "inconsistent", rewritten.lines
