"""Request and answer schemas of the organisations and tokens API."""

from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate

from app.documents.types.fields import utc_representable
from app.notary.schemas_receipt import ReceiptSchema
from app.strict_schema import StrictSchema

from .models import ApiToken, Organization, Role
from .services import LABEL_LENGTH, NAME_LENGTH, text_problem

ORG_EXAMPLE = {"name": "Qianhai Export Trading Co.", "role": "firm"}
TOKEN_EXAMPLE = {"label": "ERP integration, rotated 2026-12", "expires_at": "2027-06-30T00:00:00Z"}
SHOWN_ONCE = ("shown once, in this answer only (a replay under the same Idempotency-Key "
              "does not repeat it); stored only as a hash. Send it as "
              "`Authorization: Bearer <token>`")


def _readable(max_length: int):
    def check(value: str) -> None:
        problem = text_problem(value, max_length)
        if problem is not None:
            raise ValidationError(problem[0].upper() + problem[1:] + ".")
    return check


class OrganizationCreateSchema(StrictSchema):
    name = fields.String(required=True, validate=_readable(NAME_LENGTH), metadata={
        "description": f"1 to {NAME_LENGTH} characters (edges trimmed); kept in the "
                       "database, never on the ledger"})
    role = fields.String(required=True, validate=validate.OneOf([role.value for role in Role]))


class TokenCreateSchema(StrictSchema):
    label = fields.String(validate=_readable(LABEL_LENGTH), metadata={
        "description": f"what the token is for, 1 to {LABEL_LENGTH} characters"})
    expires_at = fields.AwareDateTime(format="iso", validate=utc_representable, metadata={
        "description": "RFC 3339, in the future: refused (401) from then on; "
                       "omitted: valid until revoked"})


class OrganizationQuerySchema(StrictSchema):
    role = fields.String(validate=validate.OneOf([role.value for role in Role]))
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))
    cursor = fields.String(validate=validate.Length(max=200), metadata={
        "description": "the `next` of the previous page"})


class OrganizationSchema(Schema):
    id = fields.String(required=True)
    name = fields.String(required=True)
    role = fields.String(required=True)
    created_at = fields.DateTime(required=True)


class CreatedOrganizationSchema(OrganizationSchema):
    token_id = fields.String(required=True, metadata={"description": "its first token's id"})
    token = fields.String(metadata={"description": SHOWN_ONCE})
    receipt = fields.Nested(ReceiptSchema, required=True, metadata={
        "description": "the org.created and token.created entries"})


class OrganizationPageSchema(Schema):
    items = fields.List(fields.Nested(OrganizationSchema), required=True)
    next = fields.String(allow_none=True, required=True)


class TokenSchema(Schema):
    """A token's record; never its secret nor the secret's hash."""

    id = fields.String(required=True)
    org_id = fields.String(required=True)
    label = fields.String(allow_none=True, required=True)
    created_at = fields.DateTime(required=True)
    revoked_at = fields.DateTime(allow_none=True, required=True)
    expires_at = fields.DateTime(allow_none=True, required=True, metadata={
        "description": "null: valid until revoked"})
    last_used_at = fields.DateTime(allow_none=True, required=True, metadata={
        "description": "when it last authenticated a request, to within an hour "
                       "(null: never used)"})


class TokenWriteSchema(TokenSchema):
    receipt = fields.Nested(ReceiptSchema, required=True)


class IssuedTokenSchema(TokenWriteSchema):
    token = fields.String(metadata={"description": SHOWN_ONCE})


def organization_fields(org: Organization) -> dict:
    return {"id": org.id, "name": org.name, "role": Role(org.role).value,
            "created_at": org.created_at}


def token_fields(token: ApiToken) -> dict:
    return {"id": token.id, "org_id": token.org_id, "label": token.label,
            "created_at": token.created_at, "revoked_at": token.revoked_at,
            "expires_at": token.expires_at, "last_used_at": token.last_used_at}
