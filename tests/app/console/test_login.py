"""Signing in to the console: only regulators, a signed cookie without the
token, CSRF on the two forms, logout, expiry and revocation."""

from __future__ import annotations

import base64
import json
import zlib
from datetime import timedelta

import pytest

from app.identity.models import ApiToken, Role
from app.identity.services import create_token, revoke_token
from app.identity.tokens import parse_token

from .conftest import csrf_from, sign_in

PAGES = ("/console/", "/console/entries", "/console/entries/0", "/console/history",
         "/console/bundle?document=doc_x",
         "/console/history?document=doc_x", "/console/quarantine")


def _cookie(client):
    return client.get_cookie("tz_console", path="/console")


def _cookie_payload(client) -> dict:
    """The session cookie's (signed, not encrypted) JSON payload."""
    value = _cookie(client).value
    compressed = value.startswith(".")
    data = value.lstrip(".").split(".")[0]
    raw = base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))
    return json.loads(zlib.decompress(raw) if compressed else raw)


def test_regulator_signs_in_and_sees_the_console(client, regulator):
    answer = sign_in(client, regulator.token)
    assert answer.status_code == 303
    assert answer.headers["Location"] == "/console/"
    page = client.get("/console/")
    assert page.status_code == 200
    assert "Latest checkpoint" in page.text
    assert "Zone Regulator" in page.text  # who is signed in


def test_signing_in_is_a_use_of_the_token(client, platform, regulator, clock):
    token_id = parse_token(regulator.token).token_id
    assert sign_in(client, regulator.token).status_code == 303
    with platform.db.read() as session:
        assert session.get(ApiToken, token_id).last_used_at == clock()


def test_session_cookie_is_signed_httponly_strict_and_holds_no_token(client, regulator):
    answer = sign_in(client, regulator.token)
    header = answer.headers["Set-Cookie"]
    assert header.startswith("tz_console=")
    for attribute in ("HttpOnly", "SameSite=Strict", "Path=/console"):
        assert attribute in header
    payload = _cookie_payload(client)
    secret = parse_token(regulator.token).secret
    assert set(payload) == {"org_id", "token_id", "since", "csrf"}
    assert payload["org_id"] == regulator.org_id
    assert secret not in header and regulator.token not in header
    for path in PAGES:
        assert secret not in client.get(path).text


def test_forged_cookie_is_not_a_session(client, regulator):
    sign_in(client, regulator.token)
    value = _cookie(client).value
    client.set_cookie("tz_console", value[:-2] + ("AA" if value[-2:] != "AA" else "BB"),
                      path="/console")
    assert client.get("/console/").status_code == 302


@pytest.mark.parametrize("role", [Role.FIRM, Role.CUSTOMS, Role.ADMIN])
def test_other_roles_are_refused(client, make_org, role):
    org = make_org(role, f"A {role.value}")
    answer = sign_in(client, org.token)
    assert answer.status_code == 403
    assert "only a regulator" in answer.text
    assert org.token not in answer.text  # the pasted token is not echoed back
    assert client.get("/console/").status_code == 302


@pytest.mark.parametrize("token", [
    "", "not a token", "Bearer tz_abc",
    "tz_aaaaaaaaaaaaaaaa_" + "A" * 43,  # well formed, unknown id
])
def test_bad_tokens_are_refused(client, token):
    answer = sign_in(client, token)
    assert answer.status_code == 401
    assert "Sign-in refused" in answer.text
    assert client.get("/console/").status_code == 302


def test_wrong_secret_and_revoked_token_are_refused(client, platform, regulator):
    token_id = parse_token(regulator.token).token_id
    assert sign_in(client, f"tz_{token_id}_{'B' * 43}").status_code == 401
    with platform.db.write() as session:
        revoke_token(session, platform.notary, token_id, platform.now())
    assert sign_in(client, regulator.token).status_code == 401


def test_sign_in_needs_the_forms_csrf_token(client, regulator):
    client.get("/console/login")
    assert client.post("/console/login", data={"token": regulator.token}).status_code == 400
    assert client.post("/console/login",
                       data={"token": regulator.token, "csrf": "forged"}).status_code == 400
    assert client.get("/console/").status_code == 302



def test_a_non_ascii_csrf_field_is_refused_not_a_crash(console):
    # hmac.compare_digest refuses str with non-ASCII characters (TypeError, a 500)
    assert console.post("/console/logout", data={"csrf": "é"}).status_code == 400
    assert console.post("/console/login", data={"csrf": "é", "token": "x"}).status_code == 400

def test_sign_in_starts_a_fresh_session_with_a_new_csrf_token(client, regulator):
    before = csrf_from(client.get("/console/login").text)
    sign_in(client, regulator.token)
    assert _cookie_payload(client)["csrf"] != before


@pytest.mark.parametrize("path", PAGES)
def test_pages_require_sign_in(client, path):
    answer = client.get(path)
    assert answer.status_code == 302
    assert answer.headers["Location"] == "/console/login"


def test_logout_needs_csrf_then_ends_the_session(console):
    assert console.post("/console/logout").status_code == 400
    assert console.get("/console/").status_code == 200  # still signed in
    token = csrf_from(console.get("/console/").text)
    answer = console.post("/console/logout", data={"csrf": token})
    assert answer.status_code == 303
    assert answer.headers["Location"] == "/console/login"
    assert console.get("/console/").status_code == 302
    assert console.get("/console/logout").status_code == 405  # POST only


def test_revoking_the_token_ends_its_console_session(console, platform, regulator):
    with platform.db.write() as session:
        revoke_token(session, platform.notary, parse_token(regulator.token).token_id,
                     platform.now())
    assert console.get("/console/").status_code == 302


def test_an_expiring_token_signs_in_until_it_expires_and_its_session_ends_then(
        client, platform, clock, make_org):
    org = make_org(Role.REGULATOR, "Zone Regulator (audit contractor)")
    with platform.db.write() as session:
        issued = create_token(session, platform.notary, org.org_id, platform.now(),
                              expires_at=platform.now() + timedelta(hours=2))
    assert sign_in(client, issued.text).status_code == 303
    clock.advance(hours=1, minutes=59)
    assert client.get("/console/").status_code == 200
    clock.advance(minutes=1)
    assert client.get("/console/").status_code == 302
    answer = sign_in(client, issued.text)
    assert answer.status_code == 401 and "expired" in answer.text


def test_session_expires_after_eight_hours(console, clock):
    clock.advance(hours=7, minutes=59)
    assert console.get("/console/").status_code == 200
    clock.advance(minutes=2)
    assert console.get("/console/").status_code == 302


@pytest.mark.parametrize("path", ("/console/login", *PAGES, "/console/entries/999999",
                                  "/console/entries?type=Bad"))
def test_security_headers(console, path):
    answer = console.get(path)
    assert answer.headers["Content-Security-Policy"].startswith("default-src 'self'")
    assert "unsafe-inline" not in answer.headers["Content-Security-Policy"]
    assert answer.headers["X-Frame-Options"] == "DENY"
    assert answer.headers["Referrer-Policy"] == "no-referrer"
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert answer.headers["Cache-Control"] == "no-store"


def test_api_answers_set_no_console_cookie(console):
    answer = console.get("/api/v1/ledger/checkpoint")
    assert "Set-Cookie" not in answer.headers
    # The console's page policy is for its pages only; the API's says only "no frames".
    assert answer.headers["Content-Security-Policy"] == "frame-ancestors 'none'"
