"""Per-route authorization: ``@protected(blp, Role.X, ...)`` on a view method."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from flask import g, request
from flask_smorest import Blueprint

from app.errors import PermissionDenied
from app.platform import current_platform

from .models import Role
from .services import authenticate, record_token_use

BEARER_AUTH = "bearerAuth"


@dataclass(frozen=True)
class Principal:
    """Who is calling: the organisation behind the request's token."""

    org_id: str
    role: Role


def current_principal() -> Principal:
    return g.principal


def protected(blp: Blueprint, *roles: Role):
    """Require a valid token (401) of one of ``roles`` (403), checked before
    the request body is parsed; document both in the OpenAPI description."""
    allowed = ", ".join(role.value for role in roles)

    def decorate(view):
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            # One statement: no transaction needed (cheaper than a read session).
            platform = current_platform()
            now = platform.now()
            with platform.db.autocommit() as connection:
                org = authenticate(connection, request.headers.get("Authorization"), now)
                principal = Principal(org.id, org.role)
            if org.use_to_record:  # at most once an hour per token
                with platform.db.write() as session:
                    record_token_use(session, org.token_id, now)
            if roles and principal.role not in roles:
                raise PermissionDenied(f"role {principal.role.value} may not do this; "
                                       f"allowed: {allowed}")
            g.principal = principal
            return view(*args, **kwargs)

        wrapper = blp.doc(security=[{BEARER_AUTH: []}])(wrapper)
        wrapper = blp.alt_response(401, response="DEFAULT_ERROR",
                                   description="Missing, malformed, unknown or revoked token")(wrapper)
        return blp.alt_response(403, response="DEFAULT_ERROR",
                                description=f"Token's role is not one of: {allowed or 'any'}")(wrapper)

    return decorate
