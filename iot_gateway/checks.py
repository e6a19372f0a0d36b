"""Everything about a message that does not depend on the seq state, in the
fixed order of docs/GATEWAY.md:

``oversized`` > ``bad_topic`` > ``malformed`` > ``kid_mismatch`` >
``unknown_device`` > ``revoked`` > ``alg_mismatch`` > ``bad_signature`` >
``bad_payload`` > ``device_mismatch``.

The first two need only the MQTT message; the rest (:func:`verify_message`)
runs in the worker processes, given the registered device of the topic (a
kid that is not the topic's device is refused before the device matters).
The seq rules (notarize, ``duplicate``, ``replay``) need the committed state
and run in the write transaction (store.py). The JWS header is never trusted
to choose the algorithm: the device's registered ``alg`` is.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from ledger.jws import BadSignature, KeyFormatError, MalformedJws, parse_compact
from ledger.publickeys import load_public_key

from . import messages as m
from .messages import Checked, EventPayload, Received, Rejection
from .payload import BadPayload, claimed_seq, parse_event_payload
from .registry import RegisteredDevice
from .topics import device_of_event_topic

DETAIL_LIMIT = 300  # quarantined_events.detail

DeviceLookup = Callable[[Iterable[str]], Mapping[str, RegisteredDevice]]


@dataclass(frozen=True)
class MessageJob:
    """What :func:`verify_message` needs, as plain data that pickles cheaply."""

    device_id: str  # the topic's
    payload: bytes
    device: RegisteredDevice | None
    max_bytes: int


@dataclass(frozen=True)
class Verdict:
    """Either a rejection or the verified event."""

    rejection: Rejection | None = None
    event: EventPayload | None = None


def verify_message(job: MessageJob) -> Verdict:
    """The checks from ``malformed`` to ``device_mismatch``, in order."""
    try:
        jws = parse_compact(job.payload, max_bytes=job.max_bytes)
    except MalformedJws as exc:
        return _refuse(m.MALFORMED, str(exc), None)
    if jws.kid != job.device_id:
        return _refuse(m.KID_MISMATCH, "header kid is missing or is not the topic's device id",
                       jws.payload)
    device = job.device
    if device is None:
        return _refuse(m.UNKNOWN_DEVICE, "no device is registered with this id", jws.payload)
    if device.revoked:
        return _refuse(m.REVOKED, "the device is revoked", jws.payload)
    if jws.alg != device.alg:
        return _refuse(m.ALG_MISMATCH,
                       f"header alg {jws.alg!r} is not the registered {device.alg!r}",
                       jws.payload)
    try:
        load_public_key(device.alg, device.jwk_text).verify(jws.signing_input, jws.signature)
    except (BadSignature, KeyFormatError) as exc:
        return _refuse(m.BAD_SIGNATURE, str(exc), jws.payload)
    return _payload_verdict(job.device_id, jws.payload)


def verify_messages(jobs: Sequence[MessageJob]) -> list[Verdict]:
    """:func:`verify_message` over ``jobs``, in order (one worker task)."""
    return [verify_message(job) for job in jobs]


class BatchChecker:
    """Runs the checks over a batch: one device lookup for the whole batch,
    then the per-message checks through ``run_jobs`` (inline or a pool)."""

    def __init__(self, lookup_devices: DeviceLookup,
                 run_jobs: Callable[[Sequence[MessageJob]], list[Verdict]],
                 max_payload_bytes: int) -> None:
        self.lookup_devices = lookup_devices
        self.run_jobs = run_jobs
        self.max_payload_bytes = max_payload_bytes

    def check(self, batch: Sequence[Received]) -> list[Checked]:
        """One :class:`Checked` per message, in the batch's order."""
        checked = [self._message_checks(message) for message in batch]
        pending = [i for i, c in enumerate(checked) if c.rejection is None]
        devices = self.lookup_devices({checked[i].device_id for i in pending})
        jobs = [MessageJob(checked[i].device_id, checked[i].message.payload,
                           devices.get(checked[i].device_id), self.max_payload_bytes)
                for i in pending]
        for i, verdict in zip(pending, self.run_jobs(jobs)):
            checked[i] = _with_verdict(checked[i], verdict)
        return checked

    def _message_checks(self, message: Received) -> Checked:
        """``oversized`` (before anything is parsed), then ``bad_topic``."""
        raw_sha256 = hashlib.sha256(message.payload).digest()
        device_id = device_of_event_topic(message.topic)
        if len(message.payload) > self.max_payload_bytes:
            return Checked(message, device_id, raw_sha256, rejection=Rejection(
                m.OVERSIZED, f"payload is {len(message.payload)} bytes, over the limit of "
                             f"{self.max_payload_bytes}"))
        if device_id is None:
            return Checked(message, None, raw_sha256, rejection=Rejection(
                m.BAD_TOPIC, "topic is not tz/devices/<device_id>/events with a valid device id"))
        return Checked(message, device_id, raw_sha256)


def _payload_verdict(device_id: str, payload: bytes) -> Verdict:
    try:
        event = parse_event_payload(payload)
    except BadPayload as exc:
        return _refuse(m.BAD_PAYLOAD, str(exc), payload)
    if event.device_id != device_id:
        return Verdict(Rejection(m.DEVICE_MISMATCH,
                                 "payload device_id is not the topic's device id", event.seq))
    return Verdict(event=event)


def _refuse(reason: str, detail: str, unverified_payload: bytes | None) -> Verdict:
    """A rejection; its answer names the seq the (unverified) payload claims."""
    seq = claimed_seq(unverified_payload) if unverified_payload is not None else None
    return Verdict(Rejection(reason, detail[:DETAIL_LIMIT], seq))


def _with_verdict(checked: Checked, verdict: Verdict) -> Checked:
    if verdict.rejection is not None:
        return Checked(checked.message, checked.device_id, checked.raw_sha256,
                       rejection=verdict.rejection)
    # parse_compact accepted the payload, so it is ASCII: the exact JWS text.
    return Checked(checked.message, checked.device_id, checked.raw_sha256,
                   token=checked.message.payload.decode("ascii"), event=verdict.event)
