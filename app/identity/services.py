"""Creating organisations and tokens, revoking tokens, listing them, and
authenticating requests.

Each change is logged (``org.created``, ``token.created``, ``token.revoked``)
in the same transaction. Entries carry identifiers only: no names, no secrets.

Who may see or change what (the command line acts as the operator):
organisations are listed by admins and regulators, each organisation sees
itself; an organisation's tokens (never their secrets) are listed and
revoked by an admin or by the organisation itself; only admins create
organisations and tokens, so a stolen token cannot mint another.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy import Connection, bindparam, or_, select, update
from sqlalchemy.orm import Session

import ledger
from app.cursor import newest_first_page
from app.errors import AuthenticationError, BadRequest, Conflict, NotFound, ValidationFailed
from app.notary.service import Notarized, Notary, PendingEntry, make_entry

from .models import ApiToken, Organization, Role
from .tokens import (
    TokenText, hash_secret, is_identifier, new_identifier, new_token, parse_token, secret_matches,
)

OPERATOR = "operator"  # the actor of changes made with the command line
# Control characters (NUL among them), line breaks and unpaired surrogates: no
# column, terminal or UTF-8 encoder takes them as a name or label.
_REFUSED_CATEGORIES = ("Cc", "Cs", "Zl", "Zp")


NAME_LENGTH, LABEL_LENGTH = 200, 100


def text_problem(value: str, max_length: int) -> str | None:
    """Why ``value`` (its edges trimmed) cannot be a name or label, or None."""
    value = value.strip()
    if not 1 <= len(value) <= max_length:
        return f"must be 1 to {max_length} characters"
    if any(unicodedata.category(ch) in _REFUSED_CATEGORIES for ch in value):
        return "must not contain control characters, line breaks or unpaired surrogates"
    return None


def _checked_text(what: str, value: str, max_length: int) -> str:
    """``value`` with its edges trimmed, or BadRequest."""
    problem = text_problem(value, max_length)
    if problem is not None:
        raise BadRequest(f"{what} {problem}")
    return value.strip()


@dataclass(frozen=True)
class IssuedToken:
    """A token as shown once at creation; only its hash is kept. ``notarized``:
    the ledger entries of its creation (and of its organisation's, when the
    two were created together)."""

    token_id: str
    org_id: str
    text: str
    notarized: tuple[Notarized, ...] = ()


@dataclass(frozen=True)
class Revocation:
    token: ApiToken
    notarized: list[Notarized]


def create_organization(session: Session, notary: Notary, name: str, role: Role,
                        now: datetime, actor: str = OPERATOR) -> tuple[Organization, IssuedToken]:
    """A new organisation with its first token, logged as one batch."""
    name = _checked_text("organisation name", name, NAME_LENGTH)
    org = Organization(id=new_identifier("org_"), name=name, role=Role(role), created_at=now)
    session.add(org)
    token, token_entry = _issue_token(session, org.id, now, None, actor)
    session.flush()
    notarized = notary.record(session, [PendingEntry(
        make_entry("org.created", actor, now, org=org.id, role=org.role.value),
        refs=(("org", org.id),)), token_entry])
    return org, replace(token, notarized=tuple(notarized))


def create_token(session: Session, notary: Notary, org_id: str, now: datetime,
                 label: str | None = None, actor: str = OPERATOR,
                 expires_at: datetime | None = None) -> IssuedToken:
    """A new token for ``org_id``, refused from ``expires_at`` on (None: valid
    until revoked); the returned text is the only copy of the secret."""
    if not is_identifier(org_id, "org_") or session.get(Organization, org_id) is None:
        raise NotFound(f"organisation {org_id} does not exist")
    if label is not None:
        label = _checked_text("token label", label, LABEL_LENGTH)
    if expires_at is not None and expires_at <= now:
        raise ValidationFailed("a token's expiry must be in the future",
                               errors={"json": {"expires_at": ["Must be in the future."]}})
    token, entry = _issue_token(session, org_id, now, label, actor, expires_at)
    return replace(token, notarized=tuple(notary.record(session, [entry])))


def _issue_token(session: Session, org_id: str, now: datetime, label: str | None,
                 actor: str, expires_at: datetime | None = None
                 ) -> tuple[IssuedToken, PendingEntry]:
    text = new_token()
    session.add(ApiToken(id=text.token_id, org_id=org_id, secret_hash=hash_secret(text.secret),
                         label=label, created_at=now, expires_at=expires_at))
    expiry = {} if expires_at is None else {"expires_at": ledger.utc_timestamp(expires_at)}
    entry = PendingEntry(make_entry("token.created", actor, now, org=org_id,
                                    token=text.token_id, **expiry), refs=(("org", org_id),))
    return IssuedToken(text.token_id, org_id, str(text)), entry


def revoke_token(session: Session, notary: Notary, token_id: str, now: datetime,
                 actor: str = OPERATOR, org_id: str | None = None) -> Revocation:
    """Revoke a token at once; revoking twice is a conflict. ``org_id``: only
    a token of this organisation (another's is not found)."""
    # Locked: a concurrent revocation commits first and this one is then a conflict.
    token = (session.get(ApiToken, token_id, with_for_update=True)
             if is_identifier(token_id, "") else None)
    if token is None or (org_id is not None and token.org_id != org_id):
        raise NotFound(f"token {token_id} does not exist")
    if token.revoked_at is not None:
        raise Conflict(f"token {token_id} is already revoked")
    token.revoked_at = now
    notarized = notary.record(session, [PendingEntry(
        make_entry("token.revoked", actor, now, org=token.org_id, token=token_id),
        refs=(("org", token.org_id),))])
    return Revocation(token, notarized)


def list_organizations(session: Session, role: Role | None, limit: int,
                       cursor: str | None) -> tuple[list[Organization], str | None]:
    """One page of organisations, newest first, and the next page's cursor."""
    query = select(Organization)
    if role is not None:
        query = query.where(Organization.role == role)
    return newest_first_page(session, query, Organization.created_at, Organization.id, limit,
                             cursor)


def get_organization(session: Session, org_id: str, *, visible: bool = True) -> Organization:
    """The organisation, or 404 (also when ``visible`` is False: the caller may
    not know about it)."""
    org = (session.get(Organization, org_id)
           if visible and is_identifier(org_id, "org_") else None)
    if org is None:
        raise NotFound(f"organisation {org_id} not found")
    return org


def list_tokens(session: Session, org_id: str) -> list[ApiToken]:
    """An organisation's tokens, oldest first."""
    return list(session.scalars(select(ApiToken).where(ApiToken.org_id == org_id)
                                .order_by(ApiToken.created_at, ApiToken.id)))


# How stale a token's last_used_at may get: it is written at most once per
# token in this time, so reads stay reads. An hour tells an operator which
# tokens are in use and which are forgotten, without tracking every request.
LAST_USE_RESOLUTION = timedelta(hours=1)


@dataclass(frozen=True)
class AuthenticatedOrg:
    id: str
    role: Role
    token_id: str
    use_to_record: bool  # True: the token's last_used_at is older than LAST_USE_RESOLUTION


# Built once: every request runs it, and building the statement cost more than running it.
_TOKEN_LOOKUP = (
    select(ApiToken.secret_hash, ApiToken.revoked_at, ApiToken.expires_at, ApiToken.last_used_at,
           Organization.id, Organization.role)
    .join(Organization).where(ApiToken.id == bindparam("token_id")))
_RECORD_USE = (
    update(ApiToken)
    .where(ApiToken.id == bindparam("token_id"),
           or_(ApiToken.last_used_at.is_(None), ApiToken.last_used_at <= bindparam("stale")))
    .values(last_used_at=bindparam("now")))


def authenticate(session: Session | Connection, authorization: str | None,
                 now: datetime) -> AuthenticatedOrg:
    """The organisation behind an ``Authorization: Bearer`` header, or 401."""
    scheme, _, presented = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not presented.strip():
        raise AuthenticationError("missing bearer token")
    parsed: TokenText | None = parse_token(presented.strip())
    if parsed is None:
        raise AuthenticationError("malformed bearer token")
    row = session.execute(_TOKEN_LOOKUP, {"token_id": parsed.token_id}).first()
    # Compare even when the id is unknown, so timing does not reveal which ids exist.
    stored_hash = row.secret_hash if row else bytes(32)
    if not secret_matches(parsed.secret, stored_hash) or row is None:
        raise AuthenticationError("invalid bearer token")
    refusal = token_refusal(row.revoked_at, row.expires_at, now)
    if refusal is not None:
        raise AuthenticationError(refusal)
    return AuthenticatedOrg(row.id, row.role, parsed.token_id,
                            _use_is_stale(row.last_used_at, now))


def _use_is_stale(last_used_at: datetime | None, now: datetime) -> bool:
    return last_used_at is None or last_used_at <= now - LAST_USE_RESOLUTION


def record_token_use(session: Session, token_id: str, now: datetime) -> None:
    """Set the token's ``last_used_at`` to ``now`` unless a request within
    :data:`LAST_USE_RESOLUTION` did (another worker, a moment ago). Not on the
    ledger: it is bookkeeping for the operator, not a change of anything shared."""
    session.execute(_RECORD_USE, {"token_id": token_id, "now": now,
                                  "stale": now - LAST_USE_RESOLUTION})


def token_refusal(revoked_at: datetime | None, expires_at: datetime | None,
                  now: datetime) -> str | None:
    """Why a token whose secret matched is refused at ``now``, or None."""
    if revoked_at is not None:
        return "revoked bearer token"
    if expires_at is not None and expires_at <= now:
        return "expired bearer token"
    return None
