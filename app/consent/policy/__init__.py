"""Cross-border data-export policy of the zone.

The rules live in ``export_policy.toml`` beside this package (its comments
cite the sources each default is modelled on). Typical use::

    policy = ExportPolicy.load()
    policy.check(["commercial", "personal_information"], "DE",
                 export_assessment_ref=None, subject_consent_ref="SC-2024-0001",
                 document_types=["ecommerce_order"])   # raises ExportRefused or passes
"""

from __future__ import annotations

from .errors import (ExportRefused, InvalidArgument, InvalidJurisdiction, InvalidReference,
                     PolicyError, PolicyFileError, UnknownCategory, UnknownDocumentType)
from .policy import DEFAULT_POLICY_FILE, ExportPolicy
from .rules import CategoryRule, SubjectConsentRule
from .vocabulary import ANY_DESTINATION, DATA_CATEGORIES, DOCUMENT_TYPES

__all__ = [
    "ANY_DESTINATION", "DATA_CATEGORIES", "DEFAULT_POLICY_FILE", "DOCUMENT_TYPES",
    "CategoryRule", "ExportPolicy", "ExportRefused", "InvalidArgument", "InvalidJurisdiction",
    "InvalidReference", "PolicyError", "PolicyFileError", "SubjectConsentRule",
    "UnknownCategory", "UnknownDocumentType",
]
