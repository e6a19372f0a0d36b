"""Group commit without MQTT: a batch's checks and its one transaction, with
duplicates and replays inside the batch, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import itertools
import queue
import threading
import time
from datetime import datetime, timezone

import pytest
from sqlalchemy import select, update
from sqlalchemy.exc import OperationalError

from app.devices.models import Device, DeviceEvent, DeviceStatus, QuarantinedEvent
from iot_gateway import service
from iot_gateway.checks import BatchChecker
from iot_gateway.config import GatewayOptions
from iot_gateway.handoff import OrderedHandoff
from iot_gateway.messages import Received
from iot_gateway.registry import load_devices
from iot_gateway.service import Gateway
from iot_gateway.pool import CheckPool
from iot_gateway.store import EventStore

from .helpers import last_seqs, snapshot

_arrivals = itertools.count()


def received(device, payload: bytes, *, dup: bool = False, topic: str | None = None) -> Received:
    return Received(arrival=next(_arrivals), topic=topic or f"tz/devices/{device.device_id}/events",
                    payload=payload, mid=1, qos=1, dup=dup, generation=1,
                    received_at=datetime(2026, 11, 23, 9, 0, tzinfo=timezone.utc),
                    received_mono=0.0)


@pytest.fixture
def run_batch(platform):
    checker = BatchChecker(lambda ids: load_devices(platform.db, ids),
                           CheckPool(0).run, max_payload_bytes=16384)
    store = EventStore(platform, quarantine_raw_bytes=4096)

    def run(messages):
        return [(o.status.value, o.seq, o.reason, o.ledger_index)
                for o in store.commit(checker.check(messages))]

    return run


def test_a_batch_is_one_transaction_and_one_checkpoint(platform, register, run_batch):
    a, b = register("EdDSA"), register("ES256")
    before = snapshot(platform)
    outcomes = run_batch([received(a, a.sign(a.event(seq))) for seq in range(1, 6)]
                         + [received(b, b.sign(b.event(seq))) for seq in range(1, 4)])
    first = before["entries"]
    assert outcomes == [("notarized", seq, None, first + seq - 1) for seq in range(1, 6)] + [
        ("notarized", seq, None, first + 4 + seq) for seq in range(1, 4)]
    after = snapshot(platform)
    assert after["checkpoints"] - before["checkpoints"] == 1
    assert after["device_events"] - before["device_events"] == 8
    assert last_seqs(platform) == {a.device_id: 5, b.device_id: 3}


def test_duplicates_and_replays_inside_one_batch(platform, register, run_batch):
    a = register()
    one, two = a.sign(a.event(1)), a.sign(a.event(2))
    two_other = a.sign(a.event(2, data={"celsius": -1}))
    before = snapshot(platform)
    outcomes = run_batch([received(a, one), received(a, two), received(a, two, dup=True),
                          received(a, two_other), received(a, a.sign(a.event(1, type_="x.y"))),
                          received(a, one, dup=True)])
    first = before["entries"]
    assert outcomes == [("notarized", 1, None, first), ("notarized", 2, None, first + 1),
                        ("duplicate", 2, None, first + 1), ("rejected", 2, "replay", None),
                        ("rejected", 1, "replay", None), ("duplicate", 1, None, first)]
    after = snapshot(platform)
    assert (after["entries"] - first, after["quarantined"] - before["quarantined"]) == (2, 2)
    assert last_seqs(platform)[a.device_id] == 2


def test_a_batch_against_earlier_batches(platform, register, run_batch):
    a = register()
    tokens = {seq: a.sign(a.event(seq)) for seq in (1, 2, 3, 4)}
    run_batch([received(a, tokens[1]), received(a, tokens[3])])
    outcomes = run_batch([received(a, tokens[1], dup=True), received(a, tokens[2]),
                          received(a, tokens[4])])
    assert [o[:3] for o in outcomes] == [("duplicate", 1, None), ("rejected", 2, "replay"),
                                         ("notarized", 4, None)]


def test_redelivered_rejections_are_quarantined_once(platform, register, run_batch):
    a = register()
    garbage = b"not a jws"
    run_batch([received(a, garbage)])
    outcomes = run_batch([received(a, garbage, dup=True), received(a, garbage, dup=True)])
    assert outcomes == [("rejected", None, "malformed", None)] * 2
    with platform.db.read() as session:
        rows = session.scalars(select(QuarantinedEvent)).all()
    assert [(r.reason, bytes(r.raw_sha256)) for r in rows] == [
        ("malformed", hashlib.sha256(garbage).digest())]


def test_a_device_revoked_between_checks_and_commit_is_refused(platform, register):
    a = register()
    checker = BatchChecker(lambda ids: load_devices(platform.db, ids),
                           CheckPool(0).run, max_payload_bytes=16384)
    checked = checker.check([received(a, a.sign(a.event(1)))])
    with platform.db.write() as session:
        session.execute(update(Device).where(Device.id == a.device_id)
                        .values(status=DeviceStatus.REVOKED))
    [outcome] = EventStore(platform, 4096).commit(checked)
    assert (outcome.status.value, outcome.reason, outcome.seq) == ("rejected", "revoked", 1)
    with platform.db.read() as session:
        assert session.scalars(select(DeviceEvent)).all() == []


def test_checks_in_worker_processes_give_the_same_verdicts(platform, register):
    a, b = register("EdDSA"), register("ES256")
    good = [a.sign(a.event(seq)) for seq in range(1, 9)] + [b.sign(b.event(1))]
    header, payload, _ = good[0].decode().split(".")
    bad = f"{header}.{payload}.{good[1].decode().split('.')[2]}".encode()  # seq 2's signature
    messages = [received(a, t) for t in good[:8]] + [received(b, good[8]), received(a, bad)]
    pool = CheckPool(2)
    try:
        inline = BatchChecker(lambda ids: load_devices(platform.db, ids),
                              CheckPool(0).run, 16384).check(messages)
        pooled = BatchChecker(lambda ids: load_devices(platform.db, ids),
                              pool.run, 16384).check(messages)
    finally:
        pool.close()
    verdict = [(c.rejection.reason if c.rejection else "ok") for c in pooled]
    assert verdict == ["ok"] * 9 + ["bad_signature"]
    assert [c.rejection for c in inline] == [c.rejection for c in pooled]
    assert [c.event for c in inline] == [c.event for c in pooled]
    assert pooled[0].event.device_id == a.device_id and pooled[0].event.seq == 1


def test_a_poison_message_is_isolated_and_quarantined_as_internal_error(platform, config,
                                                                         register):
    a = register()
    gateway = Gateway(platform, config, GatewayOptions(metrics_port=0, verify_workers=0))
    checked = gateway.checker.check([received(a, a.sign(a.event(seq))) for seq in (1, 2, 3, 4)])
    poison = checked[2].message
    real_commit = gateway.store.commit

    def commit(batch):
        if any(c.message is poison and c.event is not None for c in batch):
            raise ValueError("a bug that this message triggers")
        return real_commit(batch)

    gateway.store.commit = commit
    try:
        outcomes = gateway._commit(checked)
    finally:
        gateway.stop()
    assert [(o.status.value, o.seq, o.reason) for o in outcomes] == [
        ("notarized", 1, None), ("notarized", 2, None), ("rejected", 3, "internal_error"),
        ("notarized", 4, None)]
    with platform.db.read() as session:
        [row] = session.scalars(select(QuarantinedEvent)).all()
    assert (row.reason, row.seq) == ("internal_error", 3)


def test_a_message_that_cannot_even_be_quarantined_stops_the_gateway(platform, config,
                                                                     register):
    a = register()
    gateway = Gateway(platform, config, GatewayOptions(metrics_port=0, verify_workers=0))

    def commit(batch):
        raise ValueError("nothing can be stored")

    gateway.store.commit = commit
    gateway._handoff.put(gateway.checker.check([received(a, a.sign(a.event(1)))]))
    gateway._handoff.put(service._STOP)
    try:
        gateway._run_writer()
    finally:
        gateway.stop()
    assert gateway.fatal and gateway.finished.is_set()
    assert gateway.metrics.batch_failures._value.get() == 6  # 3 as it was, 3 as internal_error


def test_nothing_is_committed_after_a_batch_given_up_while_stopping(platform, config,
                                                                    register, run_batch):
    # SIGTERM while batch 1 waits out a busy database: batch 1 is given up
    # (unacknowledged, redelivered at restart). Batch 2, already checked, must
    # not be committed when the database answers again: its seq 2 would make
    # the redelivered seq 1 a replay, and a good event would be quarantined.
    a = register()
    one, two = a.sign(a.event(1)), a.sign(a.event(2))
    gateway = Gateway(platform, config, GatewayOptions(metrics_port=0, verify_workers=0))
    real_commit = gateway.store.commit

    def busy_until_stopping(batch):
        if not gateway._stopping.is_set():
            gateway._stopping.set()  # SIGTERM comes during the retry
            raise OperationalError("INSERT", {}, Exception("database is locked"))
        return real_commit(batch)

    gateway.store.commit = busy_until_stopping
    gateway._handoff = queue.Queue()  # the checkers' queue holds only two batches
    gateway._handoff.put(gateway.checker.check([received(a, one)]))
    gateway._handoff.put(gateway.checker.check([received(a, two)]))
    gateway._handoff.put(service._STOP)
    try:
        gateway._run_writer()
    finally:
        gateway.stop()
    assert snapshot(platform)["device_events"] == 0
    # The restart: the broker redelivers both.
    outcomes = run_batch([received(a, one, dup=True), received(a, two, dup=True)])
    assert [o[:3] for o in outcomes] == [("notarized", 1, None), ("notarized", 2, None)]


def test_nothing_is_committed_after_a_batch_whose_checks_were_given_up(platform, config,
                                                                       register, run_batch):
    # The same when batch 1's checks (its device lookup) failed until SIGTERM
    # while the other checker thread had checked batch 2.
    a = register()
    one, two = a.sign(a.event(1)), a.sign(a.event(2))
    gateway = Gateway(platform, config, GatewayOptions(metrics_port=0, verify_workers=0))
    gateway._batches = OrderedHandoff(2, closed=service._STOP)
    gateway._handoff = gateway._batches.queue
    real_check = gateway.checker.check
    two_checked = threading.Event()
    waiting = [[received(a, one)], [received(a, two)]]

    def take(count, wait_s):
        time.sleep(0.01)
        return waiting.pop(0) if waiting else []

    def check(batch):
        if batch[0].payload == two:
            two_checked.set()
            return real_check(batch)
        two_checked.wait(10)
        gateway._stopping.set()  # SIGTERM while the lookup keeps failing
        raise OperationalError("SELECT", {}, Exception("database is locked"))

    gateway.inbox.take, gateway.checker.check = take, check
    checkers = [threading.Thread(target=gateway._run_checker) for _ in range(2)]
    for thread in checkers:
        thread.start()
    try:
        gateway._run_writer()
    finally:
        for thread in checkers:
            thread.join(10)
        gateway.stop()
    assert two_checked.is_set()
    assert snapshot(platform)["device_events"] == 0
    outcomes = run_batch([received(a, one, dup=True), received(a, two, dup=True)])
    assert [o[:3] for o in outcomes] == [("notarized", 1, None), ("notarized", 2, None)]


def test_stored_event_rows_hold_every_field(platform, register, run_batch):
    a = register()
    token = a.sign(a.event(7, type_="customs.scan", shipment="SHP-1"))
    [(status, _, _, index)] = run_batch([received(a, token)])
    with platform.db.read() as session:
        row = session.get(DeviceEvent, index)
    assert status == "notarized"
    assert (row.device_id, row.seq, row.event_type, row.shipment, row.device_ts) == (
        a.device_id, 7, "customs.scan", "SHP-1", "2026-11-23T09:00:00Z")
    assert (row.jws, bytes(row.jws_sha256)) == (token.decode(), hashlib.sha256(token).digest())
    assert row.received_at == datetime(2026, 11, 23, 9, 0, tzinfo=timezone.utc)
