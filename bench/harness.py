"""What every benchmark script does around its measurements: a temporary
directory removed at the end, SIGTERM turned into the same clean shutdown
as Ctrl-C (so every process a script started is stopped), and the exit;
the ``--backends`` option of the scripts that measure both databases; and
the CPU time of another process (a server the script measures)."""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn


BACKENDS = ("sqlite", "postgresql")


def parse_backends(parser: argparse.ArgumentParser, text: str) -> tuple[str, ...]:
    """The comma-separated ``--backends`` value, or the parser's usage error."""
    backends = tuple(name.strip() for name in text.split(",") if name.strip())
    if not backends or set(backends) - set(BACKENDS):
        parser.error(f"--backends takes sqlite and/or postgresql, not {text!r}")
    return backends


def stop_on_sigterm() -> None:
    """Make SIGTERM raise KeyboardInterrupt, which the scripts already clean up after."""
    signal.signal(signal.SIGTERM, _terminate)


def _terminate(signum, _frame):
    raise KeyboardInterrupt(f"signal {signum}")


@contextmanager
def temporary_dir(prefix: str, parent: str | None) -> Iterator[Path]:
    """A fresh directory under ``parent`` (default: the system's), removed afterwards."""
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def run(main: Callable[[], int]) -> NoReturn:
    """Exit with ``main()``'s status; on Ctrl-C or SIGTERM (after ``main``'s own
    clean-up has run) say so and exit 130."""
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("\ninterrupted; temporary files removed and servers stopped", file=sys.stderr)
        sys.exit(130)


def process_stat(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after ``(comm)`` (state, ppid, pgrp, ...;
    utime and stime are the 12th and 13th), or None if the process is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def stat_cpu_seconds(fields: list[str]) -> float:
    """utime + stime, in seconds, from :func:`process_stat` fields."""
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def process_cpu_seconds(pid: int) -> float:
    """utime + stime of a live process (Linux /proc), 0 if it is gone."""
    fields = process_stat(pid)
    return 0.0 if fields is None else stat_cpu_seconds(fields)


def live_pids() -> list[int]:
    """Every process id in /proc."""
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]
