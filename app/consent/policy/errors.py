"""The export policy's exception hierarchy.

``PolicyError`` is the root. Below it:

* ``PolicyFileError``: the policy file is malformed or inconsistent; raised
  while loading, naming the file and the offending key.
* ``InvalidArgument`` (also a ``ValueError``): an argument of
  :meth:`ExportPolicy.check` is not well formed, e.g. an unknown data category
  (``UnknownCategory``) or a destination that is not an ISO 3166-1 alpha-2 code.
* ``ExportRefused``: a well-formed consent that the rules refuse; it names the
  rule and says what would make the consent acceptable. The API answers it
  with 422.
"""

from __future__ import annotations


class PolicyError(Exception):
    """Root of every error raised by :mod:`app.consent.policy`."""


class PolicyFileError(PolicyError):
    """A policy file that cannot be used: ``key`` is the dotted path of the problem."""

    def __init__(self, source: str, key: str, problem: str) -> None:
        super().__init__(f"{source}: {key}: {problem}" if key else f"{source}: {problem}")
        self.source = source
        self.key = key
        self.problem = problem


class InvalidArgument(PolicyError, ValueError):
    """An argument that is not of the required form; ``field`` names it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class UnknownCategory(InvalidArgument):
    """A data category outside the platform's fixed vocabulary."""

    def __init__(self, category: object) -> None:
        super().__init__("categories", f"unknown data category {category!r}")
        self.category = category


class UnknownDocumentType(InvalidArgument):
    """A document type outside the platform's fixed vocabulary."""

    def __init__(self, document_type: object) -> None:
        super().__init__("document_types", f"unknown document type {document_type!r}")
        self.document_type = document_type


class InvalidJurisdiction(InvalidArgument):
    """A jurisdiction that is not an assigned ISO 3166-1 alpha-2 code."""


class InvalidReference(InvalidArgument):
    """An export-assessment or subject-consent reference of the wrong form."""


class ExportRefused(PolicyError):
    """A consent the rules refuse.

    ``rule_id`` names the rule, ``category`` the data category it refused,
    ``requirement`` which requirement failed (``"destination"``,
    ``"export_assessment"`` or ``"subject_consent"``); ``message`` names the
    rule and what would make the consent acceptable.
    """

    def __init__(self, *, rule_id: str, category: str, requirement: str, destination: str,
                 message: str, document_type: str | None = None) -> None:
        super().__init__(message)
        self.rule_id = rule_id
        self.category = category
        self.requirement = requirement
        self.destination = destination
        self.document_type = document_type
        self.message = message
