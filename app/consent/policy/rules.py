"""The rules a policy file states, as frozen values.

A :class:`CategoryRule` says what the zone requires before data of one
category leaves the home jurisdiction; a per-document-type override is a
``CategoryRule`` with ``document_type`` set. :class:`SubjectConsentRule` names
the rules behind the data subject's separate consent (PIPL arts. 39 and 23).
"""

from __future__ import annotations

from dataclasses import dataclass

from .vocabulary import ANY_DESTINATION


@dataclass(frozen=True)
class CategoryRule:
    """The export rule for one data category (optionally for one document type).

    ``restricted``: export needs an approved export-assessment reference.
    ``destinations``: ``"*"`` for every jurisdiction, else the sorted allowed codes.
    ``subject_consent``: the data subject's separate consent reference is required.
    """

    category: str
    rule_id: str
    description: str
    restricted: bool
    destinations: str | tuple[str, ...]
    subject_consent: bool
    document_type: str | None = None

    def allows_destination(self, destination: str) -> bool:
        """Whether data of this category may be sent to ``destination`` at all."""
        return self.destinations == ANY_DESTINATION or destination in self.destinations


@dataclass(frozen=True)
class SubjectConsentRule:
    """Where a category requires it, the data subject's separate consent.

    Sending abroad is refused under ``cross_border_rule_id`` without it;
    within the home jurisdiction under ``domestic_rule_id`` when
    ``required_domestic`` is set.
    """

    cross_border_rule_id: str
    domestic_rule_id: str
    required_domestic: bool
    description: str
