"""The base of the request schemas: unknown fields are refused, a 422 naming
each. For a query string only where the view also passes ``unknown=RAISE``
(webargs loads query strings with EXCLUDE)."""

from __future__ import annotations

from marshmallow import RAISE, Schema


class StrictSchema(Schema):
    class Meta:
        unknown = RAISE
