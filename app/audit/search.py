"""Searching ledger entries by subject, type and time, through the side
tables, never by scanning the log.

``entry_refs`` (kind, ref, entry_idx) and ``entry_meta`` (entry_idx,
entry_type, at) have an index per filter:

- a subject: the primary key (kind, ref, entry_idx), read in log order;
- a type: ``ix_entry_meta_type`` (entry_type, entry_idx), in log order;
- a period: ``ix_entry_meta_at`` (at, entry_idx), in time order.

One filter *drives* the query: its index is walked from ``after`` and the
others are checked per row by primary-key lookups. The driver is the most
selective filter, estimated by counting each one's matches up to a cap
(a bounded index range read). A period drives only when it is known to be
small, since its matches must be sorted into log order.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, exists, func, select
from sqlalchemy.orm import Session

import ledger
from ledger.bundle import decode_entry_fast
from ledger.sqlstore import SqlLog

from app.notary.models import EntryMeta, EntryRef

REF_KINDS = ("org", "document", "consent", "device", "shipment")
ESTIMATE_CAP = 5000  # matches counted per filter to choose the driver

_refs = EntryRef.__table__
_meta = EntryMeta.__table__


@dataclass(frozen=True)
class Filters:
    """What entries must match; all conditions hold together (AND)."""

    refs: tuple[tuple[str, str], ...] = ()
    entry_type: str | None = None
    since: datetime | None = None  # at >= since
    until: datetime | None = None  # at < until

    @property
    def empty(self) -> bool:
        return not (self.refs or self.entry_type or self.since or self.until)

    @property
    def period(self) -> bool:
        return self.since is not None or self.until is not None


@dataclass(frozen=True)
class Driver:
    """The filter whose index a query walks: ("ref", (kind, ref)), ("type", t),
    ("period",) for the time index, or ("log",) for entry_meta in log order."""

    kind: str
    value: object = None


def choose_driver(session: Session, filters: Filters, after: int) -> Driver:
    """The most selective filter of ``filters`` (which must not be empty)."""
    candidates = [Driver("ref", ref) for ref in dict.fromkeys(filters.refs)]
    if filters.entry_type:
        candidates.append(Driver("type", filters.entry_type))
    if filters.period:
        candidates.append(Driver("period"))
    if len(candidates) == 1 and candidates[0].kind != "period":
        return candidates[0]
    counted = [(_estimate(session, driver, filters, after), order, driver)
               for order, driver in enumerate(candidates)]
    best = min(counted, key=lambda item: item[:2])
    if best[2].kind == "period" and best[0] >= ESTIMATE_CAP:
        # A long period is not worth sorting: walk another filter's index, or
        # the log order itself, where the period's matches lie densely.
        others = [item for item in counted if item[2].kind != "period"]
        best = min(others, key=lambda item: item[:2]) if others else (0, 0, Driver("log"))
    return best[2]


def matching_indexes(filters: Filters, driver: Driver, after: int, limit: int | None) -> Select:
    """Indexes of the matching entries above ``after``, in log order, ``driver`` first.

    Only the driver's condition can use an index: the other conditions on the
    rows it walks are written so that no index serves them ("checked, not
    searched"), and conditions on other rows are correlated lookups by
    primary key. So neither SQLite's rules nor PostgreSQL's estimates can
    turn a selective search into a walk over a common type or a long period.
    """
    if driver.kind == "ref":
        kind, ref = driver.value
        index = _refs.c.entry_idx
        query = select(index).where(_refs.c.kind == kind, _refs.c.ref == ref, index > after)
        meta = _meta.alias()
        conditions = _type_conditions(filters, meta) + _period_conditions(filters, meta)
        if conditions:
            query = query.where(exists().where(meta.c.entry_idx == index, *conditions))
    else:
        index = _meta.c.entry_idx
        query = select(index).where(
            index > after,
            *_type_conditions(filters, _meta, searched=driver.kind == "type"),
            *_period_conditions(filters, _meta, searched=driver.kind == "period"))
    for kind, ref in dict.fromkeys(filters.refs):
        if driver.kind == "ref" and (kind, ref) == driver.value:
            continue
        named = _refs.alias()
        query = query.where(exists().where(named.c.kind == kind, named.c.ref == ref,
                                           named.c.entry_idx == index))
    query = query.order_by(index)
    return query.limit(limit) if limit is not None else query


def _type_conditions(filters: Filters, table, searched: bool = True) -> list:
    if not filters.entry_type:
        return []
    column = table.c.entry_type if searched else table.c.entry_type.concat("")
    return [column == filters.entry_type]


def _period_conditions(filters: Filters, table, searched: bool = True) -> list:
    column = table.c.at if searched else func.coalesce(table.c.at, table.c.at)
    conditions = []
    if filters.since is not None:
        conditions.append(column >= filters.since)
    if filters.until is not None:
        conditions.append(column < filters.until)
    return conditions


def _estimate(session: Session, driver: Driver, filters: Filters, after: int) -> int:
    """How many entries ``driver`` alone matches, counted up to ``ESTIMATE_CAP``."""
    if driver.kind == "ref":
        kind, ref = driver.value
        inner = select(_refs.c.entry_idx).where(_refs.c.kind == kind, _refs.c.ref == ref,
                                               _refs.c.entry_idx > after)
    elif driver.kind == "type":
        inner = select(_meta.c.entry_idx).where(_meta.c.entry_type == driver.value,
                                                _meta.c.entry_idx > after)
    else:
        inner = select(_meta.c.entry_idx).where(*_period_conditions(filters, _meta))
    capped = inner.limit(ESTIMATE_CAP).subquery()
    return session.scalar(select(func.count()).select_from(capped))


@dataclass(frozen=True)
class Page:
    rows: list[tuple[int, bytes]]
    next: int | None


def search(session: Session, filters: Filters, after: int, limit: int) -> Page:
    """One page of entries matching ``filters`` with an index above ``after``."""
    log = SqlLog(session.connection())
    if filters.empty:
        first = min(after + 1, log.size)
        rows = log.read_entries(first, first + limit + 1)
        found = [index for index, _ in rows]
    else:
        driver = choose_driver(session, filters, after)
        found = list(session.scalars(matching_indexes(filters, driver, after, limit + 1)))
        rows = read_entries_checked(log, found[:limit + 1])
    page = rows[:limit]
    return Page(page, page[-1][0] if len(found) > limit else None)


def iter_indexes(session: Session, filters: Filters, chunk: int = 10_000) -> Iterator[int]:
    """Every matching index in log order, read a chunk at a time (keyset pagination)."""
    after = -1
    while True:
        driver = choose_driver(session, filters, after)
        found = list(session.scalars(matching_indexes(filters, driver, after, chunk)))
        yield from found
        if len(found) < chunk:
            return
        after = found[-1]


def read_entries_checked(log: SqlLog, indexes: Sequence[int]) -> list[tuple[int, bytes]]:
    """The logged bytes of ``indexes``; an entry the side tables name but the
    log lacks is an integrity failure, never silently left out."""
    rows = log.read_entries_at(indexes)
    if len(rows) != len(set(indexes)):
        present = {index for index, _ in rows}
        missing = min(index for index in indexes if index not in present)
        raise ledger.IntegrityError(f"entry {missing} is named in entry_refs/entry_meta but "
                                    f"missing from the log", index=missing)
    return rows


def entry_view(index: int, data: bytes) -> dict:
    """An entry as GET /api/v1/ledger/entries shows it; stored bytes that are
    not a canonical entry are an integrity failure (500 naming the index)."""
    try:
        entry = decode_entry_fast(data)
    except ledger.VerificationError as error:
        raise ledger.IntegrityError(f"entry {index} is malformed: {error}",
                                    index=index) from error
    return {"index": index, "leaf_hash": ledger.leaf_hash(data), "leaf_data": data,
            "entry": entry}


def explain(session: Session, query: Select) -> str:
    """The database's plan for ``query`` as text (SQLite or PostgreSQL)."""
    connection = session.connection()
    compiled = query.compile(connection, compile_kwargs={"literal_binds": True})
    if connection.dialect.name == "sqlite":
        rows = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}").all()
        return "\n".join(row[-1] for row in rows)
    rows = connection.exec_driver_sql(f"EXPLAIN {compiled}").all()
    return "\n".join(row[0] for row in rows)
