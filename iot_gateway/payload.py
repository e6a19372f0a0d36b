"""The JWS payload of a device event (contract section 5), parsed strictly.

Only a payload whose signature verified reaches :func:`parse_event_payload`;
:func:`claimed_seq` reads the seq of one that did not, so that an answer can
name the event the device sent.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from ledger.strictjson import loads_strict

from .messages import EventPayload

MAX_SEQ = 2**63 - 1  # device_events.seq is a BIGINT
MAX_TYPE = 64  # device_events.event_type
MAX_SHIPMENT = 64  # device_events.shipment
MAX_TS = 40  # device_events.device_ts
# RFC 3339 section 5.6 date-time; "T" and "Z" may be lower case (section 5.6, NOTE).
_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})",
    re.ASCII)


class BadPayload(ValueError):
    """The payload is not an event object of contract section 5."""


def parse_event_payload(payload: bytes) -> EventPayload:
    """The event in ``payload``; raises :class:`BadPayload` saying which rule failed."""
    document = _json_object(payload)
    for name, kind in (("device_id", str), ("ts", str), ("type", str), ("data", dict)):
        if not isinstance(document.get(name), kind):
            raise BadPayload(f"'{name}' is missing or not a {_KIND_NAMES[kind]}")
    seq = document.get("seq")
    if not _is_seq(seq):
        raise BadPayload(f"'seq' is missing or not an integer from 0 to {MAX_SEQ}")
    _check_ts(document["ts"])
    if not 0 < len(document["type"]) <= MAX_TYPE:
        raise BadPayload(f"'type' must have 1 to {MAX_TYPE} characters")
    shipment = document.get("shipment")
    if "shipment" in document and not (isinstance(shipment, str)
                                       and 0 < len(shipment) <= MAX_SHIPMENT):
        raise BadPayload(f"'shipment' must be a string of 1 to {MAX_SHIPMENT} characters")
    for name in ("type", "shipment"):  # stored in columns and on the ledger
        _check_storable(name, document.get(name))
    return EventPayload(document["device_id"], seq, document["ts"], document["type"], shipment)


def claimed_seq(payload: bytes) -> int | None:
    """The seq an unverified payload claims, or None; never raises."""
    try:
        seq = _json_object(payload).get("seq")
    except BadPayload:
        return None
    return seq if _is_seq(seq) else None


_KIND_NAMES = {str: "string", dict: "JSON object"}


def _json_object(payload: bytes) -> dict[str, Any]:
    try:
        document = loads_strict(payload)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise BadPayload("payload is not UTF-8 JSON without duplicate names") from exc
    if not isinstance(document, dict):
        raise BadPayload("payload is not a JSON object")
    return document


def _is_seq(value: object) -> bool:
    return type(value) is int and 0 <= value <= MAX_SEQ  # bool is not an int here


def _check_storable(name: str, value: str | None) -> None:
    """No NUL (PostgreSQL refuses it) and no unpaired surrogate (no UTF-8 writes
    it); the API's fields refuse the same (``app.documents.types.fields.storable_text``)."""
    if value is None:
        return
    if "\x00" in value:
        raise BadPayload(f"'{name}' must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise BadPayload(f"'{name}' must not contain unpaired surrogates") from exc


def _check_ts(ts: str) -> None:
    match = _RFC3339.fullmatch(ts)
    if match is None or len(ts) > MAX_TS:
        raise BadPayload("'ts' is not an RFC 3339 date-time")
    year, month, day, hour, minute, second = (int(group) for group in match.groups()[:6])
    offset = match.group(8)
    try:
        date(year, month, day)
    except ValueError as exc:
        raise BadPayload("'ts' is not a calendar date") from exc
    # RFC 3339 section 5.7: second 60 is a leap second.
    if hour > 23 or minute > 59 or second > 60 or (
            len(offset) == 6 and (int(offset[1:3]) > 23 or int(offset[4:]) > 59)):
        raise BadPayload("'ts' has a time of day or offset out of range")


