"""What flows through the gateway: received messages, verdicts and answers.

All frozen dataclasses: the MQTT callbacks build a :class:`Received` and hand
it over; nothing downstream mutates it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

# The fixed rejection reasons, in the order the checks run (docs/GATEWAY.md).
OVERSIZED = "oversized"
BAD_TOPIC = "bad_topic"
MALFORMED = "malformed"
KID_MISMATCH = "kid_mismatch"
UNKNOWN_DEVICE = "unknown_device"
REVOKED = "revoked"
ALG_MISMATCH = "alg_mismatch"
BAD_SIGNATURE = "bad_signature"
BAD_PAYLOAD = "bad_payload"
DEVICE_MISMATCH = "device_mismatch"
REPLAY = "replay"
INTERNAL_ERROR = "internal_error"  # a message no transaction could store; see store.py

REASONS = (OVERSIZED, BAD_TOPIC, MALFORMED, KID_MISMATCH, UNKNOWN_DEVICE, REVOKED,
           ALG_MISMATCH, BAD_SIGNATURE, BAD_PAYLOAD, DEVICE_MISMATCH, REPLAY, INTERNAL_ERROR)


class Status(str, enum.Enum):
    NOTARIZED = "notarized"
    DUPLICATE = "duplicate"
    REJECTED = "rejected"


@dataclass(frozen=True)
class Received:
    """One PUBLISH as the network thread saw it.

    ``arrival`` numbers messages in arrival order (acks go out in that order);
    ``generation`` is the connection it came in on: a packet id is only
    meaningful on the connection that delivered it.
    """

    arrival: int
    topic: str
    payload: bytes
    mid: int
    qos: int
    dup: bool
    generation: int
    received_at: datetime  # wall clock, stored with the outcome
    received_mono: float  # monotonic clock, for the lag metric


@dataclass(frozen=True)
class EventPayload:
    """A verified event payload (contract section 5)."""

    device_id: str
    seq: int
    ts: str
    type: str
    shipment: str | None


@dataclass(frozen=True)
class Rejection:
    """Why a message is quarantined; ``seq`` is the claimed one when known."""

    reason: str
    detail: str
    seq: int | None = None


@dataclass(frozen=True)
class Checked:
    """A message after the checks that need no seq state: ``event`` (and
    ``token``, the exact JWS text) are set only when every such check passed.

    ``device_id`` is the topic's device id (None for a bad topic): answers go
    to its acks topic.
    """

    message: Received
    device_id: str | None
    raw_sha256: bytes
    token: str | None = None
    event: EventPayload | None = None
    rejection: Rejection | None = None


@dataclass(frozen=True)
class Outcome:
    """What became of one message once its transaction committed."""

    status: Status
    seq: int | None
    reason: str | None = None
    ledger_index: int | None = None

    def answer(self) -> bytes:
        """The answer on ``tz/devices/<id>/acks`` (contract section 5): compact
        JSON, written out directly (every member is an int or a fixed name)."""
        members = [f'"seq":{"null" if self.seq is None else int(self.seq)}',
                   f'"status":"{self.status.value}"']
        if self.reason is not None:
            members.append(f'"reason":"{_identifier(self.reason)}"')
        if self.ledger_index is not None:
            members.append(f'"ledger_index":{int(self.ledger_index)}')
        return ("{" + ",".join(members) + "}").encode()


def _identifier(reason: str) -> str:
    if reason not in REASONS:
        raise ValueError(f"not a rejection reason: {reason!r}")
    return reason
