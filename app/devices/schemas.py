"""Request and response schemas of the device registry API."""

from __future__ import annotations

import base64

from marshmallow import Schema, fields, validate

from app.documents.schemas import MAX_LEDGER_INDEX
from app.documents.types.fields import OrgId, Pattern, storable_text
from app.notary.schemas_receipt import ReceiptSchema
from app.strict_schema import StrictSchema
from ledger.publickeys import ALGORITHMS, jwk_thumbprint

from .models import DEVICE_ID_PATTERN, DeviceStatus
from .services import KIND_PATTERN

KIND_ERROR = "must be 1 to 32 of a-z 0-9 _ , starting with a letter"
# quarantined_events.id is an INTEGER (32-bit on PostgreSQL).
MAX_QUARANTINE_ID = 2**31 - 1


class RegisterSchema(StrictSchema):
    device_id = fields.String(required=True, validate=validate.Regexp(
        DEVICE_ID_PATTERN, error="must be 1 to 64 of A-Z a-z 0-9 . _ -"), metadata={
        "description": "1 to 64 of A-Z a-z 0-9 . _ - ; also the device's MQTT user name and "
                       "client id. Reserved: quarantine, ., .. and the gateway's user name",
        "example": "scanner-hh-01"})
    alg = fields.String(required=True, validate=validate.OneOf(ALGORITHMS), metadata={
        "description": "EdDSA (Ed25519) or ES256 (ECDSA P-256); every event must use it"})
    public_key = fields.Raw(required=True, metadata={
        "description": "SubjectPublicKeyInfo PEM text, or a public JWK object"})
    # Pattern matches in full: validate.Regexp's "$" would let a final line break through.
    kind = Pattern(KIND_PATTERN, KIND_ERROR, required=True, metadata={
        "description": "what the device is, e.g. scanner, seal, cold_chain_sensor",
        "example": "scanner"})
    owner_org_id = OrgId(metadata={
        "description": "admins only: the customs organisation that will own the device "
                       "(default: the registering organisation)"})


# RFC 8037 appendix A.2's Ed25519 public key, as a JWK.
EXAMPLE_PUBLIC_JWK = {"kty": "OKP", "crv": "Ed25519",
                      "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}
REGISTER_EXAMPLE = {"device_id": "scanner-hh-01", "alg": "EdDSA", "kind": "scanner",
                    "public_key": EXAMPLE_PUBLIC_JWK}


class PageQuerySchema(StrictSchema):
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))
    before = fields.Integer(validate=validate.Range(min=0, max=MAX_LEDGER_INDEX), metadata={
        "description": "cursor: the `next` of the previous page"})


class DeviceQuerySchema(PageQuerySchema):
    status = fields.String(validate=validate.OneOf([s.value for s in DeviceStatus]))
    kind = Pattern(KIND_PATTERN, KIND_ERROR)


class QuarantineQuerySchema(PageQuerySchema):
    before = fields.Integer(validate=validate.Range(min=0, max=MAX_QUARANTINE_ID), metadata={
        "description": "cursor: the `next` of the previous page"})
    device = fields.String(validate=[validate.Length(min=1, max=128), storable_text], metadata={
        "description": "the device id of the topic the message came on"})
    reason = fields.String(validate=[validate.Length(min=1, max=32), storable_text], metadata={
        "description": "why it was refused, e.g. bad_signature, replay, revoked"})


class DeviceSchema(Schema):
    device_id = fields.String(required=True)
    owner_org_id = fields.String(required=True)
    alg = fields.String(required=True)
    kind = fields.String(required=True)
    public_jwk = fields.Dict(required=True)
    thumbprint = fields.String(required=True, metadata={"description": "RFC 7638, base64url"})
    status = fields.String(required=True, metadata={"description": "active or revoked"})
    last_seq = fields.Integer(allow_none=True, required=True, metadata={
        "description": "the highest notarized event seq"})
    registered_at = fields.DateTime(required=True)
    revoked_at = fields.DateTime(allow_none=True, required=True)
    registration_ledger_index = fields.Integer(required=True)


class DeviceWriteSchema(DeviceSchema):
    receipt = fields.Nested(ReceiptSchema, required=True)


class RegisteredDeviceSchema(DeviceWriteSchema):
    mqtt_username = fields.String(required=True, metadata={"description": "the device id"})
    mqtt_password = fields.String(metadata={
        "description": "shown once, in this answer only (a replay under the same "
                       "Idempotency-Key does not repeat it); stored only as a hash"})


class DevicePageSchema(Schema):
    items = fields.List(fields.Nested(DeviceSchema), required=True)
    next = fields.Integer(allow_none=True, required=True)


class DeviceEventSchema(Schema):
    ledger_index = fields.Integer(attribute="entry_idx", required=True)
    seq = fields.Integer(required=True)
    event_type = fields.String(required=True)
    shipment = fields.String(allow_none=True, required=True)
    device_ts = fields.String(required=True, metadata={"description": "the device's clock"})
    received_at = fields.DateTime(required=True)
    jws = fields.String(required=True, metadata={
        "description": "the exact compact JWS the device sent; verify it with public_jwk"})


class DeviceEventPageSchema(Schema):
    items = fields.List(fields.Nested(DeviceEventSchema), required=True)
    receipt = fields.Nested(ReceiptSchema, allow_none=True, metadata={
        "description": "proofs of these events' entries to the latest checkpoint"})
    next = fields.Integer(allow_none=True, required=True)


class QuarantinedEventSchema(Schema):
    id = fields.Integer(required=True)
    topic_device_id = fields.String(required=True)
    reason = fields.String(required=True)
    detail = fields.String(required=True)
    seq = fields.Integer(allow_none=True, required=True)
    raw_size = fields.Integer(required=True, metadata={"description": "the message's full size"})
    raw = fields.Function(lambda row: base64.b64encode(row.raw).decode(), required=True,
                          metadata={"description": "base64 of the stored prefix of the message"})
    raw_sha256 = fields.Function(lambda row: row.raw_sha256.hex(), required=True,
                                 metadata={"description": "hex SHA-256 of the whole message"})
    received_at = fields.DateTime(required=True)


class QuarantinePageSchema(Schema):
    items = fields.List(fields.Nested(QuarantinedEventSchema), required=True)
    next = fields.Integer(allow_none=True, required=True)


def device_fields(device) -> dict:
    """A device's fields, ready for ``DeviceSchema`` and its kin."""
    return {"device_id": device.id, "owner_org_id": device.owner_org_id, "alg": device.alg,
            "kind": device.kind, "public_jwk": device.public_jwk,
            "thumbprint": jwk_thumbprint(device.public_jwk), "status": device.status.value,
            "last_seq": device.last_seq, "registered_at": device.registered_at,
            "revoked_at": device.revoked_at,
            "registration_ledger_index": device.registration_entry_idx}
