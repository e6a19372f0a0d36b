"""Organisations and their API tokens over HTTP: what the command line's
``org`` and ``token`` commands do, for an admin (contract section 1: admins
create organisations and credentials), and for every organisation its own
tokens: see them and revoke one that leaked."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import RAISE

from app.errors import NotFound
from app.idempotency import WriteResult, perform_write, shown_once
from app.notary.receipts import receipt_for
from app.platform import current_platform

from . import services
from .auth import Principal, current_principal, protected
from .models import ApiToken, Role
from .schemas import (
    ORG_EXAMPLE, TOKEN_EXAMPLE, CreatedOrganizationSchema, IssuedTokenSchema,
    OrganizationCreateSchema, OrganizationPageSchema, OrganizationQuerySchema,
    OrganizationSchema, TokenCreateSchema, TokenSchema, TokenWriteSchema, organization_fields,
    token_fields,
)

blp = Blueprint("organisations", __name__, url_prefix="/api/v1/orgs",
                description="Organisations and their API tokens (admins; each organisation "
                            "sees itself and manages its own tokens).")

EVERY_ROLE = tuple(Role)
DIRECTORY_READERS = (Role.ADMIN, Role.REGULATOR)
_created, _token_write = CreatedOrganizationSchema(), TokenWriteSchema()


def _sees(principal: Principal, org_id: str) -> bool:
    return principal.role in DIRECTORY_READERS or principal.org_id == org_id


def _manages_tokens_of(principal: Principal, org_id: str) -> bool:
    return principal.role == Role.ADMIN or principal.org_id == org_id


@blp.route("")
class Organizations(MethodView):
    @protected(blp, Role.ADMIN)
    @blp.arguments(OrganizationCreateSchema(), example=ORG_EXAMPLE)
    @blp.response(201, CreatedOrganizationSchema)
    def post(self, body):
        """Create an organisation and its first API token; the token is in this
        answer only."""
        platform = current_platform()
        now = platform.now()
        issued: list[str] = []

        def action(session):
            org, token = services.create_organization(
                session, platform.notary, body["name"], Role(body["role"]), now,
                actor=current_principal().org_id)
            issued.append(token.text)
            return WriteResult(201, _created.dump(organization_fields(org) | {
                "token_id": token.token_id, "receipt": receipt_for(session, token.notarized)}))
        response = perform_write(action)
        return shown_once(response, token=issued[-1]) if issued else response

    @protected(blp, *DIRECTORY_READERS)
    @blp.arguments(OrganizationQuerySchema(), location="query", unknown=RAISE)
    @blp.response(200, OrganizationPageSchema)
    def get(self, query):
        """Organisations, newest first (admins and regulators)."""
        role = Role(query["role"]) if "role" in query else None
        with current_platform().db.read() as session:
            items, cursor = services.list_organizations(session, role, query["limit"],
                                                        query.get("cursor"))
            return {"items": [organization_fields(org) for org in items], "next": cursor}


@blp.route("/<org_id>")
class OrganizationItem(MethodView):
    @protected(blp, *EVERY_ROLE)
    @blp.response(200, OrganizationSchema)
    @blp.alt_response(404, response="DEFAULT_ERROR", description="no such organisation for you")
    def get(self, org_id):
        """One organisation (admins and regulators: any; others: their own)."""
        visible = _sees(current_principal(), org_id)
        with current_platform().db.read() as session:
            return organization_fields(services.get_organization(session, org_id,
                                                                 visible=visible))


@blp.route("/<org_id>/tokens")
class Tokens(MethodView):
    @protected(blp, Role.ADMIN)
    @blp.arguments(TokenCreateSchema(), example=TOKEN_EXAMPLE)
    @blp.response(201, IssuedTokenSchema)
    @blp.alt_response(404, response="DEFAULT_ERROR", description="no such organisation")
    def post(self, body, org_id):
        """Create another token for the organisation, valid until revoked or until
        ``expires_at`` (to rotate one: create, switch, then revoke the old); the
        token is in this answer only."""
        platform = current_platform()
        now = platform.now()
        issued: list[str] = []

        def action(session):
            token = services.create_token(session, platform.notary, org_id, now,
                                          body.get("label"), actor=current_principal().org_id,
                                          expires_at=body.get("expires_at"))
            issued.append(token.text)
            record = session.get(ApiToken, token.token_id)  # added by this session: no query
            return WriteResult(201, _token_write.dump(token_fields(record) | {
                "receipt": receipt_for(session, token.notarized)}))
        response = perform_write(action)
        return shown_once(response, token=issued[-1]) if issued else response

    @protected(blp, *EVERY_ROLE)
    @blp.response(200, TokenSchema(many=True))
    @blp.alt_response(404, response="DEFAULT_ERROR", description="no such organisation for you")
    def get(self, org_id):
        """The organisation's tokens, oldest first, revoked ones included (admins:
        any organisation's; others: their own). Never a secret."""
        visible = _manages_tokens_of(current_principal(), org_id)
        with current_platform().db.read() as session:
            services.get_organization(session, org_id, visible=visible)
            return services.list_tokens(session, org_id)


@blp.route("/<org_id>/tokens/<token_id>/revoke")
class RevokeToken(MethodView):
    @protected(blp, *EVERY_ROLE)
    @blp.response(200, TokenWriteSchema)
    @blp.alt_response(404, response="DEFAULT_ERROR", description="no such token for you")
    @blp.alt_response(409, response="DEFAULT_ERROR", description="already revoked")
    def post(self, org_id, token_id):
        """Revoke a token at once (admins: any; others: their own, the one in use
        included): it is refused (401) from the next request on."""
        platform = current_platform()
        now = platform.now()
        principal = current_principal()
        if not _manages_tokens_of(principal, org_id):
            raise NotFound(f"organisation {org_id} not found")

        def action(session):
            revocation = services.revoke_token(session, platform.notary, token_id, now,
                                               actor=principal.org_id, org_id=org_id)
            return WriteResult(200, _token_write.dump(token_fields(revocation.token) | {
                "receipt": receipt_for(session, revocation.notarized)}))
        return perform_write(action)
