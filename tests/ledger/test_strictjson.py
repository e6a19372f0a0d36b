"""Strict JSON: repeated member names (named in the error), NaN/Infinity, and nesting
too deep to parse (a ValueError, like every other refusal)."""

from __future__ import annotations

import json
import math

import pytest

from ledger.strictjson import (
    DuplicateMemberError, NestingError, StrictDecoder, UniqueMembersDecoder, loads_strict,
)


@pytest.mark.parametrize("text, name", [
    ('{"a": 1, "a": 2}', "a"),
    ('{"a": 1, "b": {"c": [1, {"d": 1, "e": 2, "d": 3}]}}', "d"),
    ('[{"x": 1}, {"y": 1, "y": 1}]', "y"),
    ('{"\\u0061": 1, "a": 2}', "a"),  # the same name, written two ways
    ('{"": 1, "": 2}', ""),
])
def test_a_repeated_name_at_any_depth_is_named(text, name):
    for parse in (loads_strict, lambda t: json.loads(t, cls=UniqueMembersDecoder)):
        with pytest.raises(DuplicateMemberError) as raised:
            parse(text)
        assert raised.value.name == name
        assert isinstance(raised.value, ValueError)  # what callers have always caught


def test_the_same_name_in_different_objects_is_fine():
    assert loads_strict('{"a": {"a": 1}, "b": [{"a": 2}, {"a": 3}]}') == {
        "a": {"a": 1}, "b": [{"a": 2}, {"a": 3}]}


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_constants_are_refused_strictly_and_read_by_the_unique_members_decoder(constant):
    text = '{"n": %s}' % constant
    with pytest.raises(ValueError, match="is not JSON"):
        loads_strict(text)
    with pytest.raises(ValueError, match="is not JSON"):
        json.loads(text, cls=StrictDecoder)
    value = json.loads(text, cls=UniqueMembersDecoder)["n"]
    assert math.isnan(value) if constant == "NaN" else value == float(constant)


DEEP = "[" * 100_000 + "]" * 100_000


@pytest.mark.parametrize("parse", [
    loads_strict,
    lambda text: json.loads(text, cls=StrictDecoder),
    lambda text: json.loads(text, cls=UniqueMembersDecoder),
    lambda text: StrictDecoder().decode(text),  # one decoder kept for many documents
])
def test_nesting_too_deep_to_parse_is_a_value_error(parse):
    # Python's decoder recurses per level: past the interpreter's limit it
    # raised RecursionError, which callers catching ValueError let through.
    with pytest.raises(NestingError, match="nested too deeply") as raised:
        parse(DEEP)
    assert isinstance(raised.value, ValueError)
    assert parse("[[[]]]") == [[[]]]  # nesting itself is fine


def test_an_integer_of_more_digits_than_python_converts_is_a_value_error():
    with pytest.raises(ValueError, match="4300 digits"):
        loads_strict('{"n": %s}' % ("9" * 5000))
