"""Request and response schemas of the documents API."""

from __future__ import annotations

import base64
import json

from marshmallow import Schema, ValidationError, fields, validate, validates_schema
from webargs.fields import DelimitedList

from app.notary.schemas_receipt import ReceiptSchema
from app.strict_schema import StrictSchema

from .models import DocumentStatus
from .types.fields import ConsentId, OrgId, utc_representable
from .types import DATA_CATEGORIES, DOCUMENT_TYPES


# The content of each type, by its schema's component name (app.apidoc registers them).
_CONTENT = {
    "description": "the document's fields, validated strictly against the type's schema",
    "oneOf": [{"$ref": f"#/components/schemas/{DOCUMENT_TYPES[name].schema_name}"}
              for name in sorted(DOCUMENT_TYPES)]}


class SubmitSchema(StrictSchema):
    type = fields.String(required=True, metadata={
        "description": "one of: " + ", ".join(sorted(DOCUMENT_TYPES)),
        "example": "commercial_invoice"})
    content = fields.Dict(required=True, metadata=_CONTENT)


class AmendSchema(StrictSchema):
    content = fields.Dict(required=True, metadata={
        **_CONTENT, "description": "the whole new version, of the document's own type"})


def _base64url_json(value: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(value, separators=(",", ":")).encode()) \
        .decode().rstrip("=")


# The shape of a signature request: the signature itself is a placeholder.
SIGNATURE_EXAMPLE = {"jws": ".".join((
    _base64url_json({"alg": "EdDSA", "kid": "key_shlianhua2a3b4c"}),
    _base64url_json({"document": "doc_7h3kq2m4n5p6r7s2", "version": 1,
                     "digest": "sha256:" + "9f86d081884c7d65" * 4}),
    "A" * 86))}


def amend_example() -> dict:
    """An amendment of the commercial invoice example: a new version, whole."""
    content = dict(DOCUMENT_TYPES["commercial_invoice"].example)
    content["purchase_order_reference"] = content["purchase_order_reference"] + "-R1"
    return {"content": content}


def submit_examples() -> dict[str, dict]:
    """A request example of each type for the OpenAPI document (its organisation
    ids are the examples' own: use your counterparties')."""
    return {name: {"summary": document_type.description,
                   "value": {"type": name, "content": dict(document_type.example)}}
            for name, document_type in sorted(DOCUMENT_TYPES.items())}


class TransferOfferSchema(StrictSchema):
    to_org_id = OrgId(required=True)


TRANSFER_EXAMPLE = {"to_org_id": "org_hanseaticbank234"}


class SignatureSubmitSchema(StrictSchema):
    jws = fields.String(required=True, validate=validate.Length(max=16384), metadata={
        "description": 'compact JWS (EdDSA or ES256), kid = your registered key id, payload '
                       '{"document": id, "version": n, "digest": "sha256:..."}'})


# Ledger indexes are 64-bit signed integers (BIGINT).
MAX_LEDGER_INDEX = 2**63 - 1


class DocumentQuerySchema(StrictSchema):
    type = fields.String(validate=validate.OneOf(sorted(DOCUMENT_TYPES)))
    status = fields.String(validate=validate.OneOf([s.value for s in DocumentStatus]))
    counterparty = OrgId()
    created_from = fields.AwareDateTime(format="iso", validate=utc_representable)
    created_to = fields.AwareDateTime(format="iso", validate=utc_representable)
    offered = fields.Boolean(load_default=False, metadata={
        "description": "true: only the eBLs offered to you, whose transfer awaits your "
                       "accept or reject (GET .../transfers names it)"})
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))
    cursor = fields.String(validate=validate.Length(max=200))


class RedactedQuerySchema(StrictSchema):
    field_names = DelimitedList(fields.String(validate=validate.Length(min=1, max=64)),
                                data_key="fields", load_default=list, metadata={
        "description": "the fields to disclose, comma-separated"})
    categories = DelimitedList(fields.String(validate=validate.OneOf(DATA_CATEGORIES)),
                               load_default=list, metadata={
        "description": "disclose every field of these data categories, comma-separated"})
    version = fields.Integer(validate=validate.Range(min=1, max=2**31 - 1), metadata={
        "description": "the version to redact (default: the current one)"})

    @validates_schema
    def _something_disclosed(self, data, **kwargs):
        if not data.get("field_names") and not data.get("categories"):
            raise ValidationError("name fields or categories to disclose (or both)",
                                  field_name="fields")


class ReadQuerySchema(StrictSchema):
    consent = ConsentId(metadata={
        "description": "read under this consent (otherwise the newest live one that covers it)"})


class PageQuerySchema(StrictSchema):
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))
    after = fields.Integer(validate=validate.Range(min=-1, max=MAX_LEDGER_INDEX))


class DocumentSummarySchema(Schema):
    id = fields.String(required=True)
    type = fields.String(required=True)
    owner_org_id = fields.String(required=True)
    status = fields.String(required=True)
    version = fields.Integer(required=True)
    digest = fields.String(required=True)
    holder_org_id = fields.String(allow_none=True)
    addressed_to_org_id = fields.String(allow_none=True)
    created_at = fields.DateTime(required=True)
    updated_at = fields.DateTime(required=True)


class DocumentViewSchema(DocumentSummarySchema):
    access = fields.String(required=True, metadata={"description": "full or consent"})
    content = fields.Dict(metadata={"description": "all fields (full access)"})
    salts = fields.Dict(metadata={"description": "per-field salts (full access)"})
    consent_id = fields.String()
    disclosure = fields.Dict(metadata={
        "description": "consent access: disclosed fields with salts, hashes of the others"})
    evidence = fields.Nested(ReceiptSchema, metadata={
        "description": "consent access: proofs of the version's entry and this access's entry"})


class DocumentWriteSchema(DocumentSummarySchema):
    receipt = fields.Nested(ReceiptSchema, required=True)


class DocumentPageSchema(Schema):
    items = fields.List(fields.Nested(DocumentSummarySchema), required=True)
    next = fields.String(allow_none=True, required=True)


class VersionSchema(Schema):
    version = fields.Integer(required=True)
    digest = fields.String(required=True)
    previous_digest = fields.String(allow_none=True)
    ledger_index = fields.Integer(attribute="entry_idx", required=True)
    created_at = fields.DateTime(required=True)


class TransferSchema(Schema):
    id = fields.String(required=True)
    from_org_id = fields.String(required=True)
    to_org_id = fields.String(required=True)
    status = fields.String(required=True)
    created_at = fields.DateTime(required=True)
    decided_at = fields.DateTime(allow_none=True)


class TransferWriteSchema(TransferSchema):
    document = fields.Nested(DocumentSummarySchema, required=True)
    receipt = fields.Nested(ReceiptSchema, required=True)


class AccessSchema(Schema):
    ledger_index = fields.Integer(attribute="entry_idx", required=True)
    reader_org_id = fields.String(required=True)
    consent_id = fields.String(required=True)
    version = fields.Integer(required=True)
    fields_disclosed = fields.List(fields.String(), attribute="fields", required=True)
    at = fields.DateTime(required=True)


class AccessPageSchema(Schema):
    items = fields.List(fields.Nested(AccessSchema), required=True)
    receipt = fields.Nested(ReceiptSchema, allow_none=True, metadata={
        "description": "proofs of these access entries to the latest checkpoint"})
    next = fields.Integer(allow_none=True, required=True)


class SignatureSchema(Schema):
    ledger_index = fields.Integer(required=True)
    version = fields.Integer(required=True)
    key_id = fields.String(required=True)
    signer_org_id = fields.String(required=True)
    alg = fields.String(required=True)
    public_jwk = fields.Dict(required=True)
    jws = fields.String(required=True)
    signed_at = fields.DateTime(required=True)


class SignatureWriteSchema(SignatureSchema):
    receipt = fields.Nested(ReceiptSchema, required=True)


def document_fields(document) -> dict:
    """A document's summary fields, ready for ``DocumentSummarySchema`` and its kin."""
    return {"id": document.id, "type": document.doc_type, "owner_org_id": document.owner_org_id,
            "status": document.status.value, "version": document.version,
            "digest": document.digest, "holder_org_id": document.holder_org_id,
            "addressed_to_org_id": document.addressed_to_org_id,
            "created_at": document.created_at, "updated_at": document.updated_at}


def transfer_fields(transfer) -> dict:
    return {"id": transfer.id, "from_org_id": transfer.from_org_id,
            "to_org_id": transfer.to_org_id, "status": transfer.status.value,
            "created_at": transfer.created_at, "decided_at": transfer.decided_at}
