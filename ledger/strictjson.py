"""JSON from untrusted sources, parsed strictly: duplicate member names and
the non-standard constants (NaN, Infinity) are refused rather than silently
resolved, so two parsers can never read the same bytes differently."""

from __future__ import annotations

import json
from typing import Any


def loads_strict(data: bytes | str) -> Any:
    """Parse UTF-8 JSON; raise ``ValueError`` on duplicate names, NaN/Infinity or bad UTF-8."""
    text = data.decode("utf-8") if isinstance(data, bytes) else data
    return json.loads(text, cls=StrictDecoder)


class StrictDecoder(json.JSONDecoder):
    """A decoder with the same rules: ``json.loads(data, cls=StrictDecoder)``
    (which also reads UTF-16, UTF-32 and a UTF-8 BOM), or one instance kept
    by a caller that parses many small documents."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options, object_pairs_hook=_unique_members,
                         parse_constant=_reject_constant)


def _unique_members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise ValueError("duplicate member name")
    return result


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")
