"""The receipt (one-action audit bundle) as documented in the OpenAPI description."""

from marshmallow import Schema, fields


class BundleEntrySchema(Schema):
    index = fields.Integer(required=True)
    leaf_data = fields.String(required=True, metadata={"description": "base64 of the logged bytes"})
    leaf_hash = fields.String(required=True, metadata={"description": "base64 SHA-256(0x00||data)"})
    inclusion_proof = fields.List(fields.String(), required=True,
                                  metadata={"description": "RFC 9162 audit path to the checkpoint"})


class ReceiptSchema(Schema):
    format = fields.String(required=True, metadata={"example": "tradezone.audit-bundle.v1"})
    checkpoint = fields.String(required=True, metadata={"description": "signed C2SP checkpoint note"})
    entries = fields.List(fields.Nested(BundleEntrySchema), required=True)
