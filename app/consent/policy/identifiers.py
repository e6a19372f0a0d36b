"""Strict parsers for the identifiers the policy deals in.

Each parser returns the value unchanged when it is exactly of the required
form and raises an :class:`InvalidArgument` subclass otherwise; nothing is
normalised (``"cn"`` is not ``"CN"``, ``" REF-1"`` is not ``"REF-1"``).
"""

from __future__ import annotations

import re

from .errors import InvalidArgument, InvalidJurisdiction, InvalidReference

try:  # optional: when installed, codes must also be assigned ones
    import pycountry
except ImportError:  # pragma: no cover - depends on the environment
    pycountry = None

_ALPHA_2 = re.compile(r"[A-Z]{2}")
_RULE_ID = re.compile(r"[A-Z][A-Z0-9]*(?:-[A-Z0-9]+)*")
RULE_ID_MAX = 40
REFERENCE_MIN = 4
EXPORT_ASSESSMENT_REF_MAX = 64   # the length of consents.export_assessment_ref
SUBJECT_CONSENT_REF_MAX = 128    # the length of consents.subject_consent_ref


def parse_jurisdiction(value: object, field: str = "destination") -> str:
    """``value`` if it is an ISO 3166-1 alpha-2 code (two upper-case letters,
    and an assigned code when pycountry is installed); else InvalidJurisdiction."""
    if not isinstance(value, str) or _ALPHA_2.fullmatch(value) is None:
        raise InvalidJurisdiction(
            field, f"{field} must be an ISO 3166-1 alpha-2 code (two upper-case letters), "
                   f"not {value!r}")
    if not _is_assigned(value):
        raise InvalidJurisdiction(field, f"{field} {value!r} is not an assigned ISO 3166-1 code")
    return value


def _is_assigned(code: str) -> bool:
    if pycountry is None:
        return True
    try:
        return pycountry.countries.get(alpha_2=code) is not None
    except (KeyError, LookupError):  # older pycountry raised instead of returning None
        return False


def parse_reference(value: object, field: str, max_length: int) -> str | None:
    """None for None; else ``value`` if it is REFERENCE_MIN..max_length printable
    characters without surrounding white space; else InvalidReference."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidReference(field, f"{field} must be a string, not {type(value).__name__}")
    if not REFERENCE_MIN <= len(value) <= max_length:
        raise InvalidReference(
            field, f"{field} must be {REFERENCE_MIN} to {max_length} characters, "
                   f"not {len(value)}")
    if not value.isprintable() or value != value.strip():
        raise InvalidReference(
            field, f"{field} must be printable characters without surrounding white space")
    return value


def parse_rule_id(value: object, field: str = "rule_id") -> str:
    """``value`` if it looks like ``TZ-NL-PI`` (upper-case words joined by
    hyphens, at most RULE_ID_MAX characters); else InvalidArgument."""
    if (not isinstance(value, str) or len(value) > RULE_ID_MAX
            or _RULE_ID.fullmatch(value) is None):
        raise InvalidArgument(
            field, f"{field} must be upper-case letters and digits joined by hyphens "
                   f"(at most {RULE_ID_MAX} characters), not {value!r}")
    return value
