"""Cross-field checks that the standards imply, shared by the document schemas.

Each check raises a :class:`marshmallow.ValidationError` whose messages sit at
the offending field's path (``{"line_items": {0: {"line_total": [...]}}}``),
and says what it expected and what it found. Checks return nothing.
Inputs are already validated field by field, so decimal strings parse.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from decimal import Decimal
from typing import Any

from marshmallow import ValidationError

from .common import minor_unit

Path = tuple[str | int, ...]


def error_at(path: Path, message: str) -> ValidationError:
    """A ValidationError whose message is nested under ``path``."""
    messages: Any = [message]
    for key in reversed(path):
        messages = {key: messages}
    return ValidationError(messages)


def raise_all(errors: Sequence[ValidationError]) -> None:
    """Raise one ValidationError merging ``errors``, if there are any."""
    if not errors:
        return
    merged: dict = {}
    for error in errors:
        _merge(merged, error.normalized_messages())
    raise ValidationError(merged)


def collect(checks: Iterable[Callable[[], None]]) -> None:
    """Run every check, then raise the errors of all that failed as one."""
    errors = []
    for check in checks:
        try:
            check()
        except ValidationError as error:
            errors.append(error)
    raise_all(errors)


def _merge(into: dict, messages: dict) -> None:
    for key, value in messages.items():
        if isinstance(value, dict):
            _merge(into.setdefault(key, {}), value)
        else:
            into.setdefault(key, []).extend(value)


def half_minor_unit(currency: str) -> Decimal:
    """Half of the currency's smallest unit: the rounding allowed on a computed amount."""
    return Decimal(1).scaleb(-minor_unit(currency)) / 2


def check_product(quantity: str, price: dict, total: dict, path: Path) -> None:
    """``total`` must equal quantity x unit price, rounded to the currency's minor unit."""
    expected = Decimal(quantity) * Decimal(price["amount"])
    if abs(Decimal(total["amount"]) - expected) > half_minor_unit(total["currency"]):
        raise error_at(path, f"Expected quantity x price = {quantity} x {price['amount']} = "
                             f"{expected.normalize():f}, found {total['amount']}.")


def check_percentage(basis: dict, rate_percent: str, amount: dict, path: Path) -> None:
    """``amount`` must equal basis x rate / 100, rounded to the currency's minor unit."""
    expected = Decimal(basis["amount"]) * Decimal(rate_percent) / 100
    if abs(Decimal(amount["amount"]) - expected) > half_minor_unit(amount["currency"]):
        raise error_at(path, f"Expected {basis['amount']} x {rate_percent}% = "
                             f"{expected.normalize():f}, found {amount['amount']}.")


def check_sum(parts: Iterable[str], total: str, path: Path, what: str) -> None:
    """The decimal strings ``parts`` must add up exactly to ``total``."""
    expected = sum((Decimal(part) for part in parts), Decimal(0))
    if Decimal(total) != expected:
        raise error_at(path, f"Expected the sum of {what}, {expected:f}, found {total}.")


def check_not_below(gross: str, net: str, path: Path) -> None:
    """A gross weight must not be below its net weight."""
    if Decimal(gross) < Decimal(net):
        raise error_at(path, f"Gross weight {gross} kg is below net weight {net} kg.")


def check_numbered(items: Sequence[dict], key: str, path: Path) -> None:
    """Item ``i`` (from 0) must carry number ``i + 1``: numbers run 1..n, unique, in order."""
    errors = [error_at((*path, index, key), f"Expected item number {index + 1}, "
                                            f"found {item[key]}.")
              for index, item in enumerate(items) if item[key] != index + 1]
    raise_all(errors)


def check_unique(items: Sequence[dict], key: str, path: Path) -> None:
    """No two items may share ``item[key]``."""
    seen: dict[Any, int] = {}
    errors = []
    for index, item in enumerate(items):
        if item[key] in seen:
            errors.append(error_at((*path, index, key), f"Duplicate {item[key]!r}, first at "
                                                        f"item {seen[item[key]]}."))
        seen.setdefault(item[key], index)
    raise_all(errors)


def check_references(items: Sequence[dict], key: str, known: Iterable[Any], path: Path,
                     what: str) -> None:
    """Every ``item[key]`` must be one of ``known`` (e.g. a line id of the same document)."""
    known = set(known)
    raise_all([error_at((*path, index, key), f"No {what} {item[key]!r} in this document.")
               for index, item in enumerate(items) if item[key] not in known])


def check_one_currency(document: dict, currency: str | None = None) -> None:
    """Every Money in ``document`` must be in ``currency`` (default: the first one found)."""
    errors = []
    for path, found in _currencies(document, ()):
        currency = currency or found
        if found != currency:
            errors.append(error_at((*path, "currency"),
                                   f"One currency per document: expected {currency}, "
                                   f"found {found}."))
    raise_all(errors)


def _currencies(value: Any, path: Path) -> Iterator[tuple[Path, str]]:
    """(path, currency) of every ``{"amount", "currency"}`` object, in document order."""
    if isinstance(value, dict):
        if value.keys() == {"amount", "currency"}:
            yield path, value["currency"]
            return
        for key, item in value.items():
            yield from _currencies(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _currencies(item, (*path, index))
