"""The document type registry: examples, categories, and named invalid documents."""

from __future__ import annotations

import json

import pytest
import rfc8785
from marshmallow import fields

from app.documents.types import (
    DATA_CATEGORIES, DOCUMENT_TYPES, DocumentType, UnknownDocumentType, document_type,
)
from app.documents.types.common import PartySchema

from .mutations import DELETE, load_error, mutated

TYPE_NAMES = ("commercial_invoice", "packing_list", "bill_of_lading", "certificate_of_origin",
              "customs_declaration", "ecommerce_order", "payment_record", "logistics_waybill")


def test_the_eight_types_are_registered():
    assert tuple(DOCUMENT_TYPES) == TYPE_NAMES
    assert all(DOCUMENT_TYPES[name].name == name for name in TYPE_NAMES)


def test_unknown_type_lists_the_known_names():
    with pytest.raises(UnknownDocumentType) as raised:
        document_type("proforma_invoice")
    assert isinstance(raised.value, KeyError)
    assert all(name in str(raised.value) for name in TYPE_NAMES)
    assert document_type("bill_of_lading") is DOCUMENT_TYPES["bill_of_lading"]


@pytest.mark.parametrize("name", TYPE_NAMES)
def test_example_round_trips_as_plain_json(name):
    dtype = DOCUMENT_TYPES[name]
    loaded = dtype.schema().load(dtype.example)
    assert loaded == dtype.example
    assert json.loads(json.dumps(loaded)) == loaded
    assert json.loads(rfc8785.dumps(loaded)) == loaded
    assert dtype.schema().load(loaded) == loaded


@pytest.mark.parametrize("name", TYPE_NAMES)
def test_every_top_level_field_has_a_known_category(name):
    dtype = DOCUMENT_TYPES[name]
    assert set(dtype.field_categories) == set(dtype.schema().fields)
    assert set(dtype.field_categories.values()) <= set(DATA_CATEGORIES)
    assert dtype.description


@pytest.mark.parametrize("name", TYPE_NAMES)
def test_party_fields_hold_parties(name):
    dtype = DOCUMENT_TYPES[name]
    declared = dtype.schema().fields
    for field_name in dtype.party_fields:
        field = declared[field_name]
        field = field.inner if isinstance(field, fields.List) else field
        assert isinstance(field, fields.Nested), field_name
        assert issubclass(field.nested, PartySchema), field_name
        assert dtype.field_categories[field_name] == "party"


def test_individuals_are_personal_information():
    assert DOCUMENT_TYPES["ecommerce_order"].field_categories["buyer"] == "personal_information"
    assert (DOCUMENT_TYPES["logistics_waybill"].field_categories["recipient"]
            == "personal_information")
    assert DOCUMENT_TYPES["payment_record"].field_categories["payer"] == "personal_information"


def test_fields_in_categories():
    invoice = DOCUMENT_TYPES["commercial_invoice"]
    assert invoice.fields_in({"party"}) == ("seller", "buyer")
    assert invoice.fields_in(set()) == ()


def test_a_type_with_an_uncategorized_field_is_refused():
    invoice = DOCUMENT_TYPES["commercial_invoice"]
    categories = dict(invoice.field_categories)
    del categories["totals"]
    with pytest.raises(ValueError, match="totals"):
        DocumentType("x", invoice.schema, categories, (), {}, "")
    with pytest.raises(ValueError, match="secret"):
        DocumentType("x", invoice.schema, {**invoice.field_categories, "totals": "secret"}, (),
                     {}, "")


def test_example_parties_default_to_business():
    document = mutated("packing_list", ("shipper.kind", DELETE))
    loaded = DOCUMENT_TYPES["packing_list"].schema().load(document)
    assert loaded["shipper"]["kind"] == "business"


# (case id, type, changes, the field path the error must name, a fragment of its message)
INVALID = [
    # money
    ("float-amount", "commercial_invoice", [("line_items.0.line_total.amount", 46200.0)],
     "line_items.0.line_total.amount", "decimal strings"),
    ("int-amount", "ecommerce_order", [("totals.shipping.amount", 5)],
     "totals.shipping.amount", "decimal strings"),
    ("exponent-amount", "payment_record", [("amount.amount", "1.0306E2")],
     "amount.amount", "decimal string"),
    ("negative-amount", "customs_declaration", [("total_customs_value.amount", "-63100.00")],
     "total_customs_value.amount", "negative"),
    ("bad-currency", "commercial_invoice", [("currency", "ZZZ")], "currency", "ISO 4217"),
    ("lower-currency", "payment_record", [("amount.currency", "sgd")], "amount.currency",
     "ISO 4217"),
    ("metal-currency", "payment_record", [("amount.currency", "XAU")], "amount.currency",
     "not money"),
    ("jpy-fraction", "payment_record", [("amount", {"amount": "103.06", "currency": "JPY"})],
     "amount.amount", "at most 0"),
    ("usd-three-places", "customs_declaration", [("goods_items.0.customs_value.amount",
                                                  "46200.001")],
     "goods_items.0.customs_value.amount", "at most 2"),
    ("second-currency", "commercial_invoice", [("line_items.1.line_total.currency", "EUR")],
     "line_items.1.line_total.currency", "One currency"),
    ("second-currency-waybill", "logistics_waybill", [("contents.1.value.currency", "USD")],
     "contents.1.value.currency", "One currency"),
    # countries
    ("lower-country", "commercial_invoice", [("seller.country", "cn")], "seller.country",
     "ISO 3166"),
    ("unknown-country", "certificate_of_origin", [("importing_country", "XX")],
     "importing_country", "ISO 3166"),
    ("alpha3-country", "ecommerce_order", [("buyer.delivery_address.country", "SGP")],
     "buyer.delivery_address.country", "ISO 3166"),
    # HS codes
    ("hs-5-digits", "customs_declaration", [("goods_items.0.hs_code", "85176")],
     "goods_items.0.hs_code", "6 to 10 digits"),
    ("hs-11-digits", "customs_declaration", [("goods_items.1.hs_code", "85176200001")],
     "goods_items.1.hs_code", "6 to 10 digits"),
    ("hs-dotted", "bill_of_lading", [("consignment_items.0.hs_codes.0", "8517.62")],
     "consignment_items.0.hs_codes.0", "digits only"),
    ("hs-number", "logistics_waybill", [("customs.items.0.hs_code", 851830)],
     "customs.items.0.hs_code", "string"),
    ("hs-invoice", "commercial_invoice", [("customs_classification.0.hs_code", "85A762")],
     "customs_classification.0.hs_code", "digits only"),
    # dates
    ("naive-datetime", "customs_declaration", [("issue_datetime", "2025-03-06T10:15:00")],
     "issue_datetime", "offset"),
    ("space-datetime", "ecommerce_order", [("order_datetime", "2025-03-01 21:04:37+08:00")],
     "order_datetime", "RFC 3339"),
    ("impossible-datetime", "payment_record", [("paid_at", "2025-02-29T13:05:02Z")],
     "paid_at", "real date-time"),
    ("datetime-for-date", "commercial_invoice", [("issue_date", "2025-03-03T00:00:00Z")],
     "issue_date", "YYYY-MM-DD"),
    ("impossible-date", "bill_of_lading", [("issue_date", "2025-02-30")], "issue_date",
     "real date"),
    # UN/LOCODE
    ("locode-short", "bill_of_lading", [("transports.port_of_loading", "CNSH")],
     "transports.port_of_loading", "UN/LOCODE"),
    ("locode-country", "bill_of_lading", [("transports.port_of_discharge", "XXHAM")],
     "transports.port_of_discharge", "ISO 3166"),
    ("locode-lower", "logistics_waybill", [("route.origin", "cnszx")], "route.origin",
     "UN/LOCODE"),
    # containers
    ("container-check-digit", "bill_of_lading",
     [("utilized_transport_equipments.0.equipment_reference", "CSQU3054384")],
     "utilized_transport_equipments.0.equipment_reference", "check digit"),
    ("container-packing", "packing_list", [("packages.1.container_number", "CBHU8127450")],
     "packages.1.container_number", "check digit"),
    ("container-format", "customs_declaration",
     [("transport.container_numbers.0", "CSQ3054383")], "transport.container_numbers.0",
     "ISO 6346"),
    # strictness
    ("unknown-top-level", "commercial_invoice", [("notes", "urgent")], "notes", "Unknown"),
    ("unknown-nested", "bill_of_lading", [("shipper.email", "ops@example.com")],
     "shipper.email", "Unknown"),
    ("unknown-in-money", "ecommerce_order", [("totals.tax.rate", "9")], "totals.tax.rate",
     "Unknown"),
    ("string-boolean", "bill_of_lading", [("is_to_order", "true")], "is_to_order", "boolean"),
    ("string-integer", "packing_list", [("packages.0.package_count", "600")],
     "packages.0.package_count", "integer"),
    ("boolean-integer", "ecommerce_order", [("items.1.quantity", True)], "items.1.quantity",
     "integer"),
    ("blank-text", "commercial_invoice", [("invoice_number", " LH-2025-00417")],
     "invoice_number", "whitespace"),
    ("null", "packing_list", [("invoice_number", None)], "invoice_number", "null"),
    # required fields
    *[(f"missing-{field}", name, [(field, DELETE)], field, "Missing data") for name, field in (
        ("commercial_invoice", "invoice_number"), ("packing_list", "packages"),
        ("bill_of_lading", "transport_document_reference"),
        ("certificate_of_origin", "origin_determination"), ("customs_declaration", "goods_items"),
        ("ecommerce_order", "buyer"), ("payment_record", "amount"),
        ("logistics_waybill", "recipient"))],
    ("declaration-without-customs-authority", "customs_declaration",
     [("customs_authority_org_id", DELETE)], "customs_authority_org_id", "Missing data"),
    ("declaration-bad-customs-authority", "customs_declaration",
     [("customs_authority_org_id", "org_SHANGHAICUSTOMS2")], "customs_authority_org_id",
     "organisation id"),
    ("invoice-seller-without-tax-id", "commercial_invoice", [("seller.tax_id", DELETE)],
     "seller.tax_id", "Missing data"),
    ("consumer-without-phone", "logistics_waybill", [("recipient.phone", DELETE)],
     "recipient.phone", "Missing data"),
    ("empty-line-items", "commercial_invoice", [("line_items", [])], "line_items", "Length"),
    # arithmetic
    ("line-total-mismatch", "commercial_invoice", [("line_items.0.line_total.amount",
                                                    "46200.01")],
     "line_items.0.line_total.amount", "quantity x price"),
    ("order-line-total-mismatch", "ecommerce_order", [("items.0.line_total.amount", "79.90")],
     "items.0.line_total.amount", "quantity x price"),
    ("invoice-lines-sum", "commercial_invoice", [("totals.line_total.amount", "63000.00")],
     "totals.line_total.amount", "line totals"),
    ("invoice-grand-total", "commercial_invoice", [("totals.grand_total.amount", "63100.01")],
     "totals.grand_total.amount", "line_total and tax_total"),
    ("tax-amount", "commercial_invoice", [("taxes.0.rate_percent", "19")],
     "taxes.0.tax_amount.amount", "19%"),
    ("order-total", "ecommerce_order", [("totals.discount.amount", "0.00")],
     "totals.order_total.amount", "discount"),
    ("declared-value", "logistics_waybill", [("customs.declared_value.amount", "90.00")],
     "customs.declared_value.amount", "content values"),
    ("customs-total-value", "customs_declaration", [("total_customs_value.amount", "1.00")],
     "total_customs_value.amount", "customs values"),
    ("zero-payment", "payment_record", [("amount.amount", "0.00")], "amount.amount",
     "more than zero"),
    ("zero-quantity", "commercial_invoice", [("line_items.0.quantity", "0")],
     "line_items.0.quantity", "greater than zero"),
    # weights
    ("package-gross-below-net", "packing_list", [("packages.0.net_weight_kg", "7900.000")],
     "packages.0.gross_weight_kg", "below net"),
    ("packing-totals", "packing_list", [("totals.gross_weight_kg", "11000.000")],
     "totals.gross_weight_kg", "gross_weight_kg"),
    ("packing-count", "packing_list", [("totals.package_count", 999)], "totals.package_count",
     "1000"),
    ("cargo-gross-below-net", "bill_of_lading",
     [("consignment_items.0.cargo_items.1.cargo_net_weight_kg", "3400.001")],
     "consignment_items.0.cargo_items.1.cargo_gross_weight_kg", "below net"),
    ("goods-gross-below-net", "customs_declaration", [("goods_items.1.gross_mass_kg", "2000")],
     "goods_items.1.gross_mass_kg", "below net"),
    ("parcel-gross-below-net", "logistics_waybill", [("parcels.0.net_weight_kg", "0.700")],
     "parcels.0.gross_weight_kg", "below net"),
    ("float-weight", "packing_list", [("packages.0.gross_weight_kg", 7800.0)],
     "packages.0.gross_weight_kg", "weights are decimal strings"),
    # eBL
    ("straight-bill-without-consignee", "bill_of_lading", [("is_to_order", False)],
     "consignee", "names its consignee"),
    ("shipper-without-org-id", "bill_of_lading", [("shipper.org_id", DELETE)], "shipper.org_id",
     "Missing data"),
    ("paper-bill", "bill_of_lading", [("is_electronic", False)], "is_electronic", "electronic"),
    ("two-originals", "bill_of_lading", [("number_of_originals", 3)], "number_of_originals",
     "one original"),
    ("sea-waybill-to-order", "bill_of_lading", [("transport_document_type_code", "SWB")],
     "is_to_order", "never to order"),
    ("both-dates", "bill_of_lading", [("received_for_shipment_date", "2025-03-07")],
     "received_for_shipment_date", "Not allowed"),
    ("received-type-without-date", "bill_of_lading", [("is_shipped_on_board_type", False)],
     "received_for_shipment_date", "Required"),
    ("issued-before-loading", "bill_of_lading", [("issue_date", "2025-03-07")], "issue_date",
     "before shipped_on_board_date"),
    ("scac-with-digits", "bill_of_lading", [("carrier_code", "OSC1")], "carrier_code", "SCAC"),
    ("cargo-in-unlisted-container", "bill_of_lading",
     [("consignment_items.0.cargo_items.1.equipment_reference", "FCIU5730927")],
     "consignment_items.0.cargo_items.1.equipment_reference", "utilized_transport_equipment"),
    ("container-listed-twice", "bill_of_lading",
     [("utilized_transport_equipments.1.equipment_reference", "CSQU3054383")],
     "utilized_transport_equipments.1.equipment_reference", "Duplicate"),
    ("arrival-before-departure", "bill_of_lading",
     [("transports.planned_arrival_date", "2025-03-01")], "transports.planned_arrival_date",
     "precedes"),
    # numbering and references
    ("goods-items-swapped", "customs_declaration",
     [("goods_items.0.sequence_number", 2), ("goods_items.1.sequence_number", 1)],
     "goods_items.0.sequence_number", "Expected item number 1"),
    ("goods-items-duplicate", "customs_declaration", [("goods_items.1.sequence_number", 1)],
     "goods_items.1.sequence_number", "Expected item number 2"),
    ("goods-items-from-zero", "customs_declaration", [("goods_items.0.sequence_number", 0)],
     "goods_items.0.sequence_number", "greater than or equal to 1"),
    ("classification-unknown-line", "commercial_invoice",
     [("customs_classification.1.line_id", "3")], "customs_classification.1.line_id",
     "No line_id"),
    ("duplicate-line-id", "commercial_invoice", [("line_items.1.line_id", "1")],
     "line_items.1.line_id", "Duplicate"),
    ("package-unknown-line", "packing_list", [("packages.1.line_ids", ["2", "7"])],
     "packages.1.line_ids.1", "No item"),
    ("waybill-customs-unknown-item", "logistics_waybill", [("customs.items.1.item_number", 3)],
     "customs.items.1.item_number", "No content item"),
    ("waybill-wrong-destination", "logistics_waybill", [("route.destination", "MYPKG")],
     "recipient.delivery_address.country", "destination"),
    # certificate of origin
    ("preferential-without-agreement", "certificate_of_origin", [("agreement", DELETE)],
     "agreement", "names its agreement"),
    ("preferential-without-criterion", "certificate_of_origin",
     [("origin_determination.0.origin_criterion", DELETE)],
     "origin_determination.0.origin_criterion", "origin criterion"),
    ("origin-claim-count", "certificate_of_origin", [("origin_determination", [])],
     "origin_determination", "Length"),
    # payments
    ("full-card-number", "payment_record", [("method.account_last4", "4111111111114821")],
     "method.account_last4", "last 4"),
]


@pytest.mark.parametrize(("type_name", "changes", "path", "fragment"),
                         [case[1:] for case in INVALID], ids=[case[0] for case in INVALID])
def test_invalid_document_is_refused_at_its_field(type_name, changes, path, fragment):
    errors = load_error(type_name, mutated(type_name, *changes))
    assert path in errors, errors
    assert any(fragment in message for message in errors[path]), errors[path]


def test_case_ids_are_unique():
    ids = [case[0] for case in INVALID]
    assert len(ids) == len(set(ids))


def test_to_order_bill_may_name_a_consignee():
    document = mutated("bill_of_lading", ("consignee", DOCUMENT_TYPES["packing_list"]
                                          .example["consignee"]))
    DOCUMENT_TYPES["bill_of_lading"].schema().load(document)


def test_straight_bill_with_consignee_loads():
    document = mutated("bill_of_lading", ("is_to_order", False),
                       ("consignee", DOCUMENT_TYPES["packing_list"].example["consignee"]))
    assert DOCUMENT_TYPES["bill_of_lading"].schema().load(document)["is_to_order"] is False


def test_received_for_shipment_bill_loads():
    document = mutated("bill_of_lading", ("is_shipped_on_board_type", False),
                       ("shipped_on_board_date", DELETE),
                       ("received_for_shipment_date", "2025-03-06"))
    DOCUMENT_TYPES["bill_of_lading"].schema().load(document)


def test_line_total_rounds_to_the_minor_unit():
    document = mutated("commercial_invoice", ("line_items.1.quantity", "3"),
                       ("line_items.1.line_total.amount", "63.38"),  # 3 x 21.125 = 63.375
                       ("taxes.0.basis_amount.amount", "46263.38"),
                       ("totals.line_total.amount", "46263.38"),
                       ("totals.grand_total.amount", "46263.38"))
    DOCUMENT_TYPES["commercial_invoice"].schema().load(document)
    document["line_items"][1]["line_total"]["amount"] = "63.36"
    errors = load_error("commercial_invoice", document)
    assert "line_items.1.line_total.amount" in errors


def test_non_preferential_certificate_needs_no_agreement():
    document = mutated("certificate_of_origin", ("certificate_type", "non_preferential"),
                       ("agreement", DELETE), ("origin_determination.0.origin_criterion", DELETE))
    DOCUMENT_TYPES["certificate_of_origin"].schema().load(document)
