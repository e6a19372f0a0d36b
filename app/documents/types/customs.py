"""Customs declaration: the essentials of the WCO Data Model (goods declaration).

Header: declaration type and function, local reference number, declarant,
exporter and importer, the customs office and the customs authority it is
addressed to, countries of export and destination, border transport and the
total customs value. Goods items: sequence number, description, HS commodity
code, origin country, procedure code, customs value and masses.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from marshmallow import fields, validate, validates_schema

from .checks import (
    check_not_below, check_numbered, check_one_currency, check_sum, collect, error_at,
)
from .common import (
    Code, ContainerNumber, CountryCode, CurrencyCode, HsCode, MoneySchema, OrgId, PartySchema,
    Pattern, Quantity, Rfc3339DateTime, StrictInteger, StrictSchema, Text, UnitCode, UnLocode,
    WeightKg, positive,
)

# UN/ECE Rec 19 mode of transport at the border (WCO DM "Mode of transport at border").
BORDER_MODES = {"1": "sea", "2": "rail", "3": "road", "4": "air", "5": "postal", "7": "fixed",
                "8": "inland water", "9": "own propulsion"}
# UNTDID 1225 message function: 9 original, 5 replacement, 4 change, 1 cancellation.
FUNCTION_CODES = ("9", "5", "4", "1")


class DeclarationTransportSchema(StrictSchema):
    """The means of transport crossing the border and where goods are loaded."""

    mode_at_border = Code(*BORDER_MODES, required=True, metadata={
        "description": "UN/ECE Rec 19: 1 sea, 2 rail, 3 road, 4 air, 5 postal.",
        "example": "1"})
    means_identity = Text(35, metadata={"description": "Vessel name, flight or plate.",
                                        "example": "COSCO SHIPPING ARIES"})
    loading_location = UnLocode()
    unloading_location = UnLocode()
    container_numbers = fields.List(ContainerNumber(), validate=validate.Length(1, 999))


class DeclarationGoodsItemSchema(StrictSchema):
    """WCO DM GovernmentAgencyGoodsItem: one line of the declaration."""

    sequence_number = StrictInteger(required=True, validate=validate.Range(1, 9999),
                                    metadata={"description": "1..n in declaration order."})
    description = Text(512, required=True, metadata={"example": "Wireless routers (Wi-Fi 6)"})
    hs_code = HsCode(required=True)
    origin_country = CountryCode(required=True)
    procedure_code = Pattern(r"^[0-9A-Z]{4}$", "A procedure code is 4 letters or digits.",
                             required=True, metadata={
                                 "description": "Requested and previous procedure, e.g. EU "
                                 "1000 definitive export, 4000 release for free circulation.",
                                 "example": "1000"})
    customs_value = fields.Nested(MoneySchema, required=True)
    net_mass_kg = WeightKg(required=True, validate=positive)
    gross_mass_kg = WeightKg()
    supplementary_quantity = Quantity(validate=positive)
    supplementary_unit_code = UnitCode()

    @validates_schema
    def _check_item(self, data: dict, **kwargs: Any) -> None:
        if "gross_mass_kg" in data:
            check_not_below(data["gross_mass_kg"], data["net_mass_kg"], ("gross_mass_kg",))
        if ("supplementary_quantity" in data) != ("supplementary_unit_code" in data):
            missing = ("supplementary_unit_code" if "supplementary_quantity" in data
                       else "supplementary_quantity")
            raise error_at((missing,), "A supplementary quantity goes with its unit code.")


class CustomsDeclarationSchema(StrictSchema):
    """A goods declaration to one customs authority.

    Checks: goods items numbered 1..n in order; every customs value in
    ``currency``; total_customs_value = sum of the items' customs values.
    """

    declaration_type = Code("EX", "IM", required=True, metadata={
        "description": "WCO DM declaration type: EX export, IM import.", "example": "EX"})
    function_code = Code(*FUNCTION_CODES, required=True, metadata={
        "description": "UNTDID 1225: 9 original, 5 replacement, 4 change, 1 cancellation.",
        "example": "9"})
    local_reference_number = Text(35, required=True, metadata={
        "description": "The declarant's own reference (LRN).", "example": "LRN-2025-0417-01"})
    issue_datetime = Rfc3339DateTime(required=True)
    customs_authority_org_id = OrgId(required=True, metadata={
        "description": "The Tradezone organisation of the customs authority addressed."})
    customs_office_code = Pattern(r"^[A-Z0-9]{4,8}$", "A customs office code is 4 to 8 "
                                  "capitals or digits.", required=True, metadata={
                                      "description": "Office of lodgement, e.g. 2201 (Shanghai "
                                      "customs district) or DE004151.", "example": "2201"})
    declarant = fields.Nested(PartySchema, required=True)
    exporter = fields.Nested(PartySchema, required=True)
    importer = fields.Nested(PartySchema, required=True)
    export_country = CountryCode(required=True)
    destination_country = CountryCode(required=True, metadata={"example": "DE"})
    transport = fields.Nested(DeclarationTransportSchema, required=True)
    currency = CurrencyCode(required=True)
    total_customs_value = fields.Nested(MoneySchema, required=True)
    goods_items = fields.List(fields.Nested(DeclarationGoodsItemSchema), required=True,
                              validate=validate.Length(1, 9999))

    @validates_schema
    def _check_document(self, data: dict, **kwargs: Any) -> None:
        items = data["goods_items"]
        collect((partial(check_one_currency, data, data["currency"]),
                 partial(check_numbered, items, "sequence_number", ("goods_items",)),
                 partial(check_sum, (item["customs_value"]["amount"] for item in items),
                         data["total_customs_value"]["amount"],
                         ("total_customs_value", "amount"), "goods items' customs values")))


CUSTOMS_DECLARATION_CATEGORIES = {
    "declaration_type": "reference", "function_code": "reference",
    "local_reference_number": "reference", "issue_datetime": "reference",
    "customs_authority_org_id": "party",
    "declarant": "party", "exporter": "party", "importer": "party",
    "transport": "logistics",
    "customs_office_code": "customs", "export_country": "customs",
    "destination_country": "customs", "currency": "customs", "total_customs_value": "customs",
    # Mixed, customs dominant: every goods item field is a declared customs datum
    # (the description exists to support the HS classification).
    "goods_items": "customs",
}
