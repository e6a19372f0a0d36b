"""Marshmallow schemas of the audit API: search queries and pages, bundle queries."""

from __future__ import annotations

import re
from datetime import datetime

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from app.documents.schemas import MAX_LEDGER_INDEX
from app.documents.types.fields import storable_text, utc_representable
from app.notary.schemas import CanonicalInteger, EntrySchema
from app.notary.schemas_receipt import BundleEntrySchema
from app.strict_schema import StrictSchema

REF_MAX = 80  # entry_refs.ref
TYPE_PATTERN = r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$"  # contract section 2
MAX_LIMIT = 500
# RFC 3339 section 5.6 date-time; "T" and "Z" may be lower case (section 5.6, NOTE).
_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})")
_NAIVE = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?")


class Rfc3339Time(fields.Field):
    """An RFC 3339 date-time with its UTC offset; naive or malformed times are refused."""

    default_error_messages = {
        "invalid": "Not an RFC 3339 date-time such as 2026-11-23T09:00:00Z.",
        "naive": "The time has no UTC offset; add Z or +hh:mm.",
    }

    def _deserialize(self, value, attr, data, **kwargs) -> datetime:
        text = value if isinstance(value, str) else ""
        if not _RFC3339.fullmatch(text):
            raise self.make_error("naive" if _NAIVE.fullmatch(text) else "invalid")
        digits = text.upper()
        fraction = re.search(r"\.(\d+)", digits)
        if fraction:  # Python keeps microseconds; finer digits are cut, not rounded
            digits = digits.replace(fraction.group(0), "." + fraction.group(1)[:6].ljust(6, "0"))
        try:
            moment = datetime.fromisoformat(digits.replace("Z", "+00:00"))
        except ValueError as error:
            raise self.make_error("invalid") from error
        utc_representable(moment)  # compared with stored UTC times
        return moment

    def _serialize(self, value, attr, obj, **kwargs):
        return None if value is None else value.isoformat()


def _ref(description: str) -> fields.String:
    return fields.String(validate=[validate.Length(1, REF_MAX), storable_text],
                         metadata={"description": description})


class _TimeRange(StrictSchema):
    since = Rfc3339Time(data_key="from", metadata={
        "description": "entries at or after this RFC 3339 time (with offset)"})
    until = Rfc3339Time(data_key="to", metadata={
        "description": "entries before this RFC 3339 time (with offset)"})

    @validates_schema
    def _ordered(self, data, **kwargs):
        if data.get("since") and data.get("until") and data["until"] <= data["since"]:
            raise ValidationError("must be later than 'from'", field_name="to")


class SearchQuerySchema(_TimeRange):
    org = _ref("entries naming this organisation")
    document = _ref("entries naming this document")
    consent = _ref("entries naming this consent")
    device = _ref("entries naming this device")
    shipment = _ref("entries naming this shipment reference")
    entry_type = fields.String(data_key="type", validate=[
        validate.Length(max=64), validate.Regexp(TYPE_PATTERN, error="Not a dotted entry type.")],
        metadata={"description": "entries of this type, e.g. document.signed"})
    after = CanonicalInteger(validate=validate.Range(max=MAX_LEDGER_INDEX), metadata={
        "description": "only entries with a higher index (pass the previous page's next)"})
    limit = CanonicalInteger(load_default=100, validate=validate.Range(min=1, max=MAX_LIMIT))


class SearchPageSchema(Schema):
    entries = fields.List(fields.Nested(EntrySchema), required=True)
    next = fields.Integer(allow_none=True, required=True, metadata={
        "description": "pass as 'after' for the next page; null on the last page"})


SUBJECTS = ("document", "device", "org", "shipment")


class BundleQuerySchema(_TimeRange):
    document = _ref("a document's bundle")
    device = _ref("a device's bundle")
    org = _ref("an organisation's bundle")
    shipment = _ref("a shipment reference's bundle")

    @validates_schema
    def _one_subject(self, data, **kwargs):
        named = [name for name in SUBJECTS if name in data]
        if len(named) != 1:
            message = "name exactly one of document, device, org, shipment"
            raise ValidationError({name: [message] for name in (named or SUBJECTS)})


class _KeySchema(Schema):
    alg = fields.String(required=True, metadata={"example": "ES256"})
    jwk = fields.Dict(required=True, metadata={"description": "the public JWK as registered"})
    org = fields.String(metadata={"description": "the organisation a signing key belongs to"})
    registered = fields.Integer(metadata={
        "description": "index of the key's registration entry, included in the bundle"})


class _EvidenceSchema(Schema):
    jws = fields.String(metadata={
        "description": "the device's event JWS, or the firm's document signature JWS"})
    disclosure = fields.Dict(metadata={
        "description": "of a document version's entry, in a redacted copy: "
                       "{type, digest, disclosed: {name: {value, salt}}, hidden: {name: hash}}"})


class _AuditEntrySchema(BundleEntrySchema):
    evidence = fields.Nested(_EvidenceSchema)


class AuditBundleSchema(Schema):
    """What ``tradezone audit verify`` checks (docs/AUDIT_BUNDLE.md)."""

    format = fields.String(required=True, metadata={"example": "tradezone.audit-bundle.v1"})
    checkpoint = fields.String(required=True, metadata={"description": "the signed checkpoint "
                                                        "every inclusion proof leads to"})
    verifier_key = fields.String(metadata={"description": "informational: verify with the "
                                           "key you obtained yourself"})
    subject = fields.Dict(metadata={"description": "what the bundle was asked for"})
    device_keys = fields.Dict(keys=fields.String(), values=fields.Nested(_KeySchema))
    signing_keys = fields.Dict(keys=fields.String(), values=fields.Nested(_KeySchema))
    entries = fields.List(fields.Nested(_AuditEntrySchema), required=True)
