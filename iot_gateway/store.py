"""The write phase of a batch: seq rules, then one transaction holding every
notarized event (one ``notary.record`` call, one checkpoint), the device
rows' new ``last_seq`` and every quarantine row.

Seq rules (contract section 5), applied in arrival order against the
committed state plus what this batch already decided:

- seq greater than the device's last notarized seq: notarize;
- the seq of a notarized event, same bytes (sha256 of the exact JWS): ``duplicate``
  (nothing written, the answer carries the original ledger index);
- the same seq with other bytes, or a seq at or below the last that was
  never notarized: rejected ``replay``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import bindparam, insert, select, tuple_, update
from sqlalchemy.orm import Session

from app.bulkinsert import BulkInsert
from app.devices.models import Device, DeviceEvent, DeviceStatus, QuarantinedEvent
from app.notary.service import Notary, PendingEntry, make_entry
from app.platform import Platform

from . import messages as m
from .messages import Checked, Outcome, Rejection, Status
from .topics import topic_label

_DEVICE_EVENTS = BulkInsert(DeviceEvent.__table__, (
    "entry_idx", "device_id", "seq", "event_type", "shipment", "device_ts", "jws", "jws_sha256",
    "received_at"))


@dataclass
class SeqState:
    """Per device: the highest notarized seq and the notarized (seq -> sha256,
    ledger index) this batch may collide with; ``None`` index = notarized
    earlier in this batch, index known after the record call."""

    last_seq: dict[str, int | None]
    notarized: dict[tuple[str, int], tuple[bytes, int | None]] = field(default_factory=dict)

    def decide(self, device_id: str, seq: int, sha256: bytes) -> Status:
        """NOTARIZED (and remember it), DUPLICATE or REJECTED (replay)."""
        last = self.last_seq.get(device_id)
        if last is None or seq > last:
            self.last_seq[device_id] = seq
            self.notarized[(device_id, seq)] = (sha256, None)
            return Status.NOTARIZED
        stored = self.notarized.get((device_id, seq))
        if stored is not None and stored[0] == sha256:
            return Status.DUPLICATE
        return Status.REJECTED


class EventStore:
    """Commits the outcomes of checked batches."""

    def __init__(self, platform: Platform, quarantine_raw_bytes: int) -> None:
        self.db = platform.db
        self.notary: Notary = platform.notary
        self.clock = platform.now
        self.quarantine_raw_bytes = quarantine_raw_bytes

    def commit(self, batch: Sequence[Checked]) -> list[Outcome]:
        """Store ``batch`` in one transaction; the outcomes, in order, once committed."""
        with self.db.write() as session:
            return _BatchWriter(session, self, batch).write()


class _BatchWriter:
    """One batch's transaction, step by step."""

    def __init__(self, session: Session, store: EventStore, batch: Sequence[Checked]) -> None:
        self.session = session
        self.store = store
        self.batch = batch
        self.now = store.clock()

    def write(self) -> list[Outcome]:
        devices = self._lock_devices()
        state = SeqState({device_id: row.last_seq for device_id, row in devices.items()})
        state.notarized = self._stored_events(state)
        decided: list[Outcome | Status] = []  # a Status: index known after record()
        to_notarize: list[Checked] = []
        to_quarantine: list[tuple[Checked, Rejection]] = []
        for checked in self.batch:
            rejection = _revoked_since(checked, devices) or checked.rejection
            if rejection is None:
                status = state.decide(checked.device_id, checked.event.seq, checked.raw_sha256)
                if status is Status.REJECTED:
                    rejection = Rejection(m.REPLAY, _replay_detail(state, checked),
                                          checked.event.seq)
                elif status is Status.NOTARIZED:
                    to_notarize.append(checked)
            if rejection is not None:
                to_quarantine.append((checked, rejection))
                decided.append(Outcome(Status.REJECTED, rejection.seq, rejection.reason))
            else:
                decided.append(status)
        self._notarize(to_notarize, devices, state)
        self._quarantine(to_quarantine)
        return [outcome if isinstance(outcome, Outcome) else
                Outcome(outcome, checked.event.seq,
                        ledger_index=state.notarized[(checked.device_id, checked.event.seq)][1])
                for outcome, checked in zip(decided, self.batch)]

    def _lock_devices(self) -> dict[str, Device]:
        """The batch's devices, locked on PostgreSQL (SQLite's write transaction
        is exclusive already), in id order so concurrent writers cannot deadlock."""
        ids = sorted({c.device_id for c in self.batch if c.event is not None})
        if not ids:
            return {}
        devices = Device.__table__.c  # Core columns: no ORM compile step per batch
        rows = self.session.execute(
            select(devices.id, devices.status, devices.last_seq, devices.owner_org_id)
            .where(devices.id.in_(ids)).order_by(devices.id).with_for_update()).all()
        return {row.id: row for row in rows}

    def _stored_events(self, state: SeqState) -> dict[tuple[str, int], tuple[bytes, int]]:
        """Notarized events with a (device, seq) this batch names at or below the last."""
        keys = {(c.device_id, c.event.seq) for c in self.batch if c.event is not None
                and state.last_seq.get(c.device_id) is not None
                and c.event.seq <= state.last_seq[c.device_id]}
        if not keys:
            return {}
        rows = self.session.execute(
            select(DeviceEvent.device_id, DeviceEvent.seq, DeviceEvent.jws_sha256,
                   DeviceEvent.entry_idx)
            .where(tuple_(DeviceEvent.device_id, DeviceEvent.seq).in_(sorted(keys)))).all()
        return {(row.device_id, row.seq): (bytes(row.jws_sha256), row.entry_idx) for row in rows}

    def _notarize(self, items: list[Checked], devices: dict[str, Device],
                  state: SeqState) -> None:
        """Log ``items`` (one record call, one checkpoint), store their JWS and
        move each device's last_seq; fills in their indexes in ``state``."""
        if not items:
            return
        common = make_entry("device.event", "", self.now)  # formats the time once a batch
        receipts = self.store.notary.record(
            self.session, [_pending_entry(c, devices[c.device_id].owner_org_id, common)
                           for c in items])
        # The driver's cursor: the ORM's bulk path, and even Core's, cost more
        # per row than the rest of the row (see app/bulkinsert.py).
        _DEVICE_EVENTS.execute(self.session.connection(), [
            (receipt.index, c.device_id, c.event.seq, c.event.type, c.event.shipment,
             c.event.ts, c.token, c.raw_sha256, c.message.received_at)
            for c, receipt in zip(items, receipts)])
        for c, receipt in zip(items, receipts):
            state.notarized[(c.device_id, c.event.seq)] = (c.raw_sha256, receipt.index)
        last = {c.device_id: c.event.seq for c in items}  # the batch's highest, by SeqState
        devices_table = Device.__table__
        self.session.execute(
            update(devices_table).where(devices_table.c.id == bindparam("device"))
            .values(last_seq=bindparam("seq")),
            [{"device": device_id, "seq": seq} for device_id, seq in last.items()])

    def _quarantine(self, items: list[tuple[Checked, Rejection]]) -> None:
        rows, seen = [], self._already_quarantined(items)
        for checked, rejection in items:
            key = (_label(checked), checked.raw_sha256, rejection.reason)
            if key in seen:
                continue  # a redelivery of a message already quarantined for this reason
            seen.add(key)
            rows.append({
                "topic_device_id": key[0], "reason": rejection.reason,
                "detail": rejection.detail, "seq": rejection.seq,
                "raw": checked.message.payload[:self.store.quarantine_raw_bytes],
                "raw_size": len(checked.message.payload), "raw_sha256": checked.raw_sha256,
                "received_at": checked.message.received_at})
        if rows:
            self.session.execute(insert(QuarantinedEvent.__table__), rows)

    def _already_quarantined(self, items: list[tuple[Checked, Rejection]]) -> set:
        """Quarantine rows that redelivered (MQTT DUP) messages may repeat."""
        redelivered = [(checked, rejection) for checked, rejection in items
                       if checked.message.dup]
        if not redelivered:
            return set()
        q = QuarantinedEvent
        rows = self.session.execute(
            select(q.topic_device_id, q.raw_sha256, q.reason)
            .where(q.topic_device_id.in_(sorted({_label(c) for c, _ in redelivered})),
                   q.raw_sha256.in_(sorted({c.raw_sha256 for c, _ in redelivered})))).all()
        return {(row.topic_device_id, bytes(row.raw_sha256), row.reason) for row in rows}


def _pending_entry(checked: Checked, owner_org_id: str,
                   common: dict[str, Any]) -> PendingEntry:
    """The ledger entry of a notarized event: digests and metadata, never its data;
    ``common``: the batch's ``make_entry("device.event", ...)``, whose actor this
    entry replaces with the device."""
    event = checked.event
    fields = {"device": checked.device_id, "seq": event.seq, "event_type": event.type,
              "jws_sha256": "sha256:" + checked.raw_sha256.hex(), "device_ts": event.ts}
    refs = [("device", checked.device_id), ("org", owner_org_id)]
    if event.shipment is not None:
        fields["shipment"] = event.shipment
        refs.append(("shipment", event.shipment))
    return PendingEntry({**common, "actor": f"device:{checked.device_id}", **fields},
                        refs=tuple(refs))


def _revoked_since(checked: Checked, devices: dict[str, Device]) -> Rejection | None:
    """A device revoked after the batch's checks read it is refused all the same."""
    if checked.event is None or checked.rejection is not None:
        return None
    row = devices.get(checked.device_id)
    if row is None or row.status == DeviceStatus.REVOKED:
        reason = m.REVOKED if row is not None else m.UNKNOWN_DEVICE
        return Rejection(reason, "the device is revoked" if row is not None
                         else "no device is registered with this id", checked.event.seq)
    return None


def _replay_detail(state: SeqState, checked: Checked) -> str:
    if (checked.device_id, checked.event.seq) in state.notarized:
        return "this seq was notarized with other bytes"
    return f"seq is not above the device's last notarized seq {state.last_seq[checked.device_id]}"


def _label(checked: Checked) -> str:
    return checked.device_id or topic_label(checked.message.topic)
