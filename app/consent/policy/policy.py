"""The zone's cross-border data-export policy and its check of a consent.

Contract of :meth:`ExportPolicy.check`: it returns nothing when the consent's
terms are acceptable and raises otherwise; arguments that are not well formed
raise :class:`InvalidArgument` (a ``ValueError``) before any rule is looked at,
and the first rule violated raises :class:`ExportRefused`. Rules are examined
category by category in vocabulary order, for each category document type by
document type in vocabulary order, and for each rule destination, then export
assessment, then subject consent.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from .checks import check_cross_border, check_domestic
from .errors import InvalidArgument, UnknownCategory, UnknownDocumentType
from .identifiers import (EXPORT_ASSESSMENT_REF_MAX, SUBJECT_CONSENT_REF_MAX, parse_jurisdiction,
                          parse_reference)
from .loader import read_policy_file
from .rules import CategoryRule, SubjectConsentRule
from .vocabulary import DATA_CATEGORIES, DOCUMENT_TYPES

DEFAULT_POLICY_FILE = Path(__file__).with_name("export_policy.toml")


@dataclass(frozen=True)
class ExportPolicy:
    """Rules for sending document data out of ``home_jurisdiction``.

    ``rules`` has one :class:`CategoryRule` per data category (vocabulary
    order); ``overrides`` replaces one for a (document type, category) pair.
    """

    home_jurisdiction: str
    subject_consent: SubjectConsentRule
    rules: Mapping[str, CategoryRule]
    overrides: Mapping[tuple[str, str], CategoryRule]

    @classmethod
    def load(cls, path: Path | None = None) -> ExportPolicy:
        """The policy in the TOML file at ``path`` (default: the shipped
        DEFAULT_POLICY_FILE), strictly validated; PolicyFileError if unusable."""
        return cls(**read_policy_file(path or DEFAULT_POLICY_FILE)._asdict())

    def rules_for(self, category: str, document_type: str | None = None) -> CategoryRule:
        """The rule that governs ``category`` (in a ``document_type``, when given)."""
        if category not in self.rules:
            raise UnknownCategory(category)
        if document_type is not None and document_type not in DOCUMENT_TYPES:
            raise UnknownDocumentType(document_type)
        return self.overrides.get((document_type, category), self.rules[category])

    def check(self, categories: Iterable[str], destination: str, *,
              export_assessment_ref: str | None, subject_consent_ref: str | None,
              document_types: Iterable[str] | None = None) -> None:
        """Raise ExportRefused for the first rule the consent's terms violate.

        ``categories``: the data categories the consent discloses;
        ``destination``: where the data goes (ISO 3166-1 alpha-2; the home
        jurisdiction means no export); ``document_types``: the types of the
        documents disclosed, so per-type overrides apply (None: category rules only).
        """
        wanted = _parse_categories(categories)
        types = _parse_document_types(document_types)
        destination = parse_jurisdiction(destination, "destination")
        assessment = parse_reference(export_assessment_ref, "export_assessment_ref",
                                     EXPORT_ASSESSMENT_REF_MAX)
        consent = parse_reference(subject_consent_ref, "subject_consent_ref",
                                  SUBJECT_CONSENT_REF_MAX)
        for rule in self._applicable_rules(wanted, types):
            if destination == self.home_jurisdiction:
                check_domestic(rule, self.subject_consent, destination, consent)
            else:
                check_cross_border(rule, self.subject_consent, destination, assessment, consent)

    def _applicable_rules(self, categories: tuple[str, ...],
                          document_types: tuple[str | None, ...]) -> list[CategoryRule]:
        """Each distinct governing rule, in check order; every document type's
        rule must pass, so the strictest one decides."""
        rules: list[CategoryRule] = []
        for category in categories:
            for document_type in document_types:
                rule = self.rules_for(category, document_type)
                if rule not in rules:
                    rules.append(rule)
        return rules


def _parse_categories(categories: Iterable[str]) -> tuple[str, ...]:
    """The distinct categories in vocabulary order; at least one, all known."""
    given = _parse_names(categories, "categories", DATA_CATEGORIES, UnknownCategory)
    if not given:
        raise InvalidArgument("categories", "a consent must name at least one data category")
    return given


def _parse_document_types(document_types: Iterable[str] | None) -> tuple[str | None, ...]:
    if document_types is None:
        return (None,)
    given = _parse_names(document_types, "document_types", DOCUMENT_TYPES, UnknownDocumentType)
    return given or (None,)


def _parse_names(names: Iterable[str], field: str, vocabulary: tuple[str, ...],
                 unknown: type[InvalidArgument]) -> tuple[str, ...]:
    if isinstance(names, (str, bytes)):
        raise InvalidArgument(field, f"{field} must be a collection of names, not one string")
    names = set(names)
    for name in names:
        if name not in vocabulary:
            raise unknown(name)
    return tuple(name for name in vocabulary if name in names)
