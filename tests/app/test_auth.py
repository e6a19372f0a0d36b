"""401 versus 403 on every route that is not public (contract section 1)."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.errors import Conflict
from app.identity import services
from app.identity.models import ApiToken, Role
from ledger.sqlstore import entries as ledger_entries

PUBLIC_PREFIXES = ("/api/v1/ledger/checkpoint", "/api/v1/ledger/key", "/api/v1/ledger/proofs/",
                   "/api/v1/openapi.json", "/api/v1/docs", "/healthz", "/static/",
                   "/console/")  # browser pages: a login redirect, tested in tests/app/console
SAMPLE_VALUES = {"index": "0", "device_id": "dev-1", "id": "x", "document_id": "x",
                 "consent_id": "x", "filename": "x"}


def protected_routes(app) -> list[tuple[str, str]]:
    """Every (method, path) the app serves that needs a token, with sample path values."""
    routes = []
    for rule in app.url_map.iter_rules():
        path = rule.rule
        if path.startswith(PUBLIC_PREFIXES):
            continue
        for name in rule.arguments:
            path = path.replace(f"<{name}>", SAMPLE_VALUES.get(name, "x"))
            path = path.replace(f"<int:{name}>", "0")
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            routes.append((method, path))
    return routes


def test_there_are_protected_routes(app):
    assert ("GET", "/api/v1/ledger/entries") in protected_routes(app)


@pytest.mark.parametrize("header", [None, "Bearer", "Bearer nonsense", "Basic dXNlcjpwYXNz",
                                    "Bearer tz_aaaaaaaaaaaaaaaa_" + "A" * 43])
def test_every_protected_route_is_401_without_a_valid_token(app, client, header):
    headers = {"Authorization": header} if header else {}
    for method, path in protected_routes(app):
        response = client.open(path, method=method, headers=headers)
        assert response.status_code == 401, (method, path)
        assert response.get_json()["code"] == 401
        assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_revoked_token_is_401_at_once(app, client, make_org, platform):
    regulator = make_org(Role.REGULATOR)
    assert client.get("/api/v1/ledger/entries", headers=regulator.headers).status_code == 200
    token_id = regulator.token.split("_")[1]
    with platform.db.write() as session:
        services.revoke_token(session, platform.notary, token_id, platform.now())
    for method, path in protected_routes(app):
        assert client.open(path, method=method, headers=regulator.headers).status_code == 401


def test_two_revocations_of_a_token_at_once_log_one(make_org, platform, lock_waiters):
    # The first revocation has changed the token and appended its entry but not
    # committed: the second must wait for it and be refused, not log a second
    # token.revoked and move revoked_at.
    token_id = make_org(Role.REGULATOR).token.split("_")[1]
    outcome: dict = {}

    def revoke_again():
        try:
            with platform.db.write() as session:
                services.revoke_token(session, platform.notary, token_id,
                                      platform.now() + timedelta(seconds=1))
        except Conflict as refusal:
            outcome["refused"] = refusal

    second = threading.Thread(target=revoke_again)
    with platform.db.read() as session:
        size = session.scalar(select(func.count()).select_from(ledger_entries))
    with platform.db.write() as session:
        first = services.revoke_token(session, platform.notary, token_id, platform.now())
        session.flush()
        second.start()
        lock_waiters(unless_done=second)
    second.join(timeout=30)
    assert not second.is_alive()
    assert "refused" in outcome
    with platform.db.read() as session:
        assert session.scalar(select(func.count()).select_from(ledger_entries)) == size + 1
        assert session.get(ApiToken, token_id).revoked_at == first.token.revoked_at


def test_token_with_wrong_secret_is_401(client, make_org):
    regulator = make_org(Role.REGULATOR)
    forged = regulator.token[:-1] + ("A" if regulator.token[-1] != "A" else "B")
    response = client.get("/api/v1/ledger/entries", headers={"Authorization": f"Bearer {forged}"})
    assert response.status_code == 401


@pytest.mark.parametrize("path", ["/api/v1/ledger/entries", "/api/v1/ledger/entries/0"])
def test_admin_may_not_read_entries(client, make_org, path):
    admin = make_org(Role.ADMIN)
    response = client.get(path, headers=admin.headers)
    assert response.status_code == 403
    assert "admin" in response.get_json()["message"]


def test_tokens_are_stored_hashed(platform, make_org):
    from sqlalchemy import select
    from app.identity.models import ApiToken

    firm = make_org(Role.FIRM)
    secret = firm.token.split("_", 2)[2]
    with platform.db.read() as session:
        stored = session.scalars(select(ApiToken)).all()
    assert all(secret.encode() not in row.secret_hash for row in stored)
    assert all(len(row.secret_hash) == 32 for row in stored)
