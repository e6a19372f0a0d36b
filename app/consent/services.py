"""Granting, limiting and revoking consent, and finding the consent a read
relies on.

A consent is checked against the zone's export policy when granted (422
naming the rule), takes effect from ``valid_from``, and stops at once when
revoked or at ``expires_at`` (checked at read time with the injected clock).
Its owner may limit it while it is live: drop documents, types, data
categories or actions, or end it sooner; never widen it (that is a new
grant, checked against the policy again).
The ledger records the terms that matter to an auditor; the free-text
purpose stays off the ledger.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from app.documents.models import Document
from app.documents.types import DOCUMENT_TYPES
from app.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from app.identity.auth import Principal
from app.identity.models import Organization, Role
from app.identity.tokens import is_identifier, new_identifier
from app.notary.service import Notarized, Notary, PendingEntry, make_entry
from ledger import utc_timestamp

from .models import Consent, ConsentStatus
from .policy import ExportPolicy, ExportRefused, PolicyError

ACTIONS = ("read",)
# A consent that allows nothing is meaningless: it names at least one action.
NO_ACTION = "must name at least one action"


@dataclass(frozen=True)
class ConsentTerms:
    recipient_org_id: str
    purpose: str
    data_categories: Sequence[str]
    destination: str
    expires_at: datetime
    valid_from: datetime | None = None
    document_ids: Sequence[str] = ()
    document_types: Sequence[str] = ()
    allowed_actions: Sequence[str] = ACTIONS
    subject_consent_ref: str | None = None
    export_assessment_ref: str | None = None


def grant(session: Session, notary: Notary, policy: ExportPolicy, principal: Principal,
          terms: ConsentTerms, now: datetime) -> tuple[Consent, list[Notarized]]:
    """Record a consent from the principal's organisation to a recipient."""
    valid_from = terms.valid_from or now
    _check_terms(session, principal, terms, valid_from, now)
    _check_export_policy(session, policy, terms)
    consent = Consent(
        id=new_identifier("cns_"), owner_org_id=principal.org_id,
        recipient_org_id=terms.recipient_org_id, purpose=terms.purpose,
        document_ids=sorted(set(terms.document_ids)),
        document_types=sorted(set(terms.document_types)),
        data_categories=sorted(set(terms.data_categories)),
        allowed_actions=sorted(set(terms.allowed_actions)), destination=terms.destination,
        valid_from=valid_from, expires_at=terms.expires_at,
        subject_consent_ref=terms.subject_consent_ref,
        export_assessment_ref=terms.export_assessment_ref,
        status=ConsentStatus.ACTIVE, entry_idx=-1, created_at=now)
    session.add(consent)
    session.flush()
    notarized = notary.record(session, [PendingEntry(make_entry(
        "consent.granted", principal.org_id, now, consent=consent.id,
        owner=consent.owner_org_id, recipient=consent.recipient_org_id,
        documents=consent.document_ids, document_types=consent.document_types,
        data_categories=consent.data_categories, actions=consent.allowed_actions,
        destination=consent.destination, valid_from=utc_timestamp(valid_from),
        expires_at=utc_timestamp(consent.expires_at),
        subject_consent=consent.subject_consent_ref is not None,
        export_assessment=consent.export_assessment_ref is not None), _refs(consent))])
    consent.entry_idx = notarized[0].index
    return consent, notarized


def revoke(session: Session, notary: Notary, principal: Principal, consent_id: str,
           now: datetime) -> tuple[Consent, list[Notarized]]:
    """Revoke at once: the next read under this consent is refused."""
    consent = visible_consent(session, principal, consent_id, for_update=True)
    if consent.owner_org_id != principal.org_id:
        raise PermissionDenied("only the organisation that granted a consent can revoke it")
    if consent.status == ConsentStatus.REVOKED:
        raise Conflict(f"consent {consent_id} is already revoked")
    consent.status = ConsentStatus.REVOKED
    consent.revoked_at = now
    notarized = notary.record(session, [PendingEntry(make_entry(
        "consent.revoked", principal.org_id, now, consent=consent.id,
        recipient=consent.recipient_org_id), _refs(consent))])
    return consent, notarized


@dataclass(frozen=True)
class Limits:
    """What a limit keeps; None leaves a term as it is."""

    document_ids: Sequence[str] | None = None
    document_types: Sequence[str] | None = None
    data_categories: Sequence[str] | None = None
    allowed_actions: Sequence[str] | None = None
    expires_at: datetime | None = None


def limit(session: Session, notary: Notary, principal: Principal, consent_id: str,
          limits: Limits, now: datetime) -> tuple[Consent, list[Notarized]]:
    """Narrow a live consent at once (``consent.limited``, with the terms it now
    has); a term that would widen is a 422 naming it, and so is a limit that
    narrows nothing."""
    consent = visible_consent(session, principal, consent_id, for_update=True)
    if consent.owner_org_id != principal.org_id:
        raise PermissionDenied("only the organisation that granted a consent can limit it")
    if consent.status == ConsentStatus.REVOKED or now >= consent.expires_at:
        raise Conflict(f"{consent.refusal(now)}: there is nothing left to limit")
    narrowed = _narrowed_terms(consent, limits, now)
    removed_documents = consent.document_ids
    for name, value in narrowed.items():
        setattr(consent, name, value)
    notarized = notary.record(session, [PendingEntry(make_entry(
        "consent.limited", principal.org_id, now, consent=consent.id,
        recipient=consent.recipient_org_id, documents=consent.document_ids,
        document_types=consent.document_types, data_categories=consent.data_categories,
        actions=consent.allowed_actions, expires_at=utc_timestamp(consent.expires_at)),
        _refs(consent, also_documents=removed_documents))])
    return consent, notarized


def _narrowed_terms(consent: Consent, limits: Limits, now: datetime) -> dict:
    """The changed terms, or a 422 naming each term that would not narrow."""
    changed: dict = {}
    errors: dict[str, list[str]] = {}
    for name in ("document_ids", "document_types", "data_categories", "allowed_actions"):
        wanted = getattr(limits, name)
        if wanted is None:
            continue
        current = getattr(consent, name)
        extra = sorted(set(wanted) - set(current))
        if extra:
            errors[name] = [f"may only remove, and these are not in the consent: "
                            f"{', '.join(extra)}"]
        elif set(wanted) != set(current):
            changed[name] = sorted(set(wanted))
    for name in ("data_categories", "allowed_actions"):
        if name in changed and not changed[name]:
            errors[name] = ["must keep at least one (revoke the consent to end it)"]
    if not changed.get("document_ids", consent.document_ids) \
            and not changed.get("document_types", consent.document_types):
        errors["document_ids"] = ["the consent would cover no document (revoke it instead)"]
    if limits.expires_at is not None and limits.expires_at != consent.expires_at:
        if limits.expires_at > consent.expires_at:
            errors["expires_at"] = [f"may only come earlier than {consent.expires_at.isoformat()}"]
        elif limits.expires_at <= max(now, consent.valid_from):
            errors["expires_at"] = ["must stay in the future and after valid_from (revoke the "
                                    "consent to end it now)"]
        else:
            changed["expires_at"] = limits.expires_at
    if errors:
        raise ValidationFailed("a limit may only narrow the consent", errors={"json": errors})
    if not changed:
        raise ValidationFailed("the limit changes nothing", errors={"json": {"_schema": [
            "name at least one term to narrow"]}})
    return changed


def visible_consent(session: Session, principal: Principal, consent_id: str,
                    for_update: bool = False) -> Consent:
    """A consent its owner, its recipient or a regulator may see; 404 for others."""
    if not is_identifier(consent_id, "cns_"):  # e.g. a NUL, which no query takes
        raise NotFound(f"consent {consent_id} not found")
    query = select(Consent).where(Consent.id == consent_id)
    consent = session.scalar(query.with_for_update() if for_update else query)
    if consent is None or not (principal.role == Role.REGULATOR or principal.org_id in (
            consent.owner_org_id, consent.recipient_org_id)):
        raise NotFound(f"consent {consent_id} not found")
    return consent


def covers(consent: Consent, document: Document) -> bool:
    return consent.owner_org_id == document.owner_org_id and (
        document.id in consent.document_ids or document.doc_type in consent.document_types)


def consent_for_read(session: Session, principal: Principal, document: Document,
                     consent_id: str | None, now: datetime) -> Consent:
    """The live consent that lets the principal read ``document``.

    A named consent that does not cover the document is a 404 (nothing
    leaks); one that covers it but is revoked, expired or not yet valid is a
    403 saying which. Unnamed: the newest live covering consent, else a 403
    naming why the newest covering one fails, else a 404.
    """
    if consent_id is not None:
        consent = session.get(Consent, consent_id)
        if consent is None or consent.recipient_org_id != principal.org_id \
                or not covers(consent, document):
            raise NotFound(f"document {document.id} not found")
        candidates = [consent]
    else:
        candidates = list(session.scalars(select(Consent).where(
            Consent.owner_org_id == document.owner_org_id,
            Consent.recipient_org_id == principal.org_id,
        ).order_by(Consent.created_at.desc(), Consent.id.desc())))
        candidates = [c for c in candidates if covers(c, document)]
        if not candidates:
            raise NotFound(f"document {document.id} not found")
    for consent in candidates:
        if _read_refusal(consent, now) is None:
            return consent
    raise PermissionDenied(_read_refusal(candidates[0], now))


def require_readable(consent: Consent, now: datetime) -> None:
    """403 naming why, unless ``consent`` lets its recipient read at ``now``."""
    refusal = _read_refusal(consent, now)
    if refusal is not None:
        raise PermissionDenied(refusal)


def _read_refusal(consent: Consent, now: datetime) -> str | None:
    """Why ``consent`` does not let its recipient read at ``now``, or None."""
    refusal = consent.refusal(now)
    if refusal is None and "read" not in consent.allowed_actions:
        return "consent does not allow reading"
    return refusal


def list_consents(session: Session, principal: Principal, direction: str | None,
                  status: str | None, limit: int, after: str | None) -> list[Consent]:
    query = select(Consent).order_by(Consent.id).limit(limit)
    if principal.role != Role.REGULATOR:
        mine = [Consent.owner_org_id == principal.org_id,
                Consent.recipient_org_id == principal.org_id]
        query = query.where(or_(*mine))
    if direction == "granted":
        query = query.where(Consent.owner_org_id == principal.org_id)
    elif direction == "received":
        query = query.where(Consent.recipient_org_id == principal.org_id)
    if status:
        query = query.where(Consent.status == ConsentStatus(status))
    if after:
        query = query.where(Consent.id > after)
    return list(session.scalars(query))


def _check_terms(session: Session, principal: Principal, terms: ConsentTerms,
                 valid_from: datetime, now: datetime) -> None:
    errors: dict[str, list[str]] = {}
    recipient = session.get(Organization, terms.recipient_org_id)
    if recipient is None or recipient.id == principal.org_id:
        errors["recipient_org_id"] = ["must be another existing organisation"]
    if not terms.document_ids and not terms.document_types:
        errors["document_ids"] = ["name documents or document types (or both)"]
    if not terms.allowed_actions:
        errors["allowed_actions"] = [NO_ACTION]
    unknown_types = sorted(set(terms.document_types) - set(DOCUMENT_TYPES))
    if unknown_types:
        errors["document_types"] = [f"unknown document types: {', '.join(unknown_types)}"]
    if terms.document_ids:
        owned = set(session.scalars(select(Document.id).where(
            Document.id.in_(terms.document_ids), Document.owner_org_id == principal.org_id)))
        missing = sorted(set(terms.document_ids) - owned)
        if missing:
            errors["document_ids"] = [f"not documents of yours: {', '.join(missing)}"]
    if terms.expires_at <= valid_from or terms.expires_at <= now:
        errors["expires_at"] = ["must be in the future and after valid_from"]
    if errors:
        raise ValidationFailed("consent terms are invalid", errors={"json": errors})


def _check_export_policy(session: Session, policy: ExportPolicy, terms: ConsentTerms) -> None:
    """422 naming the rule when the zone's export policy refuses these terms."""
    covered_types = set(terms.document_types) | set(session.scalars(
        select(Document.doc_type).where(Document.id.in_(terms.document_ids))))
    try:
        policy.check(terms.data_categories, terms.destination,
                     export_assessment_ref=terms.export_assessment_ref,
                     subject_consent_ref=terms.subject_consent_ref,
                     document_types=sorted(covered_types))
    except ExportRefused as refusal:
        raise ValidationFailed(refusal.message, errors={"json": {
            "data_categories": [refusal.message]}}) from refusal
    except PolicyError as error:
        field = getattr(error, "field", None) or "destination"
        field = "data_categories" if field == "categories" else field
        raise ValidationFailed(f"export policy: {error}", errors={"json": {
            field: [str(error)]}}) from error


def _refs(consent: Consent, also_documents: Sequence[str] = ()) -> tuple[tuple[str, str], ...]:
    return (("consent", consent.id), ("org", consent.owner_org_id),
            ("org", consent.recipient_org_id)) + tuple(
        ("document", document_id)
        for document_id in sorted(set(consent.document_ids) | set(also_documents)))

