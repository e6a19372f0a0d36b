"""Ledger entries: JSON objects logged as their RFC 8785 canonical bytes
(contract section 2)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

import rfc8785

from .canonical import canonical_json
from .errors import EntryFormatError
from .strictjson import loads_strict

_TYPE = re.compile(r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+")
_UTC_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z")


def utc_timestamp(moment: datetime) -> str:
    """RFC 3339 UTC with microseconds and a ``Z``, as entries carry in ``at``."""
    moment = moment.astimezone(timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def check_entry(entry: Mapping[str, Any]) -> None:
    """Raise :class:`EntryFormatError` unless ``entry`` has the required fields."""
    if not isinstance(entry, Mapping):
        raise EntryFormatError("an entry is a JSON object")
    if entry.get("v") != 1 or isinstance(entry.get("v"), bool):
        raise EntryFormatError('entry must have "v": 1')
    if not isinstance(entry.get("type"), str) or not _TYPE.fullmatch(entry["type"]):
        raise EntryFormatError('entry "type" must be dotted lower-case, e.g. document.issued')
    if not isinstance(entry.get("at"), str) or not _UTC_TIME.fullmatch(entry["at"]):
        raise EntryFormatError('entry "at" must be an RFC 3339 UTC time ending in Z')
    if not isinstance(entry.get("actor"), str) or not entry["actor"]:
        raise EntryFormatError('entry "actor" must be a non-empty string')


def encode_entry(entry: Mapping[str, Any]) -> bytes:
    """The canonical (RFC 8785) bytes of a checked entry: what the log stores."""
    check_entry(entry)
    try:
        return canonical_json(dict(entry))
    except (rfc8785.CanonicalizationError, TypeError, ValueError) as exc:
        raise EntryFormatError(f"entry cannot be canonicalized: {exc}") from exc
    except RecursionError as exc:  # both encoders recurse once per level of nesting
        raise EntryFormatError("entry cannot be canonicalized: nested too deeply") from exc


def decode_entry(data: bytes) -> dict[str, Any]:
    """Parse logged bytes, checking they are a well-formed entry in canonical form;
    any other bytes, however hostile, raise :class:`EntryFormatError`."""
    try:
        # Strictly: bytes that are not UTF-8, repeat a member name, hold NaN, nest
        # too deeply to parse or hold an integer too long to convert are refused
        # here, each a ValueError, rather than read one way by one parser and
        # another way by the next.
        entry = loads_strict(data)
    except ValueError as exc:
        raise EntryFormatError(f"entry is not JSON: {exc}") from exc
    check_entry(entry)
    if encode_entry(entry) != data:
        raise EntryFormatError("entry bytes are not RFC 8785 canonical JSON")
    return entry
