"""The steps of checking one rule against a consent's terms.

Each step returns nothing and raises :class:`ExportRefused` naming the rule
and what would make the consent acceptable. Steps run in a fixed order:
destination, export assessment, subject consent.
"""

from __future__ import annotations

from .errors import ExportRefused
from .identifiers import EXPORT_ASSESSMENT_REF_MAX, REFERENCE_MIN, SUBJECT_CONSENT_REF_MAX
from .rules import CategoryRule, SubjectConsentRule


def check_domestic(rule: CategoryRule, consent_rule: SubjectConsentRule, destination: str,
                   subject_consent_ref: str | None) -> None:
    """Within the home jurisdiction only the subject's consent can be required
    (PIPL art. 23, when ``consent_rule.required_domestic``)."""
    if rule.subject_consent and consent_rule.required_domestic:
        _check_subject_consent(rule, consent_rule.domestic_rule_id, destination,
                               subject_consent_ref)


def check_cross_border(rule: CategoryRule, consent_rule: SubjectConsentRule, destination: str,
                       export_assessment_ref: str | None,
                       subject_consent_ref: str | None) -> None:
    """The destination is allowed, a restricted category has an assessment
    reference, and a category that needs it has the subject's consent (PIPL art. 39)."""
    _check_destination(rule, destination)
    _check_export_assessment(rule, destination, export_assessment_ref)
    if rule.subject_consent:
        _check_subject_consent(rule, consent_rule.cross_border_rule_id, destination,
                               subject_consent_ref)


def _check_destination(rule: CategoryRule, destination: str) -> None:
    if rule.allows_destination(destination):
        return
    allowed = (f"allowed destinations are {', '.join(rule.destinations)}" if rule.destinations
               else "it may not be sent abroad under any consent")
    _refuse(rule, rule.rule_id, "destination", destination,
            f"{_subject(rule)} may not be sent to {destination}: {allowed}; "
            "choose an allowed destination or leave the category out of the consent")


def _check_export_assessment(rule: CategoryRule, destination: str, ref: str | None) -> None:
    if rule.restricted and ref is None:
        _refuse(rule, rule.rule_id, "export_assessment", destination,
                f"sending {_subject(rule)} to {destination} needs the reference of an approved "
                f"export assessment (export_assessment_ref, {REFERENCE_MIN} to "
                f"{EXPORT_ASSESSMENT_REF_MAX} printable characters)")


def _check_subject_consent(rule: CategoryRule, rule_id: str, destination: str,
                           ref: str | None) -> None:
    if ref is None:
        _refuse(rule, rule_id, "subject_consent", destination,
                f"sending {_subject(rule)} to {destination} needs the reference of the data "
                f"subjects' separate consent (subject_consent_ref, {REFERENCE_MIN} to "
                f"{SUBJECT_CONSENT_REF_MAX} printable characters)")


def _subject(rule: CategoryRule) -> str:
    if rule.document_type is None:
        return f"{rule.category} data"
    return f"{rule.category} data of a {rule.document_type}"


def _refuse(rule: CategoryRule, rule_id: str, requirement: str, destination: str,
            reason: str) -> None:
    raise ExportRefused(rule_id=rule_id, category=rule.category, requirement=requirement,
                        destination=destination, document_type=rule.document_type,
                        message=f"refused by rule {rule_id}: {reason}")
