"""Notarizing from several processes at once: one gap-free, verifiable log."""

from __future__ import annotations

import multiprocessing
from dataclasses import replace
from pathlib import Path

import pytest

import ledger
from app.config import Config, ConfigError
from app.notary.service import PendingEntry, make_entry
from app.platform import build_platform
from ledger.logcheck import StoredCheckpointRow, check_log
from ledger.sqlstore import SqlLog
from tests.app.conftest import in_thread

WORKERS, BATCHES, BATCH_SIZE = 4, 25, 8


def _append_from_worker(database_url: str, key_file: str, worker: int) -> None:
    platform = build_platform(Config.for_tests(database_url, Path(key_file)))
    for batch in range(BATCHES):
        entries = [PendingEntry(make_entry("test.appended", f"worker-{worker}", platform.now(),
                                           batch=batch, item=item))
                   for item in range(BATCH_SIZE)]
        with platform.db.write() as session:
            platform.notary.record(session, entries)
    platform.db.dispose()


def test_concurrent_processes_append_one_gap_free_log(platform, config):
    context = multiprocessing.get_context("spawn")
    processes = [context.Process(target=_append_from_worker,
                                 args=(config.database_url, str(config.ledger_key_file), n))
                 for n in range(WORKERS)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=300)
        assert process.exitcode == 0

    total = WORKERS * BATCHES * BATCH_SIZE
    verifier = ledger.NoteVerifier.from_verifier_key(platform.notary.signer.verifier_key)
    with platform.db.read() as session:
        log = SqlLog(session.connection())
        assert log.size == total
        stored = list(log.iter_checkpoints())
        report = check_log(log.iter_leaves(), [StoredCheckpointRow(c.size, c.root_hash, c.note)
                                               for c in stored], verifier, head_size=log.size)
        assert report.ok, report.problems
        assert report.size == total
        # One checkpoint per batch, plus the empty tree's.
        assert [c.size for c in stored] == [BATCH_SIZE * n for n in range(WORKERS * BATCHES + 1)]

        entries = [ledger.decode_entry(data) for _, data in log.read_entries(0, total)]
        seen = {(e["actor"], e["batch"], e["item"]) for e in entries}
        assert len(seen) == total  # every entry exactly once

        latest = ledger.open_checkpoint(stored[-1].note, verifier)
        for index, data in log.read_entries(0, total):
            proof = ledger.prove.inclusion_proof(log, index, latest.size)
            ledger.verify_inclusion(ledger.leaf_hash(data), index, latest.size, proof,
                                    latest.root_hash)
        for older, newer in zip(stored, stored[1:]):
            proof = ledger.prove.consistency_proof(log, older.size, newer.size)
            ledger.verify_consistency(older.size, newer.size, proof, older.root_hash,
                                      newer.root_hash)


def test_a_batch_is_one_checkpoint_and_entries_name_their_subjects(platform):
    with platform.db.write() as session:
        receipts = platform.notary.record(session, [
            PendingEntry(make_entry("test.one", "operator", platform.now()), (("org", "org_a"),)),
            PendingEntry(make_entry("test.two", "operator", platform.now()), (("org", "org_b"),)),
        ])
    assert [r.index for r in receipts] == [0, 1]
    assert {r.tree_size for r in receipts} == {2}
    with platform.db.read() as session:
        log = SqlLog(session.connection())
        assert [c.size for c in log.iter_checkpoints()] == [0, 2]
        assert receipts[1].leaf_hash == ledger.leaf_hash(log.read_entries(1, 2)[0][1])


def test_two_starts_at_once_sign_the_missing_checkpoint_once(platform, config, lock_waiters):
    """The API and the gateway starting together: each signs the current tree
    unless its size has a checkpoint; the second must wait for the first."""
    with platform.db.write() as session:  # a size without a checkpoint
        SqlLog(session.connection()).append(
            [ledger.encode_entry(make_entry("test.unsigned", "operator", platform.now()))])
    other = build_platform(config)
    outcome: dict = {}
    try:
        with platform.db.write() as session:
            signed = platform.notary.ensure_checkpoint(session)
            competitor = in_thread(lambda: _ensure_checkpoint(other), outcome)
            competitor.start()
            lock_waiters(unless_done=competitor)
        competitor.join(timeout=30)
    finally:
        other.db.dispose()
    assert "failed" not in outcome, outcome
    assert outcome["done"] == signed
    with platform.db.read() as session:
        assert [c.size for c in SqlLog(session.connection()).iter_checkpoints()] == [0, 1]


def _ensure_checkpoint(platform):
    with platform.db.write() as session:
        return platform.notary.ensure_checkpoint(session)


def test_no_new_key_is_made_for_a_log_another_key_signed(platform, config, tmp_path):
    # A lost key file must come back from a backup: a new key would sign
    # checkpoints that verifiers of this log reject, so none is made.
    lost = tmp_path / "lost" / "ledger.pem"
    with pytest.raises(ConfigError) as refused:
        build_platform(replace(config, ledger_key_file=lost))
    message = str(refused.value)
    assert message.startswith(f"TZ_LEDGER_KEY_FILE: {lost} is missing, but the log in ")
    name_and_hash = "+".join(platform.notary.signer.verifier_key.split("+", 2)[:2])
    assert f"is already signed (latest checkpoint: size 0, signed by {name_and_hash})" in message
    assert not lost.exists()
    assert build_platform(config).notary.signer.public_key == platform.notary.signer.public_key


def test_a_new_key_is_made_for_a_log_nobody_signed(database_url, tmp_path):
    key = tmp_path / "new" / "ledger.pem"
    built = build_platform(Config.for_tests(database_url, key))
    assert key.exists() and built.notary.signer.public_key
