"""Console sign-in: a regulator's token is checked once, then a signed cookie.

The token is never stored: not in the cookie, not in the page, not in the
browser's storage. The cookie (signed with the instance's secret, HttpOnly,
SameSite=Strict, path ``/console``, Secure whenever the request came over
HTTPS) holds the organisation id, the token's id (public, it is not the
secret), when the sign-in happened and a per-session CSRF token. Every page
re-reads the token's row, so revoking the token ends its console sessions.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import Flask, request, session
from flask.sessions import SecureCookieSessionInterface
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.errors import AuthenticationError
from app.identity.models import ApiToken, Organization, Role
from app.identity.services import AuthenticatedOrg, authenticate, token_refusal
from app.identity.tokens import parse_token

from .secret import load_or_create_secret, secret_file_for

SESSION_LIFETIME = timedelta(hours=8)
COOKIE_NAME = "tz_console"
COOKIE_PATH = "/console"


class ConsoleSessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie session, marked Secure whenever served over HTTPS,
    for the console's pages only: the API is stateless (bearer tokens), so its
    requests do not pay for opening a session."""

    def open_session(self, app: Flask, request):
        if not request.path.startswith(COOKIE_PATH):
            return None  # Flask then uses a null session, which refuses writes
        return super().open_session(app, request)

    def get_cookie_secure(self, app: Flask) -> bool:
        return request.is_secure or super().get_cookie_secure(app)


def configure_sessions(app: Flask, ledger_key_file) -> None:
    """Give ``app`` the per-instance secret and the console's cookie settings."""
    app.secret_key = load_or_create_secret(secret_file_for(ledger_key_file))
    app.config.update(SESSION_COOKIE_NAME=COOKIE_NAME, SESSION_COOKIE_PATH=COOKIE_PATH,
                      SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Strict",
                      PERMANENT_SESSION_LIFETIME=SESSION_LIFETIME)
    app.session_interface = ConsoleSessionInterface()


class LoginRefused(Exception):
    """A sign-in that must not succeed; ``status`` is the HTTP status to answer."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass(frozen=True)
class Regulator:
    """Who is signed in to the console."""

    org_id: str
    org_name: str
    token_id: str


def csrf_token() -> str:
    """This session's CSRF token, made on first use (also for the sign-in form)."""
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(32)
    return session["csrf"]


def csrf_ok(presented: str | None) -> bool:
    expected = session.get("csrf")
    # As bytes: compare_digest refuses str with non-ASCII characters (TypeError).
    return bool(expected and presented) and hmac.compare_digest(expected.encode(),
                                                                presented.encode())


def sign_in(db_session: Session, presented_token: str, now: datetime) -> AuthenticatedOrg:
    """Check a pasted token and start a session for its organisation, if a regulator."""
    presented_token = presented_token.strip()
    try:
        org = authenticate(db_session, f"Bearer {presented_token}", now)
    except AuthenticationError as exc:
        raise LoginRefused(f"Sign-in refused: {exc.message}.", 401) from exc
    if org.role != Role.REGULATOR:
        raise LoginRefused("Sign-in refused: only a regulator's token opens the audit "
                           "console.", 403)
    session.clear()  # a fresh session: nothing from before the sign-in survives
    session.update(org_id=org.id, token_id=parse_token(presented_token).token_id,
                   since=int(now.timestamp()), csrf=secrets.token_urlsafe(32))
    return org


def sign_out() -> None:
    session.clear()


def current_regulator(db_session: Session, now: datetime) -> Regulator | None:
    """The signed-in regulator, or None (and the session cleared) when the
    session is missing, expired, or its token was revoked or has expired since."""
    org_id, token_id, since = (session.get(k) for k in ("org_id", "token_id", "since"))
    if not (org_id and token_id and isinstance(since, int)):
        return None
    if not 0 <= now.timestamp() - since <= SESSION_LIFETIME.total_seconds():
        session.clear()
        return None
    row = db_session.execute(
        select(ApiToken.revoked_at, ApiToken.expires_at, Organization.role, Organization.name)
        .join(Organization).where(ApiToken.id == token_id, Organization.id == org_id)).first()
    if (row is None or row.role != Role.REGULATOR
            or token_refusal(row.revoked_at, row.expires_at, now) is not None):
        session.clear()
        return None
    return Regulator(org_id, row.name, token_id)
