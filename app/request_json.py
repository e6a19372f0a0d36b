"""JSON request bodies, read with no member name repeated.

Python's decoder keeps the last of two members with the same name; another
parser may keep the first. On a platform whose records are hashed and
notarized, a client could then display one value while the platform stored
another, so a body that repeats a member name in any object, at any depth, is
refused: a 400 naming the member, as a body that is not JSON at all is
answered (webargs: ``{"errors": {"json": ["Invalid JSON body."]}}``).

Everything else is as webargs reads a body: only a JSON media type, UTF-8,
an empty body is no body, NaN and Infinity are read (the schemas refuse
them where they are not taken), and a body over ``MAX_CONTENT_LENGTH`` is a
413 when it is read. Two differences: a body nested too deeply to parse is a
400 too, where webargs let the ``RecursionError`` through (a 500); and a body
labelled with a charset other than UTF-8 is a 415 naming it, where webargs
read it as UTF-8 whatever the label said: JSON is UTF-8 (RFC 8259 section
8.1), and bytes sent as Latin-1 that are also UTF-8 would be stored as text
their sender never wrote.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Request
from flask_smorest import Blueprint, abort
from marshmallow import Schema
from webargs.core import missing
from webargs.flaskparser import is_json_request

from ledger.strictjson import DuplicateMemberError, UniqueMembersDecoder

# A member name or charset quoted in an error is cut to this many characters.
_NAME_SHOWN = 64
# Content-Type charset labels read as UTF-8 (compared in lower case).
_UTF8_LABELS = ("utf-8", "utf8")


def load_json_body(request: Request, schema: Schema) -> Any:
    """The body of a JSON request, or ``missing`` when there is none (webargs'
    loader signature); aborts with 400 when it is not JSON or repeats a name,
    415 when it is labelled with a charset other than UTF-8."""
    if not is_json_request(request):
        return missing
    body = request.get_data(cache=True)  # a 413 when over MAX_CONTENT_LENGTH
    if not body:
        return missing
    charset = request.mimetype_params.get("charset")
    if charset is not None and charset.lower() not in _UTF8_LABELS:
        message = f"Invalid JSON body: the charset {_shown(charset)} is not UTF-8."
        abort(415, message=message, messages={"json": [message]})
    try:
        return json.loads(body.decode("utf-8"), cls=UniqueMembersDecoder)
    except DuplicateMemberError as error:
        message = (f"Invalid JSON body: the member name {_shown(error.name)} "
                   "is repeated in an object.")
        abort(400, exc=error, message=message, messages={"json": [message]})
    # JSONDecodeError is a ValueError, and so is nesting deeper than the
    # interpreter's recursion limit (ledger.strictjson.NestingError; webargs
    # let its RecursionError through: a 500).
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        abort(400, exc=error, messages={"json": ["Invalid JSON body."]})


def _shown(text: str) -> str:
    """``text`` quoted for an error message, cut to ``_NAME_SHOWN`` characters."""
    return repr(text[:_NAME_SHOWN]) + ("..." if len(text) > _NAME_SHOWN else "")


def read_json_bodies_strictly() -> None:
    """Make every flask-smorest route read its JSON body with :func:`load_json_body`.

    All flask-smorest blueprints share one webargs parser
    (``Blueprint.ARGUMENTS_PARSER``), which looks a location's loader up on
    each request, so views decorated before this call get it too. Webargs
    keeps the loaders per parser class: this holds for every ``FlaskParser``
    of the process. Idempotent."""
    Blueprint.ARGUMENTS_PARSER.location_loader("json")(load_json_body)
