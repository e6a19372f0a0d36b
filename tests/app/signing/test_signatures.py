"""Firms' keys and signatures over document digests (non-repudiation)."""

from __future__ import annotations

import json

import pytest

from ledger.jws import generate_private_key, parse_compact, public_key_of, sign_compact, verify_jws
from ledger.publickeys import load_public_key


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
    }
    before = snapshot()
    for name, jws in cases.items():
        response = client.post(f"/api/v1/documents/{invoice['id']}/signatures",
                               headers=cast.exporter.headers, json={"jws": jws})
        assert response.status_code == 422, name
        assert "jws" in response.get_json()["errors"]["json"], name
    assert snapshot() == before


def test_revoked_key_cannot_sign(client, cast, submit, snapshot):
    invoice = submit("commercial_invoice")
    private = generate_private_key("EdDSA")
    key = register(client, cast.exporter, private, "EdDSA")
    assert client.post(f"/api/v1/keys/{key['id']}/revoke",
                       headers=cast.exporter.headers).status_code == 200
    before = snapshot()
    response = client.post(f"/api/v1/documents/{invoice['id']}/signatures",
                           headers=cast.exporter.headers,
                           json={"jws": sign_compact(claims(invoice), private, "EdDSA",
                                                     kid=key["id"])})
    assert response.status_code == 422
    assert snapshot() == before


@pytest.mark.parametrize("body", [
    {"alg": "EdDSA", "public_key": "-----BEGIN PUBLIC KEY-----\ngarbage\n-----END PUBLIC KEY-----"},
    {"alg": "ES256", "public_key": {"kty": "OKP", "crv": "Ed25519", "x": "AAAA"}},
    {"alg": "RS256", "public_key": "x"},
    {"alg": "EdDSA"},
    # the P-256 point at infinity: every signature would verify with it
    {"alg": "ES256", "public_key": {"kty": "EC", "crv": "P-256", "x": "A" * 43, "y": "A" * 43}},
])
def test_bad_keys_are_422(client, cast, snapshot, body):
    before = snapshot()
    response = client.post("/api/v1/keys", headers=cast.exporter.headers, json=body)
    assert response.status_code == 422
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
