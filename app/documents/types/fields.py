"""Strict scalar fields for trade documents.

Every field here loads a JSON string and returns that same string once it has
been checked, so a loaded document stays plain JSON (RFC 8785 canonicalizes it
later). Formats are exact: no whitespace, no lower-case variants, no JSON
numbers where a decimal string is meant.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timezone
from collections.abc import Callable
from typing import Any

import pycountry
from marshmallow import ValidationError, fields, validate

from app.identity.tokens import identifier_pattern

DECIMAL_PATTERN = r"^-?(0|[1-9][0-9]*)(\.[0-9]+)?$"
TEXT_PATTERN = r"^\S(?:.*\S)?$"  # the DCSA pattern: no blank text, no edge whitespace


def _with(validators: Any, *first: Any) -> list:
    """``first`` followed by the caller's own validators (one, a list, or None)."""
    if validators is None:
        return list(first)
    if callable(validators):
        return [*first, validators]
    return [*first, *validators]


class Code(fields.String):
    """One of a closed list of codes, e.g. ``Code("BOL", "SWB")``."""

    def __init__(self, *choices: str, **kwargs: Any) -> None:
        kwargs["validate"] = _with(kwargs.get("validate"), validate.OneOf(choices))
        super().__init__(**kwargs)


class Pattern(fields.String):
    """A string matching ``pattern`` in full, then passing ``check`` (if any).

    ``error`` says what was expected. ``check`` sees only well-formed values and
    raises ValidationError; the pattern is published in the OpenAPI document.
    """

    def __init__(self, pattern: str, error: str, check: Callable[[str], None] | None = None,
                 *, flags: int = 0, **kwargs: Any) -> None:
        self.pattern, self.error, self.check = re.compile(pattern, flags), error, check
        kwargs["validate"] = _with(kwargs.get("validate"), self._validate_format)
        kwargs.setdefault("metadata", {}).setdefault("pattern", pattern)
        super().__init__(**kwargs)

    def _validate_format(self, value: str) -> None:
        if self.pattern.fullmatch(value) is None:
            raise ValidationError(self.error)
        if self.check is not None:
            self.check(value)


class Text(Pattern):
    """Non-blank free text of at most ``max_length`` characters, edges trimmed."""

    def __init__(self, max_length: int = 512, *, multiline: bool = False, **kwargs: Any) -> None:
        kwargs["validate"] = _with(kwargs.get("validate"), validate.Length(1, max_length),
                                   storable_text)
        super().__init__(TEXT_PATTERN, "Must not be blank or start or end with whitespace.",
                         flags=re.DOTALL if multiline else 0, **kwargs)


def storable_text(value: str) -> None:
    """Raise on text no database column or digest takes: an unpaired surrogate
    (JSON's ``"\\ud800"``: neither UTF-8 nor RFC 8785 can write it) or a NUL
    (PostgreSQL refuses it)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as error:
        raise ValidationError("Must not contain unpaired surrogates.") from error
    if "\x00" in value:
        raise ValidationError("Must not contain NUL characters.")


def utc_representable(value: datetime) -> None:
    """Raise on an aware time that is no time in UTC (0001-01-01T00:00:00+05:00):
    every stored time is UTC, so converting it would fail deep in the database layer."""
    try:
        value.astimezone(timezone.utc)
    except OverflowError as error:
        raise ValidationError("Out of range once converted to UTC.") from error


class DecimalString(fields.String):
    """A decimal number written as a JSON string, e.g. ``"1234.50"``.

    At most ``places`` fraction digits; negative only when ``signed``. Canonical
    digits only: no exponent, sign ``+``, leading zero or bare point. JSON
    numbers are refused, since a float cannot carry an exact amount.
    """

    def __init__(self, places: int, *, signed: bool = False, what: str = "decimal values",
                 **kwargs: Any) -> None:
        self.places, self.signed, self.what = places, signed, what
        kwargs["validate"] = _with(kwargs.get("validate"), self._check)
        kwargs.setdefault("metadata", {}).setdefault("pattern", DECIMAL_PATTERN)
        super().__init__(**kwargs)

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> str:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            raise ValidationError(f'JSON numbers are refused: {self.what} are decimal strings '
                                  f'such as "1234.50".')
        return super()._deserialize(value, attr, data, **kwargs)

    def _check(self, value: str) -> None:
        match = re.fullmatch(DECIMAL_PATTERN, value)
        if match is None:
            raise ValidationError(f'Not a decimal string such as "1234.50": {value!r}.')
        if value.startswith("-") and not self.signed:
            raise ValidationError(f"Must not be negative: {value}.")
        if value.startswith("-") and not value.strip("-0."):
            raise ValidationError(f"Zero has no sign: {value}.")
        fraction = match[2] or "."
        if len(fraction) - 1 > self.places:
            raise ValidationError(f"At most {self.places} fraction digits: {value}.")


def check_country(value: str) -> None:
    """Raise unless ``value`` is an assigned ISO 3166-1 alpha-2 code."""
    if pycountry.countries.get(alpha_2=value) is None:
        raise ValidationError(f"Unknown ISO 3166-1 alpha-2 country: {value}.")


def check_currency(value: str) -> None:
    """Raise unless ``value`` is an ISO 4217 alphabetic code known to pycountry."""
    if pycountry.currencies.get(alpha_3=value) is None:
        raise ValidationError(f"Unknown ISO 4217 currency: {value}.")


def CurrencyCode(**kwargs: Any) -> Pattern:  # noqa: N802
    """An ISO 4217 alphabetic currency code, upper case, e.g. ``USD``."""
    kwargs.setdefault("metadata", {}).setdefault("example", "USD")
    return Pattern(r"^[A-Z]{3}$", "Not an upper-case ISO 4217 currency code.", check_currency,
                   **kwargs)


def CountryCode(**kwargs: Any) -> Pattern:  # noqa: N802
    """An ISO 3166-1 alpha-2 country code, upper case, e.g. ``CN``."""
    kwargs.setdefault("metadata", {}).setdefault("example", "CN")
    return Pattern(r"^[A-Z]{2}$", "Not an upper-case ISO 3166-1 alpha-2 country code.",
                   check_country, **kwargs)


def HsCode(**kwargs: Any) -> Pattern:  # noqa: N802
    """A Harmonized System code: 6 digits (HS) up to 10 (national tariff lines)."""
    kwargs.setdefault("metadata", {}).setdefault("example", "85176200")
    return Pattern(r"^[0-9]{6,10}$", "An HS code is 6 to 10 digits, digits only.", **kwargs)


def UnLocode(**kwargs: Any) -> Pattern:  # noqa: N802
    """A UN/LOCODE: ISO 3166-1 country then 3 letters or digits 2-9, e.g. ``CNSHA``."""
    kwargs.setdefault("metadata", {}).setdefault("example", "CNSHA")
    return Pattern(r"^[A-Z]{2}[A-Z2-9]{3}$", "Not a UN/LOCODE such as CNSHA.",
                   lambda value: check_country(value[:2]), **kwargs)


RFC3339_DATE_TIME = (r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?"
                     r"(Z|[+-][0-9]{2}:[0-9]{2})$")


def Rfc3339DateTime(**kwargs: Any) -> Pattern:  # noqa: N802
    """An RFC 3339 section 5.6 date-time with an explicit offset (``Z`` or ``+08:00``)."""
    kwargs.setdefault("metadata", {}).update(format="date-time")
    return Pattern(RFC3339_DATE_TIME, "Not an RFC 3339 date-time with an offset, such as "
                   "2025-03-01T09:30:00+08:00.", _check_date_time, **kwargs)


def _check_date_time(value: str) -> None:
    try:  # fromisoformat takes at most 6 fraction digits; the range checks are what count
        datetime.fromisoformat(re.sub(r"(\.[0-9]{6})[0-9]+", r"\1", value))
    except ValueError as exc:
        raise ValidationError(f"Not a real date-time: {value}.") from exc


def Rfc3339Date(**kwargs: Any) -> Pattern:  # noqa: N802
    """An RFC 3339 full-date, ``YYYY-MM-DD``."""
    kwargs.setdefault("metadata", {}).update(format="date")
    return Pattern(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$", "Not an RFC 3339 date (YYYY-MM-DD).",
                   _check_date, **kwargs)


def _check_date(value: str) -> None:
    try:
        date.fromisoformat(value)
    except ValueError as exc:
        raise ValidationError(f"Not a real date: {value}.") from exc


def ContainerNumber(**kwargs: Any) -> Pattern:  # noqa: N802
    """An ISO 6346 container number, e.g. ``CSQU3054383``, check digit verified."""
    kwargs.setdefault("metadata", {}).setdefault("example", "CSQU3054383")
    return Pattern(r"^[A-Z]{3}[UJZ][0-9]{7}$", "Not an ISO 6346 container number such as "
                   "CSQU3054383.", _check_container, **kwargs)


def _check_container(value: str) -> None:
    expected = iso6346_check_digit(value[:10])
    if int(value[10]) != expected:
        raise ValidationError(f"ISO 6346 check digit of {value} is {expected}, not {value[10]}.")


def iso6346_check_digit(owner_serial: str) -> int:
    """The ISO 6346 check digit of the first 10 characters of a container number.

    Letters count from A=10 upwards skipping multiples of 11; position i weighs 2**i;
    the digit is the sum mod 11, where 10 becomes 0.
    """
    total = sum(_iso6346_value(char) << position for position, char in enumerate(owner_serial))
    return total % 11 % 10


def _iso6346_value(char: str) -> int:
    if char.isdigit():
        return int(char)
    value = 10 + ord(char) - ord("A")
    return value + (value - 1) // 10  # skip 11, 22, 33


def Identifier(prefix: str, what: str, **kwargs: Any) -> Pattern:  # noqa: N802
    """An id as ``app.identity.tokens.new_identifier(prefix)`` makes them:
    ``prefix`` and 16 lower-case base32 characters; ``what`` names it in the error."""
    return Pattern(identifier_pattern(prefix), f"Not {what} ({prefix} and 16 lower-case "
                   "base32 characters).", **kwargs)


def OrgId(**kwargs: Any) -> Pattern:  # noqa: N802
    """A Tradezone organisation id."""
    kwargs.setdefault("metadata", {}).setdefault("example", "org_abcdefgh23456723")
    return Identifier("org_", "a Tradezone organisation id", **kwargs)


def DocumentId(**kwargs: Any) -> Pattern:  # noqa: N802
    """A document id."""
    return Identifier("doc_", "a document id", **kwargs)


def ConsentId(**kwargs: Any) -> Pattern:  # noqa: N802
    """A consent id."""
    return Identifier("cns_", "a consent id", **kwargs)


def Phone(**kwargs: Any) -> Pattern:  # noqa: N802
    """A telephone number in ITU-T E.164 form, e.g. ``+6591234567``."""
    return Pattern(r"^\+[1-9][0-9]{6,14}$", "Not an E.164 number such as +6591234567.",
                   **kwargs)


def UnitCode(**kwargs: Any) -> Pattern:  # noqa: N802
    """A UN/ECE Recommendation 20 unit of measure code, e.g. ``H87`` (piece), ``KGM``."""
    kwargs.setdefault("metadata", {}).setdefault("example", "H87")
    return Pattern(r"^[A-Z0-9]{2,3}$", "Not a UN/ECE Rec 20 unit code such as H87.", **kwargs)


def PackageCode(**kwargs: Any) -> Pattern:  # noqa: N802
    """A UN/ECE Recommendation 21 package type code, e.g. ``CT`` (carton), ``PX``."""
    kwargs.setdefault("metadata", {}).setdefault("example", "CT")
    return Pattern(r"^[A-Z0-9]{2}$", "Not a UN/ECE Rec 21 package code such as CT.", **kwargs)


class StrictBoolean(fields.Boolean):
    """A JSON ``true`` or ``false``; no strings or numbers standing in for them."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return value


class StrictInteger(fields.Integer):
    """A JSON integer within the I-JSON safe range (RFC 7493 section 2.2), so that
    RFC 8785 canonicalization can write it; booleans, floats and strings are refused."""

    SAFE = 2**53 - 1

    def __init__(self, **kwargs: Any) -> None:
        kwargs["validate"] = _with(kwargs.get("validate"), validate.Range(-self.SAFE, self.SAFE))
        super().__init__(strict=True, **kwargs)

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> int:
        if isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return super()._deserialize(value, attr, data, **kwargs)


def positive(value: str) -> None:
    """Validator: a decimal string that is greater than zero (run after the format check)."""
    if not value.strip("0."):
        raise ValidationError(f"Must be greater than zero: {value}.")
