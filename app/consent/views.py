"""The consents API (contract section 9)."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import RAISE

from app.documents.listing import list_covered
from app.documents.schemas import DocumentPageSchema, document_fields
from app.identity.auth import current_principal, protected
from app.identity.models import Role
from app.idempotency import WriteResult, perform_write
from app.notary.receipts import receipt_for
from app.platform import current_platform

from . import services
from .schemas import (
    GRANT_EXAMPLE, LIMIT_EXAMPLE, ConsentPageSchema, ConsentQuerySchema, ConsentSchema,
    ConsentWriteSchema, CoveredQuerySchema, GrantSchema, LimitSchema,
)

blp = Blueprint("consents", __name__, url_prefix="/api/v1/consents",
                description="Consent to share documents: grant, limit, revoke.")

_consent = ConsentSchema()


def _result(session, consent, notarized, status: int) -> WriteResult:
    return WriteResult(status, _consent.dump(consent) | {"receipt": receipt_for(session, notarized)})


@blp.route("")
class Consents(MethodView):
    @protected(blp, Role.FIRM)
    @blp.arguments(GrantSchema(), example=GRANT_EXAMPLE)
    @blp.response(201, ConsentWriteSchema)
    def post(self, body):
        """Grant a recipient access to some of your documents' data categories.
        Refused with 422 naming the rule when the zone's export policy forbids it."""
        platform = current_platform()
        now = platform.now()

        def action(session):
            consent, notarized = services.grant(session, platform.notary, platform.export_policy,
                                                current_principal(), services.ConsentTerms(**body),
                                                now)
            return _result(session, consent, notarized, 201)
        return perform_write(action)

    @protected(blp, Role.FIRM, Role.CUSTOMS, Role.REGULATOR)
    @blp.arguments(ConsentQuerySchema(), location="query", unknown=RAISE)
    @blp.response(200, ConsentPageSchema)
    def get(self, query):
        """Consents you granted or received (regulators: all), by id."""
        with current_platform().db.read() as session:
            items = services.list_consents(session, current_principal(), query.get("direction"),
                                           query.get("status"), query["limit"] + 1,
                                           query.get("after"))
        page = items[:query["limit"]]
        return {"items": page, "next": page[-1].id if len(items) > len(page) else None}


@blp.route("/<consent_id>")
class ConsentItem(MethodView):
    @protected(blp, Role.FIRM, Role.CUSTOMS, Role.REGULATOR)
    @blp.response(200, ConsentSchema)
    def get(self, consent_id):
        """One consent, for its owner, its recipient or a regulator."""
        with current_platform().db.read() as session:
            return services.visible_consent(session, current_principal(), consent_id)


@blp.route("/<consent_id>/documents")
class CoveredDocuments(MethodView):
    @protected(blp, Role.FIRM, Role.CUSTOMS, Role.REGULATOR)
    @blp.arguments(CoveredQuerySchema(), location="query", unknown=RAISE)
    @blp.response(200, DocumentPageSchema)
    @blp.alt_response(403, response="DEFAULT_ERROR",
                      description="to its recipient: the consent is revoked, expired, not yet "
                                  "valid or does not allow reading")
    @blp.alt_response(404, response="DEFAULT_ERROR", description="no such consent for you")
    def get(self, query, consent_id):
        """The documents this consent covers, newest first: their summaries, never
        their content (read one with ``GET /documents/<id>?consent=<consent_id>``).
        Its recipient sees them while the consent allows reading; its owner and
        regulators always."""
        platform = current_platform()
        principal = current_principal()
        with platform.db.read() as session:
            consent = services.visible_consent(session, principal, consent_id)
            if principal.org_id == consent.recipient_org_id:
                services.require_readable(consent, platform.now())
            items, cursor = list_covered(session, consent.owner_org_id, consent.document_ids,
                                         consent.document_types, query["limit"],
                                         query.get("cursor"))
            return {"items": [document_fields(item) for item in items], "next": cursor}


@blp.route("/<consent_id>/limit")
class Limit(MethodView):
    @protected(blp, Role.FIRM)
    @blp.arguments(LimitSchema(), example=LIMIT_EXAMPLE)
    @blp.response(200, ConsentWriteSchema)
    @blp.alt_response(404, response="DEFAULT_ERROR", description="no such consent for you")
    @blp.alt_response(409, response="DEFAULT_ERROR", description="revoked or expired")
    def post(self, body, consent_id):
        """Narrow a live consent at once: keep fewer documents, document types, data
        categories or actions, or end it sooner. It never widens (grant anew for that);
        the recipient's next read sees only what is left."""
        platform = current_platform()
        now = platform.now()

        def action(session):
            consent, notarized = services.limit(session, platform.notary, current_principal(),
                                                consent_id, services.Limits(**body), now)
            return _result(session, consent, notarized, 200)
        return perform_write(action)


@blp.route("/<consent_id>/revoke")
class Revoke(MethodView):
    @protected(blp, Role.FIRM)
    @blp.response(200, ConsentWriteSchema)
    @blp.alt_response(409, response="DEFAULT_ERROR", description="already revoked")
    def post(self, consent_id):
        """Revoke at once: the recipient's next read is refused (403)."""
        platform = current_platform()
        now = platform.now()

        def action(session):
            consent, notarized = services.revoke(session, platform.notary, current_principal(),
                                                 consent_id, now)
            return _result(session, consent, notarized, 200)
        return perform_write(action)
