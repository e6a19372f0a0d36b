#!/usr/bin/env python3
"""Insert benchmark: the driver's ``executemany`` against
``ledger.sqlstore.insert_rows`` (which the ledger's appends and
``app.bulkinsert`` use: one multi-row ``INSERT ... VALUES``, or on
PostgreSQL for more than 50 values a ``COPY``), on SQLite and PostgreSQL.

    .venv/bin/python bench/insert_bench.py                 # both backends, ~1 minute
    .venv/bin/python bench/insert_bench.py --backends sqlite --quick

Narrow rows of (bigint, 40-character text, 32 random bytes), as a ledger
entry or a reference row, in batches of 1, 3, 50 and 500 rows: the sizes of
an API write and of a gateway batch; and wide rows shaped like the gateway's
``device_events`` (9 values, a 700-character JWS, 3 indexes) in batches of 50
and 500. Each batch is repeated for a second (--quick: 0.2 s); each figure is
the client process's CPU (user + system) and the wall time per batch, inside
one transaction committed at the end, and on PostgreSQL the CPU of the
server backend serving the connection (from /proc). The baseline is the
driver's ``executemany`` of the same rows, and ratio = insert_rows /
executemany (below 1x: insert_rows costs less).
PostgreSQL runs as a throwaway cluster on 127.0.0.1 (tests/services/postgres.py).
The last line printed is one JSON object of the figures.
"""

from __future__ import annotations

import argparse
import functools
import os
import sqlite3
import sys
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack, closing
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness  # noqa: E402
import report  # noqa: E402
from report import Results, fmt, log_progress, print_rows, ratio  # noqa: E402

from ledger.sqlstore import insert_rows  # noqa: E402

BATCHES = (1, 3, 50, 500)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", default="sqlite,postgresql",
                        help="sqlite and/or postgresql (default both)")
    parser.add_argument("--quick", action="store_true", help="a tenth of the rows (seconds)")
    parser.add_argument("--tmpdir", help="where the SQLite file goes")
    args = parser.parse_args(argv)
    args.backends = harness.parse_backends(parser, args.backends)
    return args


def measure(connection, mark: str, rows: list[tuple], seconds: float,
            how: Callable, server_pid: int | None) -> tuple[float, float, float]:
    """(client CPU us, wall us, server CPU us) per batch of ``rows`` inserted
    ``how``, batches repeated for ``seconds`` in one transaction; server CPU:
    of the ``server_pid`` process (the PostgreSQL backend serving
    ``connection``; /proc counts in 10 ms ticks, hence the fixed duration),
    0 without one."""
    def server_cpu() -> float:
        return harness.process_cpu_seconds(server_pid) if server_pid else 0.0

    with closing(connection.cursor()) as cursor:
        for _ in range(3):  # warm the statement caches
            how(cursor, mark, rows=rows)
        connection.rollback()
        cpu, wall, server = time.process_time(), time.perf_counter(), server_cpu()
        batches = 0
        while batches < 20 or time.perf_counter() - wall < seconds:
            how(cursor, mark, rows=rows)
            batches += 1
        connection.commit()
        return ((time.process_time() - cpu) / batches * 1e6,
                (time.perf_counter() - wall) / batches * 1e6,
                (server_cpu() - server) / batches * 1e6)


@dataclass(frozen=True)
class Shape:
    """A kind of row: its table (``{blob}``/``{ts}``: the backend's types) and rows."""

    name: str
    table: str
    columns: tuple[str, ...]
    indexes: tuple[str, ...]
    batches: tuple[int, ...]
    make_rows: Callable[[int, str], list[tuple]]  # (size, backend)

    @property
    def into(self) -> str:
        return f"{self.table} ({', '.join(self.columns)})"


NARROW = Shape("narrow", "bench_rows", ("a", "b", "c"), (), BATCHES,
               lambda size, backend: [(i, "x" * 40, os.urandom(32)) for i in range(size)])
# A device_events row of a gateway batch: 9 values, a 700-character JWS,
# three indexes (no unique ones: the same batch goes in again and again).
WIDE = Shape("wide", "bench_events",
             ("entry_idx", "device_id", "seq", "event_type", "shipment", "device_ts", "jws",
              "jws_sha256", "received_at"),
             ("entry_idx", "device_id, entry_idx", "shipment, entry_idx"), (50, 500),
             lambda size, backend: [
                 (i, f"bench-{i % 20:03d}", i, "customs.scan", f"SHP-{i % 97:04d}",
                  "2026-11-23T09:00:00Z", "e" * 700, os.urandom(32),
                  # As the app binds it: text on SQLite (SQLAlchemy's
                  # processor), a datetime on PostgreSQL.
                  RECEIVED_AT.isoformat(" ") if backend == "sqlite" else RECEIVED_AT)
                 for i in range(size)])
SHAPES = (NARROW, WIDE)
RECEIVED_AT = datetime(2026, 11, 23, 9, 0, tzinfo=timezone.utc)

_TYPES = {  # column -> (SQLite, PostgreSQL) type
    "a": ("INTEGER", "BIGINT"), "b": ("TEXT", "TEXT"), "c": ("BLOB", "BYTEA"),
    "entry_idx": ("INTEGER", "BIGINT"), "device_id": ("TEXT", "TEXT"),
    "seq": ("INTEGER", "BIGINT"), "event_type": ("TEXT", "TEXT"),
    "shipment": ("TEXT", "TEXT"), "device_ts": ("TEXT", "TEXT"), "jws": ("TEXT", "TEXT"),
    "jws_sha256": ("BLOB", "BYTEA"), "received_at": ("TEXT", "TIMESTAMPTZ"),
}


def create_table(connection, backend: str, shape: Shape) -> None:
    column = 0 if backend == "sqlite" else 1
    connection.execute(f"CREATE TABLE {shape.table} "
                       f"({', '.join(f'{c} {_TYPES[c][column]}' for c in shape.columns)})")
    for number, columns in enumerate(shape.indexes):
        connection.execute(f"CREATE INDEX {shape.table}_{number} ON {shape.table} ({columns})")
    connection.commit()


def empty(connection, shape: Shape) -> None:
    connection.execute(f"DELETE FROM {shape.table}")
    connection.commit()


def by_executemany(cursor, mark: str, shape: Shape, rows: list[tuple]) -> None:
    cursor.executemany(f"INSERT INTO {shape.into} VALUES "
                       f"({', '.join([mark] * len(shape.columns))})", rows)


def by_insert_rows(cursor, mark: str, shape: Shape, rows: list[tuple]) -> None:
    insert_rows(cursor, shape.into, mark, rows)


def run_backend(backend: str, connection, mark: str, quick: bool, results: Results,
                server_pid: int | None = None) -> None:
    for shape in SHAPES:
        create_table(connection, backend, shape)
        for size in shape.batches:
            measure_batch(backend, connection, mark, quick, results, server_pid, shape, size)


def measure_batch(backend: str, connection, mark: str, quick: bool, results: Results,
                  server_pid: int | None, shape: Shape, size: int) -> None:
    rows = shape.make_rows(size, backend)
    seconds = 0.2 if quick else 1.0
    empty(connection, shape)
    base_cpu, base_wall, base_server = measure(
        connection, mark, rows, seconds, functools.partial(by_executemany, shape=shape),
        server_pid)
    empty(connection, shape)  # both start from the same (empty) table and indexes
    cpu, wall, server = measure(connection, mark, rows, seconds,
                                functools.partial(by_insert_rows, shape=shape), server_pid)
    name = f"{size} {shape.name} row{'s' if size > 1 else ''} per batch"
    key = f"{backend}_{size}" if shape is NARROW else f"{backend}_{shape.name}_{size}"
    results.row(f"{name}: insert_rows, CPU", backend, round(cpu, 1), "us/batch",
                f"executemany {fmt(round(base_cpu, 1))}", ratio(cpu, base_cpu))
    results.row(f"{name}: insert_rows, wall", backend, round(wall, 1), "us/batch",
                f"executemany {fmt(round(base_wall, 1))}", ratio(wall, base_wall))
    if server_pid:
        results.row(f"{name}: insert_rows, server CPU", backend, round(server, 1),
                    "us/batch", f"executemany {fmt(round(base_server, 1))}",
                    ratio(server, base_server))
        results.put(f"{key}_server_cpu_us", round(server, 1))
        results.put(f"{key}_executemany_server_cpu_us", round(base_server, 1))
    results.put(f"{key}_cpu_us", round(cpu, 1))
    results.put(f"{key}_executemany_cpu_us", round(base_cpu, 1))
    results.put(f"{key}_cpu_ratio", round(cpu / base_cpu, 3))
    log_progress(f"{backend}, {size} {shape.name} rows: {cpu:.0f} vs {base_cpu:.0f} us CPU")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    harness.stop_on_sigterm()
    results = Results()
    with ExitStack() as stack:
        workdir = stack.enter_context(harness.temporary_dir("tz-insert-bench-", args.tmpdir))
        for backend in args.backends:
            if backend == "sqlite":
                connection = sqlite3.connect(workdir / "insert.sqlite3")
                connection.execute("PRAGMA journal_mode=WAL")
                connection.execute("PRAGMA synchronous=FULL")
                mark = "?"
            else:
                import psycopg
                from tests.services.postgres import PostgresCluster
                log_progress("postgresql: starting a throwaway cluster on 127.0.0.1")
                cluster = stack.enter_context(PostgresCluster(durable=True))
                cluster.create_database("insert_bench")
                connection = psycopg.connect(cluster.conninfo("insert_bench"))
                mark = "%s"
            stack.callback(connection.close)
            server_pid = connection.info.backend_pid if backend == "postgresql" else None
            run_backend(backend, connection, mark, args.quick, results, server_pid)
    results.put("cpus", os.cpu_count())
    results.put("quick", args.quick)
    print(f"\nInsert benchmark: {', '.join(args.backends)}, {os.cpu_count()} CPUs; "
          "ratio = insert_rows / executemany (below 1x: insert_rows costs less)\n")
    print_rows(results.rows)
    report.print_json_line(results.figures)
    return 0


if __name__ == "__main__":
    harness.run(main)
