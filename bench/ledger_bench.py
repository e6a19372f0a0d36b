#!/usr/bin/env python3
"""Ledger benchmark: append rate, proof latency and whole-log verification of
the SQL-backed Merkle log, on SQLite and PostgreSQL, against two baselines:
plain SQL inserts of the same rows, and the ``pymerkle`` package (SQLite).

    .venv/bin/python bench/ledger_bench.py            # 1,000,000 entries per backend
    .venv/bin/python bench/ledger_bench.py --quick    # 50,000 entries, under a minute
    .venv/bin/python bench/ledger_bench.py --backends sqlite --profile

What each figure includes (the table repeats it in short):

- ``encode_per_s``: ``ledger.encode_entry`` (field checks + RFC 8785 via
  ``rfc8785.dumps``) of the generated entry dicts; building the dicts is not
  timed. CPU only, so it is shared by both backends.
- ``append_per_s``: already-encoded leaf bytes through ``SqlLog.append`` in
  batches of ``--batch`` entries, each batch in its own ``Database.write()``
  transaction (SQLite: ``BEGIN IMMEDIATE`` ... ``COMMIT`` with the app's pragmas,
  WAL + synchronous=FULL), so it includes hashing, SQLAlchemy, the driver and
  the commit. Each transaction also signs and stores a checkpoint of the new
  tree, like ``Notary.record``; that part is timed separately
  (``checkpoint_us``) and left out of ``append_per_s``.
- ``append_with_encoding_per_s``: entries / (encoding time + append time +
  checkpoint time): the sum of the measured phases of the same run.
- ``notary_record_per_s``: a direct end-to-end cross-check on a separate
  database: ``Notary.record`` (encode + append + sign) per batch.
- ``raw_insert_per_s``: the same rows (entry bytes, and the same per-leaf hash
  blobs, computed beforehand) inserted with the bare driver (``sqlite3`` /
  ``psycopg``) as the same multi-row ``INSERT ... VALUES`` statements the log
  sends (``ledger.sqlstore.insert_rows``), one transaction per batch, same
  pragmas, into tables with the same columns and primary keys. No hashing, no
  head row.
- ``pymerkle_*``: ``pymerkle.SqliteTree`` on its own file, the same leaf bytes
  through ``append_entries`` one batch (= one transaction) at a time, with the
  same pragmas as the app (WAL, synchronous=FULL) for a like-for-like commit
  cost. Its hashing is RFC 9162 too; the benchmark checks both logs have the
  same root.
- ``inclusion_us_*``: ``prove.inclusion_proof(index, size)`` +
  ``prove.tree_root(size)`` for random pairs at full size; ``consistency_us_*``:
  ``prove.consistency_proof(first, second)`` + both roots, as the API view
  does. Headline figures: each call in its own ``Database.read()`` session
  (pooled connection, BEGIN ... ROLLBACK), as a request would; ``*_shared_*``:
  all calls on one connection in one read transaction; ``*_cold_us``: median of
  3 first requests on a brand-new engine (new connection; OS page cache warm).
  pymerkle: ``prove_inclusion`` + ``get_root`` (``prove_consistency`` + both
  roots) on the same pairs; warm = after as many warm-up proofs on other
  pairs; cold = first proof on a freshly opened ``SqliteTree`` (empty subroot
  cache; opening it, which counts its rows, is reported apart).
- ``verify_per_s``: ``ledger.logcheck.check_log`` over ``SqlLog.iter_leaves()``
  and every stored checkpoint (re-hash every leaf and node, decode and
  re-canonicalize every entry, verify every checkpoint signature). A second
  pass splits it: reading rows, recomputing hashes only, decoding entries only,
  verifying signatures only.

The last line printed is one JSON object of all figures (SQLite keys bare,
PostgreSQL keys prefixed ``pg_``). Every process started (the PostgreSQL
cluster) is stopped and every temp file removed, also on Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import array
import gc
import hashlib
import json
import os
import platform as pyplatform
import random
import sqlite3
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from itertools import islice
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import rfc8785  # noqa: E402

import ledger  # noqa: E402
from ledger import prove  # noqa: E402
from ledger.checkpoint import open_checkpoint  # noqa: E402
from ledger.entry import decode_entry  # noqa: E402
from ledger.hashing import Frontier, leaf_hash  # noqa: E402
from ledger.logcheck import check_log  # noqa: E402
from ledger.sqlstore import SqlLog, insert_rows  # noqa: E402

from app.config import Config  # noqa: E402
from app.db import Database  # noqa: E402
from app.migrate import upgrade  # noqa: E402
from app.notary.service import PendingEntry  # noqa: E402
from app.platform import Platform, build_platform  # noqa: E402
import harness  # noqa: E402
import report  # noqa: E402
from report import Results, fmt, log_progress, percentile, print_rows, rate, ratio  # noqa: E402

perf = time.perf_counter

GOAL_APPEND_PER_S = 50_000
GOAL_PROOF_US = 200.0
SQLITE_PRAGMAS = ("journal_mode=WAL", "synchronous=FULL")  # what app.db sets for writes
COLD_REPEATS = 3
CHUNK = 10_000


# -- settings ------------------------------------------------------------------

@dataclass(frozen=True)
class Settings:
    entries: int
    batch: int
    proofs: int
    notary_entries: int
    backends: tuple[str, ...]
    seed: int
    quick: bool
    profile: bool
    tmpdir: str | None


def parse_args(argv: Sequence[str] | None = None) -> Settings:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="50,000 entries and 500 proofs per backend (ends within a minute)")
    parser.add_argument("--entries", type=int, help="log size (default 1,000,000; quick 50,000)")
    parser.add_argument("--batch", type=int, default=1000, help="entries per transaction")
    parser.add_argument("--proofs", type=int,
                        help="random (index, size) pairs per measurement "
                             "(default 2,000; quick 500)")
    parser.add_argument("--notary-entries", type=int,
                        help="entries for the Notary.record cross-check (default 100,000; "
                             "quick 5,000)")
    parser.add_argument("--backends", default="sqlite,postgresql",
                        help="comma-separated: sqlite, postgresql (default both)")
    parser.add_argument("--seed", type=int, default=20261123)
    parser.add_argument("--profile", action="store_true",
                        help="also cProfile append, proofs and check_log on SQLite "
                             "(extra run on a scratch database; report on stderr)")
    parser.add_argument("--tmpdir", help="where the temporary databases go (default: system temp)")
    args = parser.parse_args(argv)
    backends = harness.parse_backends(parser, args.backends)
    entries = args.entries or (50_000 if args.quick else 1_000_000)
    if entries < 2 or args.batch < 1:
        parser.error("need --entries >= 2 and --batch >= 1")
    return Settings(
        entries=entries,
        batch=args.batch,
        proofs=args.proofs or (500 if args.quick else 2_000),
        notary_entries=min(entries, args.notary_entries
                           or (5_000 if args.quick else 100_000)),
        backends=backends,
        seed=args.seed,
        quick=args.quick,
        profile=args.profile,
        tmpdir=args.tmpdir,
    )


# -- entries -------------------------------------------------------------------

_EPOCH = datetime(2026, 1, 1, tzinfo=timezone.utc)
_KINDS = ("invoice", "certificate_of_origin", "packing_list", "bill_of_lading")


def make_entry(i: int) -> dict:
    """Entry ``i`` of the benchmark log: a realistic ``document.issued``, deterministic."""
    org = f"org_{(i * 7919) % 4999:06d}"
    return {
        "v": 1,
        "type": "document.issued",
        "at": ledger.utc_timestamp(_EPOCH + timedelta(microseconds=i * 250_013)),
        "actor": f"{org}/token_{i % 3}",
        "org": org,
        "document": f"doc_{i:012d}",
        "kind": _KINDS[i % len(_KINDS)],
        "digest": "sha256:" + hashlib.sha256(b"document body %d" % i).hexdigest(),
    }


def entry_dicts(start: int, stop: int) -> list[dict]:
    return [make_entry(i) for i in range(start, stop)]


# -- results -------------------------------------------------------------------

def key(backend: str, name: str) -> str:
    return name if backend == "sqlite" else f"pg_{name}"





# -- shared data: encoded leaves and their hash rows ---------------------------

class Packed:
    """Many byte strings in one ``bytes`` plus an offset array.

    A list of a million ``bytes`` would make every full garbage collection
    walk a million references, a cost the benchmark would add to the
    figures it measures; one blob and an ``array`` are not tracked by the GC.
    """

    def __init__(self, blob: bytes = b"", offsets: array.array | None = None) -> None:
        self.blob = blob
        self.offsets = offsets if offsets is not None else array.array("Q", [0])

    @classmethod
    def build(cls, chunks) -> "Packed":
        buf, offsets = bytearray(), array.array("Q", [0])
        for chunk in chunks:
            for item in chunk:
                buf += item
                offsets.append(len(buf))
        return cls(bytes(buf), offsets)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, i: int) -> bytes:
        return self.blob[self.offsets[i]:self.offsets[i + 1]]

    def slice(self, start: int, stop: int) -> list[bytes]:
        blob, offsets = self.blob, self.offsets
        stop = min(stop, len(self))
        return [blob[offsets[i]:offsets[i + 1]] for i in range(start, stop)]

    def head(self, n: int) -> "Packed":
        return Packed(self.blob, self.offsets[:n + 1])


@dataclass
class LogData:
    leaves: Packed              # the logged bytes of each entry
    tree_rows: Packed           # what ledger_tree.hashes holds for each leaf
    root: bytes                 # root hash of the whole log
    encode_s: float


class GcClock:
    """Time spent in Python's cyclic garbage collector while measuring."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.full_collections = 0
        self._started: float | None = None

    def _callback(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._started = perf()
        elif self._started is not None:
            self.seconds += perf() - self._started
            self.full_collections += info.get("generation") == 2
            self._started = None

    def __enter__(self) -> "GcClock":
        gc.callbacks.append(self._callback)
        return self

    def __exit__(self, *exc) -> None:
        gc.callbacks.remove(self._callback)


def encode_all(settings: Settings, results: Results) -> LogData:
    n = settings.entries
    timer = {"s": 0.0}

    def encoded_chunks():
        for start in range(0, n, CHUNK):
            dicts = entry_dicts(start, min(n, start + CHUNK))
            t0 = perf()
            chunk = list(map(ledger.encode_entry, dicts))
            timer["s"] += perf() - t0
            yield chunk

    leaves = Packed.build(encoded_chunks())
    encode_s = timer["s"]
    # Split of the encoding cost, on a sample: rfc8785 alone, and the
    # standard library's sorted compact JSON (the same bytes for these
    # ASCII-only entries without floats) as a what-if reference.
    sample = entry_dicts(0, min(n, 20_000))
    t0 = perf()
    for entry in sample:
        rfc8785.dumps(entry)
    rfc_s = perf() - t0
    t0 = perf()
    stdlib = [json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
              for entry in sample]
    stdlib_s = perf() - t0
    assert stdlib == leaves.slice(0, len(sample)), "stdlib JSON differs from RFC 8785 on the sample"

    frontier = Frontier()
    tree_rows = Packed.build(
        [b"".join(frontier.push(leaf_hash(data))) for data in leaves.slice(start, start + CHUNK)]
        for start in range(0, n, CHUNK))
    encode_rate = rate(n, encode_s)
    results.put("encode_per_s", encode_rate)
    results.put("encode_rfc8785_only_per_s", rate(len(sample), rfc_s))
    results.put("encode_stdlib_json_per_s", rate(len(sample), stdlib_s))
    results.put("entry_bytes_avg", round(len(leaves.blob) / n, 1))
    results.row("canonical encoding: ledger.encode_entry (checks + rfc8785)", "cpu",
                encode_rate, "entries/s",
                f"json.dumps sorted {fmt(rate(len(sample), stdlib_s))}/s",
                ratio(encode_rate, rate(len(sample), stdlib_s)))
    results.row(f"  of which rfc8785.dumps alone ({len(sample):,} sample)", "cpu",
                rate(len(sample), rfc_s), "entries/s")
    return LogData(leaves, tree_rows, frontier.root(), encode_s)


# -- the ledger on one backend -------------------------------------------------

def append_log(platform: Platform, data: LogData, batch: int) -> tuple[float, float]:
    """Append every leaf through SqlLog.append, one transaction per batch, each
    with a signed checkpoint; return (append seconds, checkpoint seconds)."""
    signer = platform.notary.signer
    n = len(data.leaves)
    append_s = checkpoint_s = 0.0
    last = None
    for start in range(0, n, batch):
        chunk = data.leaves.slice(start, start + batch)
        t0 = perf()
        with platform.db.write() as session:
            log = SqlLog(session.connection())
            last = log.append(chunk)
            t1 = perf()
            checkpoint = ledger.Checkpoint(signer.name, last.tree_size, last.root_hash)
            log.add_checkpoint(checkpoint, signer.sign(checkpoint.body()),
                               datetime.now(timezone.utc))
            t2 = perf()
        t3 = perf()
        append_s += (t1 - t0) + (t3 - t2)
        checkpoint_s += t2 - t1
        if (start // batch) % 100 == 99:
            done = start + len(chunk)
            log_progress(f"  appended {done:,} ({rate(done, append_s):,}/s)")
    assert last is not None and last.tree_size == n and last.root_hash == data.root, \
        "SqlLog root differs from the independently computed root"
    return append_s, checkpoint_s


def notary_record(platform: Platform, count: int, batch: int) -> float:
    """Seconds for Notary.record of ``count`` entries (dicts built untimed)."""
    total = 0.0
    for start in range(0, count, batch):
        pending = [PendingEntry(body) for body in entry_dicts(start, min(count, start + batch))]
        t0 = perf()
        with platform.db.write() as session:
            platform.notary.record(session, pending)
        total += perf() - t0
    return total


Pair = tuple[int, int]


def proof_pairs(rng: random.Random, n: int, count: int) -> tuple[list[Pair], list[Pair]]:
    """Random (index, size) and (first, second) pairs in a log of ``n`` leaves."""
    inclusion = []
    for _ in range(count):
        size = rng.randint(1, n)
        inclusion.append((rng.randrange(size), size))
    consistency = []
    for _ in range(count):
        second = rng.randint(2, n)
        consistency.append((rng.randint(1, second - 1), second))
    return inclusion, consistency


def our_inclusion(log: SqlLog, pair: Pair):
    """What GET /proofs/inclusion computes: leaf hash, audit path and root, one read."""
    index, size = pair
    _leaf, proof, root = prove.inclusion_evidence(log, index, size)
    return proof, root


def our_consistency(log: SqlLog, pair: Pair):
    """What GET /proofs/consistency computes: proof and both roots, one read."""
    first, second = pair
    return prove.consistency_proof_and_roots(log, first, second)


def time_per_request(db: Database, pairs: Sequence[Pair], fn) -> tuple[list[float], list]:
    """Each call as the API serves it: its own pooled autocommit connection and
    a fresh SqlLog (so the size is read every time): microseconds, answers."""
    times, answers = [], []
    for pair in pairs:
        t0 = perf()
        with db.autocommit() as connection:
            answer = fn(SqlLog(connection), pair)
        times.append((perf() - t0) * 1e6)
        answers.append(answer)
    return times, answers


def time_shared(db: Database, pairs: Sequence[Pair], fn) -> list[float]:
    """All calls on one connection in one read transaction: microseconds."""
    times = []
    with db.read() as session:
        log = SqlLog(session.connection())
        for pair in pairs[:50]:
            fn(log, pair)  # warm the statement cache of this connection
        for pair in pairs:
            t0 = perf()
            fn(log, pair)
            times.append((perf() - t0) * 1e6)
    return times


def time_cold(url: str, pairs: Sequence[Pair], fn) -> float:
    """Median microseconds of a first request on a brand-new engine."""
    times = []
    for pair in pairs[:COLD_REPEATS]:
        db = Database(url)
        try:
            t0 = perf()
            with db.read() as session:
                fn(SqlLog(session.connection()), pair)
            times.append((perf() - t0) * 1e6)
        finally:
            db.dispose()
    return statistics.median(times)


def check_answers(data: LogData, db: Database, inclusion, inc_answers, consistency,
                  con_answers) -> None:
    """Verify every timed proof (untimed) against the roots the proofs came with."""
    for (index, size), (proof, root) in zip(inclusion, inc_answers):
        ledger.verify_inclusion(data.tree_rows[index][:32], index, size, proof, root)
    for (first, second), (proof, first_root, second_root) in zip(consistency, con_answers):
        ledger.verify_consistency(first, second, proof, first_root, second_root)
    with db.read() as session:
        assert prove.tree_root(SqlLog(session.connection()), len(data.leaves)) == data.root


def measure_proofs(backend: str, url: str, db: Database, data: LogData, inclusion, consistency,
                   results: Results, pym: dict | None) -> None:
    n = len(data.leaves)
    inc_times, inc_answers = time_per_request(db, inclusion, our_inclusion)
    con_times, con_answers = time_per_request(db, consistency, our_consistency)
    check_answers(data, db, inclusion, inc_answers, consistency, con_answers)
    figures = {
        "inclusion": (inc_times, time_shared(db, inclusion, our_inclusion),
                      time_cold(url, inclusion[::-1], our_inclusion)),
        "consistency": (con_times, time_shared(db, consistency, our_consistency),
                        time_cold(url, consistency[::-1], our_consistency)),
    }
    for name, (per_request, shared, cold) in figures.items():
        p50, p99 = percentile(per_request, 50), percentile(per_request, 99)
        s50, s99 = percentile(shared, 50), percentile(shared, 99)
        results.put(key(backend, f"{name}_us_p50"), round(p50, 1))
        results.put(key(backend, f"{name}_us_p99"), round(p99, 1))
        results.put(key(backend, f"{name}_shared_us_p50"), round(s50, 1))
        results.put(key(backend, f"{name}_shared_us_p99"), round(s99, 1))
        results.put(key(backend, f"{name}_cold_us"), round(cold, 1))
        what = ("inclusion proof + root" if name == "inclusion"
                else "consistency proof + both roots")
        pm = pym.get(name) if pym else None
        rows = [
            (f"{what}, p50, per request (own connection)", p50, pm and ("warm p50", pm["p50"])),
            (f"{what}, p99, per request (own connection)", p99, pm and ("warm p99", pm["p99"])),
            (f"{what}, p50, shared connection+txn", s50, pm and ("warm p50", pm["p50"])),
            (f"{what}, p99, shared connection+txn", s99, pm and ("warm p99", pm["p99"])),
            (f"{what}, cold (new engine, median of {COLD_REPEATS})", cold,
             pm and ("cold", pm["cold"])),
        ]
        for label, value, against in rows:
            if against:
                results.row(f"{label} @ {n:,}", backend, value, "us",
                            f"pymerkle {against[0]} {fmt(against[1])}", ratio(value, against[1]))
            else:
                results.row(f"{label} @ {n:,}", backend, value, "us")
        if pm:
            results.put(f"{name}_speedup_vs_pymerkle", round(pm["p50"] / p50, 2))


def measure_verification(backend: str, platform: Platform, n: int, results: Results) -> None:
    signer = platform.notary.signer
    verifier = ledger.NoteVerifier(signer.name, signer.public_key)
    with platform.db.read() as session:
        log = SqlLog(session.connection())
        head = log.size
        with GcClock() as verify_gc:
            t0 = perf()
            checkpoints = list(log.iter_checkpoints())
            report = check_log(log.iter_leaves(), checkpoints, verifier, head)
            verify_s = perf() - t0
    assert report.ok, report.problems[:3]
    assert report.size == n and report.checkpoints_checked == len(checkpoints)
    log_progress(f"  check_log: {n:,} entries, {len(checkpoints):,} checkpoints in {verify_s:.1f}s")

    # The same work split in parts: read, hash, decode, signatures.
    read_s = hash_s = decode_s = 0.0
    frontier = Frontier()
    with platform.db.read() as session:
        log = SqlLog(session.connection())
        rows = log.iter_leaves()
        while True:
            t0 = perf()
            chunk = list(islice(rows, CHUNK))
            t1 = perf()
            read_s += t1 - t0
            if not chunk:
                break
            mismatches = 0
            for _, leaf, stored in chunk:
                if b"".join(frontier.push(leaf_hash(leaf))) != stored:
                    mismatches += 1
            t2 = perf()
            for _, leaf, _ in chunk:
                decode_entry(leaf)
            t3 = perf()
            hash_s += t2 - t1
            decode_s += t3 - t2
            assert not mismatches
        t0 = perf()
        for stored in checkpoints:
            open_checkpoint(stored.note, verifier)
        sig_s = perf() - t0
    put = lambda name, value: results.put(key(backend, name), value)  # noqa: E731
    put("verify_per_s", rate(n, verify_s))
    put("verify_s", round(verify_s, 2))
    put("verify_read_per_s", rate(n, read_s))
    put("verify_hash_only_per_s", rate(n, hash_s))
    put("verify_decode_per_s", rate(n, decode_s))
    put("verify_checkpoints_per_s", rate(len(checkpoints), sig_s))
    results.row(f"verify whole log: check_log ({n:,} entries, {len(checkpoints):,} checkpoints)",
                backend, rate(n, verify_s), "entries/s", f"{verify_s:.1f} s total")
    parts = [("read rows (SqlLog.iter_leaves)", read_s),
             ("recompute leaf+node hashes only", hash_s),
             ("decode + re-canonicalize entries only", decode_s)]
    for label, seconds in parts:
        results.row(f"  split: {label}", backend, rate(n, seconds), "entries/s",
                    f"{seconds:.1f} s", f"{seconds / verify_s:.0%} of total")
    results.row("  split: verify checkpoint signatures", backend, rate(len(checkpoints), sig_s),
                "checkpoints/s", f"{sig_s:.2f} s", f"{sig_s / verify_s:.0%} of total")
    results.row("  during check_log: Python's garbage collector", backend,
                100 * verify_gc.seconds / verify_s, "% of time",
                f"{verify_gc.full_collections} full collections")
    put("verify_gc_pct", round(100 * verify_gc.seconds / verify_s, 1))


# -- baselines -----------------------------------------------------------------

def sqlite_connect(path: Path, **kwargs) -> sqlite3.Connection:
    con = sqlite3.connect(path, isolation_level=None, **kwargs)
    for pragma in SQLITE_PRAGMAS:
        con.execute(f"PRAGMA {pragma}")
    return con


def raw_insert_sqlite(path: Path, data: LogData, batch: int) -> float:
    con = sqlite_connect(path)
    try:
        con.execute("CREATE TABLE raw_entries (idx INTEGER PRIMARY KEY, data BLOB NOT NULL)")
        con.execute("CREATE TABLE raw_tree (leaf_index INTEGER PRIMARY KEY, hashes BLOB NOT NULL)")
        n = len(data.leaves)
        total = 0.0
        for start in range(0, n, batch):
            stop = min(n, start + batch)
            leaves, rows = data.leaves.slice(start, stop), data.tree_rows.slice(start, stop)
            t0 = perf()
            con.execute("BEGIN IMMEDIATE")
            cursor = con.cursor()
            insert_rows(cursor, "raw_entries (idx, data)", "?",
                        list(zip(range(start, stop), leaves)))
            insert_rows(cursor, "raw_tree (leaf_index, hashes)", "?",
                        list(zip(range(start, stop), rows)))
            cursor.close()
            con.execute("COMMIT")
            total += perf() - t0
        return total
    finally:
        con.close()


def raw_insert_postgres(conninfo: str, data: LogData, batch: int) -> float:
    import psycopg
    with psycopg.connect(conninfo) as con:
        con.execute("CREATE TABLE raw_entries (idx BIGINT PRIMARY KEY, data BYTEA NOT NULL)")
        con.execute("CREATE TABLE raw_tree (leaf_index BIGINT PRIMARY KEY, hashes BYTEA NOT NULL)")
        con.commit()
        n = len(data.leaves)
        total = 0.0
        with con.cursor() as cur:
            for start in range(0, n, batch):
                stop = min(n, start + batch)
                leaves, rows = data.leaves.slice(start, stop), data.tree_rows.slice(start, stop)
                t0 = perf()
                with con.transaction():
                    insert_rows(cur, "raw_entries (idx, data)", "%s",
                                list(zip(range(start, stop), leaves)))
                    insert_rows(cur, "raw_tree (leaf_index, hashes)", "%s",
                                list(zip(range(start, stop), rows)))
                total += perf() - t0
        return total


def pymerkle_bench(path: Path, data: LogData, batch: int, inclusion, consistency,
                   warmup_inclusion, warmup_consistency, results: Results) -> dict:
    """Same leaves through pymerkle.SqliteTree; returns proof figures for the table."""
    import pymerkle

    def open_tree():
        t0 = perf()
        tree = pymerkle.SqliteTree(str(path))
        for pragma in SQLITE_PRAGMAS:
            tree.con.execute(f"PRAGMA {pragma}")
        return tree, perf() - t0

    def inclusion_call(tree, pair):
        index, size = pair
        return tree.prove_inclusion(index + 1, size), tree.get_root(size)

    def consistency_call(tree, pair):
        first, second = pair
        return (tree.prove_consistency(first, second),
                tree.get_root(first), tree.get_root(second))

    n = len(data.leaves)
    tree, _ = open_tree()
    try:
        append_s = 0.0
        for start in range(0, n, batch):
            chunk = data.leaves.slice(start, start + batch)
            t0 = perf()
            tree.append_entries(chunk)
            append_s += perf() - t0
        assert tree.get_size() == n and tree.get_root(n) == data.root, \
            "pymerkle's root differs from the ledger's"
        log_progress(f"  pymerkle append: {rate(n, append_s):,}/s")

        out = {}
        for name, call, pairs, warm in (("inclusion", inclusion_call, inclusion, warmup_inclusion),
                                        ("consistency", consistency_call, consistency,
                                         warmup_consistency)):
            for pair in warm:
                call(tree, pair)
            times = []
            for pair in pairs:
                t0 = perf()
                call(tree, pair)
                times.append((perf() - t0) * 1e6)
            out[name] = {"p50": percentile(times, 50), "p99": percentile(times, 99)}
        # Spot-check pymerkle's roots against ours (untimed).
        for index, size in inclusion[:20]:
            _, root = inclusion_call(tree, (index, size))
            assert root == prove.tree_root(_MemoryRoots(data), size)
    finally:
        tree.close()

    opens = []
    for name, call, pairs in (("inclusion", inclusion_call, inclusion[::-1]),
                              ("consistency", consistency_call, consistency[::-1])):
        colds = []
        for pair in pairs[:COLD_REPEATS]:
            tree, open_s = open_tree()
            try:
                opens.append(open_s)
                t0 = perf()
                call(tree, pair)
                colds.append((perf() - t0) * 1e6)
            finally:
                tree.close()
        out[name]["cold"] = statistics.median(colds)
    open_ms = statistics.median(opens) * 1e3

    append_rate = rate(n, append_s)
    results.put("pymerkle_version", pymerkle.__version__)
    results.put("pymerkle_append_per_s", append_rate)
    for name in ("inclusion", "consistency"):
        for stat in ("p50", "p99"):
            results.put(f"pymerkle_{name}_us_{stat}", round(out[name][stat], 1))
        results.put(f"pymerkle_{name}_cold_us", round(out[name]["cold"], 1))
    results.put("pymerkle_open_ms", round(open_ms, 1))
    results.put("pymerkle_db_mb", round(file_mb(path), 1))
    out["append_per_s"] = append_rate
    out["open_ms"] = open_ms
    return out


class _MemoryRoots:
    """Roots of prefixes of the log from the precomputed hash rows (for spot checks)."""

    def __init__(self, data: LogData) -> None:
        self.data = data

    @property
    def size(self) -> int:
        return len(self.data.leaves)

    def read_hashes(self, nodes):
        from ledger.treemath import stored_row
        out = []
        for node in nodes:
            row, slot = stored_row(node)
            out.append(self.data.tree_rows[row][slot * 32:(slot + 1) * 32])
        return out


def file_mb(path: Path) -> float:
    total = 0
    for suffix in ("", "-wal"):
        candidate = Path(str(path) + suffix)
        if candidate.exists():
            total += candidate.stat().st_size
    return total / 1e6


# -- one backend, start to end -------------------------------------------------

@dataclass
class BackendSetup:
    name: str
    url: str
    notary_url: str
    raw: Callable[[LogData, int], float]
    label: str
    pymerkle_path: Path | None = None


def run_backend(setup: BackendSetup, settings: Settings, data: LogData, workdir: Path,
                results: Results) -> None:
    backend, n, batch = setup.name, settings.entries, settings.batch
    put = lambda name, value: results.put(key(backend, name), value)  # noqa: E731
    log_progress(f"{backend}: migrating")
    platform = build_platform(Config.for_tests(setup.url, workdir / "ledger-key.pem"))
    try:
        upgrade(platform.db.engine)
        log_progress(f"{backend}: appending {n:,} entries in batches of {batch:,}")
        with GcClock() as append_gc:
            append_s, checkpoint_s = append_log(platform, data, batch)
        append_rate = rate(n, append_s)
        checkpoints = -(-n // batch)

        log_progress(f"{backend}: raw SQL insert baseline")
        raw_s = setup.raw(data, batch)
        raw_rate = rate(n, raw_s)

        rng = random.Random(settings.seed)
        inclusion, consistency = proof_pairs(rng, n, settings.proofs)
        warm_inc, warm_con = proof_pairs(rng, n, settings.proofs)
        pym = None
        if setup.pymerkle_path is not None:
            log_progress(f"{backend}: pymerkle")
            pym = pymerkle_bench(setup.pymerkle_path, data, batch, inclusion, consistency,
                                 warm_inc, warm_con, results)

        put("append_per_s", append_rate)
        put("append_s", round(append_s, 2))
        put("append_gc_pct", round(100 * append_gc.seconds / (append_s + checkpoint_s), 1))
        put("checkpoint_us", round(checkpoint_s / checkpoints * 1e6, 1))
        put("append_signed_per_s", rate(n, append_s + checkpoint_s))
        put("append_with_encoding_per_s", rate(n, data.encode_s + append_s + checkpoint_s))
        put("raw_insert_per_s", raw_rate)
        put("append_vs_raw", round(append_s and raw_s / append_s, 3))
        results.row(f"append pre-encoded: SqlLog.append, {batch:,}/txn, to {n:,}", backend,
                    append_rate, "entries/s", f"raw SQL {fmt(raw_rate)}/s",
                    ratio(append_rate, raw_rate))
        if pym:
            put("append_vs_pymerkle", round(append_rate / pym["append_per_s"], 2))
            results.row("  same, against pymerkle", backend, append_rate, "entries/s",
                        f"pymerkle {fmt(pym['append_per_s'])}/s",
                        ratio(append_rate, pym["append_per_s"]))
        results.row("  of which in Python's garbage collector", backend,
                    100 * append_gc.seconds / (append_s + checkpoint_s), "% of time",
                    f"{append_gc.full_collections} full collections")
        results.row(f"raw SQL insert, same rows, no hashing ({setup.label})", backend,
                    raw_rate, "entries/s")
        if pym:
            results.row("pymerkle SqliteTree.append_entries, same leaves", backend,
                        pym["append_per_s"], "entries/s")
        results.row("checkpoint sign + store, per batch (not in append)", backend,
                    checkpoint_s / checkpoints * 1e6, "us/batch")
        results.row("append + checkpoint (pre-encoded)", backend,
                    rate(n, append_s + checkpoint_s), "entries/s")
        results.row("append + checkpoint + encoding (sum of phases)", backend,
                    rate(n, data.encode_s + append_s + checkpoint_s), "entries/s")

        log_progress(f"{backend}: proofs ({settings.proofs:,} pairs each)")
        measure_proofs(backend, setup.url, platform.db, data, inclusion, consistency, results, pym)
        if pym:
            results.row("pymerkle: opening SqliteTree on the file (counts rows)", backend,
                        pym["open_ms"], "ms")

        log_progress(f"{backend}: verifying the whole log")
        measure_verification(backend, platform, n, results)
        if backend == "sqlite":
            put("db_mb", round(file_mb(Path(platform.db.engine.url.database)), 1))
    finally:
        platform.db.dispose()

    log_progress(f"{backend}: Notary.record cross-check ({settings.notary_entries:,} entries)")
    notary = build_platform(Config.for_tests(setup.notary_url, workdir / "ledger-key.pem"))
    try:
        upgrade(notary.db.engine)
        seconds = notary_record(notary, settings.notary_entries, batch)
    finally:
        notary.db.dispose()
    put("notary_record_per_s", rate(settings.notary_entries, seconds))
    results.row(f"Notary.record end to end (encode+append+sign), {settings.notary_entries:,} "
                "entries, fresh db", backend, rate(settings.notary_entries, seconds), "entries/s")


# -- profiling (optional) ------------------------------------------------------

def profile_sqlite(workdir: Path, data: LogData, batch: int, seed: int) -> None:
    import cProfile
    import io
    import pstats

    n = min(len(data.leaves), 50_000)
    frontier = Frontier()
    for row in data.tree_rows.slice(0, n):
        frontier.push(row[:32])
    sub = LogData(data.leaves.head(n), data.tree_rows.head(n), frontier.root(), 0.0)
    platform = build_platform(Config.for_tests(f"sqlite:///{workdir / 'profile.sqlite3'}",
                                               workdir / "ledger-key.pem"))

    def report(title: str, profiler: cProfile.Profile) -> None:
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out)
        stats.sort_stats("tottime").print_stats(18)
        print(f"\n===== profile: {title} (sorted by own time) =====", file=sys.stderr)
        print(out.getvalue(), file=sys.stderr)

    try:
        upgrade(platform.db.engine)
        profiler = cProfile.Profile()
        profiler.runcall(append_log, platform, sub, batch)
        report(f"append {n:,} pre-encoded entries, {batch}/txn", profiler)
        inclusion, consistency = proof_pairs(random.Random(seed), n, 1000)
        profiler = cProfile.Profile()
        profiler.runcall(time_per_request, platform.db, inclusion, our_inclusion)
        report("1,000 inclusion proofs + roots, own read txn each", profiler)
        signer = platform.notary.signer
        verifier = ledger.NoteVerifier(signer.name, signer.public_key)
        with platform.db.read() as session:
            log = SqlLog(session.connection())
            profiler = cProfile.Profile()
            profiler.runcall(lambda: check_log(log.iter_leaves(), list(log.iter_checkpoints()),
                                               verifier, log.size))
        report(f"check_log over {n:,} entries", profiler)
    finally:
        platform.db.dispose()


# -- output --------------------------------------------------------------------

def add_goals(results: Results, settings: Settings) -> None:
    f = results.figures
    if "append_per_s" not in f:
        return
    scope = f"@ {settings.entries:,}" + ("" if settings.entries >= 1_000_000
                                         else " (goal is stated at 1M)")
    append_ok = f["append_per_s"] >= GOAL_APPEND_PER_S
    proofs_ok = max(f["inclusion_us_p50"], f["consistency_us_p50"]) <= GOAL_PROOF_US
    results.put("goal_append_met", append_ok)
    results.put("goal_proof_p50_met", proofs_ok)
    results.row(f"GOAL append >= {GOAL_APPEND_PER_S:,}/s {scope}", "sqlite",
                f["append_per_s"], "entries/s", "met" if append_ok else "NOT MET",
                ratio(f["append_per_s"], GOAL_APPEND_PER_S))
    results.row(f"GOAL proof p50 <= {GOAL_PROOF_US:.0f} us (inclusion, consistency) {scope}",
                "sqlite", max(f["inclusion_us_p50"], f["consistency_us_p50"]), "us",
                "met" if proofs_ok else "NOT MET",
                ratio(max(f["inclusion_us_p50"], f["consistency_us_p50"]), GOAL_PROOF_US))


# -- main ----------------------------------------------------------------------

def main(argv: Sequence[str] | None = None) -> int:
    settings = parse_args(argv)
    if "sqlite" in settings.backends:
        try:
            import pymerkle  # noqa: F401
        except ImportError:
            print("pymerkle is missing: .venv/bin/pip install -e '.[test]' (or pip install "
                  "pymerkle)", file=sys.stderr)
            return 2
    harness.stop_on_sigterm()
    started = perf()
    results = Results()
    results.put("entries", settings.entries)
    results.put("batch", settings.batch)
    results.put("proofs", settings.proofs)
    results.put("quick", settings.quick)
    results.put("backends", list(settings.backends))
    results.put("loadavg_start", round(os.getloadavg()[0], 2))
    log_progress(f"ledger bench: {settings.entries:,} entries, batch {settings.batch:,}, "
                 f"backends {', '.join(settings.backends)}")
    with ExitStack() as stack:
        workdir = stack.enter_context(harness.temporary_dir("tz-ledger-bench-", settings.tmpdir))
        log_progress(f"encoding {settings.entries:,} entries")
        data = encode_all(settings, results)
        gc.collect()
        for backend in settings.backends:
            if backend == "sqlite":
                setup = BackendSetup(
                    "sqlite", f"sqlite:///{workdir / 'ledger.sqlite3'}",
                    f"sqlite:///{workdir / 'notary.sqlite3'}",
                    lambda d, b: raw_insert_sqlite(workdir / "raw.sqlite3", d, b),
                    "sqlite3 multi-row INSERT", workdir / "pymerkle.sqlite3")
                results.put("sqlite_version", sqlite3.sqlite_version)
            else:
                from tests.services.postgres import PostgresCluster
                log_progress("postgresql: starting a throwaway cluster on 127.0.0.1")
                pg = stack.enter_context(PostgresCluster(durable=True))
                for name in ("ledger_bench", "notary_bench", "raw_bench"):
                    pg.create_database(name)
                setup = BackendSetup(
                    "postgresql", pg.url("ledger_bench"), pg.url("notary_bench"),
                    lambda d, b, pg=pg: raw_insert_postgres(pg.conninfo("raw_bench"), d, b),
                    "psycopg COPY, as insert_rows sends them")
                results.put("pg_version", _pg_version(pg.conninfo()))
            run_backend(setup, settings, data, workdir, results)
        if settings.profile and "sqlite" in settings.backends:
            profile_sqlite(workdir, data, settings.batch, settings.seed)
    add_goals(results, settings)
    results.put("python", pyplatform.python_version())
    results.put("rfc8785_version", getattr(rfc8785, "__version__", "?"))
    results.put("cpus", os.cpu_count())
    results.put("loadavg_end", round(os.getloadavg()[0], 2))
    results.put("elapsed_s", round(perf() - started, 1))
    print(f"\nLedger benchmark: {settings.entries:,} entries per backend, batches of "
          f"{settings.batch:,}, {settings.proofs:,} random proofs per measurement, "
          f"{os.cpu_count()} CPUs, Python {pyplatform.python_version()}")
    print("ratio = figure / baseline: for rates >1x is faster than the baseline, "
          "for latencies <1x is faster.")
    print(f"1-minute load average: {results.figures['loadavg_start']} at start, "
          f"{results.figures['loadavg_end']} at end (other work on the machine skews figures)\n")
    print_rows(results.rows)
    report.print_json_line(results.figures)
    return 0


def _pg_version(conninfo: str) -> str:
    import psycopg
    with psycopg.connect(conninfo) as con:
        return con.execute("SHOW server_version").fetchone()[0]


if __name__ == "__main__":
    harness.run(main)
