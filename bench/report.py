"""What every benchmark prints: a results table with ratios to its baselines,
and the figures for the closing JSON line. Imported by the bench scripts."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass
class Row:
    measurement: str
    backend: str
    figure: float | str
    unit: str
    baseline: str = "-"
    ratio: str = "-"


@dataclass
class Results:
    """The table's rows and the JSON line's figures."""

    figures: dict = field(default_factory=dict)
    rows: list = field(default_factory=list)

    def put(self, key: str, value) -> None:
        self.figures[key] = value

    def row(self, *args, **kwargs) -> None:
        self.rows.append(Row(*args, **kwargs))


def rate(count: int, seconds: float) -> int:
    return int(round(count / seconds)) if seconds > 0 else 0


def fmt(value) -> str:
    """A figure for the table: thousands separated, few digits for small values."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "yes" if value else "NO"
    if isinstance(value, int) or abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.1f}" if abs(value) >= 10 else f"{value:.2f}"


def ratio(figure: float, baseline: float) -> str:
    if not baseline:
        return "-"
    value = figure / baseline
    return f"{value:.2f}x" if value >= 0.1 else f"{value:.2g}x"


def percentile(values: Sequence[float], pct: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    rank = min(len(ordered) - 1, max(0, int(round(pct / 100 * (len(ordered) - 1)))))
    return ordered[rank]


def log_progress(message: str, _start=[None]) -> None:  # noqa: B006 - a process-wide clock
    if _start[0] is None:
        _start[0] = time.perf_counter()
    print(f"[{time.perf_counter() - _start[0]:7.1f}s] {message}", file=sys.stderr, flush=True)


def print_table(headers: Sequence[str], align: Sequence[str],
                cells: Sequence[Sequence[str]]) -> None:
    """Columns padded to fit, ``align`` one of ``<``/``>`` per column, a rule under the headers."""
    table = [tuple(headers)] + [tuple(row) for row in cells]
    widths = [max(len(row[i]) for row in table) for i in range(len(headers))]
    for number, row in enumerate(table):
        print("  ".join(f"{c:{a}{w}}" for c, a, w in zip(row, align, widths)).rstrip())
        if number == 0:
            print("  ".join("-" * w for w in widths))


def print_json_line(figures: dict) -> None:
    """The end of every benchmark's output: a blank line, then all figures as
    one JSON object on the last line (keys sorted), for scripts to read."""
    print()
    print(json.dumps(figures, sort_keys=True))


def print_rows(rows: Sequence[Row]) -> None:
    """The standard table: measurement, backend, figure, unit, baseline, ratio."""
    print_table(("measurement", "backend", "figure", "unit", "baseline", "ratio"),
                ("<", "<", ">", "<", "<", ">"),
                [(r.measurement, r.backend, fmt(r.figure), r.unit, r.baseline, r.ratio)
                 for r in rows])
