"""Schemas and fields shared by every trade document type.

Each schema is strict (``unknown = RAISE``) and loads to plain JSON values: the
strings stay the validated strings. The scalar fields live in
:mod:`.fields` and are re-exported here so document modules import one place.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from marshmallow import ValidationError, fields, validate, validates_schema

from app.strict_schema import StrictSchema

from .fields import (
    Code, ContainerNumber, CountryCode, CurrencyCode, DecimalString, HsCode, OrgId, PackageCode,
    Pattern, Phone, Rfc3339Date, Rfc3339DateTime, StrictBoolean, StrictInteger, Text, UnitCode,
    UnLocode, positive,
)

__all__ = [
    "Amount", "Code", "ConsumerSchema", "ContainerNumber", "CountryCode", "CurrencyCode",
    "DecimalString", "HsCode", "IdentifiedPartySchema", "MoneySchema", "OrgId", "PackageCode",
    "PartySchema", "Pattern", "PersonSchema", "Phone", "PostalAddressSchema", "Quantity",
    "Rfc3339Date", "Rfc3339DateTime", "StrictBoolean", "StrictInteger", "StrictSchema",
    "TaxRegisteredPartySchema", "Text", "UnitCode", "UnitPriceSchema", "UnLocode", "WeightKg",
    "minor_unit", "positive",
]

# ISO 4217 list one, "minor unit" column: the currencies whose exponent is not 2.
# Codes with no minor unit (precious metals, SDR, testing and "no currency") are
# not money and are refused. pycountry knows the codes but not their exponents.
_EXPONENTS = {
    **dict.fromkeys(("BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX",
                     "UYI", "VND", "VUV", "XAF", "XOF", "XPF"), 0),
    **dict.fromkeys(("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"), 3),
    **dict.fromkeys(("CLF", "UYW"), 4),
}
_NOT_MONEY = frozenset(("XAG", "XAU", "XBA", "XBB", "XBC", "XBD", "XDR", "XPD", "XPT", "XSU",
                        "XTS", "XUA", "XXX"))
MAX_AMOUNT_PLACES = 4
MAX_PRICE_PLACES = 6


def minor_unit(currency: str) -> int:
    """The ISO 4217 exponent of ``currency`` (2 for USD, 0 for JPY, 3 for KWD)."""
    return _EXPONENTS.get(currency, 2)


def Amount(places: int = MAX_AMOUNT_PLACES, **kwargs: Any) -> DecimalString:  # noqa: N802
    """A non-negative money amount as a decimal string."""
    kwargs.setdefault("metadata", {}).setdefault("example", "1234.50")
    return DecimalString(places, what="amounts", **kwargs)


def Quantity(**kwargs: Any) -> DecimalString:  # noqa: N802
    """A non-negative quantity as a decimal string, up to 6 fraction digits."""
    kwargs.setdefault("metadata", {}).setdefault("example", "1200")
    return DecimalString(6, what="quantities", **kwargs)


def WeightKg(**kwargs: Any) -> DecimalString:  # noqa: N802
    """A non-negative mass in kilograms as a decimal string, up to 3 fraction digits."""
    kwargs.setdefault("metadata", {}).setdefault("example", "1250.500")
    return DecimalString(3, what="weights", **kwargs)


class MoneySchema(StrictSchema):
    """An amount and its ISO 4217 currency, ``{"amount": "1234.50", "currency": "USD"}``.

    The amount has at most as many fraction digits as the currency's minor unit.
    """

    amount = Amount(required=True)
    currency = CurrencyCode(required=True)

    @validates_schema
    def _check_minor_unit(self, data: dict, **kwargs: Any) -> None:
        currency = data["currency"]
        if currency in _NOT_MONEY:
            raise ValidationError(f"{currency} has no minor unit and is not money.", "currency")
        places = minor_unit(currency)
        if -Decimal(data["amount"]).as_tuple().exponent > places:
            raise ValidationError(f"{currency} amounts have at most {places} fraction digits: "
                                  f"{data['amount']}.", "amount")


class UnitPriceSchema(StrictSchema):
    """A unit price: like Money, but finer than the currency's minor unit (6 digits).

    UN/CEFACT CII allows net prices more precise than the amounts they produce.
    """

    amount = Amount(MAX_PRICE_PLACES, required=True)
    currency = CurrencyCode(required=True)


class PartySchema(StrictSchema):
    """A trading party: a business by default, or an individual (e.g. a sole trader).

    ``org_id`` names the party's Tradezone organisation when it has one; the
    service layer resolves it to a counterparty.
    """

    kind = Code("business", "individual", load_default="business",
                metadata={"description": "Legal form of the party."})
    name = Text(140, required=True, metadata={"example": "Shanghai Lianhua Electronics Co., Ltd."})
    country = CountryCode(required=True)
    address = fields.List(Text(70), validate=validate.Length(1, 5), metadata={
        "description": "Postal address lines, as printed.",
        "example": ["No. 88 Zhangjiang Road", "Pudong New Area, Shanghai 201203"]})
    tax_id = Text(35, metadata={"description": "Tax registration (VAT, USCC, UEN...).",
                                "example": "91310115MA1K4ABC2X"})
    org_id = OrgId(metadata={"description": "The party's Tradezone organisation, if any."})


class TaxRegisteredPartySchema(PartySchema):
    """A party whose tax registration is required (an invoice seller)."""

    tax_id = Text(35, required=True, metadata={"description": "Tax registration (VAT, USCC...).",
                                               "example": "91310115MA1K4ABC2X"})


class IdentifiedPartySchema(PartySchema):
    """A party that must be a Tradezone organisation (``org_id`` required)."""

    org_id = OrgId(required=True, metadata={"description": "The party's Tradezone organisation."})


class PostalAddressSchema(StrictSchema):
    """A delivery address of a person."""

    lines = fields.List(Text(70), required=True, validate=validate.Length(1, 3),
                        metadata={"example": ["Blk 123 Example Avenue 4", "#05-67"]})
    city = Text(70, required=True, metadata={"example": "Singapore"})
    region = Text(70)
    postal_code = Text(17, metadata={"example": "560123"})
    country = CountryCode(required=True)


class PersonSchema(StrictSchema):
    """An individual (a consumer) named in a document: personal information."""

    name = Text(140, required=True, metadata={"example": "Tan Mei Ling"})
    phone = Phone()
    email = fields.Email(validate=validate.Length(3, 254))


class ConsumerSchema(PersonSchema):
    """An individual buyer or recipient with a delivery address and phone."""

    phone = Phone(required=True, metadata={"example": "+6591234567"})
    delivery_address = fields.Nested(PostalAddressSchema, required=True)
