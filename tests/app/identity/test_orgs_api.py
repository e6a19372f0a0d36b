"""Organisations and tokens over HTTP: an admin onboards a firm and rotates its
token; every organisation sees its own tokens and revokes a leaked one; nobody
learns about another organisation's tokens; secrets are shown once."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

import ledger

from app.identity.models import ApiToken
from app.identity.tokens import hash_secret, parse_token

ORGS = "/api/v1/orgs"


def _create_org(client, admin, name="Qianhai Export Trading Co.", role="firm", **headers):
    response = client.post(ORGS, json={"name": name, "role": role},
                           headers={**admin.headers, **headers})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_an_admin_onboards_a_firm_whose_token_works_at_once(client, cast, check_receipt,
                                                             platform):
    created = _create_org(client, cast.admin)
    assert created["role"] == "firm" and created["name"] == "Qianhai Export Trading Co."
    entries = check_receipt(created["receipt"], count=2)
    assert [(e["type"], e["actor"], e["org"]) for e in entries] == [
        ("org.created", cast.admin.org_id, created["id"]),
        ("token.created", cast.admin.org_id, created["id"])]
    assert entries[1]["token"] == created["token_id"]
    assert all(created["name"] not in repr(e) and created["token"] not in repr(e)
               for e in entries)  # no names, no secrets on the ledger
    # Only the secret's hash is stored.
    parsed = parse_token(created["token"])
    with platform.db.read() as session:
        stored = session.get(ApiToken, parsed.token_id)
        assert stored.secret_hash == hash_secret(parsed.secret)
    response = client.get("/api/v1/documents", headers=_bearer(created["token"]))
    assert response.status_code == 200


def test_a_retried_creation_writes_once_and_never_repeats_the_secret(client, cast, snapshot):
    first = _create_org(client, cast.admin, **{"Idempotency-Key": "onboard-42"})
    before = snapshot()
    again = client.post(ORGS, json={"name": "Qianhai Export Trading Co.", "role": "firm"},
                        headers={**cast.admin.headers, "Idempotency-Key": "onboard-42"})
    assert again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    replayed = again.get_json()
    assert "token" not in replayed and "token" in first
    assert replayed == {key: value for key, value in first.items() if key != "token"}
    assert snapshot() == before


def test_organisations_are_listed_newest_first_by_page_and_role(client, cast, clock):
    names = []
    for n in range(3):
        clock.advance(seconds=1)
        names.append(_create_org(client, cast.admin, name=f"Firm {n}")["name"])
    seen, cursor = [], None
    while True:
        query = "?role=firm&limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = client.get(ORGS + query, headers=cast.regulator.headers).get_json()
        seen += [item["name"] for item in page["items"]]
        assert all(item["role"] == "firm" for item in page["items"])
        cursor = page["next"]
        if cursor is None:
            break
    # The cast's four firms were created before these three.
    assert seen[:3] == names[::-1] and len(seen) == 7
    customs = client.get(ORGS + "?role=customs", headers=cast.admin.headers).get_json()
    assert [item["id"] for item in customs["items"]] == [cast.customs.org_id]


def test_each_organisation_sees_itself_and_no_other(client, cast):
    own = client.get(f"{ORGS}/{cast.exporter.org_id}", headers=cast.exporter.headers)
    assert own.status_code == 200 and own.get_json()["name"] == "Shanghai Lotus Export Co."
    other = client.get(f"{ORGS}/{cast.importer.org_id}", headers=cast.exporter.headers)
    missing = client.get(f"{ORGS}/org_aaaaaaaaaaaaaaaa", headers=cast.exporter.headers)
    assert other.status_code == missing.status_code == 404  # existence does not leak
    for reader in (cast.admin, cast.regulator):
        response = client.get(f"{ORGS}/{cast.importer.org_id}", headers=reader.headers)
        assert response.status_code == 200


def test_an_admin_rotates_a_firms_token(client, cast, check_receipt, clock):
    exporter = cast.exporter
    clock.advance(minutes=1)
    issued = client.post(f"{ORGS}/{exporter.org_id}/tokens", json={"label": "ERP, 2026-12"},
                         headers=cast.admin.headers)
    assert issued.status_code == 201
    new = issued.get_json()
    (entry,) = check_receipt(new["receipt"], count=1)
    assert (entry["type"], entry["token"], entry["org"]) == (
        "token.created", new["id"], exporter.org_id)
    assert client.get("/api/v1/keys", headers=_bearer(new["token"])).status_code == 200
    old_id = parse_token(exporter.token).token_id
    revoked = client.post(f"{ORGS}/{exporter.org_id}/tokens/{old_id}/revoke",
                          headers=_bearer(new["token"]))
    assert revoked.status_code == 200 and revoked.get_json()["revoked_at"] is not None
    (entry,) = check_receipt(revoked.get_json()["receipt"], count=1)
    assert (entry["type"], entry["actor"], entry["token"]) == (
        "token.revoked", exporter.org_id, old_id)
    assert client.get("/api/v1/keys", headers=exporter.headers).status_code == 401
    listed = client.get(f"{ORGS}/{exporter.org_id}/tokens", headers=_bearer(new["token"]))
    assert [(t["id"], t["label"], t["revoked_at"] is None) for t in listed.get_json()] == [
        (old_id, None, False), (new["id"], "ERP, 2026-12", True)]
    assert all(set(t) == {"id", "org_id", "label", "created_at", "revoked_at", "expires_at",
                          "last_used_at"}
               for t in listed.get_json())  # never a secret or its hash


def test_an_organisation_revokes_the_token_it_is_using(client, cast):
    token_id = parse_token(cast.importer.token).token_id
    response = client.post(f"{ORGS}/{cast.importer.org_id}/tokens/{token_id}/revoke",
                           headers=cast.importer.headers)
    assert response.status_code == 200
    again = client.post(f"{ORGS}/{cast.importer.org_id}/tokens/{token_id}/revoke",
                        headers=cast.importer.headers)
    assert again.status_code == 401  # refused from the next request on


def test_another_organisations_tokens_are_not_found(client, cast, snapshot, platform):
    victim = cast.importer
    token_id = parse_token(victim.token).token_id
    before = snapshot()
    for path in (f"{ORGS}/{victim.org_id}/tokens",):
        for intruder in (cast.exporter, cast.regulator, cast.customs):
            assert client.get(path, headers=intruder.headers).status_code == 404
    for intruder in (cast.exporter, cast.regulator, cast.customs):
        # Through the victim's organisation, and by naming the token under its own.
        for org_id in (victim.org_id, intruder.org_id):
            response = client.post(f"{ORGS}/{org_id}/tokens/{token_id}/revoke",
                                   headers=intruder.headers)
            assert response.status_code == 404, (intruder.role, org_id)
    assert snapshot() == before
    with platform.db.read() as session:
        assert session.get(ApiToken, token_id).revoked_at is None
    assert client.get("/api/v1/keys", headers=victim.headers).status_code == 200


def test_revoking_twice_is_409_and_logs_once(client, cast, snapshot):
    token_id = parse_token(cast.bank.token).token_id
    path = f"{ORGS}/{cast.bank.org_id}/tokens/{token_id}/revoke"
    assert client.post(path, headers=cast.admin.headers).status_code == 200
    before = snapshot()
    response = client.post(path, headers=cast.admin.headers)
    assert response.status_code == 409
    assert "already revoked" in response.get_json()["message"]
    assert snapshot() == before


@pytest.mark.parametrize("body, errors", [
    ({}, {"name": ["Missing data for required field."],
          "role": ["Missing data for required field."]}),
    ({"name": "  ", "role": "firm"}, {"name": ["Must be 1 to 200 characters."]}),
    ({"name": "x" * 201, "role": "firm"}, {"name": ["Must be 1 to 200 characters."]}),
    ({"name": "Acme\nLtd", "role": "firm"}, {"name": [
        "Must not contain control characters, line breaks or unpaired surrogates."]}),
    ({"name": "Acme", "role": "owner"}, {"role": [
        "Must be one of: firm, customs, regulator, admin."]}),
    ({"name": "Acme", "role": "firm", "country": "CN"}, {"country": ["Unknown field."]}),
    ({"name": 7, "role": "firm"}, {"name": ["Not a valid string."]}),
])
def test_a_bad_organisation_is_422_naming_the_field(client, cast, snapshot, body, errors):
    before = snapshot()
    response = client.post(ORGS, json=body, headers=cast.admin.headers)
    assert response.status_code == 422
    assert response.get_json()["errors"]["json"] == errors
    assert snapshot() == before


@pytest.mark.parametrize("path, body, status, field", [
    (f"{ORGS}/org_aaaaaaaaaaaaaaaa/tokens", {}, 404, None),
    (f"{ORGS}/not-an-org/tokens", {}, 404, None),
    ("{exporter}/tokens", {"label": ""}, 422, "label"),
    ("{exporter}/tokens", {"label": "a\x00b"}, 422, "label"),
    ("{exporter}/tokens", {"scope": "read"}, 422, "scope"),
    ("{exporter}/tokens/aaaaaaaaaaaaaaaa/revoke", None, 404, None),
    ("{exporter}/tokens/NOT-A-TOKEN/revoke", None, 404, None),
])
def test_bad_token_requests_write_nothing(client, cast, snapshot, path, body, status, field):
    path = path.replace("{exporter}", f"{ORGS}/{cast.exporter.org_id}")
    before = snapshot()
    response = client.post(path, json=body, headers=cast.admin.headers)
    assert response.status_code == status, response.get_json()
    if field:
        assert field in response.get_json()["errors"]["json"]
    assert snapshot() == before


def test_the_stored_idempotent_answer_holds_no_secret(client, cast, platform):
    from app.idempotency import IdempotencyRecord
    issued = client.post(f"{ORGS}/{cast.exporter.org_id}/tokens", json={},
                         headers={**cast.admin.headers, "Idempotency-Key": "rotate-1"})
    secret = parse_token(issued.get_json()["token"]).secret
    with platform.db.read() as session:
        bodies = list(session.scalars(select(IdempotencyRecord.body)))
    assert bodies and all(secret not in body for body in bodies)


def test_a_token_with_an_expiry_works_until_then_and_is_401_after(client, cast, clock,
                                                                   check_receipt):
    clock.advance(minutes=1)  # after the exporter's first token, so listed after it
    expires_at = (clock() + timedelta(days=30)).isoformat()
    issued = client.post(f"{ORGS}/{cast.exporter.org_id}/tokens",
                         json={"label": "audit firm, 30 days", "expires_at": expires_at},
                         headers=cast.admin.headers).get_json()
    assert issued["expires_at"] == expires_at
    (entry,) = check_receipt(issued["receipt"], count=1)
    assert entry["expires_at"] == ledger.utc_timestamp(clock() + timedelta(days=30))
    headers = _bearer(issued["token"])
    clock.advance(days=29, hours=23, minutes=59)
    assert client.get("/api/v1/keys", headers=headers).status_code == 200
    clock.advance(minutes=1)
    refused = client.get("/api/v1/keys", headers=headers)
    assert refused.status_code == 401 and refused.get_json()["message"] == "expired bearer token"
    listed = client.get(f"{ORGS}/{cast.exporter.org_id}/tokens", headers=cast.exporter.headers)
    assert [t["expires_at"] for t in listed.get_json()] == [None, expires_at]


@pytest.mark.parametrize("expires_at, status, message", [
    ("now", 422, "Must be in the future."),
    ("2026-01-01T00:00:00Z", 422, "Must be in the future."),
    ("2027-01-01T00:00:00", 422, "Not a valid aware datetime."),
    ("next year", 422, "Not a valid datetime."),
    ("0001-01-01T00:00:00+05:00", 422, "Out of range once converted to UTC."),
])
def test_an_expiry_that_is_not_a_future_time_is_422(client, cast, clock, snapshot, expires_at,
                                                    status, message):
    if expires_at == "now":
        expires_at = clock().isoformat()
    before = snapshot()
    response = client.post(f"{ORGS}/{cast.exporter.org_id}/tokens",
                           json={"expires_at": expires_at}, headers=cast.admin.headers)
    assert response.status_code == status
    assert response.get_json()["errors"]["json"] == {"expires_at": [message]}
    assert snapshot() == before


def _last_used(client, org) -> dict[str, datetime | None]:
    listed = client.get(f"{ORGS}/{org.org_id}/tokens", headers=org.headers)
    assert listed.status_code == 200
    return {token["id"]: token["last_used_at"] and datetime.fromisoformat(token["last_used_at"])
            for token in listed.get_json()}


def test_a_token_shows_when_it_was_last_used_to_the_hour(client, cast, clock):
    admin, exporter = cast.admin, cast.exporter
    spare = client.post(f"{ORGS}/{exporter.org_id}/tokens", json={"label": "spare"},
                        headers=admin.headers).get_json()
    token_id = parse_token(exporter.token).token_id
    started = clock()
    assert _last_used(client, exporter) == {token_id: started, spare["id"]: None}

    clock.advance(minutes=59)  # within the hour: not written again
    assert client.get("/api/v1/keys", headers=exporter.headers).status_code == 200
    assert _last_used(client, exporter)[token_id] == started

    clock.advance(minutes=2)
    refused = client.post("/api/v1/keys", json={}, headers=exporter.headers)
    assert refused.status_code == 422  # a refused request still used the token
    assert _last_used(client, exporter) == {token_id: clock(), spare["id"]: None}


def test_last_use_is_not_on_the_ledger(client, cast, clock):
    before = client.get("/api/v1/ledger/checkpoint").get_json()["size"]
    for _ in range(3):
        clock.advance(hours=2)
        assert client.get("/api/v1/keys", headers=cast.exporter.headers).status_code == 200
    assert client.get("/api/v1/ledger/checkpoint").get_json()["size"] == before


@pytest.mark.parametrize("presented", ["wrong secret", "revoked"])
def test_a_refused_token_is_not_recorded_as_used(client, cast, platform, presented):
    exporter = cast.exporter
    token_id = parse_token(exporter.token).token_id
    if presented == "revoked":
        assert client.post(f"{ORGS}/{exporter.org_id}/tokens/{token_id}/revoke",
                           headers=cast.admin.headers).status_code == 200
        headers = exporter.headers
    else:
        headers = _bearer(exporter.token[:-4] + "AAAA")
    assert client.get("/api/v1/keys", headers=headers).status_code == 401
    with platform.db.read() as session:
        assert session.get(ApiToken, token_id).last_used_at is None
