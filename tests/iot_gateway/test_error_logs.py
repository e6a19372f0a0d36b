"""The gateway's log lines describe a database error by its SQLSTATE (or
SQLite's error name) and column, with the traceback's frames: never the row
the driver's message quotes (an event's JWS, a quarantined payload)."""

from __future__ import annotations

import json
import logging

from app.bulkinsert import BulkInsert
from app.devices.models import DeviceEvent
from iot_gateway.config import GatewayOptions
from iot_gateway.logs import JsonLineFormatter
from iot_gateway.service import Gateway

from .test_batches import received

# Stands for an event's JWS. Only ever named in the code, never written out,
# so that no traceback line quotes it.
MARKER = "PERSONAL-DATA-MARKER"
_EVENT_ROWS = BulkInsert(DeviceEvent.__table__, (
    "entry_idx", "device_id", "seq", "event_type", "device_ts", "jws", "jws_sha256",
    "received_at"))


def test_a_failed_commit_is_logged_without_the_rows_values(platform, config, register, caplog):
    device = register()
    gateway = Gateway(platform, config, GatewayOptions(metrics_port=0, verify_workers=0))
    checked = gateway.checker.check([received(device, device.sign(device.event(1)))])
    real_commit = gateway.store.commit
    failures = []

    def commit_once_wrongly(batch):
        """The first attempt stores an event row without its device_ts, by the
        driver's own cursor (SQLAlchemy does not wrap its error)."""
        if failures:
            return real_commit(batch)
        failures.append(batch)
        with platform.db.write() as session:
            _EVENT_ROWS.execute(session.connection(), [(
                10_000, device.device_id, 1, "scan", None, MARKER, bytes(32),
                checked[0].message.received_at)])

    gateway.store.commit = commit_once_wrongly
    try:
        with caplog.at_level(logging.ERROR, logger="iot_gateway"):
            [outcome] = gateway._commit(checked)
    finally:
        gateway.stop()
    assert outcome.status.value == "notarized"  # retried, then committed
    [record] = [r for r in caplog.records if r.getMessage() == "commit_failed"]
    line = JsonLineFormatter().format(record)  # what reaches stderr
    assert MARKER not in line
    assert MARKER not in caplog.text  # nor does any other handler see it
    error = json.loads(line)["error"]
    assert error.startswith("Traceback (most recent call last)")
    assert "in commit_once_wrongly" in error
    if platform.db.dialect == "postgresql":
        assert "NotNullViolation SQLSTATE 23502 (table device_events, column device_ts)" in error
    else:
        assert "SQLITE_CONSTRAINT_NOTNULL: NOT NULL constraint failed: device_events.device_ts" \
            in error


def test_a_traceback_logged_by_other_code_is_described_safely_too(platform, caplog):
    # A record that carries the exception itself (logger.exception), as the
    # JSON formatter may receive from code not using log_event.
    logger = logging.getLogger("iot_gateway.test")
    try:
        with platform.db.write() as session:
            session.execute(DeviceEvent.__table__.insert(), {
                "entry_idx": 1, "device_id": "no-such-device", "seq": 1, "event_type": "scan",
                "device_ts": None, "jws": MARKER, "jws_sha256": bytes(32),
                "received_at": None})
    except Exception:
        with caplog.at_level(logging.ERROR, logger="iot_gateway"):
            logger.exception("store_failed")
    [record] = caplog.records
    line = json.loads(JsonLineFormatter().format(record))
    assert MARKER not in line["error"]
    assert "IntegrityError" in line["error"]
    assert ("SQLSTATE 23502" if platform.db.dialect == "postgresql"
            else "SQLITE_CONSTRAINT_NOTNULL") in line["error"]
