#!/usr/bin/env python3
"""Audit benchmark: building and verifying an audit bundle of a million
entries, and search latency over a million-entry log, on SQLite and
PostgreSQL, against the raw SHA-256 rate over the same bytes.

    .venv/bin/python bench/audit_bench.py              # 1,000,000 entries, both backends
    .venv/bin/python bench/audit_bench.py --quick      # 100,000 entries, SQLite, under a minute
    .venv/bin/python bench/audit_bench.py --backends sqlite --entries 200000 --profile

What each figure includes:

- ``build_log_s``: making the log (not an audit figure): leaf bytes through
  ``SqlLog.append`` in batches of ``--batch``, with their ``entry_refs`` and
  ``entry_meta`` rows, one transaction per batch, one checkpoint at the end.
  Every entry names the organisation ``org_zone``, so its bundle holds them all.
- ``bundle_build_entries_per_s``: ``app.audit.bundles.stream_bundle`` for
  ``org=org_zone`` (what GET /api/v1/audit/bundles streams) written to a file:
  the subject's index walk, the entry reads, every inclusion proof (batched
  hash reads), the JSON lines. HTTP transfer is not included.
- ``bundle_verify_entries_per_s``: ``ledger.audit.verify_bundle_file`` on that
  file, what ``tradezone audit verify`` runs: the checkpoint signature, every
  leaf hash, every inclusion proof, every entry's canonical form.
- ``raw_sha256_per_s``: ``hashlib.sha256(0x00 || leaf)`` over the same leaf
  bytes, nothing else: the floor of any verifier. ``raw_sha256_file_mb_s``:
  SHA-256 over the bundle file's bytes, as one stream.
- ``evidence_*``: a device's bundle of ``--evidence`` events, each with its
  ES256 JWS, built and verified the same way (the JWS checks dominate).
- ``search_ms_*``: GET /api/v1/audit/entries through the Flask test client
  (token check, query, JSON; no network) for a mix of filters, each with
  random values; the query plans are printed and checked to use indexes.

The last line printed is one JSON object of all figures (SQLite keys bare,
PostgreSQL keys prefixed ``pg_``). Every process started is stopped and every
temp file removed, also on Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform as pyplatform
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import rfc8785  # noqa: E402
from sqlalchemy import insert  # noqa: E402

import ledger  # noqa: E402
from ledger.audit import verify_bundle_file  # noqa: E402
from ledger.jws import generate_private_key, public_key_of, sign_compact  # noqa: E402
from ledger.sqlstore import SqlLog  # noqa: E402

from app import create_app  # noqa: E402
from app.audit import bundles  # noqa: E402
from app.audit.search import Filters, choose_driver, explain, matching_indexes  # noqa: E402
from app.config import Config  # noqa: E402
from app.devices.models import Device, DeviceEvent, DeviceStatus  # noqa: E402
from app.identity.models import Role  # noqa: E402
from app.identity.services import create_organization  # noqa: E402
from app.migrate import upgrade  # noqa: E402
from app.notary.models import EntryMeta, EntryRef  # noqa: E402
import harness  # noqa: E402
import report  # noqa: E402
from report import fmt, log_progress, percentile, print_rows, rate, ratio  # noqa: E402
from app.notary.service import PendingEntry, make_entry as app_entry  # noqa: E402
from app.platform import Platform, build_platform  # noqa: E402

perf = time.perf_counter
EPOCH = datetime(2026, 1, 1, tzinfo=timezone.utc)
SPACING = timedelta(milliseconds=250)  # entry i is logged at EPOCH + i * SPACING
TYPES = ("document.issued", "document.accessed", "document.accessed", "consent.granted",
         "device.event", "document.issued", "device.event", "document.signed")
ORGS, DEVICES = 997, 50


# -- settings ------------------------------------------------------------------

@dataclass(frozen=True)
class Settings:
    entries: int
    batch: int
    searches: int
    evidence: int
    backends: tuple[str, ...]
    seed: int
    quick: bool
    profile: bool
    tmpdir: str | None


def parse_args(argv: Sequence[str] | None = None) -> Settings:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="100,000 entries on SQLite only (ends within a minute)")
    parser.add_argument("--entries", type=int, help="log size (default 1,000,000; quick 100,000)")
    parser.add_argument("--batch", type=int, default=20_000, help="entries per transaction")
    parser.add_argument("--searches", type=int,
                        help="searches per kind of query (default 100; quick 30)")
    parser.add_argument("--evidence", type=int,
                        help="device events with a JWS in the evidence bundle "
                             "(default 2,000; quick 300)")
    parser.add_argument("--backends", help="comma-separated: sqlite, postgresql "
                                           "(default both; quick sqlite)")
    parser.add_argument("--seed", type=int, default=20261123)
    parser.add_argument("--profile", action="store_true",
                        help="cProfile the bundle verification (report on stderr)")
    parser.add_argument("--tmpdir", help="where the temporary databases and bundles go")
    args = parser.parse_args(argv)
    backends = harness.parse_backends(
        parser, args.backends or ("sqlite" if args.quick else "sqlite,postgresql"))
    entries = args.entries or (100_000 if args.quick else 1_000_000)
    if entries < 1000 or args.batch < 1:
        parser.error("need --entries >= 1000 and --batch >= 1")
    return Settings(entries, args.batch, args.searches or (30 if args.quick else 100),
                    args.evidence or (300 if args.quick else 2_000), backends, args.seed,
                    args.quick, args.profile, args.tmpdir)


# -- results -------------------------------------------------------------------

@dataclass
class Results(report.Results):
    plans: list[str] = field(default_factory=list)  # the EXPLAINed query plans





# -- the log -------------------------------------------------------------------

def entry(i: int) -> tuple[dict, list[tuple[str, str]]]:
    """Entry ``i`` of the benchmark log and the subjects it names, deterministic."""
    kind = TYPES[i % len(TYPES)]
    org = f"org_{(i * 7919) % ORGS:04d}"
    body = {"v": 1, "type": kind, "at": ledger.utc_timestamp(EPOCH + i * SPACING),
            "actor": org}
    refs = [("org", "org_zone"), ("org", org)]
    if kind == "device.event":
        device, shipment = f"dev_{i % DEVICES:02d}", f"SHP-{i // 400:05d}"
        body.update(device=device, seq=i, event_type="customs.scan", shipment=shipment,
                    jws_sha256="sha256:" + hashlib.sha256(b"jws %d" % i).hexdigest())
        refs += [("device", device), ("shipment", shipment)]
    else:
        document = f"doc_{i // 16:07d}"
        body.update(document=document, version=1,
                    digest="sha256:" + hashlib.sha256(b"document %d" % i).hexdigest())
        refs.append(("document", document))
        if kind in ("consent.granted", "document.accessed"):
            body["consent"] = f"con_{i // 64:06d}"
            refs.append(("consent", body["consent"]))
    return body, refs


def encode(body: dict) -> bytes:
    """The entry's RFC 8785 bytes: for these ASCII, integer-only entries, sorted
    compact ``json.dumps`` is byte-identical (checked on a sample) and 5x faster."""
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def build_log(platform: Platform, n: int, batch: int) -> float:
    """Append ``n`` generated entries with their side rows; the seconds it took."""
    for i in range(0, n, max(1, n // 50)):
        assert encode(entry(i)[0]) == rfc8785.dumps(entry(i)[0])
    started = perf()
    for first in range(0, n, batch):
        last = min(n, first + batch)
        bodies = [entry(i) for i in range(first, last)]
        with platform.db.write() as session:
            result = SqlLog(session.connection()).append([encode(b) for b, _ in bodies])
            base = result.first_index
            session.execute(insert(EntryRef.__table__), [
                {"kind": kind, "ref": ref, "entry_idx": base + offset}
                for offset, (_, refs) in enumerate(bodies) for kind, ref in refs])
            session.execute(insert(EntryMeta.__table__), [
                {"entry_idx": base + offset, "entry_type": body["type"],
                 "at": EPOCH + (first + offset) * SPACING}
                for offset, (body, _) in enumerate(bodies)])
        if first // batch % 10 == 9:
            log_progress(f"  {last:,} entries")
    with platform.db.write() as session:
        platform.notary.ensure_checkpoint(session)
    return perf() - started


def add_evidence_device(platform: Platform, customs_org: str, events: int) -> str:
    """A registered ES256 device with ``events`` notarized events, each with its JWS."""
    key = generate_private_key("ES256")
    public = public_key_of(key, "ES256")
    device_id, now = "gate-evidence", platform.now()
    with platform.db.write() as session:
        session.add(Device(id=device_id, owner_org_id=customs_org, alg="ES256",
                           public_jwk=public.to_jwk(), kind="scanner",
                           status=DeviceStatus.ACTIVE, registration_entry_idx=-1,
                           registered_at=now))
        session.flush()
        [registered] = platform.notary.record(session, [PendingEntry(app_entry(
            "device.registered", customs_org, now, device=device_id, owner=customs_org,
            alg="ES256", kind="scanner", thumbprint=public.thumbprint()),
            (("device", device_id), ("org", customs_org)))])
        session.get(Device, device_id).registration_entry_idx = registered.index
    for first in range(1, events + 1, 1000):
        pending, rows = [], []
        for seq in range(first, min(events, first + 999) + 1):
            payload = {"device_id": device_id, "seq": seq, "ts": "2026-11-23T09:00:00Z",
                       "type": "customs.scan", "data": {"container": "MSCU1234565"}}
            jws = sign_compact(json.dumps(payload).encode(), key, "ES256", kid=device_id)
            digest = hashlib.sha256(jws.encode()).digest()
            pending.append(PendingEntry(app_entry(
                "device.event", f"device:{device_id}", now, device=device_id, seq=seq,
                event_type="customs.scan", device_ts="2026-11-23T09:00:00Z",
                jws_sha256="sha256:" + digest.hex()),
                (("device", device_id), ("org", customs_org))))
            rows.append((seq, jws, digest))
        with platform.db.write() as session:
            notarized = platform.notary.record(session, pending)
            session.add_all([DeviceEvent(entry_idx=item.index, device_id=device_id, seq=seq,
                                         event_type="customs.scan", shipment=None,
                                         device_ts="2026-11-23T09:00:00Z", jws=jws,
                                         jws_sha256=digest, received_at=now)
                             for item, (seq, jws, digest) in zip(notarized, rows)])
    return device_id


# -- bundles -------------------------------------------------------------------

def build_bundle(platform: Platform, subject: bundles.Subject, path: Path) -> float:
    started = perf()
    with open(path, "w") as out:
        for text in bundles.stream_bundle(platform.db, platform.notary.signer.verifier_key,
                                          subject):
            out.write(text)
    return perf() - started


def verify_file(path: Path, key: str, expected: int, profile: bool = False) -> float:
    started = perf()
    if profile:
        import cProfile
        import io
        import pstats

        profiler = cProfile.Profile()
        result = profiler.runcall(verify_bundle_file, path, key)
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(15)
        print(f"\n===== profile: verify_bundle_file {path.name} =====\n{out.getvalue()}",
              file=sys.stderr)
    else:
        result = verify_bundle_file(path, key)
    seconds = perf() - started
    if not result.ok or result.report.verified != expected:
        raise SystemExit(f"bundle {path} did not verify: {result.lines[-3:]}")
    return seconds


def leaf_bytes(path: Path) -> list[bytes]:
    """The leaf bytes of a streamed bundle (untimed), for the raw hashing baseline."""
    import base64
    with open(path, "rb") as handle:
        handle.readline()
        return [base64.b64decode(json.loads(line.rstrip(b",\n"))["leaf_data"])
                for line in handle if line.startswith(b"{")]


def raw_sha256(leaves: list[bytes]) -> float:
    sha256 = hashlib.sha256
    started = perf()
    for data in leaves:
        sha256(b"\x00" + data).digest()
    return perf() - started


def raw_sha256_file(path: Path) -> float:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        started = perf()
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return perf() - started


def measure_bundles(backend: str, platform: Platform, settings: Settings, workdir: Path,
                    device_id: str, results: Results) -> None:
    put = lambda name, value: results.put(key(backend, name), value)  # noqa: E731
    n = settings.entries
    vkey = platform.notary.signer.verifier_key
    path = workdir / f"bundle-{backend}.json"
    log_progress(f"{backend}: building the bundle of org_zone ({n:,} entries)")
    build_s = build_bundle(platform, bundles.Subject("org", "org_zone"), path)
    size_mb = path.stat().st_size / 1e6
    log_progress(f"{backend}: verifying it ({size_mb:,.0f} MB)")
    verify_s = verify_file(path, vkey, n, settings.profile and backend == "sqlite")
    leaves = leaf_bytes(path)
    sha_s = raw_sha256(leaves)
    file_s = raw_sha256_file(path)
    del leaves
    path.unlink()
    build_rate, verify_rate, sha_rate = rate(n, build_s), rate(n, verify_s), rate(n, sha_s)
    put("bundle_entries", n)
    put("bundle_mb", round(size_mb, 1))
    put("bundle_build_s", round(build_s, 2))
    put("bundle_build_entries_per_s", build_rate)
    put("bundle_verify_s", round(verify_s, 2))
    put("bundle_verify_entries_per_s", verify_rate)
    put("bundle_verify_mb_s", round(size_mb / verify_s, 1))
    put("raw_sha256_per_s", sha_rate)
    put("raw_sha256_file_mb_s", round(size_mb / file_s, 1))
    put("bundle_verify_vs_raw_sha256", round(verify_rate / sha_rate, 4))
    results.row(f"build bundle, {n:,} entries ({size_mb:,.0f} MB), to a file", backend,
                build_rate, "entries/s", f"{build_s:.1f} s")
    results.row(f"verify bundle, {n:,} entries (tradezone audit verify)", backend,
                verify_rate, "entries/s", f"raw SHA-256 {fmt(sha_rate)}/s",
                ratio(verify_rate, sha_rate))
    results.row("  the same in bytes", backend, size_mb / verify_s, "MB/s",
                f"SHA-256 of file {fmt(size_mb / file_s)} MB/s",
                ratio(size_mb / verify_s, size_mb / file_s))
    results.row(f"  verify time for {n:,} entries", backend, verify_s, "s")
    results.row("raw SHA-256(0x00 || leaf), same leaves", backend, sha_rate, "entries/s")

    events = settings.evidence
    path = workdir / f"evidence-{backend}.json"
    build_s = build_bundle(platform, bundles.Subject("device", device_id), path)
    verify_s = verify_file(path, vkey, events + 1)
    path.unlink()
    put("evidence_events", events)
    put("evidence_build_per_s", rate(events, build_s))
    put("evidence_verify_per_s", rate(events, verify_s))
    results.row(f"device bundle, {events:,} ES256 JWS events: build", backend,
                rate(events, build_s), "events/s")
    results.row("  verify (JWS + key binding + proofs)", backend, rate(events, verify_s),
                "events/s", f"plain entries {fmt(verify_rate)}/s", ratio(rate(
                    events, verify_s), verify_rate))


# -- search --------------------------------------------------------------------

def search_queries(rng: random.Random, n: int) -> dict[str, Callable[[], dict]]:
    """Kinds of search, each a function drawing random values for its filters."""
    def period(minutes: int) -> dict:
        start = EPOCH + rng.randrange(n) * SPACING
        return {"from": start.isoformat(), "to": (start + timedelta(minutes=minutes)).isoformat()}

    return {
        "document": lambda: {"document": f"doc_{rng.randrange(n // 16):07d}"},
        "device": lambda: {"device": f"dev_{rng.randrange(DEVICES):02d}"},
        "shipment": lambda: {"shipment": f"SHP-{rng.randrange(n // 400):05d}"},
        "org + type": lambda: {"org": f"org_{rng.randrange(ORGS):04d}",
                               "type": "document.signed"},
        "common org + document": lambda: {"org": "org_zone",
                                          "document": f"doc_{rng.randrange(n // 16):07d}"},
        "type, page from a random index": lambda: {"type": "consent.granted",
                                                   "after": rng.randrange(n)},
        "5-minute period": lambda: period(5),
        "device in a day": lambda: {"device": f"dev_{rng.randrange(DEVICES):02d}",
                                    **period(24 * 60)},
        "period from a time on": lambda: {"from": (EPOCH + rng.randrange(n) * SPACING)
                                          .isoformat()},
    }


def measure_search(backend: str, platform: Platform, settings: Settings, token: str,
                   results: Results) -> None:
    put = lambda name, value: results.put(key(backend, name), value)  # noqa: E731
    client = create_app(platform=platform).test_client()
    headers = {"Authorization": f"Bearer {token}"}
    rng = random.Random(settings.seed)
    everything = []
    for name, draw in search_queries(rng, settings.entries).items():
        times = []
        for attempt in range(settings.searches + 3):
            query = draw()
            started = perf()
            response = client.get("/api/v1/audit/entries", headers=headers, query_string=query)
            elapsed = (perf() - started) * 1000
            if response.status_code != 200:
                raise SystemExit(f"search {query} answered {response.status_code}: "
                                 f"{response.get_data(as_text=True)[:300]}")
            if attempt >= 3:  # the first few warm the caches
                times.append(elapsed)
        everything += times
        plan = query_plan(platform, query)
        results.plans.append(f"{backend:10} {name:32} {plan}")
        results.row(f"search: {name}", backend, statistics.median(times), "ms p50",
                    f"p99 {fmt(percentile(times, 99))} ms")
    put("search_ms_p50", round(statistics.median(everything), 2))
    put("search_ms_p99", round(percentile(everything, 99), 2))
    results.row(f"search, all {len(everything):,} queries at {settings.entries:,} entries",
                backend, statistics.median(everything), "ms p50",
                f"p99 {fmt(percentile(everything, 99))} ms")


def query_plan(platform: Platform, query: dict) -> str:
    """The first lines of the plan of the search ``query`` ran, checked for full scans."""
    from app.audit.schemas import SearchQuerySchema

    loaded = SearchQuerySchema().load({k: str(v) for k, v in query.items()})
    refs = tuple((kind, loaded[kind]) for kind in ("org", "document", "consent", "device",
                                                    "shipment") if kind in loaded)
    filters = Filters(refs, loaded.get("entry_type"), loaded.get("since"), loaded.get("until"))
    after = loaded.get("after", -1)
    with platform.db.read() as session:
        driver = choose_driver(session, filters, after)
        plan = explain(session, matching_indexes(filters, driver, after, 101))
    scans = [line for line in plan.split("\n") if line.startswith("SCAN") or "Seq Scan" in line]
    if scans or "ledger_entries" in plan:
        raise SystemExit(f"search plan scans a table: {plan}")
    return f"[{driver.kind}] " + " | ".join(
        line.strip() for line in plan.split("\n")
        if "Scan" in line or line.startswith("SEARCH"))[:150]


# -- one backend ---------------------------------------------------------------

def key(backend: str, name: str) -> str:
    return name if backend == "sqlite" else f"pg_{name}"


def run_backend(backend: str, url: str, settings: Settings, workdir: Path,
                results: Results) -> None:
    put = lambda name, value: results.put(key(backend, name), value)  # noqa: E731
    log_progress(f"{backend}: migrating")
    platform = build_platform(Config.for_tests(url, workdir / "ledger-key.pem"))
    try:
        upgrade(platform.db.engine)
        with platform.db.write() as session:
            customs, _ = create_organization(session, platform.notary, "Customs",
                                             Role.CUSTOMS, platform.now())
            _, regulator = create_organization(session, platform.notary, "Regulator",
                                               Role.REGULATOR, platform.now())
        log_progress(f"{backend}: building a log of {settings.entries:,} entries")
        build_s = build_log(platform, settings.entries, settings.batch)
        put("build_log_s", round(build_s, 1))
        results.row(f"make the log: SqlLog.append + side rows, {settings.batch:,}/txn",
                    backend, rate(settings.entries, build_s), "entries/s", f"{build_s:.0f} s")
        log_progress(f"{backend}: {settings.evidence:,} device events with a JWS")
        device_id = add_evidence_device(platform, customs.id, settings.evidence)
        with platform.db.engine.connect() as connection:
            connection.exec_driver_sql("ANALYZE")
            connection.commit()
        log_progress(f"{backend}: searching")
        measure_search(backend, platform, settings, regulator.text, results)
        measure_bundles(backend, platform, settings, workdir, device_id, results)
    finally:
        platform.db.dispose()


# -- output and main -------------------------------------------------------------

def main(argv: Sequence[str] | None = None) -> int:
    settings = parse_args(argv)
    harness.stop_on_sigterm()
    started = perf()
    results = Results()
    for name, value in (("entries", settings.entries), ("batch", settings.batch),
                        ("searches", settings.searches), ("quick", settings.quick),
                        ("backends", list(settings.backends)),
                        ("loadavg_start", round(os.getloadavg()[0], 2))):
        results.put(name, value)
    log_progress(f"audit bench: {settings.entries:,} entries, backends "
                 f"{', '.join(settings.backends)}")
    with ExitStack() as stack:
        workdir = stack.enter_context(harness.temporary_dir("tz-audit-bench-", settings.tmpdir))
        for backend in settings.backends:
            if backend == "sqlite":
                url = f"sqlite:///{workdir / 'audit.sqlite3'}"
            else:
                from tests.services.postgres import PostgresCluster
                log_progress("postgresql: starting a throwaway cluster on 127.0.0.1")
                pg = stack.enter_context(PostgresCluster(durable=True))
                pg.create_database("audit_bench")
                url = pg.url("audit_bench")
            run_backend(backend, url, settings, workdir, results)
            if backend == "sqlite":
                Path(workdir / "audit.sqlite3").unlink(missing_ok=True)
    results.put("python", pyplatform.python_version())
    results.put("cpus", os.cpu_count())
    results.put("loadavg_end", round(os.getloadavg()[0], 2))
    results.put("elapsed_s", round(perf() - started, 1))
    print(f"\nAudit benchmark: {settings.entries:,} entries per backend, "
          f"{settings.searches} searches per kind, {os.cpu_count()} CPUs, "
          f"Python {pyplatform.python_version()}")
    print("ratio = figure / baseline. 1-minute load average: "
          f"{results.figures['loadavg_start']} at start, {results.figures['loadavg_end']} at end "
          "(other work on the machine skews figures)\n")
    print_rows(results.rows)
    print("\nsearch plans (driver, then the database's plan):")
    for line in results.plans:
        print("  " + line)
    report.print_json_line(results.figures)
    return 0


if __name__ == "__main__":
    harness.run(main)
