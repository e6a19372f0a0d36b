"""The audit console's pages (plain Flask blueprint, not part of the OpenAPI API).

Server-rendered; the one script (``static/console.js``) checks proofs and
checkpoint signatures in the browser against the public ledger API. Every
page but sign-in needs a regulator's session (``session.py``).
"""

from __future__ import annotations

import base64

from flask import Blueprint, Response, g, redirect, render_template, request, url_for

import ledger
from app.audit import bundles
from app.errors import NotFound
from app.identity.auth import Principal
from app.identity.models import Role
from app.identity.services import record_token_use
from app.platform import current_platform

from . import forms, queries
from .session import (
    LoginRefused, configure_sessions, csrf_ok, csrf_token, current_regulator, sign_in,
    sign_out,
)

blp = Blueprint("console", __name__, url_prefix="/console", template_folder="templates",
                static_folder="static")

_PUBLIC_ENDPOINTS = {"console.login", "console.static"}
# The fields the paging links carry over: only these reach url_for as keywords,
# never its own (_external, _scheme, _anchor, _method, endpoint).
_ENTRY_FIELDS = ("type", "org", "document", "consent", "device", "shipment", "from", "to",
                 "limit")
_QUARANTINE_FIELDS = ("device", "reason", "limit")
SECURITY_HEADERS = {
    "Content-Security-Policy": ("default-src 'self'; base-uri 'none'; form-action 'self'; "
                                "frame-ancestors 'none'; object-src 'none'"),
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}


@blp.record_once
def _setup(state) -> None:
    configure_sessions(state.app, state.app.extensions["tradezone"].config.ledger_key_file)


@blp.before_request
def _require_regulator():
    g.regulator = None
    if request.endpoint in _PUBLIC_ENDPOINTS:
        return None
    platform = current_platform()
    with platform.db.read() as db_session:
        g.regulator = current_regulator(db_session, platform.now())
    if g.regulator is None:
        return redirect(url_for("console.login"))
    forms.refuse_repeated(request.args)
    return None


@blp.after_request
def _security_headers(response):
    response.headers.update(SECURITY_HEADERS)
    if request.endpoint != "console.static":
        response.headers["Cache-Control"] = "no-store"
    return response


@blp.context_processor
def _template_helpers() -> dict:
    return {"console_csrf": csrf_token, "subject_url": subject_url,
            "b64": lambda data: base64.b64encode(data).decode()}


def subject_url(kind: str, ref: str) -> str:
    """Where a subject an entry names leads: its history, or an organisation's entries."""
    if kind == "org":
        return url_for("console.entries", org=ref)
    return url_for("console.history", **{kind: ref})


@blp.errorhandler(forms.FormError)
def _bad_form(error: forms.FormError):
    return render_template("console/error.html", message=str(error)), 400


@blp.route("/login", methods=["GET", "POST"])
def login():
    if request.method == "GET":
        return render_template("console/login.html", error=None)
    if not csrf_ok(request.form.get("csrf")):
        return render_template("console/login.html",
                               error="The form expired; please sign in again."), 400
    platform = current_platform()
    try:
        now = platform.now()
        with platform.db.read() as db_session:
            org = sign_in(db_session, request.form.get("token", ""), now)
    except LoginRefused as refused:
        return render_template("console/login.html", error=refused.message), refused.status
    if org.use_to_record:
        with platform.db.write() as db_session:
            record_token_use(db_session, org.token_id, now)
    return redirect(url_for("console.overview"), code=303)


@blp.post("/logout")
def logout():
    if not csrf_ok(request.form.get("csrf")):
        return render_template("console/error.html",
                               message="The sign-out form expired; reload and try again."), 400
    sign_out()
    return redirect(url_for("console.login"), code=303)


@blp.get("/")
def overview():
    platform = current_platform()
    with platform.db.read() as db_session:
        checkpoint = queries.latest_checkpoint(db_session)
    signer = platform.notary.signer
    return render_template("console/overview.html", checkpoint=checkpoint,
                           server_check=_server_check(checkpoint, signer.verifier_key),
                           origin=signer.name, verifier_key=signer.verifier_key,
                           public_key=base64.b64encode(signer.public_key).decode())


@blp.get("/entries")
def entries():
    wanted = forms.entry_filter(request.args)
    after, limit = forms.index(request.args, "after"), forms.limit(request.args)
    with current_platform().db.read() as db_session:
        page = queries.search_entries(db_session, wanted, after, limit)
        types = queries.entry_types(db_session)
    first_args = {k: v for k, v in request.args.items() if k in _ENTRY_FIELDS and v}
    next_url = (url_for("console.entries", **first_args, after=page.next)
                if page.next is not None else None)
    return render_template("console/entries.html", page=page, args=request.args, types=types,
                           next_url=next_url, first_args=first_args,
                           searched=not wanted.is_empty())


@blp.get("/entries/<int:index>")
def entry(index: int):
    with current_platform().db.read() as db_session:
        found = queries.entry_at(db_session, index)
    if found is None:
        return render_template("console/error.html",
                               message=f"There is no entry {index} in the log."), 404
    return render_template("console/entry.html", item=found)


@blp.get("/history")
def history():
    asked = forms.subject(request.args)
    found, truncated = [], False
    if asked is not None:
        kind, ref = asked
        with current_platform().db.read() as db_session:
            found, truncated = queries.history(db_session, queries.EntryFilter(**{kind: ref}))
    return render_template("console/history.html", asked=asked, found=found,
                           truncated=truncated, bundle_kinds=forms.BUNDLE_KINDS)


@blp.get("/bundle")
def bundle():
    """The audit bundle of the subject asked for, as ``GET /api/v1/audit/bundles``
    gives a regulator, to check offline with ``tradezone audit verify``."""
    kind, ref = forms.bundle_subject(request.args)
    platform = current_platform()
    viewer = Principal(g.regulator.org_id, Role.REGULATOR)
    try:
        with platform.db.read() as db_session:
            subject = bundles.resolve_subject(db_session, viewer, kind, ref)
    except NotFound as missing:
        return render_template("console/error.html", message=missing.message), 404
    body = bundles.stream_bundle(platform.db, platform.notary.signer.verifier_key, subject)
    filename = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in ref)
    return Response(body, mimetype="application/json", headers={
        "Content-Disposition": f'attachment; filename="audit-bundle-{kind}-{filename}.json"'})


@blp.get("/quarantine")
def quarantine():
    device, reason = forms.quarantine_filter(request.args)
    before, limit = forms.index(request.args, "before"), forms.limit(request.args)
    with current_platform().db.read() as db_session:
        page = queries.quarantine(db_session, g.regulator.org_id, device, reason, before, limit)
        items = [_quarantine_row(item) for item in page.items]
    kept = {k: v for k, v in request.args.items() if k in _QUARANTINE_FIELDS and v}
    next_url = (url_for("console.quarantine", **kept, before=page.next)
                if page.next is not None else None)
    return render_template("console/quarantine.html", items=items, next_url=next_url,
                           args=request.args)


def _quarantine_row(item) -> dict:
    return {"id": item.id, "device": item.topic_device_id, "reason": item.reason,
            "detail": item.detail, "seq": item.seq, "raw_size": item.raw_size,
            "raw_sha256": item.raw_sha256.hex(), "received_at": item.received_at}


def _server_check(checkpoint, verifier_key: str) -> str:
    """The server's own check of its latest checkpoint (the browser checks again)."""
    if checkpoint is None:
        return "no checkpoint yet"
    try:
        ledger.open_checkpoint(checkpoint.note,
                               ledger.NoteVerifier.from_verifier_key(verifier_key))
    except ledger.LedgerError as exc:
        return f"FAILED: {exc}"
    return "verified"
