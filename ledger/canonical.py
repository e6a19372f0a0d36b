"""RFC 8785 (JCS) canonical JSON, fast for the values the ledger logs.

``rfc8785`` is the reference and handles every JSON value, but it is pure
Python and was the largest cost of appending and verifying entries. For the
shapes entries and field digests use (strings, safe integers, booleans,
null, lists, objects whose keys stay in the Basic Multilingual Plane), the
standard library's sorted compact JSON is byte-for-byte the same:

- numbers: integers within +-(2**53 - 1) print identically; floats are left
  to ``rfc8785`` (their ECMAScript formatting differs from Python's repr);
- strings: both escape only ``"``, ``\\`` and U+0000..U+001F, with the same
  short forms and lower-case ``\\u00xx``, and write everything else as UTF-8;
- key order: JCS sorts by UTF-16 code units, Python by code points; the two
  agree unless a key holds a character beyond U+FFFF, which goes to ``rfc8785``.

``tests/ledger/test_canonical.py`` checks the equivalence on generated values.
"""

from __future__ import annotations

import json
from typing import Any

import rfc8785

_MAX_SAFE_INTEGER = 2**53 - 1
_encode = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":"),
                           allow_nan=False).encode


def canonical_json(value: Any) -> bytes:
    """The RFC 8785 canonical UTF-8 bytes of a JSON value."""
    if _stdlib_agrees(value):
        try:
            return _encode(value).encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate: let the reference decide
            pass
    return rfc8785.dumps(value)


def _stdlib_agrees(value: Any) -> bool:
    kind = type(value)
    if kind is str or kind is bool or value is None:
        return True
    if kind is int:
        return -_MAX_SAFE_INTEGER <= value <= _MAX_SAFE_INTEGER
    if kind is list:
        return all(_stdlib_agrees(item) for item in value)
    if kind is dict:
        return all(type(key) is str and (key.isascii() or max(key) <= "\uffff")
                   and _stdlib_agrees(item) for key, item in value.items())
    return False
