"""Each role against each route (contract section 1): 403 exactly where the
role may not act. The table is written from the contract, not read from the
code, and must name every protected route the app serves."""

from __future__ import annotations

import pytest

from app.identity.models import Role
from tests.app.test_auth import protected_routes

F, C, R, A = Role.FIRM, Role.CUSTOMS, Role.REGULATOR, Role.ADMIN
READERS = {F, C, R}
ALL = {F, C, R, A}
D = "/api/v1/documents/doc_x"

MATRIX = [
    ("POST", "/api/v1/documents", {F}),
    ("GET", "/api/v1/documents", READERS),
    ("GET", D, READERS),
    ("POST", f"{D}/versions", {F}),
    ("GET", f"{D}/versions", READERS),
    ("GET", f"{D}/redacted", READERS),
    ("POST", f"{D}/cancel", {F}),
    ("POST", f"{D}/transfers", {F}),
    ("GET", f"{D}/transfers", READERS),
    ("POST", f"{D}/transfers/x/accept", {F}),
    ("POST", f"{D}/transfers/x/reject", {F}),
    ("POST", f"{D}/surrender", {F}),
    ("POST", f"{D}/signatures", {F}),
    ("GET", f"{D}/signatures", READERS),
    ("GET", f"{D}/accesses", {F, R}),
    ("POST", "/api/v1/consents", {F}),
    ("GET", "/api/v1/consents", READERS),
    ("GET", "/api/v1/consents/x", READERS),
    ("GET", "/api/v1/consents/x/documents", READERS),
    ("POST", "/api/v1/consents/x/revoke", {F}),
    ("POST", "/api/v1/consents/x/limit", {F}),
    ("POST", "/api/v1/keys", {F}),
    ("GET", "/api/v1/keys", {F}),
    ("POST", "/api/v1/keys/x/revoke", {F}),
    ("POST", "/api/v1/devices", {C, A}),
    ("GET", "/api/v1/devices", {C, R, A}),
    ("GET", "/api/v1/devices/quarantine", {C, R}),
    ("GET", "/api/v1/devices/dev-1", {C, R, A}),
    ("POST", "/api/v1/devices/dev-1/revoke", {C, A}),
    ("GET", "/api/v1/devices/dev-1/events", {C, R}),
    ("GET", "/api/v1/audit/entries", READERS),
    ("GET", "/api/v1/audit/bundles", READERS),
    ("GET", "/api/v1/ledger/entries", READERS),
    ("GET", "/api/v1/ledger/entries/0", READERS),
    ("POST", "/api/v1/orgs", {A}),
    ("GET", "/api/v1/orgs", {R, A}),
    # Every role may ask about an organisation and its tokens; only its own
    # answer (others 404: tests/app/identity/test_orgs_api.py).
    ("GET", "/api/v1/orgs/org_x", ALL),
    ("POST", "/api/v1/orgs/org_x/tokens", {A}),
    ("GET", "/api/v1/orgs/org_x/tokens", ALL),
    ("POST", "/api/v1/orgs/org_x/tokens/x/revoke", ALL),
    ("GET", "/metrics", {A}),
]


def _shape(path: str) -> str:
    return "/".join("*" if part.startswith(("doc_", "org_", "x", "0", "dev-")) else part
                    for part in path.split("/"))


def test_matrix_names_every_protected_route(app):
    served = {(method, _shape(path)) for method, path in protected_routes(app)}
    listed = {(method, _shape(path)) for method, path, _ in MATRIX}
    assert served <= listed, f"routes missing from the matrix: {sorted(served - listed)}"


@pytest.mark.parametrize("method, path, allowed", MATRIX, ids=[f"{m} {p}" for m, p, _ in MATRIX])
def test_each_role_on_each_route(client, make_org, snapshot, method, path, allowed):
    for role in Role:
        org = make_org(role)
        before = snapshot()
        response = client.open(path, method=method, headers=org.headers,
                               json={} if method == "POST" else None)
        assert response.status_code != 500
        if role in allowed:
            assert response.status_code not in (401, 403), (role, response.get_json())
        else:
            assert response.status_code == 403, (role, response.status_code)
            assert snapshot() == before  # a refused role writes nothing
