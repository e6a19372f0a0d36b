"""The audit API: search over ledger entries and audit bundles (contract section 9)."""

from __future__ import annotations

from collections.abc import Iterator

from flask import Response
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import RAISE

from app.identity.auth import current_principal, protected
from app.identity.models import Role
from app.platform import current_platform

from . import bundles
from .schemas import (
    SUBJECTS, AuditBundleSchema, BundleQuerySchema, SearchPageSchema, SearchQuerySchema,
)
from .search import REF_KINDS, Filters, entry_view, search

blp = Blueprint("audit", __name__, url_prefix="/api/v1/audit",
                description="Search the ledger and export offline-verifiable audit bundles.")


@blp.route("/entries")
class Entries(MethodView):
    @protected(blp, Role.REGULATOR, Role.FIRM, Role.CUSTOMS)
    @blp.arguments(SearchQuerySchema(), location="query", as_kwargs=True, unknown=RAISE)
    @blp.response(200, SearchPageSchema)
    def get(self, limit: int, after: int = -1, entry_type: str | None = None,
            since=None, until=None, **refs: str):
        """Entries matching every filter given, in log order, ``limit`` at a time.

        A regulator searches every entry; a firm or customs organisation only
        the entries that name it. ``from`` and ``to`` are RFC 3339 times with
        an offset (``from`` <= at < ``to``)."""
        principal = current_principal()
        named = tuple((kind, refs[kind]) for kind in REF_KINDS if kind in refs)
        if principal.role != Role.REGULATOR:
            named += (("org", principal.org_id),)
        filters = Filters(named, entry_type, since, until)
        with current_platform().db.read() as session:
            page = search(session, filters, after, limit)
        return {"entries": [entry_view(index, data) for index, data in page.rows],
                "next": page.next}


@blp.route("/bundles")
class Bundles(MethodView):
    @protected(blp, Role.REGULATOR, Role.FIRM, Role.CUSTOMS)
    @blp.arguments(BundleQuerySchema(), location="query", as_kwargs=True, unknown=RAISE)
    @blp.response(200, AuditBundleSchema)
    @blp.alt_response(404, response="DEFAULT_ERROR",
                      description="no such subject, or not one you may export")
    def get(self, since=None, until=None, **subject: str):
        """One audit bundle of every entry naming a document, device, organisation
        or shipment (optionally ``from`` <= at < ``to``), with inclusion proofs to
        the latest checkpoint and the JWS evidence of device events and document
        signatures. Check it offline with ``tradezone audit verify``."""
        platform = current_platform()
        (kind, ref), = ((name, subject[name]) for name in SUBJECTS if name in subject)
        with platform.db.read() as session:
            resolved = bundles.resolve_subject(session, current_principal(), kind, ref,
                                               since, until)
        body = _started(bundles.stream_bundle(platform.db, platform.notary.signer.verifier_key,
                                              resolved))
        # Header values are Latin-1 (PEP 3333): keep ASCII letters and digits only.
        filename = "".join(ch if ch.isascii() and (ch.isalnum() or ch in "-_.") else "_"
                           for ch in ref)
        return Response(body, mimetype="application/json", headers={
            "Content-Disposition": f'attachment; filename="audit-bundle-{kind}-{filename}.json"'})


def _started(body: Iterator[str]) -> Iterator[str]:
    """``body`` with its first part made now, while the request can still fail
    with an error status (reading the checkpoint and the keys); the rest is
    streamed, and the stream closed if the client goes away."""
    first = next(body)

    def stream() -> Iterator[str]:
        try:
            yield first
            yield from body
        finally:
            body.close()

    return stream()
