"""Query strings, read with no parameter given more than once.

Webargs reads a parameter whose field takes one value from the first of its
values and drops the others, so ``?status=issued&status=cancelled`` listed the
issued documents alone: a client that repeats a parameter means something the
server would not do. A parameter given more than once is refused instead, a
422 naming it, as an unknown one is
(``{"errors": {"query": {"status": ["Given more than once."]}}}``), on every
flask-smorest route that reads its query with a schema. A parameter is named
as the query names it (a field's ``data_key``: the audit search's ``from``).

A field that takes a list (webargs' multiple-value fields: ``List``,
``Tuple``, or ``is_multiple = True``) still takes every value of a repeated
key, and a repeated name the schema does not know is answered as any unknown
name is (a 422 with ``unknown=RAISE``, ignored with ``EXCLUDE``). The
ledger's proof routes read ``request.args`` directly on their fast path
(``app.notary.views``) and call :func:`refuse_repeated` before loading their
schema, so both paths refuse the same queries.
"""

from __future__ import annotations

from collections.abc import Collection

from flask import Request
from flask_smorest import Blueprint
from marshmallow import Schema, ValidationError
from webargs.multidictproxy import MultiDictProxy
from werkzeug.datastructures import MultiDict

GIVEN_MORE_THAN_ONCE = "Given more than once."


def refuse_repeated(args: MultiDict, schema: Schema, *, lists: Collection[str] = ()) -> None:
    """Raise ``ValidationError`` naming each parameter of ``schema`` that ``args``
    gives more than once, except the keys in ``lists`` (fields taking a list)."""
    repeated = {}
    for name, field in schema.load_fields.items():
        key = name if field.data_key is None else field.data_key
        if key not in lists and len(args.getlist(key)) > 1:
            repeated[key] = [GIVEN_MORE_THAN_ONCE]
    if repeated:
        raise ValidationError(repeated)


def load_query(request: Request, schema: Schema) -> MultiDictProxy:
    """The query as webargs reads it (webargs' loader signature); raises
    ``ValidationError`` (webargs answers 422) for a parameter given twice."""
    parser = Blueprint.ARGUMENTS_PARSER
    query = MultiDictProxy(request.args, schema,
                           known_multi_fields=tuple(parser.KNOWN_MULTI_FIELDS))
    refuse_repeated(request.args, schema, lists=query.multiple_keys)
    return query


def read_queries_strictly() -> None:
    """Make every flask-smorest route read its query with :func:`load_query`.

    As ``app.request_json.read_json_bodies_strictly``: the loader is kept by
    the shared parser's class and looked up on each request, for both of
    webargs' names of the location. Idempotent."""
    for location in ("query", "querystring"):
        Blueprint.ARGUMENTS_PARSER.location_loader(location)(load_query)
