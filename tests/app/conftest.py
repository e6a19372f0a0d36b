"""Fixtures for API tests: a cast of organisations, documents from the type
examples, receipt checking, and a snapshot proving a refused request wrote nothing."""

from __future__ import annotations

import copy
import threading
import time
from dataclasses import dataclass

import pytest
from sqlalchemy import func, select, text

import ledger
from app.documents.types import DOCUMENT_TYPES
from app.errors import AppError
from app.identity.models import Role
from app.models import ALL_METADATA
from ledger.bundle import verify_bundle


@dataclass
class Cast:
    exporter: object
    importer: object
    carrier: object
    bank: object
    customs: object
    regulator: object
    admin: object


@pytest.fixture
def cast(make_org) -> Cast:
    return Cast(
        exporter=make_org(Role.FIRM, "Shanghai Lotus Export Co."),
        importer=make_org(Role.FIRM, "Hamburg Nordhandel GmbH"),
        carrier=make_org(Role.FIRM, "Pacific Crescent Lines"),
        bank=make_org(Role.FIRM, "Bund Trade Bank"),
        customs=make_org(Role.CUSTOMS, "Zone Customs"),
        regulator=make_org(Role.REGULATOR, "Zone Regulator"),
        admin=make_org(Role.ADMIN, "Zone Operator"))


def example(doc_type: str, cast: Cast) -> dict:
    """The type's example content, with the cast's organisation ids filled in."""
    content = without_org_ids(copy.deepcopy(dict(DOCUMENT_TYPES[doc_type].example)))
    if doc_type == "bill_of_lading":
        content["shipper"]["org_id"] = cast.exporter.org_id
        content["carrier"]["org_id"] = cast.carrier.org_id
    if doc_type == "customs_declaration":
        content["customs_authority_org_id"] = cast.customs.org_id
    return content


def without_org_ids(value):
    """The example's placeholder organisation ids removed, at any depth."""
    if isinstance(value, dict):
        return {k: without_org_ids(v) for k, v in value.items() if k != "org_id"}
    if isinstance(value, list):
        return [without_org_ids(v) for v in value]
    return value


def owner_of(doc_type: str, cast: Cast):
    return cast.carrier if doc_type == "bill_of_lading" else cast.exporter


@pytest.fixture
def submit(client, cast):
    """POST a document of a type (from its example) as its natural owner."""

    def do(doc_type: str, as_org=None, content: dict | None = None, **headers):
        org = as_org or owner_of(doc_type, cast)
        response = client.post("/api/v1/documents", headers={**org.headers, **headers}, json={
            "type": doc_type, "content": content if content is not None else example(doc_type, cast)})
        assert response.status_code == 201, response.get_json()
        return response.get_json()

    return do


@pytest.fixture
def verifier(platform) -> ledger.NoteVerifier:
    return ledger.NoteVerifier.from_verifier_key(platform.notary.signer.verifier_key)


@pytest.fixture
def check_receipt(verifier):
    """Verify a receipt offline; return its decoded entries."""

    def check(receipt: dict, count: int | None = None) -> list[dict]:
        report = verify_bundle(receipt, verifier)
        assert report.ok, report.failures
        if count is not None:
            assert len(report.entries) == count
        return [verified.entry for verified in report.entries]

    return check


@pytest.fixture
def snapshot(platform):
    """Row counts of every table: equal before and after means nothing was written."""

    def take() -> dict[str, int]:
        with platform.db.read() as session:
            return {name: session.scalar(select(func.count()).select_from(table))
                    for metadata in ALL_METADATA for name, table in metadata.tables.items()}

    return take


@pytest.fixture
def lock_waiters(platform):
    """Wait until ``count`` other transactions wait for a row lock: a concurrent
    writer has read all it reads before its first lock, so a test can then commit
    the transaction it holds open. On SQLite a second writer waits for the
    writers' queue before its first statement, which cannot be observed (nor
    does it race): a short pause stands in."""

    def wait(count: int = 1, timeout: float = 30, unless_done=None) -> None:
        """``unless_done``: a thread whose end also ends the wait (it took no lock
        that this test's transaction holds)."""
        if platform.db.dialect != "postgresql":
            time.sleep(0.2)
            return
        deadline = time.monotonic() + timeout
        while unless_done is None or unless_done.is_alive():
            with platform.db.autocommit() as connection:
                waiting = connection.scalar(text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND wait_event_type = 'Lock'"))
            if waiting >= count:
                return
            assert time.monotonic() < deadline, "no concurrent transaction came to wait for a lock"
            time.sleep(0.01)

    return wait


def in_thread(work, outcome: dict) -> threading.Thread:
    """A thread (not started) running ``work``: a competitor for a transaction the
    test holds open. Its result lands in ``outcome["done"]``, the AppError it raised
    in ``outcome["refused"]``, any other error (a deadlock, say) in ``outcome["failed"]``."""

    def run():
        try:
            outcome["done"] = work()
        except AppError as error:
            outcome["refused"] = error
        except Exception as error:  # e.g. a deadlock: the test shows it
            outcome["failed"] = error
    return threading.Thread(target=run)
