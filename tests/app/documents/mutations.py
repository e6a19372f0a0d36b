"""Named mutations of the type examples, and reading marshmallow errors as paths."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

from marshmallow import ValidationError

from app.documents.types import DOCUMENT_TYPES

DELETE = object()


def mutated(type_name: str, *changes: tuple[str, Any]) -> dict:
    """A deep copy of the type's example with each ``(dotted.path, value)`` applied;
    the value DELETE removes the key."""
    document = copy.deepcopy(dict(DOCUMENT_TYPES[type_name].example))
    for path, value in changes:
        *parents, last = [int(part) if part.isdigit() else part for part in path.split(".")]
        target = document
        for part in parents:
            target = target[part]
        if value is DELETE:
            del target[last]
        else:
            target[last] = value
    return document


def error_paths(error: ValidationError) -> dict[str, list[str]]:
    """The error's messages by dotted field path, e.g. ``{"line_items.0.line_total": [...]}``."""
    return dict(_flatten(error.messages, ()))


def _flatten(messages: Any, path: tuple) -> Iterator[tuple[str, list[str]]]:
    if isinstance(messages, dict):
        for key, value in messages.items():
            yield from _flatten(value, (*path, str(key)))
    else:
        yield ".".join(path), list(messages)


def load_error(type_name: str, document: dict) -> dict[str, list[str]]:
    """The error paths of loading ``document``; fails the test if it loads."""
    try:
        DOCUMENT_TYPES[type_name].schema().load(document)
    except ValidationError as error:
        return error_paths(error)
    raise AssertionError(f"{type_name}: invalid document loaded")
