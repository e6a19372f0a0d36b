"""The ledger HTTP API (contract section 3): public checkpoint, key and
proofs; entries for organisations with a token."""

from __future__ import annotations

import json
from functools import partial

from flask import Response, current_app, request
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import EXCLUDE, RAISE, Schema, ValidationError
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

import ledger
from app.db import Database
from app.errors import NotFound, ValidationFailed
from app.identity.auth import current_principal, protected
from app.identity.models import Role
from app.platform import current_platform
from app.request_query import refuse_repeated
from ledger.rowcache import CachedTreeReader
from ledger.sqlstore import SqlLog

from .models import EntryRef
from .receipts import b64
from .schemas import (
    CheckpointSchema, ConsistencyProofSchema, ConsistencyQuerySchema, EntriesQuerySchema,
    EntryPageSchema, EntrySchema, InclusionProofSchema, InclusionQuerySchema, LogKeySchema,
    is_canonical_integer,
)

# A day: long enough for caches in front of the log, short enough to forget a
# log that was reset (a test or demo database), which real logs never are.
PROOF_CACHE_CONTROL = "public, max-age=86400"

blp = Blueprint("ledger", __name__, url_prefix="/api/v1/ledger",
                description="The verifiable log: checkpoints, proofs and entries.")


def _tree_reader(tree_size: int) -> CachedTreeReader:
    """The log's hashes for proofs, with a 404 for a tree it has not reached;
    ``ledger.prove`` answers the other range errors (index >= tree_size,
    first > second) with a 400. The log only grows, so a size this process
    has already seen needs no read, and neither does a stored row it has
    already read (``ledger.rowcache``): a proof over cached rows opens no
    database connection."""
    platform = current_platform()
    seen = platform.log_size_seen
    if not seen.covers(tree_size):
        with platform.db.autocommit() as connection:
            seen.saw(SqlLog(connection).size)
        if not seen.covers(tree_size):
            raise NotFound(f"tree size {tree_size} is beyond the log's size {seen.size}")
    return platform.tree_rows.reader(seen.size, partial(_read_tree_rows, platform.db))


def _read_tree_rows(db: Database, leaf_indexes: set[int]) -> dict[int, bytes]:
    with db.autocommit() as connection:
        return SqlLog(connection).read_tree_rows(leaf_indexes)


def _query_integers(schema: Schema) -> dict[str, int]:
    """The query's integers named by ``schema``: read directly when each is
    given once and written canonically (the proof routes are the busiest reads,
    and webargs cost a tenth of each), else loaded through ``schema`` for its 422."""
    args = request.args
    values = {}
    for name in schema.fields:
        given = args.getlist(name)
        if len(given) != 1 or not is_canonical_integer(given[0]):
            return _load_query(args, schema)
        try:
            values[name] = int(given[0])
        except ValueError:  # more digits than int() converts (4300): the schema's 422
            return _load_query(args, schema)
    return values


def _load_query(args: MultiDict, schema: Schema) -> dict[str, int]:
    """The query loaded through ``schema``, refused with a 422 as a webargs
    route refuses it (``app.request_query``): a parameter given twice, say."""
    try:
        refuse_repeated(args, schema)
        return schema.load(args, unknown=EXCLUDE)
    except ValidationError as error:
        raise ValidationFailed("invalid query", errors={"query": error.messages}) from error


def _proof_response(body: dict) -> Response:
    """A proof as JSON, written directly (marshmallow's dump cost another tenth).
    A proof between two tree sizes never changes, so caches may keep it."""
    response = current_app.response_class(json.dumps(body), mimetype="application/json")
    response.headers["Cache-Control"] = PROOF_CACHE_CONTROL
    return response


@blp.route("/checkpoint")
class LatestCheckpoint(MethodView):
    @blp.response(200, CheckpointSchema)
    def get(self):
        """The latest signed checkpoint (public)."""
        with current_platform().db.autocommit() as connection:
            stored = SqlLog(connection).latest_checkpoint()
        if stored is None:
            raise NotFound("no checkpoint has been signed yet")
        return {"size": stored.size, "root_hash": stored.root_hash, "checkpoint": stored.note}


@blp.route("/key")
class LogKey(MethodView):
    @blp.response(200, LogKeySchema)
    def get(self):
        """The log's origin, Ed25519 public key and C2SP verifier key (public)."""
        signer = current_platform().notary.signer
        return {"origin": signer.name, "public_key": signer.public_key,
                "verifier_key": signer.verifier_key}


_INCLUSION_QUERY = InclusionQuerySchema()
_CONSISTENCY_QUERY = ConsistencyQuerySchema()


@blp.route("/proofs/inclusion")
class InclusionProof(MethodView):
    @blp.doc(parameters=[{"in": "query", "schema": InclusionQuerySchema}])
    @blp.response(200, InclusionProofSchema)
    @blp.alt_response(400, response="DEFAULT_ERROR", description="index not below tree_size")
    @blp.alt_response(404, response="DEFAULT_ERROR", description="tree_size beyond the log")
    @blp.alt_response(422, response="UNPROCESSABLE_ENTITY")
    def get(self):
        """RFC 9162 inclusion proof (audit path) of leaf ``index`` in tree ``tree_size``."""
        query = _query_integers(_INCLUSION_QUERY)
        index, tree_size = query["index"], query["tree_size"]
        reader = _tree_reader(tree_size)
        leaf, proof, root = ledger.prove.inclusion_evidence(reader, index, tree_size)
        return _proof_response({"index": index, "tree_size": tree_size, "leaf_hash": b64(leaf),
                                "root_hash": b64(root), "proof": [b64(p) for p in proof]})


@blp.route("/proofs/consistency")
class ConsistencyProof(MethodView):
    @blp.doc(parameters=[{"in": "query", "schema": ConsistencyQuerySchema}])
    @blp.response(200, ConsistencyProofSchema)
    @blp.alt_response(400, response="DEFAULT_ERROR", description="first greater than second")
    @blp.alt_response(404, response="DEFAULT_ERROR", description="second beyond the log")
    @blp.alt_response(422, response="UNPROCESSABLE_ENTITY")
    def get(self):
        """RFC 9162 consistency proof between trees of ``first`` and ``second`` leaves."""
        query = _query_integers(_CONSISTENCY_QUERY)
        first, second = query["first"], query["second"]
        reader = _tree_reader(second)
        proof, first_root, second_root = ledger.prove.consistency_proof_and_roots(
            reader, first, second)
        return _proof_response({"first": first, "second": second, "first_root": b64(first_root),
                                "second_root": b64(second_root),
                                "proof": [b64(p) for p in proof]})


def _entry_view(index: int, data: bytes) -> dict:
    try:
        entry = ledger.decode_entry(data)
    except ledger.EntryFormatError as error:  # stored bytes were altered: say where
        raise ledger.IntegrityError(f"stored entry {index} is malformed: {error}",
                                    index=index) from error
    return {"index": index, "leaf_hash": ledger.leaf_hash(data), "leaf_data": data,
            "entry": entry}


def _visible_indexes(session, org_id: str, start: int, limit: int) -> list[int]:
    return list(session.scalars(
        select(EntryRef.entry_idx)
        .where(EntryRef.kind == "org", EntryRef.ref == org_id, EntryRef.entry_idx >= start)
        .order_by(EntryRef.entry_idx).limit(limit)))


@blp.route("/entries/<int:index>")
class Entry(MethodView):
    @protected(blp, Role.REGULATOR, Role.FIRM, Role.CUSTOMS)
    @blp.response(200, EntrySchema)
    @blp.alt_response(404, response="DEFAULT_ERROR", description="no such entry visible to you")
    def get(self, index: int):
        """One entry with its exact logged bytes; firms and customs see entries naming them."""
        principal = current_principal()
        with current_platform().db.read() as session:
            log = SqlLog(session.connection())
            rows = log.read_entries(index, index + 1) if index < log.size else []
            visible = principal.role == Role.REGULATOR or (
                rows and _visible_indexes(session, principal.org_id, index, 1) == [index])
        if not rows or not visible:
            raise NotFound(f"no entry {index} visible to this organisation")
        return _entry_view(*rows[0])


@blp.route("/entries")
class Entries(MethodView):
    @protected(blp, Role.REGULATOR, Role.FIRM, Role.CUSTOMS)
    @blp.arguments(EntriesQuerySchema(), location="query", as_kwargs=True, unknown=RAISE)
    @blp.response(200, EntryPageSchema)
    def get(self, start: int, limit: int):
        """Entries from ``start`` in log order, ``limit`` at a time; ``next`` continues."""
        principal = current_principal()
        with current_platform().db.read() as session:
            log = SqlLog(session.connection())
            start = min(start, log.size)  # an index past the end reads nothing
            if principal.role == Role.REGULATOR:
                rows = log.read_entries(start, start + limit + 1)
            else:
                wanted = _visible_indexes(session, principal.org_id, start, limit + 1)
                rows = log.read_entries_at(wanted)
        page, more = rows[:limit], rows[limit:]
        return {"entries": [_entry_view(*row) for row in page],
                "next": more[0][0] if more else None}
