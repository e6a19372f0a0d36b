"""Cross-border e-commerce order and payment record.

With the logistics waybill these are the "three documents" a cross-border
retail export is reconciled by (order, payment, logistics): each names the
order number, and the buyer, payer and recipient are individuals whose data is
personal information, kept in fields of their own.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from marshmallow import fields, validate, validates_schema

from .checks import check_one_currency, check_product, check_sum, check_unique, collect, error_at
from .common import (
    Code, ConsumerSchema, CurrencyCode, MoneySchema, PartySchema, Pattern, PersonSchema,
    Rfc3339DateTime, StrictInteger, StrictSchema, Text, UnitPriceSchema,
)


class OrderItemSchema(StrictSchema):
    """One ordered article: line_total = quantity x unit_price."""

    sku = Text(64, required=True, metadata={"example": "EB-Q30-BLK"})
    description = Text(512, required=True, metadata={"example": "Wireless earphones, black"})
    quantity = StrictInteger(required=True, validate=validate.Range(1, 999999))
    unit_price = fields.Nested(UnitPriceSchema, required=True)
    line_total = fields.Nested(MoneySchema, required=True)

    @validates_schema
    def _check_line_total(self, data: dict, **kwargs: Any) -> None:
        check_product(str(data["quantity"]), data["unit_price"], data["line_total"],
                      ("line_total", "amount"))


class OrderTotalsSchema(StrictSchema):
    """order_total = items_total + shipping + tax - discount."""

    items_total = fields.Nested(MoneySchema, required=True)
    shipping = fields.Nested(MoneySchema, required=True)
    tax = fields.Nested(MoneySchema, required=True, metadata={
        "description": "Import VAT/GST and duties charged to the buyer."})
    discount = fields.Nested(MoneySchema, required=True)
    order_total = fields.Nested(MoneySchema, required=True)


class EcommerceOrderSchema(StrictSchema):
    """A consumer's order on a cross-border marketplace or shop, in one currency.

    Checks: each line total = quantity x unit price; SKUs unique; items_total =
    sum of line totals; order_total = items_total + shipping + tax - discount.
    """

    order_number = Text(35, required=True, metadata={"example": "SO-20250301-884512"})
    order_datetime = Rfc3339DateTime(required=True)
    marketplace = fields.Nested(PartySchema, metadata={
        "description": "The platform the order was placed on, if not the seller's own shop."})
    seller = fields.Nested(PartySchema, required=True)
    buyer = fields.Nested(ConsumerSchema, required=True)
    currency = CurrencyCode(required=True)
    items = fields.List(fields.Nested(OrderItemSchema), required=True,
                        validate=validate.Length(1, 999))
    totals = fields.Nested(OrderTotalsSchema, required=True)
    payment_reference = Text(64, metadata={"description": "The payment record's payment_id."})

    @validates_schema
    def _check_document(self, data: dict, **kwargs: Any) -> None:
        collect((partial(check_one_currency, data, data["currency"]),
                 partial(check_unique, data["items"], "sku", ("items",)),
                 partial(_check_order_totals, data["items"], data["totals"])))


def _check_order_totals(items: list[dict], totals: dict) -> None:
    amount = {key: money["amount"] for key, money in totals.items()}
    collect((
        partial(check_sum, (item["line_total"]["amount"] for item in items),
                amount["items_total"], ("totals", "items_total", "amount"), "line totals"),
        partial(check_sum, (amount["items_total"], amount["shipping"], amount["tax"],
                            f'-{amount["discount"]}'), amount["order_total"],
                ("totals", "order_total", "amount"), "items_total + shipping + tax - discount"),
    ))


class PaymentMethodSchema(StrictSchema):
    """How the payer paid; never a full card or account number."""

    type = Code("card", "bank_transfer", "wallet", required=True, metadata={"example": "wallet"})
    scheme = Text(35, required=True, metadata={
        "description": "Card scheme, wallet or transfer system.", "example": "ALIPAY"})
    account_last4 = Pattern(r"^[0-9]{4}$", "Only the last 4 digits of an account or card.",
                            metadata={"example": "4821"})


class PaymentRecordSchema(StrictSchema):
    """A payment for an e-commerce order, as the payment provider records it.

    The amount is what moved; ``status`` says whether it stands or was refunded.
    """

    payment_id = Text(64, required=True, metadata={"example": "PAY-20250301-551903"})
    provider_transaction_id = Text(64, required=True,
                                   metadata={"example": "2025030122001456781234567890"})
    order_reference = Text(35, required=True, metadata={"example": "SO-20250301-884512"})
    paid_at = Rfc3339DateTime(required=True)
    status = Code("captured", "refunded", required=True)
    payer = fields.Nested(PersonSchema, required=True)
    payee = fields.Nested(PartySchema, required=True)
    payment_provider = fields.Nested(PartySchema, required=True)
    amount = fields.Nested(MoneySchema, required=True)
    method = fields.Nested(PaymentMethodSchema, required=True)

    @validates_schema
    def _check_document(self, data: dict, **kwargs: Any) -> None:
        if data["amount"]["amount"].strip("0.") == "":
            raise error_at(("amount", "amount"), "A payment moves more than zero.")


ECOMMERCE_ORDER_CATEGORIES = {
    "order_number": "reference", "order_datetime": "reference", "payment_reference": "reference",
    "marketplace": "party", "seller": "party",
    "buyer": "personal_information",
    "currency": "commercial", "items": "commercial", "totals": "commercial",
}

PAYMENT_RECORD_CATEGORIES = {
    "payment_id": "reference", "provider_transaction_id": "reference",
    "order_reference": "reference", "paid_at": "reference", "status": "reference",
    "payer": "personal_information",
    "payee": "party", "payment_provider": "party",
    "amount": "financial", "method": "financial",
}
