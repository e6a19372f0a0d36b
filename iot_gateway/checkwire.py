"""How a batch's checks travel to the worker processes and back, compactly.

Every byte pickled is CPU in the gateway's main process (the executor's
feeder thread pickles, its manager thread unpickles) on the two cores it
shares with the broker and the workers. So a worker task carries each
registered device once, not once per message, and messages as plain
``(device id, payload)`` pairs; a verdict comes back as a plain tuple,
not as nested dataclasses:

- ``(None, seq, ts, type, shipment)``: the verified event (its device id is
  the job's: :func:`~iot_gateway.checks.verify_message` refuses any other);
- ``(reason, detail, seq)``: a rejection.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Optional, Union

from .checks import MessageJob, Verdict, verify_message
from .messages import EventPayload, Rejection
from .registry import RegisteredDevice

WireVerdict = Union[tuple[None, int, str, str, Optional[str]], tuple[str, str, Optional[int]]]
WireChunk = tuple[dict[str, RegisteredDevice], list[tuple[str, bytes]], int]


def pack_jobs(jobs: Sequence[MessageJob]) -> WireChunk:
    """One worker task's jobs: the devices by id, (device id, payload) pairs, the size limit."""
    devices = {job.device_id: job.device for job in jobs if job.device is not None}
    return devices, [(job.device_id, job.payload) for job in jobs], jobs[0].max_bytes


def verify_packed(chunk: WireChunk) -> list[WireVerdict]:
    """The worker's side: :func:`verify_message` over a packed chunk, verdicts packed."""
    devices, messages, max_bytes = chunk
    return [_pack_verdict(verify_message(MessageJob(device_id, payload,
                                                    devices.get(device_id), max_bytes)))
            for device_id, payload in messages]


def unpack_verdict(job: MessageJob, wire: WireVerdict) -> Verdict:
    """The :class:`Verdict` that ``wire`` stands for, for ``job``."""
    if wire[0] is None:
        _, seq, ts, event_type, shipment = wire
        return Verdict(event=EventPayload(job.device_id, seq, ts, event_type, shipment))
    return Verdict(rejection=Rejection(*wire))


def _pack_verdict(verdict: Verdict) -> WireVerdict:
    if verdict.rejection is not None:
        rejection = verdict.rejection
        return rejection.reason, rejection.detail, rejection.seq
    event = verdict.event
    return None, event.seq, event.ts, event.type, event.shipment
