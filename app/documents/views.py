"""The documents API (contract section 9): thin views over the services."""

from __future__ import annotations

import json

from flask import Response
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import RAISE

from app.audit.schemas import AuditBundleSchema
from app.errors import NotFound
from app.identity.auth import current_principal, protected
from app.identity.models import Role
from app.idempotency import WriteResult, perform_write
from app.notary.receipts import receipt_for, receipt_for_indexes
from app.platform import current_platform
from app.signing import services as signing

from . import ebl, reads, services
from .access import has_full_access, load_document, not_found
from .listing import DocumentFilter, list_documents
from .schemas import (
    SIGNATURE_EXAMPLE, TRANSFER_EXAMPLE, AccessPageSchema, AmendSchema, DocumentPageSchema,
    DocumentQuerySchema, DocumentViewSchema, DocumentWriteSchema, PageQuerySchema,
    ReadQuerySchema, RedactedQuerySchema, SignatureSchema, SignatureSubmitSchema,
    SignatureWriteSchema, SubmitSchema,
    TransferOfferSchema, TransferSchema, TransferWriteSchema, VersionSchema, amend_example,
    document_fields, submit_examples, transfer_fields,
)

blp = Blueprint("documents", __name__, url_prefix="/api/v1/documents",
                description="Trade documents: issue, amend, cancel, eBL transfer, signatures.")

READERS = (Role.FIRM, Role.CUSTOMS, Role.REGULATOR)
_write = DocumentWriteSchema()
_transfer_write, _signature_write = TransferWriteSchema(), SignatureWriteSchema()


def _document_result(session, document, notarized, status: int = 200) -> WriteResult:
    return WriteResult(status, document_fields(document)
                       | {"receipt": receipt_for(session, notarized)}, _write)


def _transfer_result(session, document_id: str, transfer, notarized, status: int) -> WriteResult:
    document = load_document(session, document_id)
    return WriteResult(status, transfer_fields(transfer) | {
        "document": document_fields(document), "receipt": receipt_for(session, notarized)},
        _transfer_write)


def _platform_now():
    platform = current_platform()
    return platform, platform.now()


@blp.route("")
class Documents(MethodView):
    @protected(blp, Role.FIRM)
    @blp.arguments(SubmitSchema(), examples=submit_examples())
    @blp.response(201, DocumentWriteSchema)
    def post(self, body):
        """Issue a document (version 1); answers with its notarization receipt."""
        platform, now = _platform_now()
        draft = services.prepare(body["type"], body["content"])  # before any lock is taken

        def action(session):
            outcome = services.submit(session, platform.notary, current_principal(), draft, now)
            return _document_result(session, outcome.document, outcome.notarized, 201)
        return perform_write(action)

    @protected(blp, *READERS)
    @blp.arguments(DocumentQuerySchema(), location="query", unknown=RAISE)
    @blp.response(200, DocumentPageSchema)
    def get(self, query):
        """Documents you own or hold, and eBLs offered to you (customs: addressed to
        you; regulators: all)."""
        wanted = DocumentFilter(query.get("type"), query.get("status"), query.get("counterparty"),
                                query.get("created_from"), query.get("created_to"),
                                query["offered"])
        with current_platform().db.read() as session:
            items, cursor = list_documents(session, current_principal(), wanted,
                                           query["limit"], query.get("cursor"))
        return {"items": [document_fields(item) for item in items], "next": cursor}


@blp.route("/<document_id>")
class DocumentItem(MethodView):
    @protected(blp, *READERS)
    @blp.arguments(ReadQuerySchema(), location="query", unknown=RAISE)
    @blp.response(200, DocumentViewSchema)
    @blp.alt_response(403, response="DEFAULT_ERROR", description="consent revoked or expired")
    @blp.alt_response(404, response="DEFAULT_ERROR", description="no such document for you")
    @blp.alt_response(409, response="DEFAULT_ERROR",
                      description="the consent was limited twice while the read was prepared")
    def get(self, query, document_id):
        """The document in full, or under consent only the covered fields with proofs
        (each consent read is logged on the ledger as ``document.accessed``)."""
        platform, now = _platform_now()
        principal = current_principal()
        for attempt in range(2):  # again once if the consent was limited meanwhile
            with platform.db.read() as session:
                plan = reads.plan_read(session, principal, document_id, query.get("consent"),
                                       now)
            if plan.consent is None:
                return document_fields(plan.document) | plan.full_view()
            try:
                with platform.db.write() as session:
                    view = reads.log_consent_read(session, platform.notary, principal, plan,
                                                  now)
                return document_fields(plan.document) | view
            except reads.ConsentChanged:
                if attempt:
                    raise


@blp.route("/<document_id>/redacted")
class Redacted(MethodView):
    @protected(blp, *READERS)
    @blp.arguments(RedactedQuerySchema(), location="query", unknown=RAISE)
    @blp.response(200, AuditBundleSchema)
    @blp.alt_response(404, response="DEFAULT_ERROR",
                      description="no such document or version for you (full access only)")
    def get(self, query, document_id):
        """A redacted copy to hand over outside the platform: an audit bundle of the
        version's ledger entry whose evidence discloses the chosen fields (with their
        salts) and only the salted hashes of the others. The receiver checks it
        offline with ``tradezone audit verify``, down to each disclosed value.
        For those who may read the document in full; nothing is logged."""
        with current_platform().db.read() as session:
            bundle = reads.redacted_copy(session, current_principal(), document_id,
                                         query.get("version"), set(query["field_names"]),
                                         set(query["categories"]))
        return Response(json.dumps(bundle, separators=(",", ":")), mimetype="application/json")


@blp.route("/<document_id>/versions")
class Versions(MethodView):
    @protected(blp, Role.FIRM)
    @blp.arguments(AmendSchema(), example=amend_example())
    @blp.response(201, DocumentWriteSchema)
    @blp.alt_response(409, response="DEFAULT_ERROR", description=(
        "the document is cancelled or surrendered, or the amendment changes who holds the "
        "eBL or whom the declaration is addressed to"))
    def post(self, body, document_id):
        """Amend: a new immutable version naming the digest of the one before."""
        platform, now = _platform_now()

        def action(session):
            outcome = services.amend(session, platform.notary, current_principal(), document_id,
                                     body["content"], now)
            return _document_result(session, outcome.document, outcome.notarized, 201)
        return perform_write(action)

    @protected(blp, *READERS)
    @blp.response(200, VersionSchema(many=True))
    def get(self, document_id):
        """The chain of versions: each digest and the digest it amends."""
        with current_platform().db.read() as session:
            _require_full_access(session, document_id)
            return services.versions(session, document_id)


@blp.route("/<document_id>/cancel")
class Cancel(MethodView):
    @protected(blp, Role.FIRM)
    @blp.response(200, DocumentWriteSchema)
    @blp.alt_response(409, response="DEFAULT_ERROR",
                      description="already cancelled or surrendered, or a transferred eBL")
    def post(self, document_id):
        """Cancel a document (owner only); it cannot change afterwards."""
        platform, now = _platform_now()

        def action(session):
            outcome = services.cancel(session, platform.notary, current_principal(),
                                      document_id, now)
            return _document_result(session, outcome.document, outcome.notarized)
        return perform_write(action)


@blp.route("/<document_id>/transfers")
class Transfers(MethodView):
    @protected(blp, Role.FIRM)
    @blp.arguments(TransferOfferSchema(), example=TRANSFER_EXAMPLE)
    @blp.response(201, TransferWriteSchema)
    @blp.alt_response(409, response="DEFAULT_ERROR",
                      description="a transfer is already pending, or the eBL is surrendered")
    def post(self, body, document_id):
        """The eBL's holder offers it to another organisation (which must accept)."""
        platform, now = _platform_now()

        def action(session):
            transfer, notarized = ebl.offer_transfer(session, platform.notary, current_principal(),
                                                     document_id, body["to_org_id"], now)
            return _transfer_result(session, document_id, transfer, notarized, 201)
        return perform_write(action)

    @protected(blp, *READERS)
    @blp.response(200, TransferSchema(many=True))
    def get(self, document_id):
        """Every transfer offer of an eBL, in order."""
        with current_platform().db.read() as session:
            _require_full_access(session, document_id)
            return [transfer_fields(t) for t in ebl.transfers(session, document_id)]


def _decide(document_id: str, transfer_id: str, accept: bool):
    platform, now = _platform_now()

    def action(session):
        transfer, notarized = ebl.decide_transfer(session, platform.notary, current_principal(),
                                                  document_id, transfer_id, accept, now)
        return _transfer_result(session, document_id, transfer, notarized, 200)
    return perform_write(action)


@blp.route("/<document_id>/transfers/<transfer_id>/accept")
class AcceptTransfer(MethodView):
    @protected(blp, Role.FIRM)
    @blp.response(200, TransferWriteSchema)
    @blp.alt_response(409, response="DEFAULT_ERROR", description="the transfer is already decided")
    def post(self, document_id, transfer_id):
        """Accept an offered eBL: you become its holder."""
        return _decide(document_id, transfer_id, True)


@blp.route("/<document_id>/transfers/<transfer_id>/reject")
class RejectTransfer(MethodView):
    @protected(blp, Role.FIRM)
    @blp.response(200, TransferWriteSchema)
    @blp.alt_response(409, response="DEFAULT_ERROR", description="the transfer is already decided")
    def post(self, document_id, transfer_id):
        """Reject an offered eBL: the holder keeps it."""
        return _decide(document_id, transfer_id, False)


@blp.route("/<document_id>/surrender")
class Surrender(MethodView):
    @protected(blp, Role.FIRM)
    @blp.response(200, DocumentWriteSchema)
    @blp.alt_response(409, response="DEFAULT_ERROR",
                      description="not an eBL, already surrendered, or a transfer is pending")
    def post(self, document_id):
        """The holder surrenders the eBL to its carrier; nothing happens to it afterwards."""
        platform, now = _platform_now()

        def action(session):
            document, notarized = ebl.surrender(session, platform.notary, current_principal(),
                                                document_id, now)
            return _document_result(session, document, notarized)
        return perform_write(action)


@blp.route("/<document_id>/signatures")
class Signatures(MethodView):
    @protected(blp, Role.FIRM)
    @blp.arguments(SignatureSubmitSchema(), example=SIGNATURE_EXAMPLE)
    @blp.response(201, SignatureWriteSchema)
    @blp.alt_response(409, response="DEFAULT_ERROR",
                      description="the document is cancelled, or an eBL already surrendered")
    def post(self, body, document_id):
        """Record your JWS over a version's digest, verified with your registered key."""
        platform, now = _platform_now()

        def action(session):
            signature, notarized = signing.sign_document(
                session, platform.notary, current_principal(), document_id, body["jws"], now)
            key = signing.key_of(session, signature.key_id)
            return WriteResult(201, _signature_write.dump({
                **_signature_view(signature, key), "receipt": receipt_for(session, notarized)}))
        return perform_write(action)

    @protected(blp, *READERS)
    @blp.response(200, SignatureSchema(many=True))
    def get(self, document_id):
        """Every signature with the signer's public key, for anyone entitled to the document."""
        with current_platform().db.read() as session:
            _require_full_access(session, document_id)
            return [_signature_view(sig, key) for sig, key in signing.signatures(session, document_id)]


def _signature_view(signature, key) -> dict:
    return {"ledger_index": signature.entry_idx, "version": signature.version,
            "key_id": key.id, "signer_org_id": key.org_id, "alg": key.alg,
            "public_jwk": key.public_jwk, "jws": signature.jws, "signed_at": signature.signed_at}


@blp.route("/<document_id>/accesses")
class Accesses(MethodView):
    @protected(blp, Role.FIRM, Role.REGULATOR)
    @blp.arguments(PageQuerySchema(), location="query", unknown=RAISE)
    @blp.response(200, AccessPageSchema)
    def get(self, query, document_id):
        """Access transparency: every read of your document under consent, with proofs."""
        principal = current_principal()
        with current_platform().db.read() as session:
            document = load_document(session, document_id)
            if principal.role != Role.REGULATOR and document.owner_org_id != principal.org_id:
                raise not_found(document_id)
            items = reads.accesses(session, document, query["limit"] + 1, query.get("after"))
            page = items[:query["limit"]]
            receipt = receipt_for_indexes(session, [a.entry_idx for a in page]) if page else None
        return {"items": page, "receipt": receipt,
                "next": page[-1].entry_idx if len(items) > len(page) else None}


def _require_full_access(session, document_id: str) -> None:
    document = load_document(session, document_id)
    if not has_full_access(session, current_principal(), document):
        raise NotFound(f"document {document_id} not found")
