"""Registering firms' public keys for signing document digests."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate
from sqlalchemy import select

from app.identity.auth import current_principal, protected
from app.identity.models import Role
from app.idempotency import WriteResult, perform_write
from app.notary.receipts import receipt_for
from app.notary.schemas_receipt import ReceiptSchema
from app.devices.schemas import EXAMPLE_PUBLIC_JWK
from app.platform import current_platform
from app.strict_schema import StrictSchema
from ledger.publickeys import ALGORITHMS

from . import services
from .models import SigningKey

blp = Blueprint("keys", __name__, url_prefix="/api/v1/keys",
                description="Public keys a firm signs document digests with.")


class SigningKeyRegisterSchema(StrictSchema):
    alg = fields.String(required=True, validate=validate.OneOf(ALGORITHMS))
    public_key = fields.Raw(required=True, metadata={
        "description": "SubjectPublicKeyInfo PEM text, or a public JWK object"})


class SigningKeySchema(Schema):
    id = fields.String(required=True)
    org_id = fields.String(required=True)
    alg = fields.String(required=True)
    public_jwk = fields.Dict(required=True)
    thumbprint = fields.String(required=True, metadata={"description": "RFC 7638, base64url"})
    created_at = fields.DateTime(required=True)
    revoked_at = fields.DateTime(allow_none=True)


class KeyWriteSchema(SigningKeySchema):
    receipt = fields.Nested(ReceiptSchema, required=True)


_key = SigningKeySchema()


@blp.route("")
class Keys(MethodView):
    @protected(blp, Role.FIRM)
    @blp.arguments(SigningKeyRegisterSchema(),
                   example={"alg": "EdDSA", "public_key": EXAMPLE_PUBLIC_JWK})
    @blp.response(201, KeyWriteSchema)
    def post(self, body):
        """Register an Ed25519 (EdDSA) or P-256 (ES256) public key."""
        platform = current_platform()
        now = platform.now()

        def action(session):
            key, notarized = services.register_key(session, platform.notary, current_principal(),
                                                   body["alg"], body["public_key"], now)
            return WriteResult(201, _key.dump(key) | {"receipt": receipt_for(session, notarized)})
        return perform_write(action)

    @protected(blp, Role.FIRM)
    @blp.response(200, SigningKeySchema(many=True))
    def get(self):
        """Your organisation's keys."""
        with current_platform().db.read() as session:
            return list(session.scalars(select(SigningKey).where(
                SigningKey.org_id == current_principal().org_id).order_by(SigningKey.created_at)))


@blp.route("/<key_id>/revoke")
class RevokeKey(MethodView):
    @protected(blp, Role.FIRM)
    @blp.response(200, KeyWriteSchema)
    @blp.alt_response(409, response="DEFAULT_ERROR", description="already revoked")
    def post(self, key_id):
        """Revoke a key: later signatures with it are refused; earlier ones stay recorded."""
        platform = current_platform()
        now = platform.now()

        def action(session):
            key, notarized = services.revoke_key(session, platform.notary, current_principal(),
                                                 key_id, now)
            return WriteResult(200, _key.dump(key) | {"receipt": receipt_for(session, notarized)})
        return perform_write(action)
