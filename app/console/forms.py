"""Reading the console's query strings strictly: bad input is shown, never guessed."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime, timezone

from werkzeug.datastructures import MultiDict

from .queries import EntryFilter

_ID = re.compile(r"[A-Za-z0-9._:-]{1,80}")
_TYPE = re.compile(r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+")  # contract section 2
_TOPIC_SEGMENT = re.compile(r"[^\x00-\x1f\x7f/+#]{1,128}")
_REASON = re.compile(r"[a-z][a-z0-9_]{0,31}")
_MAX_LIMIT = 200
HISTORY_KINDS = ("document", "shipment", "device", "consent")
BUNDLE_KINDS = ("document", "shipment", "device", "org")  # what audit bundles cover


class FormError(ValueError):
    """A query parameter that is not in its format; the message names it."""


def refuse_repeated(args: MultiDict) -> None:
    """Refuse a query that gives a parameter more than once: the pages read one
    value of each, so ``?type=a&type=b`` would search for ``a`` alone, which is
    not what was asked (as the API's ``app.request_query``)."""
    repeated = sorted(name for name in args if len(args.getlist(name)) > 1)
    if repeated:
        raise FormError(f"{repeated[0][:64]} is given more than once; give it once")


def entry_filter(args: Mapping[str, str]) -> EntryFilter:
    """The search filters in ``args`` (empty fields ignored)."""
    values = {}
    for name in ("org", "document", "consent", "device", "shipment"):
        values[name] = _optional(args, name, _ID, "an identifier")
    values["type"] = _optional(args, "type", _TYPE, "a dotted type such as document.issued")
    start, end = _moment(args, "from"), _moment(args, "to")
    if start and end and end <= start:
        raise FormError("to must be later than from")
    return EntryFilter(**values, start=start, end=end)


def subject(args: Mapping[str, str],
            kinds: tuple[str, ...] = HISTORY_KINDS) -> tuple[str, str] | None:
    """The one (kind, id) whose history is asked for, or None when none is."""
    given = [(kind, args.get(kind, "").strip()) for kind in kinds]
    given = [(kind, value) for kind, value in given if value]
    if not given:
        return None
    if len(given) > 1:
        raise FormError("ask for the history of one subject at a time")
    kind, value = given[0]
    if not _ID.fullmatch(value):
        raise FormError(f"{kind} must be an identifier")
    return kind, value


def quarantine_filter(args: Mapping[str, str]) -> tuple[str | None, str | None]:
    """The quarantine page's optional device id and reason."""
    return (_optional(args, "device", _TOPIC_SEGMENT, "a device id of 1 to 128 characters"),
            _optional(args, "reason", _REASON, "a reason such as bad_signature"))


def bundle_subject(args: Mapping[str, str]) -> tuple[str, str]:
    """The one document, device, organisation or shipment an audit bundle is for."""
    asked = subject(args, kinds=BUNDLE_KINDS)
    if asked is None:
        raise FormError("name a document, device, org or shipment")
    return asked


def index(args: Mapping[str, str], name: str) -> int | None:
    """A non-negative integer parameter, or None when absent."""
    text = args.get(name, "").strip()
    if not text:
        return None
    if not (text.isascii() and text.isdigit()) or len(text) > 18:  # "²" is a digit int() refuses
        raise FormError(f"{name} must be a non-negative integer")
    return int(text)


def limit(args: Mapping[str, str], default: int = 50) -> int:
    value = index(args, "limit")
    if value is None:
        return default
    if not 1 <= value <= _MAX_LIMIT:
        raise FormError(f"limit must be 1 to {_MAX_LIMIT}")
    return value


def _optional(args: Mapping[str, str], name: str, pattern: re.Pattern, what: str) -> str | None:
    text = args.get(name, "").strip()
    if not text:
        return None
    if not pattern.fullmatch(text):
        raise FormError(f"{name} must be {what}")
    return text


def _moment(args: Mapping[str, str], name: str) -> datetime | None:
    """An RFC 3339 time, a date, or a browser's datetime-local value (taken as UTC)."""
    text = args.get(name, "").strip()
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError as exc:
        raise FormError(f"{name} must be a date or an RFC 3339 time") from exc
    if moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    try:  # stored times are UTC: 0001-01-01T00:00:00+05:00 is none
        moment.astimezone(timezone.utc)
    except OverflowError as exc:
        raise FormError(f"{name} is out of range once converted to UTC") from exc
    return moment
