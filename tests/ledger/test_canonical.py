"""The canonical-JSON fast path is byte-for-byte RFC 8785 (the rfc8785 package)."""

from __future__ import annotations

import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.canonical import canonical_json

# Text with the awkward parts of Unicode: controls, quotes, DEL, U+2028, the
# private-use area (sorts differently from surrogates in UTF-16), astral planes.
awkward_text = st.text(alphabet=st.one_of(
    st.characters(codec="utf-8"), st.sampled_from(
        ['"', "\\", "\x00", "\x1f", "\x7f", "\u2028", "\ue000", "\uffff", "\U0001f600",
         "\U00010000", "\b", "\f", "\n", "\r", "\t", "/"])), max_size=12)
integers = st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1)
scalars = st.one_of(st.none(), st.booleans(), integers, awkward_text)
json_values = st.recursive(scalars, lambda children: st.one_of(
    st.lists(children, max_size=5), st.dictionaries(awkward_text, children, max_size=5)),
    max_leaves=25)


@settings(max_examples=1500, deadline=None)
@given(json_values)
def test_fast_path_equals_rfc8785(value):
    assert canonical_json(value) == rfc8785.dumps(value)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(awkward_text, st.floats(allow_nan=False, allow_infinity=False), max_size=4))
def test_floats_go_to_the_reference(value):
    assert canonical_json(value) == rfc8785.dumps(value)


def test_keys_beyond_the_bmp_sort_by_utf16_code_units():
    value = {"\U0001f600": 1, "\ue000": 2}  # code points: e000 < 1f600; UTF-16: d83d < e000
    assert canonical_json(value) == rfc8785.dumps(value)
    assert canonical_json(value).index("\U0001f600".encode()) < canonical_json(value).index(
        "\ue000".encode())


def test_large_integers_go_to_the_reference():
    for number in (2**53, -(2**53), 2**63):
        try:
            expected = rfc8785.dumps({"n": number})
        except rfc8785.CanonicalizationError:
            continue
        assert canonical_json({"n": number}) == expected
