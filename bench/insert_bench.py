#!/usr/bin/env python3
"""Insert benchmark: the driver's ``executemany`` against one multi-row
``INSERT ... VALUES`` (``ledger.sqlstore.insert_rows``, which the ledger's
appends and ``app.bulkinsert`` use), on SQLite and PostgreSQL.

    .venv/bin/python bench/insert_bench.py                 # both backends, ~1 minute
    .venv/bin/python bench/insert_bench.py --backends sqlite --quick

Rows of (bigint, 40-character text, 32 random bytes), as a ledger entry or a
reference row, in batches of 1, 3, 50 and 500 rows: the sizes of an API write
and of a gateway batch. Each figure is the client process's CPU (user +
system) and the wall time per batch, inside one transaction committed at the
end; the baseline is the driver's ``executemany`` of the same rows, and
ratio = insert_rows / executemany (below 1x: insert_rows costs less).
PostgreSQL runs as a throwaway cluster on 127.0.0.1 (tests/services/postgres.py).
The last line printed is one JSON object of the figures.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack, closing
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness  # noqa: E402
import report  # noqa: E402
from report import Results, fmt, log_progress, print_rows, ratio  # noqa: E402

from ledger.sqlstore import insert_rows  # noqa: E402

BATCHES = (1, 3, 50, 500)
INSERT_INTO = "INSERT INTO bench_rows (a, b, c)"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", default="sqlite,postgresql",
                        help="sqlite and/or postgresql (default both)")
    parser.add_argument("--quick", action="store_true", help="a tenth of the rows (seconds)")
    parser.add_argument("--tmpdir", help="where the SQLite file goes")
    args = parser.parse_args(argv)
    args.backends = harness.parse_backends(parser, args.backends)
    return args


def measure(connection, mark: str, rows: list[tuple], repeats: int,
            how: Callable) -> tuple[float, float]:
    """(CPU us, wall us) per batch of ``rows`` inserted ``how``; one transaction."""
    with closing(connection.cursor()) as cursor:
        for _ in range(3):  # warm the statement caches
            how(cursor, mark, rows)
        connection.rollback()
        cpu, wall = time.process_time(), time.perf_counter()
        for _ in range(repeats):
            how(cursor, mark, rows)
        connection.commit()
        return ((time.process_time() - cpu) / repeats * 1e6,
                (time.perf_counter() - wall) / repeats * 1e6)


def by_executemany(cursor, mark: str, rows: list[tuple]) -> None:
    cursor.executemany(f"{INSERT_INTO} VALUES ({mark}, {mark}, {mark})", rows)


def by_insert_rows(cursor, mark: str, rows: list[tuple]) -> None:
    insert_rows(cursor, INSERT_INTO, mark, rows)


def run_backend(backend: str, connection, mark: str, quick: bool, results: Results) -> None:
    for size in BATCHES:
        rows = [(i, "x" * 40, os.urandom(32)) for i in range(size)]
        repeats = max(20, (300 if quick else 3000) // size)
        base_cpu, base_wall = measure(connection, mark, rows, repeats, by_executemany)
        cpu, wall = measure(connection, mark, rows, repeats, by_insert_rows)
        name = f"{size} row{'s' if size > 1 else ''} per batch"
        results.row(f"{name}: insert_rows, CPU", backend, round(cpu, 1), "us/batch",
                    f"executemany {fmt(round(base_cpu, 1))}", ratio(cpu, base_cpu))
        results.row(f"{name}: insert_rows, wall", backend, round(wall, 1), "us/batch",
                    f"executemany {fmt(round(base_wall, 1))}", ratio(wall, base_wall))
        results.put(f"{backend}_{size}_cpu_us", round(cpu, 1))
        results.put(f"{backend}_{size}_executemany_cpu_us", round(base_cpu, 1))
        results.put(f"{backend}_{size}_cpu_ratio", round(cpu / base_cpu, 3))
        log_progress(f"{backend}, {size} rows: {cpu:.0f} vs {base_cpu:.0f} us CPU")


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
                connection.execute("PRAGMA synchronous=NORMAL")
                mark = "?"
            else:
                import psycopg
                from tests.services.postgres import PostgresCluster
                log_progress("postgresql: starting a throwaway cluster on 127.0.0.1")
                cluster = stack.enter_context(PostgresCluster())
                cluster.create_database("insert_bench")
                connection = psycopg.connect(cluster.conninfo("insert_bench"))
                mark = "%s"
            stack.callback(connection.close)
            connection.execute("CREATE TABLE bench_rows (a BIGINT, b TEXT, c BYTEA)"
                               if backend == "postgresql" else
                               "CREATE TABLE bench_rows (a INTEGER, b TEXT, c BLOB)")
            connection.commit()
            run_backend(backend, connection, mark, args.quick, results)
    results.put("cpus", os.cpu_count())
    results.put("quick", args.quick)
    print(f"\nInsert benchmark: {', '.join(args.backends)}, {os.cpu_count()} CPUs; "
          "ratio = insert_rows / executemany (below 1x: insert_rows costs less)\n")
    print_rows(results.rows)
    report.print_json_line(results.figures)
    return 0


if __name__ == "__main__":
    harness.run(main)
