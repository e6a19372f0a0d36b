"""Entries as logged bytes: ``decode_entry`` reads the bytes of a log that may
have been tampered with, so whatever they hold it answers with the entry or
an EntryFormatError, never another exception (callers catch only that)."""

from __future__ import annotations

import pytest

import ledger

CANONICAL = b'{"actor":"org_a","at":"2026-11-23T09:00:00.000000Z","type":"org.created","v":1}'


def _with(member: bytes) -> bytes:
    """The canonical entry with one more member, in key order ("actor" < "b" < "type")."""
    return CANONICAL.replace(b',"type"', b',"b":' + member + b',"type"')


def _nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


# (name, logged bytes, words the EntryFormatError must contain)
HOSTILE = [
    ("unclosed-arrays-nested-100000-deep", b"[" * 100_000, "nested too deeply"),
    ("arrays-nested-100000-deep", _nested(100_000), "nested too deeply"),
    ("member-nested-100000-deep", _with(_nested(100_000)), "nested too deeply"),
    # parses, but is too deep for the canonical re-encoding that checks its form
    ("member-nested-990-deep", _with(_nested(990)), "nested too deeply"),
    ("integer-of-5000-digits", _with(b"9" * 5000), "4300 digits"),
    ("v-of-5000-digits", CANONICAL.replace(b'"v":1', b'"v":' + b"1" * 5000), "4300 digits"),
    ("member-repeated", CANONICAL[:-1] + b',"v":1}', "duplicate member name 'v'"),
    ("actor-repeated", CANONICAL.replace(b'"actor":"org_a",', b'"actor":"x","actor":"org_a",'),
     "duplicate member name 'actor'"),
    ("nan", _with(b"NaN"), "NaN is not JSON"),
    ("not-utf8", b"\xff\xfe\xfd", "utf-8"),
    ("utf16", CANONICAL.decode().encode("utf-16"), "utf-8"),
    ("utf8-bom", b"\xef\xbb\xbf" + CANONICAL, "not JSON"),
    ("cut-short", CANONICAL[:-1], "not JSON"),
    ("empty", b"", "not JSON"),
]


@pytest.mark.parametrize("data, words", [case[1:] for case in HOSTILE],
                         ids=[case[0] for case in HOSTILE])
def test_hostile_bytes_are_an_entry_format_error(data, words):
    with pytest.raises(ledger.EntryFormatError) as raised:
        ledger.decode_entry(data)
    assert words in str(raised.value)
    assert "\n" not in str(raised.value)  # one line for the verifier's report


def test_an_entry_too_deep_to_canonicalize_is_an_entry_format_error():
    entry = {"v": 1, "type": "org.created", "at": "2026-11-23T09:00:00Z", "actor": "org_a"}
    value: list = []
    for _ in range(5000):
        value = [value]
    with pytest.raises(ledger.EntryFormatError, match="nested too deeply"):
        ledger.encode_entry({**entry, "b": value})
    # nesting itself is fine, and canonical entries decode as before
    shallow = {**entry, "b": [[[[]]]], "c": "\u00e9\u20ac"}
    assert ledger.decode_entry(ledger.encode_entry(shallow)) == shallow
    assert ledger.decode_entry(CANONICAL)["type"] == "org.created"
