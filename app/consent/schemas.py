"""Request and response schemas of the consents API."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from app.documents.types import DATA_CATEGORIES, DOCUMENT_TYPES
from app.documents.types.fields import (
    ConsentId, DocumentId, OrgId, storable_text, utc_representable,
)
from app.notary.schemas_receipt import ReceiptSchema
from app.strict_schema import StrictSchema

from .services import ACTIONS, NO_ACTION


class GrantSchema(StrictSchema):
    recipient_org_id = OrgId(required=True)
    purpose = fields.String(required=True, validate=[validate.Length(min=3, max=2000),
                                                     storable_text], metadata={
        "description": "why the recipient may read (PIPL art. 17, GDPR art. 7); kept off the ledger"})
    document_ids = fields.List(DocumentId(), load_default=list, validate=validate.Length(max=500))
    document_types = fields.List(fields.String(validate=validate.OneOf(sorted(DOCUMENT_TYPES))),
                                 load_default=list)
    data_categories = fields.List(fields.String(validate=validate.OneOf(DATA_CATEGORIES)),
                                  required=True, validate=validate.Length(min=1), metadata={
            "description": "which fields are disclosed: " + ", ".join(DATA_CATEGORIES)})
    allowed_actions = fields.List(
        fields.String(validate=validate.OneOf(ACTIONS)), load_default=lambda: list(ACTIONS),
        validate=validate.Length(min=1, error=NO_ACTION), metadata={
            "description": "what the recipient may do: " + ", ".join(ACTIONS)
                           + " (default: all of them)"})
    destination = fields.String(required=True, validate=validate.Regexp(r"^[A-Z]{2}$"), metadata={
        "description": "ISO 3166-1 alpha-2 jurisdiction the data goes to", "example": "DE"})
    valid_from = fields.AwareDateTime(format="iso", validate=utc_representable)
    expires_at = fields.AwareDateTime(format="iso", required=True, validate=utc_representable)
    subject_consent_ref = fields.String(validate=validate.Length(min=4, max=128), metadata={
        "description": "reference of the data subject's separate consent (personal information)"})
    export_assessment_ref = fields.String(validate=validate.Length(min=4, max=64), metadata={
        "description": "approved export-assessment reference (restricted categories abroad)"})


class LimitSchema(StrictSchema):
    """The terms to keep; each must be no wider than the consent's."""

    document_ids = fields.List(DocumentId(), validate=validate.Length(max=500))
    document_types = fields.List(fields.String(validate=validate.OneOf(sorted(DOCUMENT_TYPES))))
    data_categories = fields.List(fields.String(validate=validate.OneOf(DATA_CATEGORIES)))
    allowed_actions = fields.List(fields.String(validate=validate.OneOf(ACTIONS)))
    expires_at = fields.AwareDateTime(format="iso", validate=utc_representable, metadata={
        "description": "an end earlier than the consent's, still in the future"})


LIMIT_EXAMPLE = {"data_categories": ["reference"], "expires_at": "2027-03-31T23:59:59Z"}


class ConsentSchema(Schema):
    id = fields.String(required=True)
    owner_org_id = fields.String(required=True)
    recipient_org_id = fields.String(required=True)
    purpose = fields.String(required=True)
    document_ids = fields.List(fields.String(), required=True)
    document_types = fields.List(fields.String(), required=True)
    data_categories = fields.List(fields.String(), required=True)
    allowed_actions = fields.List(fields.String(), required=True)
    destination = fields.String(required=True)
    valid_from = fields.DateTime(required=True)
    expires_at = fields.DateTime(required=True)
    subject_consent_ref = fields.String(allow_none=True)
    export_assessment_ref = fields.String(allow_none=True)
    status = fields.Function(lambda c: c.status.value, required=True)
    ledger_index = fields.Integer(attribute="entry_idx", required=True)
    created_at = fields.DateTime(required=True)
    revoked_at = fields.DateTime(allow_none=True)


class ConsentWriteSchema(ConsentSchema):
    receipt = fields.Nested(ReceiptSchema, required=True)


GRANT_EXAMPLE = {
    "recipient_org_id": "org_nordlichtde23456",
    "purpose": "verify the order and the goods before payment",
    "document_types": ["commercial_invoice", "packing_list"],
    "data_categories": ["reference", "commercial", "logistics"],
    "allowed_actions": ["read"],
    "destination": "DE",
    "expires_at": "2027-06-30T23:59:59Z",
}


class ConsentQuerySchema(StrictSchema):
    direction = fields.String(validate=validate.OneOf(["granted", "received"]))
    status = fields.String(validate=validate.OneOf(["active", "revoked"]))
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))
    after = ConsentId()


class CoveredQuerySchema(StrictSchema):
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))
    cursor = fields.String(validate=validate.Length(max=200), metadata={
        "description": "the `next` of the previous page"})


class ConsentPageSchema(Schema):
    items = fields.List(fields.Nested(ConsentSchema), required=True)
    next = fields.String(allow_none=True, required=True)
