"""JSON from untrusted sources, parsed strictly: duplicate member names and
the non-standard constants (NaN, Infinity) are refused rather than silently
resolved, so two parsers can never read the same bytes differently."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any


def loads_strict(data: bytes | str) -> Any:
    """Parse UTF-8 JSON; raise ``ValueError`` on duplicate names, NaN/Infinity or bad UTF-8."""
    text = data.decode("utf-8") if isinstance(data, bytes) else data
    return json.loads(text, cls=StrictDecoder)


class DuplicateMemberError(ValueError):
    """An object names a member more than once (RFC 8259 section 4: its meaning
    is then unpredictable); ``name`` is the repeated member."""

    def __init__(self, name: str) -> None:
        super().__init__(f"duplicate member name {name!r}")
        self.name = name


class UniqueMembersDecoder(json.JSONDecoder):
    """The duplicate-name rule alone: an object that repeats a member name, at
    any depth, raises :class:`DuplicateMemberError`. NaN and Infinity are read as
    Python reads them, for callers whose schemas decide which numbers they take."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options, object_pairs_hook=_unique_members)


class StrictDecoder(UniqueMembersDecoder):
    """A decoder with the same rules as :func:`loads_strict`:
    ``json.loads(data, cls=StrictDecoder)`` (which also reads UTF-16, UTF-32
    and a UTF-8 BOM), or one instance kept by a caller that parses many small
    documents."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options, parse_constant=_reject_constant)


def _unique_members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):  # rare: only then count the names
        counts = Counter(name for name, _ in pairs)
        raise DuplicateMemberError(next(name for name, count in counts.items() if count > 1))
    return result


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")
