"""Bill of lading: the required core of a DCSA eBL 3.0 transport document.

Field names are DCSA's in snake case (``transportDocumentReference`` becomes
``transport_document_reference``). DCSA's nested ``documentParties`` and
``equipment`` objects are flattened; weights are always kilograms. Tradezone
only holds electronic documents, so ``is_electronic`` must be true and there is
exactly one original.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from marshmallow import fields, validate, validates_schema

from .checks import (
    check_not_below, check_references, check_unique, collect, error_at, raise_all,
)
from .common import (
    Code, ContainerNumber, HsCode, IdentifiedPartySchema, PackageCode, PartySchema, Pattern,
    Rfc3339Date, StrictBoolean, StrictInteger, StrictSchema, Text, UnLocode, WeightKg, positive,
)


class VesselVoyageSchema(StrictSchema):
    """DCSA VesselVoyage: the sea-going vessel and the carrier's export voyage."""

    vessel_name = Text(50, required=True, metadata={"example": "COSCO SHIPPING ARIES"})
    carrier_export_voyage_number = Text(50, required=True, metadata={"example": "041W"})
    vessel_imo_number = Pattern(r"^[0-9]{7}$", "An IMO number is 7 digits.",
                                metadata={"example": "9783459"})


class TransportsSchema(StrictSchema):
    """DCSA Transports: ports and places as UN/LOCODEs, and the vessel voyages."""

    place_of_receipt = UnLocode()
    port_of_loading = UnLocode(required=True)
    port_of_discharge = UnLocode(required=True, metadata={"example": "DEHAM"})
    place_of_delivery = UnLocode()
    planned_departure_date = Rfc3339Date()
    planned_arrival_date = Rfc3339Date()
    vessel_voyages = fields.List(fields.Nested(VesselVoyageSchema), required=True,
                                 validate=validate.Length(1, 10))

    @validates_schema
    def _check_dates(self, data: dict, **kwargs: Any) -> None:
        departure, arrival = data.get("planned_departure_date"), data.get("planned_arrival_date")
        if departure and arrival and arrival < departure:
            raise error_at(("planned_arrival_date",), f"Arrival {arrival} precedes departure "
                                                      f"{departure}.")


class OuterPackagingSchema(StrictSchema):
    """DCSA OuterPackaging: how many packages of which UN/ECE Rec 21 type."""

    package_code = PackageCode(required=True)
    number_of_packages = StrictInteger(required=True, validate=validate.Range(1, 99999999))
    description = Text(100, required=True, metadata={"example": "Cartons"})


class CargoItemSchema(StrictSchema):
    """DCSA CargoItem: the part of a consignment item packed in one container."""

    equipment_reference = ContainerNumber(required=True)
    cargo_gross_weight_kg = WeightKg(required=True, validate=positive)
    cargo_net_weight_kg = WeightKg()
    outer_packaging = fields.Nested(OuterPackagingSchema, required=True)
    shipping_marks = fields.List(Text(35), validate=validate.Length(1, 50))

    @validates_schema
    def _check_weights(self, data: dict, **kwargs: Any) -> None:
        if "cargo_net_weight_kg" in data:
            check_not_below(data["cargo_gross_weight_kg"], data["cargo_net_weight_kg"],
                            ("cargo_gross_weight_kg",))


class ConsignmentItemSchema(StrictSchema):
    """DCSA ConsignmentItem: goods under one booking, with HS codes and cargo items."""

    carrier_booking_reference = Text(35, required=True, metadata={"example": "COSU6391547820"})
    description_of_goods = fields.List(Text(512), required=True, validate=validate.Length(1, 150),
                                       metadata={"example": ["Wi-Fi 6 routers"]})
    hs_codes = fields.List(HsCode(), required=True, validate=validate.Length(1, 20))
    cargo_items = fields.List(fields.Nested(CargoItemSchema), required=True,
                              validate=validate.Length(1, 999))


class SealSchema(StrictSchema):
    """DCSA Seal: number and who applied it (carrier, shipper, veterinary, customs)."""

    number = Text(15, required=True, metadata={"example": "CN2025417"})
    source = Code("CAR", "SHI", "VET", "CUS")


class UtilizedTransportEquipmentSchema(StrictSchema):
    """DCSA UtilizedTransportEquipment, with its ``equipment`` object flattened."""

    equipment_reference = ContainerNumber(required=True)
    iso_equipment_code = Pattern(r"^[0-9A-Z]{4}$", "Not an ISO 6346 size-type code such as "
                                 "45G1.", required=True, metadata={"example": "45G1"})
    tare_weight_kg = WeightKg()
    is_shipper_owned = StrictBoolean(required=True)
    seals = fields.List(fields.Nested(SealSchema), required=True, validate=validate.Length(1, 10))


class BillOfLadingSchema(StrictSchema):
    """An electronic bill of lading or sea waybill (DCSA eBL 3.0 TransportDocument).

    Checks: electronic with one original; a sea waybill is never to order; a
    straight bill (``is_to_order`` false) names its consignee; exactly the date
    that ``is_shipped_on_board_type`` calls for, not after ``issue_date``; an
    NMFTA carrier code is a SCAC (letters); container numbers unique, and every
    cargo item in a listed container.
    """

    transport_document_reference = Text(20, required=True, metadata={"example": "COSU6391547820"})
    transport_document_type_code = Code("BOL", "SWB", required=True, metadata={
        "description": "BOL bill of lading (transferable when to order), SWB sea waybill."})
    is_electronic = StrictBoolean(required=True, validate=validate.Equal(
        True, error="Tradezone transport documents are electronic: is_electronic must be true."))
    is_to_order = StrictBoolean(required=True, metadata={
        "description": "True: negotiable, transferred by endorsement; false: straight."})
    is_shipped_on_board_type = StrictBoolean(required=True)
    shipped_on_board_date = Rfc3339Date()
    received_for_shipment_date = Rfc3339Date()
    issue_date = Rfc3339Date(required=True)
    place_of_issue = UnLocode(required=True)
    number_of_originals = StrictInteger(required=True, validate=validate.Equal(
        1, error="An electronic bill of lading has exactly one original."))
    carrier = fields.Nested(PartySchema, required=True,
                            metadata={"description": "The issuing carrier."})
    carrier_code = Pattern(r"^[A-Z0-9]{2,4}$", "Not a SCAC or SMDG carrier code.", required=True,
                           metadata={"example": "COSU"})
    carrier_code_list_provider = Code("NMFTA", "SMDG", required=True,
                                      metadata={"description": "NMFTA (SCAC) or SMDG."})
    shipper = fields.Nested(IdentifiedPartySchema, required=True, metadata={
        "description": "The shipper, first holder of the electronic record."})
    consignee = fields.Nested(PartySchema, metadata={
        "description": "Required unless the bill is to order."})
    notify_party = fields.Nested(PartySchema)
    freight_payment_term_code = Code("PRE", "COL", required=True,
                                     metadata={"description": "Freight prepaid or collect."})
    invoice_payable_at = UnLocode(required=True, metadata={
        "description": "Where the freight invoice is payable."})
    terms_and_conditions = Text(50000, multiline=True, required=True)
    receipt_type_at_origin = Code("CY", "SD", "CFS", required=True)
    delivery_type_at_destination = Code("CY", "SD", "CFS", required=True)
    cargo_movement_type_at_origin = Code("FCL", "LCL", required=True)
    cargo_movement_type_at_destination = Code("FCL", "LCL", required=True)
    transports = fields.Nested(TransportsSchema, required=True)
    consignment_items = fields.List(fields.Nested(ConsignmentItemSchema), required=True,
                                    validate=validate.Length(1, 999))
    utilized_transport_equipments = fields.List(fields.Nested(UtilizedTransportEquipmentSchema),
                                                required=True, validate=validate.Length(1, 999))

    @validates_schema
    def _check_document(self, data: dict, **kwargs: Any) -> None:
        raise_all([error for check in (_check_order, _check_dates, _check_carrier_code)
                   for error in check(data)])
        _check_equipment(data)


def _check_order(data: dict) -> list:
    if data["is_to_order"] and data["transport_document_type_code"] == "SWB":
        return [error_at(("is_to_order",), "A sea waybill (SWB) is never to order.")]
    if not data["is_to_order"] and "consignee" not in data:
        return [error_at(("consignee",), "A straight bill of lading (is_to_order false) "
                                         "names its consignee.")]
    return []


def _check_dates(data: dict) -> list:
    wanted, unwanted = ("shipped_on_board_date", "received_for_shipment_date")
    if not data["is_shipped_on_board_type"]:
        wanted, unwanted = unwanted, wanted
    errors = []
    if wanted not in data:
        errors.append(error_at((wanted,), f"Required when is_shipped_on_board_type is "
                                          f"{str(data['is_shipped_on_board_type']).lower()}."))
    elif data[wanted] > data["issue_date"]:
        errors.append(error_at(("issue_date",), f"Issued {data['issue_date']}, before "
                                                f"{wanted} {data[wanted]}."))
    if unwanted in data:
        errors.append(error_at((unwanted,), f"Not allowed when is_shipped_on_board_type is "
                                            f"{str(data['is_shipped_on_board_type']).lower()}."))
    return errors


def _check_carrier_code(data: dict) -> list:
    if data["carrier_code_list_provider"] == "NMFTA" and not data["carrier_code"].isalpha():
        return [error_at(("carrier_code",), "An NMFTA code is a SCAC: 2 to 4 letters.")]
    return []


def _check_equipment(data: dict) -> None:
    equipment = data["utilized_transport_equipments"]
    check_unique(equipment, "equipment_reference", ("utilized_transport_equipments",))
    known = [item["equipment_reference"] for item in equipment]
    collect(partial(check_references, consignment["cargo_items"], "equipment_reference", known,
                    ("consignment_items", index, "cargo_items"), "utilized_transport_equipment")
            for index, consignment in enumerate(data["consignment_items"]))


BILL_OF_LADING_CATEGORIES = {
    "transport_document_reference": "reference", "transport_document_type_code": "reference",
    "is_electronic": "reference", "is_to_order": "reference",
    "is_shipped_on_board_type": "reference", "shipped_on_board_date": "reference",
    "received_for_shipment_date": "reference", "issue_date": "reference",
    "place_of_issue": "reference", "number_of_originals": "reference",
    "carrier": "party", "carrier_code": "party", "carrier_code_list_provider": "party",
    "shipper": "party", "consignee": "party", "notify_party": "party",
    "freight_payment_term_code": "commercial", "invoice_payable_at": "commercial",
    "terms_and_conditions": "commercial",
    "receipt_type_at_origin": "logistics", "delivery_type_at_destination": "logistics",
    "cargo_movement_type_at_origin": "logistics",
    "cargo_movement_type_at_destination": "logistics", "transports": "logistics",
    # Mixed, logistics dominant: DCSA keeps the goods description and HS codes with
    # the cargo items and weights, and every holder of the bill reads them together.
    "consignment_items": "logistics",
    "utilized_transport_equipments": "logistics",
}
