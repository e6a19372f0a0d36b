"""Commercial invoice and packing list: a trimmed UN/CEFACT Cross Industry Invoice.

Field names follow CII (D16B) in snake case: the exchanged document (number,
type code, issue date), the seller and buyer trade parties, the included line
items with their agreement (net price), delivery (billed quantity and unit) and
settlement (line total), the header trade settlement (currency, tax breakdown,
monetary summation, payment terms) and the delivery terms (Incoterms).
The packing list reuses the parties and adds the despatched packages.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from marshmallow import ValidationError, fields, validate, validates_schema

from .checks import (
    check_not_below, check_one_currency, check_percentage, check_product, check_references,
    check_sum, check_unique, collect, error_at, raise_all,
)
from .common import (
    Code, ContainerNumber, CountryCode, CurrencyCode, DecimalString, HsCode, MoneySchema,
    PackageCode, PartySchema, Pattern, Quantity, Rfc3339Date, StrictInteger, StrictSchema,
    TaxRegisteredPartySchema, Text, UnitCode, UnitPriceSchema, WeightKg, positive,
)

INCOTERMS_2020 = ("EXW", "FCA", "CPT", "CIP", "DAP", "DPU", "DDP", "FAS", "FOB", "CFR", "CIF")
# UNTDID 1001 document name codes that are invoices.
INVOICE_TYPE_CODES = ("380", "384", "386")  # commercial, corrected, prepayment invoice
# UNCL 5305 duty/tax/fee category codes used by EN 16931.
TAX_CATEGORY_CODES = ("S", "Z", "E", "AE", "K", "G", "O", "L", "M")


def LineId(**kwargs: Any) -> Pattern:  # noqa: N802
    """A line identifier unique within its document, e.g. ``"1"`` or ``"10-A"``."""
    kwargs.setdefault("metadata", {}).setdefault("example", "1")
    return Pattern(r"^[A-Za-z0-9._-]{1,35}$", "A line id is 1 to 35 letters, digits, "
                   "'.', '_' or '-'.", **kwargs)


class IncotermsSchema(StrictSchema):
    """CII ApplicableTradeDeliveryTerms: an Incoterms 2020 rule and its named place."""

    rule = Code(*INCOTERMS_2020, required=True, metadata={"example": "FOB"})
    place = Text(70, required=True, metadata={"example": "Shanghai"})


class InvoiceLineSchema(StrictSchema):
    """CII IncludedSupplyChainTradeLineItem: line_total = quantity x net_price."""

    line_id = LineId(required=True)
    seller_item_id = Text(35, metadata={"description": "Seller's article number."})
    description = Text(512, required=True, metadata={"example": "Wi-Fi 6 router, model AX3000"})
    quantity = Quantity(required=True, validate=positive)
    unit_code = UnitCode(required=True)
    net_price = fields.Nested(UnitPriceSchema, required=True,
                              metadata={"description": "Net price of one unit."})
    line_total = fields.Nested(MoneySchema, required=True)

    @validates_schema
    def _check_line_total(self, data: dict, **kwargs: Any) -> None:
        check_product(data["quantity"], data["net_price"], data["line_total"],
                      ("line_total", "amount"))


class TaxBreakdownSchema(StrictSchema):
    """CII ApplicableTradeTax: tax_amount = basis_amount x rate_percent / 100."""

    type_code = Code("VAT", "GST", load_default="VAT")
    category_code = Code(*TAX_CATEGORY_CODES, required=True, metadata={
        "description": "UNCL 5305 category, e.g. S standard, Z zero rated, G export.",
        "example": "S"})
    rate_percent = DecimalString(4, required=True, validate=validate.Length(max=8),
                                 what="percentages", metadata={"example": "19"})
    basis_amount = fields.Nested(MoneySchema, required=True)
    tax_amount = fields.Nested(MoneySchema, required=True)

    @validates_schema
    def _check_tax_amount(self, data: dict, **kwargs: Any) -> None:
        check_percentage(data["basis_amount"], data["rate_percent"], data["tax_amount"],
                         ("tax_amount", "amount"))


class InvoiceTotalsSchema(StrictSchema):
    """CII SpecifiedTradeSettlementHeaderMonetarySummation."""

    line_total = fields.Nested(MoneySchema, required=True,
                               metadata={"description": "Sum of the line totals."})
    tax_total = fields.Nested(MoneySchema, required=True,
                              metadata={"description": "Sum of the tax amounts."})
    grand_total = fields.Nested(MoneySchema, required=True,
                                metadata={"description": "line_total + tax_total."})


class PaymentTermsSchema(StrictSchema):
    """CII SpecifiedTradePaymentTerms, with the payee account of the payment means."""

    description = Text(512, required=True, metadata={"example": "T/T 30 days after B/L date"})
    due_date = Rfc3339Date()
    means_code = Pattern(r"^[0-9]{1,3}$", "Not a UNTDID 4461 code.", metadata={
        "description": "UNTDID 4461 payment means, e.g. 30 credit transfer, 42 bank account.",
        "example": "30"})
    payee_account = Text(34, metadata={"description": "IBAN or bank account number.",
                                       "example": "DE89370400440532013000"})
    payee_bic = Pattern(r"^[A-Z]{6}[A-Z0-9]{2}([A-Z0-9]{3})?$", "Not a BIC (ISO 9362).",
                        metadata={"example": "BKCHCNBJ300"})


class CustomsClassificationSchema(StrictSchema):
    """The HS code and origin of one invoice line, kept apart from its prices."""

    line_id = LineId(required=True)
    hs_code = HsCode(required=True)
    origin_country = CountryCode(required=True)


class CommercialInvoiceSchema(StrictSchema):
    """A commercial invoice (UN/CEFACT CII, type code 380) in one currency.

    Checks: each line total = quantity x net price; totals.line_total = sum of
    line totals; every tax amount = basis x rate; the tax bases add up to
    totals.line_total and the tax amounts to totals.tax_total; grand_total =
    line_total + tax_total; every amount is in ``currency``.
    """

    invoice_number = Text(35, required=True, metadata={"example": "LH-2025-00417"})
    type_code = Code(*INVOICE_TYPE_CODES, required=True, metadata={
        "description": "UNTDID 1001: 380 commercial, 384 corrected, 386 prepayment invoice.",
        "example": "380"})
    issue_date = Rfc3339Date(required=True)
    purchase_order_reference = Text(35)
    seller = fields.Nested(TaxRegisteredPartySchema, required=True)
    buyer = fields.Nested(PartySchema, required=True)
    currency = CurrencyCode(required=True, metadata={"description": "The invoice currency; "
                                                     "every amount uses it."})
    incoterms = fields.Nested(IncotermsSchema, required=True)
    line_items = fields.List(fields.Nested(InvoiceLineSchema), required=True,
                             validate=validate.Length(1, 9999))
    taxes = fields.List(fields.Nested(TaxBreakdownSchema), required=True,
                        validate=validate.Length(1, 50))
    totals = fields.Nested(InvoiceTotalsSchema, required=True)
    payment_terms = fields.Nested(PaymentTermsSchema, required=True)
    customs_classification = fields.List(fields.Nested(CustomsClassificationSchema),
                                         validate=validate.Length(1, 9999))

    @validates_schema
    def _check_document(self, data: dict, **kwargs: Any) -> None:
        check_one_currency(data, data["currency"])
        check_unique(data["line_items"], "line_id", ("line_items",))
        _check_invoice_totals(data)
        if "customs_classification" in data:
            check_unique(data["customs_classification"], "line_id", ("customs_classification",))
            check_references(data["customs_classification"], "line_id",
                             (line["line_id"] for line in data["line_items"]),
                             ("customs_classification",), "line_id")


def _check_invoice_totals(data: dict) -> None:
    totals = data["totals"]
    line_totals = [line["line_total"]["amount"] for line in data["line_items"]]
    tax_bases = [tax["basis_amount"]["amount"] for tax in data["taxes"]]
    tax_amounts = [tax["tax_amount"]["amount"] for tax in data["taxes"]]
    grand_parts = [totals["line_total"]["amount"], totals["tax_total"]["amount"]]
    sums = ((line_totals, totals["line_total"], ("totals", "line_total", "amount"),
             "line totals"),
            (tax_amounts, totals["tax_total"], ("totals", "tax_total", "amount"), "tax amounts"),
            (grand_parts, totals["grand_total"], ("totals", "grand_total", "amount"),
             "line_total and tax_total"),
            (tax_bases, totals["line_total"], ("taxes",), "tax basis amounts"))
    collect(partial(check_sum, parts, total["amount"], path, what)
            for parts, total, path, what in sums)


class PackingItemSchema(StrictSchema):
    """A packed article: what it is and how many, by invoice line."""

    line_id = LineId(required=True, metadata={"description": "The invoice line packed."})
    description = Text(512, required=True)
    quantity = Quantity(required=True, validate=positive)
    unit_code = UnitCode(required=True)


class PackageSchema(StrictSchema):
    """A group of identical packages (CII SpecifiedLogisticsPackage); weights are the group's."""

    package_number = Text(35, required=True, metadata={"example": "CTN 1-40"})
    package_code = PackageCode(required=True)
    package_count = StrictInteger(required=True, validate=validate.Range(1, 999999))
    line_ids = fields.List(LineId(), required=True, validate=validate.Length(1, 999),
                           metadata={"description": "The items (by line_id) in these packages."})
    shipping_marks = fields.List(Text(35), validate=validate.Length(1, 10))
    gross_weight_kg = WeightKg(required=True, validate=positive)
    net_weight_kg = WeightKg(required=True)
    volume_m3 = DecimalString(3, what="volumes", metadata={"example": "2.450"})
    container_number = ContainerNumber()

    @validates_schema
    def _check_weights(self, data: dict, **kwargs: Any) -> None:
        check_not_below(data["gross_weight_kg"], data["net_weight_kg"], ("gross_weight_kg",))


class PackingTotalsSchema(StrictSchema):
    """Totals over all packages."""

    package_count = StrictInteger(required=True, validate=validate.Range(1))
    gross_weight_kg = WeightKg(required=True)
    net_weight_kg = WeightKg(required=True)


class PackingListSchema(StrictSchema):
    """A packing list for one shipment, itemized by invoice line.

    Checks: item line ids unique; every package names known items; per package
    and in total, gross weight >= net weight; totals are the sums of the packages.
    """

    packing_list_number = Text(35, required=True, metadata={"example": "PL-2025-00417"})
    issue_date = Rfc3339Date(required=True)
    invoice_number = Text(35, metadata={"description": "The commercial invoice packed."})
    shipper = fields.Nested(PartySchema, required=True)
    consignee = fields.Nested(PartySchema, required=True)
    items = fields.List(fields.Nested(PackingItemSchema), required=True,
                        validate=validate.Length(1, 9999))
    packages = fields.List(fields.Nested(PackageSchema), required=True,
                           validate=validate.Length(1, 9999))
    totals = fields.Nested(PackingTotalsSchema, required=True)

    @validates_schema
    def _check_document(self, data: dict, **kwargs: Any) -> None:
        check_unique(data["items"], "line_id", ("items",))
        known = {item["line_id"] for item in data["items"]}
        raise_all([error for index, package in enumerate(data["packages"])
                   for error in _unknown_lines(package, known, index)])
        _check_packing_totals(data["packages"], data["totals"])


def _unknown_lines(package: dict, known: set[str], index: int) -> list[ValidationError]:
    return [error_at(("packages", index, "line_ids", position), f"No item {line_id!r} in "
                                                                f"this packing list.")
            for position, line_id in enumerate(package["line_ids"]) if line_id not in known]


def _check_packing_totals(packages: list[dict], totals: dict) -> None:
    count = sum(package["package_count"] for package in packages)
    if totals["package_count"] != count:
        raise error_at(("totals", "package_count"), f"Expected the sum of package counts, "
                                                    f"{count}, found {totals['package_count']}.")
    for key in ("gross_weight_kg", "net_weight_kg"):
        check_sum([package[key] for package in packages], totals[key], ("totals", key),
                  f"package {key}")
    check_not_below(totals["gross_weight_kg"], totals["net_weight_kg"],
                    ("totals", "gross_weight_kg"))


COMMERCIAL_INVOICE_CATEGORIES = {
    "invoice_number": "reference", "type_code": "reference", "issue_date": "reference",
    "purchase_order_reference": "reference",
    "seller": "party", "buyer": "party",
    "currency": "commercial", "incoterms": "commercial", "line_items": "commercial",
    "taxes": "commercial", "totals": "commercial",
    "payment_terms": "financial",  # includes the payee's bank account
    "customs_classification": "customs",
}

PACKING_LIST_CATEGORIES = {
    "packing_list_number": "reference", "issue_date": "reference", "invoice_number": "reference",
    "shipper": "party", "consignee": "party",
    "items": "commercial",
    "packages": "logistics", "totals": "logistics",
}
