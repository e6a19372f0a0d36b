"""JSON from untrusted sources, parsed strictly: duplicate member names and
the non-standard constants (NaN, Infinity) are refused rather than silently
resolved, so two parsers can never read the same bytes differently.

Every refusal is a ``ValueError``, as ``json`` raises for text that is not
JSON, an integer of more digits than Python converts (4300 by default) among
them; so is nesting too deep for Python's decoder, which recurses once per
level and raised ``RecursionError`` (:class:`NestingError`)."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any


def loads_strict(data: bytes | str) -> Any:
    """Parse UTF-8 JSON; raise ``ValueError`` on duplicate names, NaN/Infinity, bad
    UTF-8, nesting too deep to parse, or anything else that is not JSON."""
    text = data.decode("utf-8") if isinstance(data, bytes) else data
    if text.startswith("\ufeff"):  # as json.loads refuses it
        raise json.JSONDecodeError("Unexpected UTF-8 BOM (decode using utf-8-sig)", text, 0)
    return _DECODER.decode(text)


class DuplicateMemberError(ValueError):
    """An object names a member more than once (RFC 8259 section 4: its meaning
    is then unpredictable); ``name`` is the repeated member."""

    def __init__(self, name: str) -> None:
        super().__init__(f"duplicate member name {name!r}")
        self.name = name


class NestingError(ValueError):
    """Arrays and objects nested deeper than Python's decoder can recurse (about
    a thousand levels less what the caller's stack already holds)."""


class UniqueMembersDecoder(json.JSONDecoder):
    """The duplicate-name rule alone: an object that repeats a member name, at
    any depth, raises :class:`DuplicateMemberError`. NaN and Infinity are read as
    Python reads them, for callers whose schemas decide which numbers they take.
    Nesting too deep to parse raises :class:`NestingError`."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options, object_pairs_hook=_unique_members)

    def raw_decode(self, s: str, idx: int = 0) -> tuple[Any, int]:
        # ``decode`` (and so ``json.loads``) parses through this method.
        try:
            return super().raw_decode(s, idx)
        except RecursionError as error:
            raise NestingError("JSON nested too deeply to parse") from error


class StrictDecoder(UniqueMembersDecoder):
    """A decoder with the same rules as :func:`loads_strict`, for
    ``json.loads(data, cls=StrictDecoder)`` (which also reads UTF-16, UTF-32
    and a UTF-8 BOM)."""

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


# The decoder loads_strict uses: building one per call cost more than parsing
# an entry, and decoding keeps no state between calls.
_DECODER = StrictDecoder()
