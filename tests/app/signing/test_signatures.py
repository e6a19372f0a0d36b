"""Firms' keys and signatures over document digests (non-repudiation)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import text

from app.documents import services as documents
from app.documents.access import load_document
from app.errors import Conflict, ValidationFailed
from app.identity.auth import Principal
from app.signing import services as signing
from app.signing.models import SigningKey
from ledger.jws import (
    base64url_encode, generate_private_key, parse_compact, public_key_of, sign_compact, verify_jws,
)
from ledger.publickeys import load_public_key
from tests.app.conftest import example, in_thread


def register(client, org, private_key, alg, as_pem=False):
    public = public_key_of(private_key, alg)
    response = client.post("/api/v1/keys", headers=org.headers, json={
        "alg": alg, "public_key": public.to_pem() if as_pem else public.to_jwk()})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def claims(document, version=None, digest=None) -> bytes:
    return json.dumps({"document": document["id"], "version": version or document["version"],
                       "digest": digest or document["digest"]}).encode()


@pytest.mark.parametrize("alg, as_pem", [("EdDSA", False), ("ES256", True)])
def test_signature_is_verified_recorded_and_verifiable_later(client, cast, submit, check_receipt,
                                                             alg, as_pem):
    invoice = submit("commercial_invoice")
    private = generate_private_key(alg)
    key = register(client, cast.exporter, private, alg, as_pem)
    [entry] = check_receipt(key["receipt"], count=1)
    assert entry["type"] == "key.registered" and entry["thumbprint"] == key["thumbprint"]
    jws = sign_compact(claims(invoice), private, alg, kid=key["id"])
    response = client.post(f"/api/v1/documents/{invoice['id']}/signatures",
                           headers=cast.exporter.headers, json={"jws": jws})
    assert response.status_code == 201, response.get_json()
    [entry] = check_receipt(response.get_json()["receipt"], count=1)
    assert entry["type"] == "document.signed" and entry["digest"] == invoice["digest"]

    [stored] = client.get(f"/api/v1/documents/{invoice['id']}/signatures",
                          headers=cast.regulator.headers).get_json()
    payload = verify_jws(parse_compact(stored["jws"]),
                         load_public_key(stored["alg"], stored["public_jwk"]))
    assert json.loads(payload)["digest"] == invoice["digest"]


def test_bad_signatures_are_422_and_write_nothing(client, cast, submit, snapshot):
    invoice = submit("commercial_invoice")
    mine, theirs = generate_private_key("EdDSA"), generate_private_key("EdDSA")
    key = register(client, cast.exporter, mine, "EdDSA")
    other_key = register(client, cast.importer, theirs, "EdDSA")
    p256 = generate_private_key("ES256")
    cases = {
        "wrong digest": sign_compact(claims(invoice, digest="sha256:" + "0" * 64), mine, "EdDSA",
                                     kid=key["id"]),
        "wrong version": sign_compact(claims(invoice, version=7), mine, "EdDSA", kid=key["id"]),
        "another org's key": sign_compact(claims(invoice), theirs, "EdDSA", kid=other_key["id"]),
        "unknown kid": sign_compact(claims(invoice), mine, "EdDSA", kid="key_nope"),
        "signed by another key": sign_compact(claims(invoice), theirs, "EdDSA", kid=key["id"]),
        "alg mismatch": sign_compact(claims(invoice), p256, "ES256", kid=key["id"]),
        "not a JWS": "not.a.jws!",
        "payload not claims": sign_compact(b'"hello"', mine, "EdDSA", kid=key["id"]),
        # nested too deeply for Python's decoder: was a RecursionError (a 500)
        "header nested too deeply": ".".join(
            base64url_encode(part) for part in (b"[" * 3000, b"{}", bytes(64))),
        "payload nested too deeply": sign_compact(b"[" * 3000, mine, "EdDSA", kid=key["id"]),
    }
    before = snapshot()
    for name, jws in cases.items():
        response = client.post(f"/api/v1/documents/{invoice['id']}/signatures",
                               headers=cast.exporter.headers, json={"jws": jws})
        assert response.status_code == 422, name
        assert "jws" in response.get_json()["errors"]["json"], name
    assert snapshot() == before


@pytest.mark.parametrize("doc_type, signer, alg, change, status, message", [
    ("commercial_invoice", "exporter", "EdDSA", "/api/v1/keys/{key}/revoke", 422, None),
    ("commercial_invoice", "exporter", "EdDSA", "/api/v1/documents/{document}/cancel", 409,
     "is cancelled"),
    # the exporter holds the eBL and surrenders it; the carrier then holds it
    ("bill_of_lading", "carrier", "ES256", "/api/v1/documents/{document}/surrender", 409,
     "is surrendered"),
])
def test_no_signature_with_a_revoked_key_or_on_a_final_document(
        client, cast, submit, snapshot, doc_type, signer, alg, change, status, message):
    document = submit(doc_type)
    signer = getattr(cast, signer)
    private = generate_private_key(alg)
    key = register(client, signer, private, alg)
    assert client.post(change.format(key=key["id"], document=document["id"]),
                       headers=cast.exporter.headers).status_code == 200
    before = snapshot()
    response = client.post(f"/api/v1/documents/{document['id']}/signatures",
                           headers=signer.headers,
                           json={"jws": sign_compact(claims(document), private, alg,
                                                     kid=key["id"])})
    assert response.status_code == status
    if message:
        assert message in response.get_json()["message"]
    assert snapshot() == before


def test_an_earlier_version_can_still_be_signed_and_the_entry_names_it(client, cast, submit,
                                                                       check_receipt):
    # Intended: a signature names its version, so signing a superseded one is unambiguous.
    invoice = submit("commercial_invoice")
    private = generate_private_key("EdDSA")
    key = register(client, cast.exporter, private, "EdDSA")
    content = example("commercial_invoice", cast)
    content["invoice_number"] += "-A"
    assert client.post(f"/api/v1/documents/{invoice['id']}/versions", headers=cast.exporter.headers,
                       json={"content": content}).status_code == 201
    response = client.post(f"/api/v1/documents/{invoice['id']}/signatures",
                           headers=cast.exporter.headers,
                           json={"jws": sign_compact(claims(invoice), private, "EdDSA",
                                                     kid=key["id"])})
    assert response.status_code == 201, response.get_json()
    [entry] = check_receipt(response.get_json()["receipt"], count=1)
    assert (entry["version"], entry["digest"]) == (1, invoice["digest"])


@pytest.mark.parametrize("body", [
    {"alg": "EdDSA", "public_key": "-----BEGIN PUBLIC KEY-----\ngarbage\n-----END PUBLIC KEY-----"},
    {"alg": "ES256", "public_key": {"kty": "OKP", "crv": "Ed25519", "x": "AAAA"}},
    {"alg": "RS256", "public_key": "x"},
    {"alg": "EdDSA", "public_key": "[" * 3000},  # JWK text nested too deeply to parse
    {"alg": "EdDSA"},
    # the P-256 point at infinity: every signature would verify with it
    {"alg": "ES256", "public_key": {"kty": "EC", "crv": "P-256", "x": "A" * 43, "y": "A" * 43}},
])
def test_bad_keys_are_422(client, cast, snapshot, body):
    before = snapshot()
    response = client.post("/api/v1/keys", headers=cast.exporter.headers, json=body)
    assert response.status_code == 422
    assert snapshot() == before


def test_a_signed_payload_repeating_a_member_name_is_422_naming_it(client, cast, submit,
                                                                   snapshot):
    # Read as its last member, this payload signed the invoice; read as its
    # first (as another verifier may), it signed another document.
    invoice = submit("commercial_invoice")
    private = generate_private_key("EdDSA")
    key = register(client, cast.exporter, private, "EdDSA")
    payload = ('{"document": "doc_aaaaaaaaaaaaaaaa", ' + claims(invoice).decode()[1:]).encode()
    before = snapshot()
    response = client.post(f"/api/v1/documents/{invoice['id']}/signatures",
                           headers=cast.exporter.headers,
                           json={"jws": sign_compact(payload, private, "EdDSA", kid=key["id"])})
    assert response.status_code == 422, response.get_json()
    assert response.get_json()["errors"]["json"]["jws"] == [
        "payload repeats the member name 'document'"]
    assert snapshot() == before


@pytest.mark.parametrize("version", [2**31, 2**63, 10**20])
def test_signature_naming_a_version_out_of_range_is_422(client, cast, submit, snapshot, version):
    invoice = submit("commercial_invoice")
    private = generate_private_key("EdDSA")
    key = register(client, cast.exporter, private, "EdDSA")
    before = snapshot()
    response = client.post(f"/api/v1/documents/{invoice['id']}/signatures",
                           headers=cast.exporter.headers,
                           json={"jws": sign_compact(claims(invoice, version=version), private,
                                                     "EdDSA", kid=key["id"])})
    assert response.status_code == 422
    assert "jws" in response.get_json()["errors"]["json"]
    assert snapshot() == before


def test_malformed_key_ids_are_refused_not_500(client, cast, submit, snapshot):
    # A NUL is a valid JSON and URL character that PostgreSQL cannot take in a query.
    invoice = submit("commercial_invoice")
    private = generate_private_key("EdDSA")
    register(client, cast.exporter, private, "EdDSA")
    before = snapshot()
    response = client.post(f"/api/v1/documents/{invoice['id']}/signatures",
                           headers=cast.exporter.headers,
                           json={"jws": sign_compact(claims(invoice), private, "EdDSA",
                                                     kid="key_\x00")})
    assert response.status_code == 422 and "jws" in response.get_json()["errors"]["json"]
    assert client.post("/api/v1/keys/key_%00/revoke",
                       headers=cast.exporter.headers).status_code == 404
    assert snapshot() == before


# --- concurrent requests --------------------------------------------------------------------

def _signer(platform, owner, document_id: str, jws: str, now, outcome: dict):
    """A thread recording ``jws`` on the document in a write transaction of its own."""

    def sign():
        with platform.db.write() as session:
            return signing.sign_document(session, platform.notary, owner, document_id, jws,
                                         now)[0].entry_idx
    return in_thread(sign, outcome)


def _entry_types(platform, since: int) -> list[str]:
    with platform.db.read() as session:
        rows = session.execute(text("SELECT data FROM ledger_entries WHERE idx >= :since "
                                    "ORDER BY idx"), {"since": since})
        return [json.loads(bytes(row.data))["type"] for row in rows]


def _ledger_size(platform) -> int:
    with platform.db.read() as session:
        return session.scalar(text("SELECT count(*) FROM ledger_entries"))


def test_two_revocations_of_a_key_at_once_log_one(client, cast, platform, clock, lock_waiters):
    # The first revocation has changed the key and appended its entry but not
    # committed: the second must wait for it and be refused (409), not log a
    # second key.revoked and move revoked_at.
    key = register(client, cast.exporter, generate_private_key("EdDSA"), "EdDSA")
    owner = Principal(cast.exporter.org_id, cast.exporter.role)
    size = _ledger_size(platform)
    outcome: dict = {}

    def revoke_again():
        with platform.db.write() as session:
            return signing.revoke_key(session, platform.notary, owner, key["id"],
                                      clock.now + timedelta(seconds=1))[0].revoked_at

    second = in_thread(revoke_again, outcome)
    with platform.db.write() as session:
        first, _ = signing.revoke_key(session, platform.notary, owner, key["id"], clock.now)
        session.flush()
        second.start()
        lock_waiters()
    second.join(timeout=30)
    assert not second.is_alive()
    assert isinstance(outcome.get("refused"), Conflict), outcome
    assert _entry_types(platform, size) == ["key.revoked"]
    with platform.db.read() as session:
        assert session.get(SigningKey, key["id"]).revoked_at == first.revoked_at


def _revoke_the_key(session, platform, owner, key, invoice, now):
    signing.revoke_key(session, platform.notary, owner, key["id"], now)


def _cancel_the_document(session, platform, owner, key, invoice, now):
    documents.cancel(session, platform.notary, owner, invoice["id"], now)


@pytest.mark.parametrize("change, refusal, entry_type", [
    (_revoke_the_key, ValidationFailed, "key.revoked"),
    (_cancel_the_document, Conflict, "document.cancelled"),
])
def test_a_change_committing_while_a_signature_is_recorded_wins(
        client, cast, submit, platform, clock, lock_waiters, change, refusal, entry_type):
    # "Later signatures with it are refused": a signature checked against the
    # key (or the document) while its revocation (or cancellation) is in
    # flight must wait for it and be refused, not be logged after it.
    invoice = submit("commercial_invoice")
    private = generate_private_key("EdDSA")
    key = register(client, cast.exporter, private, "EdDSA")
    jws = sign_compact(claims(invoice), private, "EdDSA", kid=key["id"])
    owner = Principal(cast.exporter.org_id, cast.exporter.role)
    size = _ledger_size(platform)
    outcome: dict = {}
    signer = _signer(platform, owner, invoice["id"], jws, clock.now, outcome)
    with platform.db.write() as session:
        change(session, platform, owner, key, invoice, clock.now)
        session.flush()
        signer.start()
        lock_waiters()
    signer.join(timeout=30)
    assert not signer.is_alive()
    assert isinstance(outcome.get("refused"), refusal), outcome
    assert _entry_types(platform, size) == [entry_type]


def test_a_signature_and_an_amendment_of_the_document_at_once_both_succeed(
        client, cast, submit, platform, clock, lock_waiters):
    # The amendment locks the document, then the ledger's head. The signature
    # appends (taking the head), then inserts its row, whose foreign key takes
    # a key-share lock on the document: that must not wait for the amendment
    # (each would wait for the other: a deadlock, answered 503).
    invoice = submit("commercial_invoice")
    private = generate_private_key("EdDSA")
    key = register(client, cast.exporter, private, "EdDSA")
    jws = sign_compact(claims(invoice), private, "EdDSA", kid=key["id"])
    content = example("commercial_invoice", cast)
    content["invoice_number"] += "-A"
    owner = Principal(cast.exporter.org_id, cast.exporter.role)
    size = _ledger_size(platform)
    outcome: dict = {}
    signer = _signer(platform, owner, invoice["id"], jws, clock.now, outcome)
    with platform.db.write() as session:
        load_document(session, invoice["id"], for_update=True)  # the amendment's first step
        signer.start()
        lock_waiters(unless_done=signer)
        amended = documents.amend(session, platform.notary, owner, invoice["id"], content,
                                  clock.now)
    signer.join(timeout=30)
    assert not signer.is_alive()
    assert "done" in outcome, outcome
    assert amended.document.version == 2
    assert sorted(_entry_types(platform, size)) == ["document.amended", "document.signed"]
