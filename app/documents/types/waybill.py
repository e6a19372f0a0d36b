"""Logistics waybill for a cross-border e-commerce parcel shipment.

The carrier's consignment note for parcels sent to a consumer: who carries and
who sends (businesses), who receives (an individual: personal information),
the route, the parcels, their contents with values, and the customs data that
a postal CN23 or express manifest carries (UPU CN23; WCO cross-border
e-commerce framework: HS code, origin and declared value per item).
"""

from __future__ import annotations

from functools import partial
from typing import Any

from marshmallow import fields, validate, validates_schema

from .checks import (
    check_not_below, check_numbered, check_one_currency, check_references, check_sum,
    check_unique, collect, error_at,
)
from .common import (
    Code, ConsumerSchema, CountryCode, HsCode, MoneySchema, PartySchema, Rfc3339DateTime,
    StrictInteger, StrictSchema, Text, UnLocode, WeightKg, positive,
)

MODES_OF_TRANSPORT = ("sea", "rail", "road", "air", "postal")  # UN/ECE Rec 19 codes 1-5


class WaybillRouteSchema(StrictSchema):
    """Where the shipment goes, as UN/LOCODEs, and the main mode of transport."""

    origin = UnLocode(required=True, metadata={"example": "CNSZX"})
    destination = UnLocode(required=True, metadata={"example": "SGSIN"})
    mode_of_transport = Code(*MODES_OF_TRANSPORT, required=True, metadata={"example": "air"})


class ParcelSchema(StrictSchema):
    """One parcel: its tracking number and weights."""

    parcel_number = Text(35, required=True, metadata={"example": "SF1402837465921"})
    gross_weight_kg = WeightKg(required=True, validate=positive)
    net_weight_kg = WeightKg()

    @validates_schema
    def _check_weights(self, data: dict, **kwargs: Any) -> None:
        if "net_weight_kg" in data:
            check_not_below(data["gross_weight_kg"], data["net_weight_kg"], ("gross_weight_kg",))


class WaybillContentSchema(StrictSchema):
    """One kind of article in the shipment and its value (CN23 items)."""

    item_number = StrictInteger(required=True, validate=validate.Range(1))
    description = Text(512, required=True, metadata={"example": "Bluetooth earphones"})
    quantity = StrictInteger(required=True, validate=validate.Range(1))
    value = fields.Nested(MoneySchema, required=True,
                          metadata={"description": "Value of all pieces of this item."})


class WaybillCustomsItemSchema(StrictSchema):
    """The customs classification of one content item."""

    item_number = StrictInteger(required=True, validate=validate.Range(1))
    hs_code = HsCode(required=True)
    origin_country = CountryCode(required=True)


class WaybillCustomsSchema(StrictSchema):
    """The CN23-style customs data: category, declared value and per-item codes."""

    goods_category = Code("sale_of_goods", "gift", "commercial_sample", "documents",
                          "returned_goods", "other", required=True)
    declared_value = fields.Nested(MoneySchema, required=True,
                                   metadata={"description": "Sum of the contents' values."})
    duties_paid_by = Code("sender", "recipient", required=True, metadata={
        "description": "sender: delivered duty paid; recipient: duties collected on delivery."})
    items = fields.List(fields.Nested(WaybillCustomsItemSchema), required=True,
                        validate=validate.Length(1, 999))


class LogisticsWaybillSchema(StrictSchema):
    """A waybill for parcels from a merchant to a consumer across a border.

    Checks: content item numbers run 1..n; customs items name known contents,
    once each; the declared value is the sum of the contents' values in one
    currency; the recipient's country is the destination's; gross >= net weight.
    """

    waybill_number = Text(35, required=True, metadata={"example": "SF1402837465921"})
    issue_datetime = Rfc3339DateTime(required=True)
    order_reference = Text(35, metadata={"description": "The e-commerce order shipped."})
    carrier = fields.Nested(PartySchema, required=True)
    shipper = fields.Nested(PartySchema, required=True)
    recipient = fields.Nested(ConsumerSchema, required=True)
    route = fields.Nested(WaybillRouteSchema, required=True)
    parcels = fields.List(fields.Nested(ParcelSchema), required=True,
                          validate=validate.Length(1, 999))
    contents = fields.List(fields.Nested(WaybillContentSchema), required=True,
                           validate=validate.Length(1, 999))
    customs = fields.Nested(WaybillCustomsSchema, required=True)

    @validates_schema
    def _check_document(self, data: dict, **kwargs: Any) -> None:
        contents, customs = data["contents"], data["customs"]
        numbers = [item["item_number"] for item in contents]
        collect((
            partial(check_one_currency, data),
            partial(check_numbered, contents, "item_number", ("contents",)),
            partial(check_unique, customs["items"], "item_number", ("customs", "items")),
            partial(check_references, customs["items"], "item_number", numbers,
                    ("customs", "items"), "content item"),
            partial(_check_declared_value, contents, customs["declared_value"]),
            partial(_check_destination, data["recipient"], data["route"]),
        ))


def _check_declared_value(contents: list[dict], declared: dict) -> None:
    check_sum((item["value"]["amount"] for item in contents), declared["amount"],
              ("customs", "declared_value", "amount"), "content values")


def _check_destination(recipient: dict, route: dict) -> None:
    country = recipient["delivery_address"]["country"]
    if country != route["destination"][:2]:
        raise error_at(("recipient", "delivery_address", "country"),
                       f"Delivery country {country} is not the destination's, "
                       f"{route['destination'][:2]}.")



LOGISTICS_WAYBILL_CATEGORIES = {
    "waybill_number": "reference", "issue_datetime": "reference", "order_reference": "reference",
    "carrier": "party", "shipper": "party",
    "recipient": "personal_information",
    "route": "logistics", "parcels": "logistics",
    "contents": "commercial",
    "customs": "customs",
}
