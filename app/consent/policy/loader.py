"""Reading a policy file (TOML) strictly.

Every table must have exactly its keys, of exactly their types; every data
category of the vocabulary must have a rule and no other may; codes must be
ISO 3166-1 alpha-2. The first problem found is raised as
:class:`PolicyFileError` naming the file and the dotted key.

File layout (see ``export_policy.toml``)::

    home_jurisdiction = "CN"
    [subject_consent]            cross_border_rule_id, domestic_rule_id,
                                 required_domestic, description
    [categories.<category>]      rule_id, description, restricted,
                                 destinations ("*" or a list), subject_consent
    [document_types.<type>.<category>]   rule_id, description and optionally
                                 restricted, destinations (the rest is inherited)
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any, NamedTuple, NoReturn

from .errors import InvalidArgument, PolicyFileError
from .identifiers import parse_jurisdiction, parse_rule_id
from .rules import CategoryRule, SubjectConsentRule
from .vocabulary import ANY_DESTINATION, DATA_CATEGORIES, DOCUMENT_TYPES

_TOP_REQUIRED = ("home_jurisdiction", "subject_consent", "categories")
_TOP_OPTIONAL = ("document_types",)
_SUBJECT_CONSENT_KEYS = ("cross_border_rule_id", "domestic_rule_id", "required_domestic",
                         "description")
_CATEGORY_KEYS = ("rule_id", "description", "restricted", "destinations", "subject_consent")
_OVERRIDE_REQUIRED = ("rule_id", "description")
_OVERRIDE_OPTIONAL = ("restricted", "destinations")


class PolicyParts(NamedTuple):
    """A validated policy file, in the field order of ``ExportPolicy``."""

    home_jurisdiction: str
    subject_consent: SubjectConsentRule
    rules: Mapping[str, CategoryRule]
    overrides: Mapping[tuple[str, str], CategoryRule]


def read_policy_file(path: Path) -> PolicyParts:
    """The validated contents of the TOML file at ``path``; PolicyFileError if
    it cannot be read, is not TOML, or breaks a rule of the layout."""
    source = str(path)
    try:
        with open(path, "rb") as fp:
            data = tomllib.load(fp)
    except OSError as exc:
        raise PolicyFileError(source, "", f"cannot be read ({exc.strerror or exc})") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise PolicyFileError(source, "", f"is not valid TOML ({exc})") from exc
    return parse_policy(data, source)


def parse_policy(data: Mapping[str, Any], source: str) -> PolicyParts:
    """Validate an already decoded policy document; ``source`` names it in errors."""
    reader = _Reader(source)
    reader.keys(data, "", _TOP_REQUIRED, _TOP_OPTIONAL)
    home = reader.jurisdiction(data["home_jurisdiction"], "home_jurisdiction")
    subject_consent = reader.subject_consent(reader.table(data, "subject_consent"))
    rules = reader.category_rules(reader.table(data, "categories"), home)
    overrides = reader.overrides(data.get("document_types", {}), rules, home)
    return PolicyParts(home, subject_consent, rules, overrides)


class _Reader:
    """Validation steps; each names the dotted key of what it rejects."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, key: str, problem: str, cause: Exception | None = None) -> NoReturn:
        raise PolicyFileError(self.source, key, problem) from cause

    def keys(self, table: Mapping[str, Any], key: str, required: Iterable[str],
             optional: Iterable[str] = ()) -> None:
        required = tuple(required)
        for name in required:
            if name not in table:
                self.fail(_join(key, name), "is missing")
        for name in sorted(set(table) - set(required) - set(optional)):
            self.fail(_join(key, name), "is not a known key")

    def table(self, parent: Mapping[str, Any], key: str, path: str = "") -> Mapping[str, Any]:
        value = parent.get(key, {})
        if not isinstance(value, dict):
            self.fail(_join(path, key), "must be a table")
        return value

    def boolean(self, table: Mapping[str, Any], key: str, path: str) -> bool:
        value = table[key]
        if not isinstance(value, bool):
            self.fail(_join(path, key), f"must be true or false, not {value!r}")
        return value

    def text(self, table: Mapping[str, Any], key: str, path: str) -> str:
        value = table[key]
        if not isinstance(value, str) or not value.strip():
            self.fail(_join(path, key), "must be a non-empty string")
        return value.strip()

    def rule_id(self, table: Mapping[str, Any], key: str, path: str) -> str:
        return self._parsed(parse_rule_id, table[key], _join(path, key))

    def jurisdiction(self, value: object, key: str) -> str:
        return self._parsed(parse_jurisdiction, value, key)

    def _parsed(self, parser, value: object, key: str) -> str:
        try:
            return parser(value, key)
        except InvalidArgument as exc:
            self.fail(key, exc.message, exc)

    def subject_consent(self, table: Mapping[str, Any]) -> SubjectConsentRule:
        path = "subject_consent"
        self.keys(table, path, _SUBJECT_CONSENT_KEYS)
        return SubjectConsentRule(
            cross_border_rule_id=self.rule_id(table, "cross_border_rule_id", path),
            domestic_rule_id=self.rule_id(table, "domestic_rule_id", path),
            required_domestic=self.boolean(table, "required_domestic", path),
            description=self.text(table, "description", path))

    def destinations(self, value: object, key: str, home: str) -> str | tuple[str, ...]:
        """``"*"``, or the sorted codes of a list without duplicates or the home code."""
        if value == ANY_DESTINATION:
            return ANY_DESTINATION
        if not isinstance(value, list):
            self.fail(key, f'must be "{ANY_DESTINATION}" or a list of ISO 3166-1 alpha-2 codes')
        codes = [self.jurisdiction(code, f"{key}[{i}]") for i, code in enumerate(value)]
        for i, code in enumerate(codes):
            if code == home:
                self.fail(f"{key}[{i}]", f"{code} is the home jurisdiction: sending there "
                                         "is not an export")
            if code in codes[:i]:
                self.fail(f"{key}[{i}]", f"{code} is listed twice")
        return tuple(sorted(codes))

    def category_rules(self, table: Mapping[str, Any], home: str) -> Mapping[str, CategoryRule]:
        for name in table:
            if name not in DATA_CATEGORIES:
                self.fail(_join("categories", name), "is not a data category of the vocabulary")
        rules = {}
        for category in DATA_CATEGORIES:
            if category not in table:
                self.fail(_join("categories", category), "is missing: every data category "
                                                         "needs a rule")
            rules[category] = self.category_rule(table, category, home)
        return MappingProxyType(rules)

    def category_rule(self, parent: Mapping[str, Any], category: str, home: str) -> CategoryRule:
        path = _join("categories", category)
        table = self.table(parent, category, "categories")
        self.keys(table, path, _CATEGORY_KEYS)
        return CategoryRule(
            category=category,
            rule_id=self.rule_id(table, "rule_id", path),
            description=self.text(table, "description", path),
            restricted=self.boolean(table, "restricted", path),
            destinations=self.destinations(table["destinations"], _join(path, "destinations"),
                                           home),
            subject_consent=self.boolean(table, "subject_consent", path))

    def overrides(self, table: object, rules: Mapping[str, CategoryRule],
                  home: str) -> Mapping[tuple[str, str], CategoryRule]:
        if not isinstance(table, dict):
            self.fail("document_types", "must be a table")
        overrides = {}
        for document_type, per_category in table.items():
            path = _join("document_types", document_type)
            if document_type not in DOCUMENT_TYPES:
                self.fail(path, "is not a document type of the vocabulary")
            per_category = self.table(table, document_type, "document_types")
            for category in per_category:
                if category not in DATA_CATEGORIES:
                    self.fail(_join(path, category), "is not a data category of the vocabulary")
                overrides[(document_type, category)] = self.override(
                    self.table(per_category, category, path), _join(path, category),
                    rules[category], document_type, home)
        return MappingProxyType(overrides)

    def override(self, table: Mapping[str, Any], path: str, base: CategoryRule,
                 document_type: str, home: str) -> CategoryRule:
        """``base`` with the keys ``table`` sets; subject_consent cannot be overridden."""
        self.keys(table, path, _OVERRIDE_REQUIRED, _OVERRIDE_OPTIONAL)
        restricted = (self.boolean(table, "restricted", path) if "restricted" in table
                      else base.restricted)
        destinations = (self.destinations(table["destinations"], _join(path, "destinations"),
                                          home) if "destinations" in table
                        else base.destinations)
        return CategoryRule(
            category=base.category, rule_id=self.rule_id(table, "rule_id", path),
            description=self.text(table, "description", path), restricted=restricted,
            destinations=destinations, subject_consent=base.subject_consent,
            document_type=document_type)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key
