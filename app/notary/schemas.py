"""Marshmallow schemas of the ledger API (contract section 3)."""

from __future__ import annotations

import base64
import re

from marshmallow import Schema, fields, validate

class Base64Hash(fields.String):
    """32 raw bytes shown as standard base64."""

    def _serialize(self, value, attr, obj, **kwargs):
        return None if value is None else base64.b64encode(value).decode()


class CheckpointSchema(Schema):
    size = fields.Integer(required=True, metadata={"example": 42})
    root_hash = Base64Hash(required=True)
    checkpoint = fields.String(required=True, metadata={
        "description": "C2SP signed note carrying a tlog-checkpoint (contract section 4)"})


class LogKeySchema(Schema):
    origin = fields.String(required=True)
    public_key = Base64Hash(required=True, metadata={"description": "32-byte Ed25519 key"})
    verifier_key = fields.String(required=True, metadata={
        "description": "C2SP verifier key: name+hex8+base64(0x01 || public key)"})


_CANONICAL_INTEGER = re.compile(r"0|[1-9][0-9]*")


def is_canonical_integer(text: str) -> bool:
    """True for a non-negative integer written canonically: ASCII digits, no
    sign, spaces or leading zeros."""
    return _CANONICAL_INTEGER.fullmatch(text) is not None


class CanonicalInteger(fields.Integer):
    """A non-negative integer written canonically (``is_canonical_integer``);
    one of more digits than ``int()`` converts (4300) is too large."""

    default_error_messages = {"invalid": "Not a canonical non-negative integer."}

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, str) or not is_canonical_integer(value):
            raise self.make_error("invalid")
        try:
            return int(value)
        except ValueError as error:  # Python's limit on converting digits
            raise self.make_error("too_large") from error




class InclusionQuerySchema(Schema):
    index = CanonicalInteger(required=True)
    tree_size = CanonicalInteger(required=True)


class InclusionProofSchema(Schema):
    index = fields.Integer(required=True)
    tree_size = fields.Integer(required=True)
    leaf_hash = Base64Hash(required=True)
    root_hash = Base64Hash(required=True)
    proof = fields.List(Base64Hash(), required=True)


class ConsistencyQuerySchema(Schema):
    first = CanonicalInteger(required=True)
    second = CanonicalInteger(required=True)


class ConsistencyProofSchema(Schema):
    first = fields.Integer(required=True)
    second = fields.Integer(required=True)
    first_root = Base64Hash(required=True)
    second_root = Base64Hash(required=True)
    proof = fields.List(Base64Hash(), required=True)


class EntrySchema(Schema):
    index = fields.Integer(required=True)
    leaf_hash = Base64Hash(required=True)
    leaf_data = Base64Hash(required=True, metadata={"description": "the exact logged bytes"})
    entry = fields.Dict(required=True)


class EntriesQuerySchema(Schema):
    start = CanonicalInteger(load_default=0)
    limit = CanonicalInteger(load_default=100, validate=validate.Range(min=1, max=1000))


class EntryPageSchema(Schema):
    entries = fields.List(fields.Nested(EntrySchema), required=True)
    next = fields.Integer(allow_none=True, required=True)
