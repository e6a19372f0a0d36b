"""Certificate of origin: non-preferential (ICC/chambers) or under a trade agreement.

The boxes common to the ICC international certificate and the preferential
forms (RCEP, China-Singapore FTA, EUR.1-style): certificate number, issuing
authority, exporter, consignee, producer, transport details, invoice
references, and the goods. The goods' description and the origin claim are
split in two lists joined by ``item_number``, so that a consent may disclose
the goods without the origin determination (and the other way round).
"""

from __future__ import annotations

from functools import partial
from typing import Any

from marshmallow import fields, validate, validates_schema

from .checks import check_numbered, collect, error_at
from .common import (
    Code, CountryCode, HsCode, PackageCode, PartySchema, Pattern, Quantity, Rfc3339Date,
    StrictInteger, StrictSchema, Text, UnitCode, UnLocode, WeightKg, positive,
)


class OriginTransportSchema(StrictSchema):
    """Means of transport and route, as known at issue."""

    mode_of_transport = Code("sea", "rail", "road", "air", "postal", required=True)
    departure_date = Rfc3339Date()
    vessel_or_flight = Text(50, metadata={"example": "COSCO SHIPPING ARIES 041W"})
    port_of_loading = UnLocode(required=True)
    port_of_discharge = UnLocode(required=True, metadata={"example": "SGSIN"})


class InvoiceReferenceSchema(StrictSchema):
    """A commercial invoice covering the goods."""

    invoice_number = Text(35, required=True, metadata={"example": "LH-2025-00417"})
    invoice_date = Rfc3339Date(required=True)


class OriginGoodsItemSchema(StrictSchema):
    """What one item of goods is: marks, packages, description, quantity, weight."""

    item_number = StrictInteger(required=True, validate=validate.Range(1))
    marks = Text(140, metadata={"example": "LH/SG/1-40"})
    package_count = StrictInteger(required=True, validate=validate.Range(1))
    package_code = PackageCode(required=True)
    description = Text(512, required=True)
    quantity = Quantity(required=True, validate=positive)
    unit_code = UnitCode(required=True)
    gross_weight_kg = WeightKg(validate=positive)


class OriginDeterminationSchema(StrictSchema):
    """The origin claim for one goods item: HS code, country and criterion."""

    item_number = StrictInteger(required=True, validate=validate.Range(1))
    hs_code = HsCode(required=True)
    origin_country = CountryCode(required=True)
    origin_criterion = Pattern(r"^[A-Z]{1,4}$", "An origin criterion is 1 to 4 capitals.",
                               metadata={"description": "The agreement's criterion, e.g. WO "
                                         "wholly obtained, PE, CTC, RVC.", "example": "CTC"})


class CertificateOfOriginSchema(StrictSchema):
    """A certificate of origin for one consignment.

    Checks: goods and origin determinations both number their items 1..n, one
    determination per goods item; a preferential certificate names its
    agreement and gives an origin criterion for every item.
    """

    certificate_number = Text(35, required=True, metadata={"example": "E255100000417001"})
    certificate_type = Code("non_preferential", "preferential", required=True)
    agreement = Text(35, metadata={"description": "The trade agreement of a preferential "
                                   "certificate.", "example": "RCEP"})
    issue_date = Rfc3339Date(required=True)
    issuing_authority = fields.Nested(PartySchema, required=True, metadata={
        "description": "The chamber or government body that certifies origin."})
    exporter = fields.Nested(PartySchema, required=True)
    consignee = fields.Nested(PartySchema, required=True)
    producer = fields.Nested(PartySchema)
    importing_country = CountryCode(required=True)
    transport = fields.Nested(OriginTransportSchema, required=True)
    invoice_references = fields.List(fields.Nested(InvoiceReferenceSchema), required=True,
                                     validate=validate.Length(1, 20))
    goods = fields.List(fields.Nested(OriginGoodsItemSchema), required=True,
                        validate=validate.Length(1, 999))
    origin_determination = fields.List(fields.Nested(OriginDeterminationSchema), required=True,
                                       validate=validate.Length(1, 999))

    @validates_schema
    def _check_document(self, data: dict, **kwargs: Any) -> None:
        goods, claims = data["goods"], data["origin_determination"]
        collect((partial(check_numbered, goods, "item_number", ("goods",)),
                 partial(check_numbered, claims, "item_number", ("origin_determination",)),
                 partial(_check_one_claim_per_item, goods, claims),
                 partial(_check_preferential, data)))


def _check_one_claim_per_item(goods: list[dict], claims: list[dict]) -> None:
    if len(claims) != len(goods):
        raise error_at(("origin_determination",), f"Expected one determination per goods "
                                                  f"item ({len(goods)}), found {len(claims)}.")


def _check_preferential(data: dict) -> None:
    if data["certificate_type"] != "preferential":
        return
    if "agreement" not in data:
        raise error_at(("agreement",), "A preferential certificate names its agreement.")
    collect(partial(_require_criterion, index) for index, claim
            in enumerate(data["origin_determination"]) if "origin_criterion" not in claim)


def _require_criterion(index: int) -> None:
    raise error_at(("origin_determination", index, "origin_criterion"),
                   "A preferential certificate gives an origin criterion for every item.")


CERTIFICATE_OF_ORIGIN_CATEGORIES = {
    "certificate_number": "reference", "certificate_type": "reference",
    "issue_date": "reference", "invoice_references": "reference",
    "issuing_authority": "party", "exporter": "party", "consignee": "party", "producer": "party",
    "transport": "logistics",
    "goods": "commercial",
    "agreement": "customs", "importing_country": "customs", "origin_determination": "customs",
}
