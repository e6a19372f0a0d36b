"""The strict scalar fields and shared schemas of the document types."""

from __future__ import annotations

import warnings

import pytest
from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from marshmallow import ValidationError

from app.documents.types import DOCUMENT_TYPES
from app.documents.types.common import (
    Amount, ContainerNumber, CountryCode, CurrencyCode, HsCode, MoneySchema, OrgId, PartySchema,
    Rfc3339Date, Rfc3339DateTime, StrictBoolean, StrictInteger, StrictSchema, UnLocode,
    minor_unit,
)
from app.documents.types.fields import iso6346_check_digit


class Probe(StrictSchema):
    amount = Amount()
    currency = CurrencyCode()
    country = CountryCode()
    hs_code = HsCode()
    date_time = Rfc3339DateTime()
    date = Rfc3339Date()
    locode = UnLocode()
    container = ContainerNumber()
    org_id = OrgId()
    flag = StrictBoolean()
    count = StrictInteger()


def accepts(field: str, value) -> bool:
    try:
        Probe().load({field: value})
    except ValidationError as error:
        assert list(error.messages) == [field]
        return False
    return True


@pytest.mark.parametrize(("field", "value"), [
    ("amount", "0"), ("amount", "1234.50"), ("amount", "0.0001"), ("amount", "100"),
    ("currency", "USD"), ("currency", "CNY"), ("currency", "EUR"),
    ("country", "CN"), ("country", "DE"), ("country", "SG"),
    ("hs_code", "851762"), ("hs_code", "85176200"), ("hs_code", "8517620000"),
    ("date_time", "2025-03-06T10:15:00Z"), ("date_time", "2025-03-06T10:15:00+08:00"),
    ("date_time", "2025-03-06T10:15:00.123456789-05:30"),
    ("date", "2024-02-29"),
    ("locode", "CNSHA"), ("locode", "DEHAM"), ("locode", "SGSIN"), ("locode", "USNY2"),
    ("container", "CSQU3054383"), ("container", "CBHU8127457"),
    ("org_id", "org_abcdefgh23456723"),
    ("flag", True), ("flag", False), ("count", 0), ("count", 42),
])
def test_accepts(field, value):
    assert accepts(field, value)


@pytest.mark.parametrize(("field", "value"), [
    ("amount", 1234.5), ("amount", 1234), ("amount", "1e3"), ("amount", "+1"), ("amount", "01"),
    ("amount", ".5"), ("amount", "5."), ("amount", " 1"), ("amount", "1,000.00"),
    ("amount", "-1.00"), ("amount", "0.00001"), ("amount", ""), ("amount", "NaN"),
    ("currency", "usd"), ("currency", "US"), ("currency", "ZZZ"), ("currency", "US$"),
    ("country", "cn"), ("country", "CHN"), ("country", "XX"), ("country", "UK"),
    ("hs_code", "85176"), ("hs_code", "85176200001"), ("hs_code", "8517.62"),
    ("hs_code", "851762 "), ("hs_code", 851762),
    ("date_time", "2025-03-06T10:15:00"), ("date_time", "2025-03-06"),
    ("date_time", "2025-03-06t10:15:00z"), ("date_time", "2025-03-06T25:15:00Z"),
    ("date_time", "2025-03-06T10:15:00+24:00"), ("date_time", "2025-03-06T10:15Z"),
    ("date_time", "20250306T101500Z"),
    ("date", "2025-02-29"), ("date", "2025-3-6"), ("date", "2025-03-06Z"),
    ("locode", "CNSH"), ("locode", "CN SHA"), ("locode", "XXSHA"), ("locode", "CNSH1"),
    ("locode", "cnsha"),
    ("container", "CSQU3054384"), ("container", "CSQU305438"), ("container", "CSQA3054383"),
    ("container", "csqu3054383"),
    ("org_id", "org_ABCDEFGH23456723"), ("org_id", "org_abcdefgh2345672"),
    ("org_id", "org_abcdefgh23456718"), ("org_id", "tok_abcdefgh23456723"),
    ("flag", "true"), ("flag", 1), ("count", True), ("count", 1.0), ("count", "1"),
    ("count", 2**53),
])
def test_refuses(field, value):
    assert not accepts(field, value)


def test_a_json_number_amount_says_amounts_are_decimal_strings():
    with pytest.raises(ValidationError) as raised:
        Probe().load({"amount": 12.5})
    assert "decimal strings" in raised.value.messages["amount"][0]


def test_container_check_digit_catches_every_single_character_change():
    valid = "CSQU3054383"
    assert iso6346_check_digit(valid[:10]) == 3
    for position in range(4, 11):
        for digit in "0123456789":
            if digit != valid[position]:
                changed = valid[:position] + digit + valid[position + 1:]
                assert not accepts("container", changed), changed


@pytest.mark.parametrize(("currency", "places"), [("USD", 2), ("JPY", 0), ("KWD", 3),
                                                  ("CLF", 4), ("CNY", 2)])
def test_money_fraction_digits_follow_the_currency(currency, places):
    assert minor_unit(currency) == places
    fraction = "1" * places
    amount = f"10.{fraction}" if places else "10"
    assert MoneySchema().load({"amount": amount, "currency": currency})["amount"] == amount
    with pytest.raises(ValidationError) as raised:
        MoneySchema().load({"amount": f"10.{fraction}1", "currency": currency})
    assert list(raised.value.messages) == ["amount"]


def test_money_is_strict():
    with pytest.raises(ValidationError) as raised:
        MoneySchema().load({"amount": "1.00", "currency": "USD", "value": 1})
    assert list(raised.value.messages) == ["value"]
    with pytest.raises(ValidationError) as raised:
        MoneySchema().load({"amount": "1.00"})
    assert list(raised.value.messages) == ["currency"]


def test_party_kind_defaults_to_business_and_is_closed():
    party = PartySchema().load({"name": "Example Trading Pte. Ltd.", "country": "SG"})
    assert party == {"kind": "business", "name": "Example Trading Pte. Ltd.", "country": "SG"}
    with pytest.raises(ValidationError) as raised:
        PartySchema().load({"kind": "government", "name": "X", "country": "SG"})
    assert list(raised.value.messages) == ["kind"]


def test_the_openapi_document_describes_every_type_without_name_clashes():
    spec = APISpec("Tradezone", "v1", "3.0.3", plugins=[MarshmallowPlugin()])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for dtype in DOCUMENT_TYPES.values():
            spec.components.schema(dtype.schema.__name__.removesuffix("Schema"),
                                   schema=dtype.schema)
    schemas = spec.to_dict()["components"]["schemas"]
    amount = schemas["Money"]["properties"]["amount"]
    assert amount["type"] == "string" and "pattern" in amount
    issued = schemas["CustomsDeclaration"]["properties"]["issue_datetime"]
    assert issued["format"] == "date-time"
    assert "customs_authority_org_id" in schemas["CustomsDeclaration"]["required"]
    assert schemas["Party"]["properties"]["kind"]["enum"] == ["business", "individual"]


@pytest.mark.parametrize("value", ["", " ", "name ", " name", "name\n", "two\nlines"])
def test_single_line_text_refuses_blank_edges_and_newlines(value):
    with pytest.raises(ValidationError) as raised:
        PartySchema().load({"name": value, "country": "SG"})
    assert list(raised.value.messages) == ["name"]
