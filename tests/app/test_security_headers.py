"""Every API answer tells browsers not to cache, sniff or frame it
(app/security_headers.py); answers with a cache policy of their own keep it."""

from __future__ import annotations

import pytest

from app.identity.models import Role
from app.security_headers import API_RESPONSE_HEADERS

FRAMING_AND_SNIFFING = {name: value for name, value in API_RESPONSE_HEADERS.items()
                        if name != "Cache-Control"}


def assert_api_headers(answer, cache_control="no-store"):
    for name, value in FRAMING_AND_SNIFFING.items():
        assert answer.headers.get(name) == value, (name, answer.status_code)
    assert answer.headers.get("Cache-Control") == cache_control, answer.status_code


def test_a_new_token_is_never_cached(client, make_org):
    admin = make_org(Role.ADMIN)
    answer = client.post("/api/v1/orgs", json={"name": "Qianhai Export Trading Co.",
                                               "role": "firm"}, headers=admin.headers)
    assert answer.status_code == 201
    assert answer.get_json()["token"]
    assert_api_headers(answer)


def test_a_document_and_its_receipt_are_never_cached(client, cast, submit):
    issued = submit("commercial_invoice")
    answer = client.get(f"/api/v1/documents/{issued['id']}", headers=cast.exporter.headers)
    assert answer.status_code == 200
    assert_api_headers(answer)


@pytest.mark.parametrize("path, status", [
    ("/api/v1/documents", 401),                  # no token
    ("/api/v1/documents/doc_nothing", 401),
    ("/api/v1/no-such-route", 404),
    ("/api/v1/ledger/proofs/inclusion?index=x&tree_size=1", 422),
    ("/api/v1/ledger/checkpoint", 200),          # public, but it changes
    ("/api/v1/ledger/key", 200),
    ("/api/v1/openapi.json", 200),
    ("/healthz", 200),
])
def test_errors_and_public_answers_carry_them_too(client, path, status):
    answer = client.get(path)
    assert answer.status_code == status
    assert_api_headers(answer)


def test_a_proof_keeps_its_own_cache_policy(client, cast, submit):
    submit("commercial_invoice")
    answer = client.get("/api/v1/ledger/proofs/inclusion?index=0&tree_size=2")
    assert answer.status_code == 200
    assert_api_headers(answer, cache_control="public, max-age=86400")


def test_the_console_keeps_its_stricter_policy(client):
    answer = client.get("/console/login")
    assert answer.status_code == 200
    assert answer.headers["Content-Security-Policy"].startswith("default-src 'self'")
    assert answer.headers["Cache-Control"] == "no-store"
