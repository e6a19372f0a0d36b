"""The ledger HTTP API (contract section 3): public checkpoint, key and
proofs; entries for organisations with a token."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint
from sqlalchemy import select

import ledger
from app.errors import NotFound
from app.identity.auth import current_principal, protected
from app.identity.models import Role
from app.platform import current_platform
from ledger.sqlstore import SqlLog

from .models import EntryRef
from .schemas import (
    CheckpointSchema, ConsistencyProofSchema, ConsistencyQuerySchema, EntriesQuerySchema,
    EntryPageSchema, EntrySchema, InclusionProofSchema, InclusionQuerySchema, LogKeySchema,
)

blp = Blueprint("ledger", __name__, url_prefix="/api/v1/ledger",
                description="The verifiable log: checkpoints, proofs and entries.")


def _require_tree(log: SqlLog, tree_size: int) -> None:
    """404 for a tree the log has not reached; ``ledger.prove`` answers the
    other range errors (index >= tree_size, first > second) with a 400.
    (A size this process has already seen needs no read: the log only grows.)"""
    seen = current_platform().log_size_seen
    if seen.covers(tree_size):
        return
    seen.saw(log.size)
    if tree_size > log.size:
        raise NotFound(f"tree size {tree_size} is beyond the log's size {log.size}")


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


@blp.route("/proofs/inclusion")
class InclusionProof(MethodView):
    @blp.arguments(InclusionQuerySchema(), location="query", as_kwargs=True)
    @blp.response(200, InclusionProofSchema)
    @blp.alt_response(400, response="DEFAULT_ERROR", description="index not below tree_size")
    @blp.alt_response(404, response="DEFAULT_ERROR", description="tree_size beyond the log")
    def get(self, index: int, tree_size: int):
        """RFC 9162 inclusion proof (audit path) of leaf ``index`` in tree ``tree_size``."""
        with current_platform().db.autocommit() as connection:
            log = SqlLog(connection)
            _require_tree(log, tree_size)
            leaf, proof, root = ledger.prove.inclusion_evidence(log, index, tree_size)
        return {"index": index, "tree_size": tree_size, "leaf_hash": leaf, "root_hash": root,
                "proof": proof}


@blp.route("/proofs/consistency")
class ConsistencyProof(MethodView):
    @blp.arguments(ConsistencyQuerySchema(), location="query", as_kwargs=True)
    @blp.response(200, ConsistencyProofSchema)
    @blp.alt_response(400, response="DEFAULT_ERROR", description="first greater than second")
    @blp.alt_response(404, response="DEFAULT_ERROR", description="second beyond the log")
    def get(self, first: int, second: int):
        """RFC 9162 consistency proof between trees of ``first`` and ``second`` leaves."""
        with current_platform().db.autocommit() as connection:
            log = SqlLog(connection)
            _require_tree(log, second)
            proof, first_root, second_root = ledger.prove.consistency_proof_and_roots(
                log, first, second)
        return {"first": first, "second": second, "first_root": first_root,
                "second_root": second_root, "proof": proof}


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
    @blp.arguments(EntriesQuerySchema(), location="query", as_kwargs=True)
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
