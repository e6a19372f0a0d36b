"""The search uses the side tables' indexes on both databases, driven by the
most selective filter, and never reads the log to filter (EXPLAIN)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import insert, text

from app.audit.search import Driver, Filters, choose_driver, explain, matching_indexes
from app.notary.models import EntryMeta, EntryRef

ROWS = 30_000
START = datetime(2026, 1, 1, tzinfo=timezone.utc)
TYPES = ("document.issued", "document.accessed", "consent.granted", "device.event")


@pytest.fixture
def side_tables(platform):
    """entry_refs and entry_meta as 30,000 entries would leave them (no log needed
    for EXPLAIN): every entry names org_big, one of 100 orgs and a document of 10
    entries; every 7th is a device event naming one of 20 devices."""
    refs, meta = [], []
    for index in range(ROWS):
        named = [("org", "org_big"), ("org", f"org_{index % 100}"),
                 ("document", f"doc_{index // 10}")]
        if index % 7 == 0:
            named.append(("device", f"dev_{index % 20}"))
        refs += [{"kind": kind, "ref": ref, "entry_idx": index} for kind, ref in named]
        meta.append({"entry_idx": index, "at": START + timedelta(seconds=index),
                     "entry_type": "device.event" if index % 7 == 0 else TYPES[index % 3]})
    with platform.db.write() as session:
        session.execute(insert(EntryRef.__table__), refs)
        session.execute(insert(EntryMeta.__table__), meta)
    with platform.db.engine.connect() as connection:
        connection.execute(text("ANALYZE"))
        connection.commit()
    return platform


def at(minutes: float) -> datetime:
    return START + timedelta(minutes=minutes)


CASES = [
    ("document", Filters(refs=(("document", "doc_1234"),)), "ref"),
    ("common org and a document", Filters(refs=(("org", "org_big"), ("document", "doc_15"))),
     ("ref", ("document", "doc_15"))),
    ("org and type", Filters(refs=(("org", "org_7"),), entry_type="device.event"), "ref"),
    ("device and a long period", Filters(refs=(("device", "dev_3"),), since=at(60)), "ref"),
    ("type only", Filters(entry_type="consent.granted"), "type"),
    ("short period", Filters(since=at(100), until=at(105)), "period"),
    ("short period and a type", Filters(entry_type="device.event", since=at(100),
                                        until=at(103)), "period"),
    ("common org in a short period", Filters(refs=(("org", "org_big"),), since=at(30),
                                             until=at(31)), "period"),
    ("long period only", Filters(since=at(60)), "log"),
]


def test_the_most_selective_filter_drives_an_indexed_plan(side_tables):
    # One test per database for all cases: building the tables is the slow part.
    for name, filters, driver in CASES:
        with side_tables.db.read() as session:
            chosen = choose_driver(session, filters, -1)
            plan = explain(session, matching_indexes(filters, chosen, -1, 101))
        expected = driver if isinstance(driver, tuple) else (driver,)
        assert (chosen.kind, chosen.value)[:len(expected)] == expected, (name, chosen)
        assert "ledger_entries" not in plan, (name, plan)
        if side_tables.db.dialect == "sqlite":
            assert not any(line.startswith("SCAN") for line in plan.split("\n")), (name, plan)
            assert {"ref": "sqlite_autoindex_entry_refs_1", "type": "ix_entry_meta_type",
                    "period": "ix_entry_meta_at", "log": "sqlite_autoindex_entry_meta_1"}[
                chosen.kind] in plan.split("\n")[0], (name, plan)
        else:
            assert "Seq Scan" not in plan, (name, plan)


def test_explain_runs_on_an_empty_log(platform):
    with platform.db.read() as session:
        plan = explain(session, matching_indexes(Filters(refs=(("org", "x"),)),
                                                 Driver("ref", ("org", "x")), -1, 10))
    assert plan
