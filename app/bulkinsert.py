"""Many rows into one table through the DB driver's cursor, as multi-row
``INSERT ... VALUES`` statements or, for many rows on PostgreSQL, ``COPY``
(``ledger.sqlstore.insert_rows``).

SQLAlchemy Core's executemany builds and processes a parameter dict per row
(``construct_params``), which costs more than the row itself at the
gateway's and the notary's rates; here each row is a plain tuple in column
order, and only the columns whose type converts values (a timezone-aware
timestamp) are converted, by the very bind processors SQLAlchemy would have used. The
placeholders follow the driver's paramstyle (``ledger.sqlstore.placeholder``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import closing
from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.engine import Dialect

from ledger.sqlstore import insert_rows, placeholder

Processor = Callable[[Any], Any]


class BulkInsert:
    """Tuples in ``columns`` order into ``table``, many at once."""

    def __init__(self, table: Table, columns: Sequence[str]) -> None:
        self.table = table
        self.columns = tuple(columns)
        missing = [name for name in self.columns if name not in table.c]
        if missing:
            raise ValueError(f"{table.name} has no column(s) {', '.join(missing)}")
        self._prepared: dict[str, tuple[str, str, list[tuple[int, Processor]]]] = {}

    def execute(self, connection: Connection, rows: Sequence[tuple]) -> None:
        """Insert ``rows`` (tuples in ``columns`` order) in ``connection``'s transaction."""
        if not rows:
            return
        if not connection.in_transaction():
            # The driver's cursor below would commit each statement on its own.
            raise ValueError("a bulk insert needs the caller's transaction to have begun")
        into, mark, processors = self._prepare(connection.dialect)
        if processors:
            rows = [_processed(row, processors) for row in rows]
        # The driver's cursor on the connection's own (begun) transaction:
        # even exec_driver_sql's execution context cost more than a small insert.
        with closing(connection.connection.cursor()) as cursor:
            insert_rows(cursor, into, mark, rows)

    def _prepare(self, dialect: Dialect) -> tuple[str, str, list[tuple[int, Processor]]]:
        prepared = self._prepared.get(dialect.name)
        if prepared is None:
            mark = placeholder(dialect)
            preparer = dialect.identifier_preparer
            into = (f"{preparer.format_table(self.table)} "
                    f"({', '.join(preparer.quote(name) for name in self.columns)})")
            processors = []
            for position, name in enumerate(self.columns):
                column_type = self.table.c[name].type
                processor = column_type.dialect_impl(dialect).bind_processor(dialect)
                if processor is not None:
                    processors.append((position, processor))
            prepared = self._prepared[dialect.name] = (into, mark, processors)
        return prepared


def _processed(row: tuple, processors: list[tuple[int, Processor]]) -> tuple:
    values = list(row)
    for position, processor in processors:
        values[position] = processor(values[position])
    return tuple(values)
