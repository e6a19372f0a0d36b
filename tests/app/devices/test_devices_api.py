"""The device registry over HTTP (contract section 6)."""

from __future__ import annotations

import base64
import dataclasses
import json

import pytest
from sqlalchemy import select

from app.devices import broker_config
from app.devices.models import Device, DeviceStatus
from app.identity.models import Role
from app.models import ALL_METADATA
from ledger.jws import generate_private_key, parse_compact, public_key_of, verify_jws
from ledger.publickeys import load_public_key

from .conftest import public_pem

API = "/api/v1/devices"


# --- registering ---------------------------------------------------------------------------

@pytest.mark.parametrize("alg, as_jwk", [("ES256", False), ("EdDSA", True), ("EdDSA", False),
                                         ("ES256", True)])
def test_registration_answers_the_device_its_credentials_and_a_receipt(
        register, cast, check_receipt, alg, as_jwk):
    device = register("scanner-01", alg=alg, as_jwk=as_jwk)
    body = device.body
    public = public_key_of(device.private_key, alg)
    assert body["device_id"] == "scanner-01" and body["alg"] == alg and body["kind"] == "scanner"
    assert body["owner_org_id"] == cast.customs.org_id and body["status"] == "active"
    assert body["public_jwk"] == public.to_jwk() and body["thumbprint"] == public.thumbprint()
    assert body["last_seq"] is None and body["revoked_at"] is None
    assert body["mqtt_username"] == "scanner-01" and len(body["mqtt_password"]) >= 32
    [entry] = check_receipt(body["receipt"], count=1)
    assert body["registration_ledger_index"] == body["receipt"]["entries"][0]["index"]
    assert {k: entry[k] for k in ("type", "actor", "device", "owner", "alg", "kind",
                                  "thumbprint")} == {
        "type": "device.registered", "actor": cast.customs.org_id, "device": "scanner-01",
        "owner": cast.customs.org_id, "alg": alg, "kind": "scanner",
        "thumbprint": public.thumbprint()}
    assert body["mqtt_password"] not in json.dumps(body["receipt"])


def test_the_mqtt_password_is_stored_only_as_a_mosquitto_hash(register, platform):
    device = register("seal-07", kind="seal")
    with platform.db.read() as session:
        stored = session.get(Device, "seal-07").mqtt_password_hash
    assert stored.startswith("$7$101$")
    assert broker_config.password_matches(device.mqtt_password, stored)
    assert not broker_config.password_matches(device.mqtt_password + "x", stored)
    assert device.mqtt_password not in _every_stored_value(platform)


def test_a_replayed_registration_does_not_repeat_the_password(client, cast, platform, snapshot):
    key = public_pem(generate_private_key("EdDSA"), "EdDSA")
    request = {"device_id": "sensor-3", "alg": "EdDSA", "public_key": key,
               "kind": "cold_chain_sensor"}
    headers = {**cast.customs.headers, "Idempotency-Key": "register-sensor-3"}
    first = client.post(API, headers=headers, json=request)
    assert first.status_code == 201 and "mqtt_password" in first.get_json()
    before = snapshot()
    again = client.post(API, headers=headers, json=request)
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    replayed = again.get_json()
    assert "mqtt_password" not in replayed and replayed["mqtt_username"] == "sensor-3"
    assert replayed["receipt"] == first.get_json()["receipt"]
    assert snapshot() == before
    assert first.get_json()["mqtt_password"] not in _every_stored_value(platform)


def test_a_taken_id_is_409_and_writes_nothing(client, register, cast, snapshot):
    register("dup-1")
    before = snapshot()
    response = client.post(API, headers=cast.customs.headers, json={
        "device_id": "dup-1", "alg": "ES256", "kind": "scanner",
        "public_key": public_pem(generate_private_key("ES256"), "ES256")})
    assert response.status_code == 409 and "dup-1" in response.get_json()["message"]
    assert snapshot() == before


def _good(**changes) -> dict:
    body = {"device_id": "dev-ok", "alg": "ES256", "kind": "scanner",
            "public_key": public_pem(generate_private_key("ES256"), "ES256")}
    body.update(changes)
    return {k: v for k, v in body.items() if v is not _MISSING}


_MISSING = object()
_ED_PRIVATE = generate_private_key("EdDSA")


@pytest.mark.parametrize("body, field", [
    (_good(alg="RS256"), "alg"),
    (_good(alg="none"), "alg"),
    (_good(alg=_MISSING), "alg"),
    (_good(public_key="not a key"), "public_key"),
    (_good(public_key=""), "public_key"),
    (_good(public_key=42), "public_key"),
    (_good(public_key=[1, 2]), "public_key"),
    (_good(public_key="[" * 3000), "public_key"),  # JWK text nested too deeply to parse
    (_good(public_key={"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"}), "public_key"),
    (_good(public_key=_ED_PRIVATE.export_key(format="PEM")), "public_key"),
    (_good(alg="EdDSA"), "public_key"),  # a P-256 key registered for EdDSA
    (_good(public_key=public_key_of(_ED_PRIVATE, "EdDSA").to_jwk() | {"d": "AAAA"}),
     "public_key"),
    (_good(public_key=_MISSING), "public_key"),
    (_good(device_id=""), "device_id"),
    (_good(device_id="x" * 65), "device_id"),
    (_good(device_id="a/b"), "device_id"),
    (_good(device_id="a b"), "device_id"),
    (_good(device_id="caf\u00e9"), "device_id"),
    (_good(device_id="dev+1"), "device_id"),
    (_good(device_id="dev#"), "device_id"),
    (_good(device_id="quarantine"), "device_id"),
    (_good(device_id=".."), "device_id"),
    (_good(device_id="."), "device_id"),
    (_good(device_id=7), "device_id"),
    (_good(device_id=_MISSING), "device_id"),
    (_good(kind=""), "kind"),
    (_good(kind="k" * 33), "kind"),
    (_good(kind="Scanner!"), "kind"),
    (_good(kind=_MISSING), "kind"),
    (_good(kind="scanner\n"), "kind"),  # no control character stored or logged
    (_good(kind="k" * 32 + "\n"), "kind"),  # 33 characters: no longer fits the column
    # The P-256 point at infinity: every signature would verify with it.
    (_good(public_key={"kty": "EC", "crv": "P-256", "x": "A" * 43, "y": "A" * 43}),
     "public_key"),
    (_good(colour="blue"), "colour"),
])
def test_bad_registrations_are_422_naming_the_field(client, cast, snapshot, body, field):
    before = snapshot()
    response = client.post(API, headers=cast.customs.headers, json=body)
    assert response.status_code == 422, response.get_json()
    assert field in response.get_json()["errors"]["json"]
    assert snapshot() == before


def test_not_json_is_4xx_and_writes_nothing(client, cast, snapshot):
    before = snapshot()
    response = client.post(API, data=b"{nope", headers={
        **cast.customs.headers, "Content-Type": "application/json"})
    assert 400 <= response.status_code < 500
    assert snapshot() == before


def test_the_gateways_mqtt_user_name_cannot_name_a_device(client, cast, platform, snapshot,
                                                          monkeypatch):
    monkeypatch.setattr(platform, "config",
                        dataclasses.replace(platform.config, mqtt_username="tz-gateway"))
    before = snapshot()
    response = client.post(API, headers=cast.customs.headers, json=_good(device_id="tz-gateway"))
    assert response.status_code == 422 and "device_id" in response.get_json()["errors"]["json"]
    assert snapshot() == before


def test_an_admin_registers_for_a_customs_owner(client, cast, register, check_receipt):
    device = register("port-gate-1", as_org=cast.admin, owner_org_id=cast.customs.org_id)
    assert device.body["owner_org_id"] == cast.customs.org_id
    [entry] = check_receipt(device.body["receipt"])
    assert entry["actor"] == cast.admin.org_id and entry["owner"] == cast.customs.org_id
    seen = client.get(f"{API}/port-gate-1", headers=cast.customs.headers)
    assert seen.status_code == 200


@pytest.mark.parametrize("who, owner", [("customs", "other_customs"), ("admin", "exporter"),
                                        ("admin", "nobody"), ("admin", "nul"),
                                        ("admin", "surrogate")])
def test_owner_must_be_a_customs_org_and_only_admins_choose_it(client, cast, make_org, snapshot,
                                                               who, owner):
    other_customs = make_org(Role.CUSTOMS, "Other Customs")
    owners = {"other_customs": other_customs.org_id, "exporter": cast.exporter.org_id,
              "nobody": "org_doesnotexist00", "nul": "org_\x00", "surrogate": "org_\ud800"}
    before = snapshot()
    response = client.post(API, headers=getattr(cast, who).headers,
                           json=_good(owner_org_id=owners[owner]))
    assert response.status_code == 422
    assert "owner_org_id" in response.get_json()["errors"]["json"]
    assert snapshot() == before


# --- revoking ------------------------------------------------------------------------------

def test_revocation_is_notarized_and_takes_effect_in_the_registry(client, cast, register, platform,
                                                                  check_receipt, snapshot):
    register("seal-1", kind="seal")
    response = client.post(f"{API}/seal-1/revoke", headers=cast.customs.headers)
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "revoked" and body["revoked_at"] and "mqtt_password" not in body
    [entry] = check_receipt(body["receipt"], count=1)
    assert (entry["type"], entry["device"], entry["actor"]) == (
        "device.revoked", "seal-1", cast.customs.org_id)
    with platform.db.read() as session:  # what the gateway reads for the next event
        assert session.get(Device, "seal-1").status == DeviceStatus.REVOKED
    before = snapshot()
    again = client.post(f"{API}/seal-1/revoke", headers=cast.customs.headers)
    assert again.status_code == 409
    assert snapshot() == before


def test_customs_revokes_only_its_own_devices_admin_any(client, cast, make_org, register,
                                                        snapshot):
    register("mine-1")
    register("mine-2")
    other = make_org(Role.CUSTOMS, "Other Customs")
    before = snapshot()
    assert client.post(f"{API}/mine-1/revoke", headers=other.headers).status_code == 404
    assert client.post(f"{API}/nothing/revoke", headers=cast.customs.headers).status_code == 404
    assert snapshot() == before
    assert client.post(f"{API}/mine-2/revoke", headers=cast.admin.headers).status_code == 200


# --- reading the registry ------------------------------------------------------------------

def test_listing_is_newest_first_paginated_and_scoped(client, cast, make_org, register):
    other = make_org(Role.CUSTOMS, "Other Customs")
    for n in range(3):
        register(f"own-{n}")
    register("theirs-0", as_org=other)
    client.post(f"{API}/own-1/revoke", headers=cast.customs.headers)

    page = client.get(f"{API}?limit=2", headers=cast.customs.headers).get_json()
    assert [d["device_id"] for d in page["items"]] == ["own-2", "own-1"]
    rest = client.get(f"{API}?limit=2&before={page['next']}",
                      headers=cast.customs.headers).get_json()
    assert [d["device_id"] for d in rest["items"]] == ["own-0"] and rest["next"] is None
    revoked = client.get(f"{API}?status=revoked", headers=cast.customs.headers).get_json()
    assert [d["device_id"] for d in revoked["items"]] == ["own-1"]
    for reader in (cast.regulator, cast.admin):
        everything = client.get(API, headers=reader.headers).get_json()["items"]
        assert [d["device_id"] for d in everything] == ["theirs-0", "own-2", "own-1", "own-0"]
    assert client.get(API, headers=other.headers).get_json()["items"][0]["device_id"] == "theirs-0"


def test_one_device_is_visible_to_its_owner_regulators_and_admins(client, cast, make_org,
                                                                   register):
    device = register("scanner-9")
    other = make_org(Role.CUSTOMS, "Other Customs")
    for reader in (cast.customs, cast.regulator, cast.admin):
        response = client.get(f"{API}/scanner-9", headers=reader.headers)
        assert response.status_code == 200
        assert response.get_json()["public_jwk"] == device.body["public_jwk"]
        assert "mqtt_password" not in response.get_json()
    assert client.get(f"{API}/scanner-9", headers=other.headers).status_code == 404
    assert client.get(f"{API}/unknown", headers=cast.regulator.headers).status_code == 404


@pytest.mark.parametrize("query", ["limit=0", "limit=201", "limit=x", "before=-1", "before=x",
                                   "status=lost", "kind=Bad!", "stauts=revoked"])
def test_bad_list_queries_are_422(client, cast, query):
    response = client.get(f"{API}?{query}", headers=cast.customs.headers)
    assert response.status_code == 422
    assert query.split("=")[0] in response.get_json()["errors"]["query"]


@pytest.mark.parametrize("method, path, status", [
    # A NUL in an id or a filter: PostgreSQL refuses it in any query.
    ("get", f"{API}/scan%00ner", 404),
    ("get", f"{API}/scan%00ner/events", 404),
    ("post", f"{API}/scan%00ner/revoke", 404),
    ("get", f"{API}/quarantine?device=scan%00ner", 422),
    ("get", f"{API}/quarantine?reason=re%00voked", 422),
    # Cursors beyond the columns: BIGINT ledger indexes, an INTEGER quarantine id.
    ("get", f"{API}?before={2**63}", 422),
    ("get", f"{API}/scanner/events?before={2**63}", 422),
    ("get", f"{API}/quarantine?before={2**63}", 422),
    ("get", f"{API}/quarantine?before={2**31}", 422),
])
def test_ids_filters_and_cursors_no_query_takes_are_4xx(client, cast, register, snapshot,
                                                        method, path, status):
    register("scanner")
    before = snapshot()
    for who in (cast.customs, cast.regulator if method == "get" else cast.admin):
        response = getattr(client, method)(path, headers=who.headers)
        assert response.status_code == status, response.get_json()
    assert snapshot() == before


# --- events --------------------------------------------------------------------------------

def test_events_are_newest_first_paginated_with_jws_and_proofs(client, cast, register,
                                                               notarize_event, check_receipt):
    device = register("scanner-ev", alg="EdDSA")
    indexes = [notarize_event(device, seq) for seq in (1, 2, 5)]
    page = client.get(f"{API}/scanner-ev/events?limit=2", headers=cast.customs.headers).get_json()
    assert [e["seq"] for e in page["items"]] == [5, 2]
    assert [e["ledger_index"] for e in page["items"]] == indexes[:0:-1]
    assert page["next"] == indexes[1]
    first = page["items"][0]
    assert set(first) == {"ledger_index", "seq", "event_type", "shipment", "device_ts",
                          "received_at", "jws"}
    jwk = device.body["public_jwk"]
    payload = json.loads(verify_jws(parse_compact(first["jws"]), load_public_key("EdDSA", jwk)))
    assert payload["seq"] == 5 and payload["device_id"] == "scanner-ev"
    entries = check_receipt(page["receipt"], count=2)
    assert sorted((e["type"], e["seq"]) for e in entries) == [("device.event", 2),
                                                               ("device.event", 5)]
    rest = client.get(f"{API}/scanner-ev/events?limit=2&before={page['next']}",
                      headers=cast.regulator.headers).get_json()
    assert [e["seq"] for e in rest["items"]] == [1] and rest["next"] is None


def test_events_of_a_device_without_events_and_of_others_devices(client, cast, make_org, register):
    register("quiet-1")
    empty = client.get(f"{API}/quiet-1/events", headers=cast.customs.headers).get_json()
    assert empty == {"items": [], "receipt": None, "next": None}
    other = make_org(Role.CUSTOMS, "Other Customs")
    assert client.get(f"{API}/quiet-1/events", headers=other.headers).status_code == 404
    assert client.get(f"{API}/nothing/events", headers=cast.regulator.headers).status_code == 404


# --- quarantine ----------------------------------------------------------------------------

def test_quarantine_is_scoped_filtered_and_paginated(client, cast, make_org, register,
                                                     quarantine_message):
    register("mine-q")
    other = make_org(Role.CUSTOMS, "Other Customs")
    register("theirs-q", as_org=other)
    big = b"\x00\xffnot a jws" * 100
    quarantine_message("mine-q", "bad_signature", raw=big, seq=4)
    quarantine_message("mine-q", "replay", seq=4)
    quarantine_message("theirs-q", "revoked")
    quarantine_message("never-registered", "unknown_device")

    mine = client.get(f"{API}/quarantine", headers=cast.customs.headers).get_json()
    assert [(q["topic_device_id"], q["reason"]) for q in mine["items"]] == [
        ("mine-q", "replay"), ("mine-q", "bad_signature")]
    oldest = mine["items"][1]
    assert base64.b64decode(oldest["raw"]) == big[:256] and oldest["raw_size"] == len(big)
    assert oldest["seq"] == 4 and oldest["detail"] == "test: bad_signature"
    everything = client.get(f"{API}/quarantine", headers=cast.regulator.headers).get_json()
    assert [q["topic_device_id"] for q in everything["items"]] == [
        "never-registered", "theirs-q", "mine-q", "mine-q"]
    reason = client.get(f"{API}/quarantine?reason=replay", headers=cast.regulator.headers)
    assert [q["reason"] for q in reason.get_json()["items"]] == ["replay"]
    device = client.get(f"{API}/quarantine?device=theirs-q", headers=cast.customs.headers)
    assert device.get_json()["items"] == []
    page = client.get(f"{API}/quarantine?limit=3", headers=cast.regulator.headers).get_json()
    rest = client.get(f"{API}/quarantine?limit=3&before={page['next']}",
                      headers=cast.regulator.headers).get_json()
    assert len(page["items"]) == 3 and len(rest["items"]) == 1 and rest["next"] is None


@pytest.mark.parametrize("query", ["limit=0", "before=-2", "reason=" + "r" * 33, "device=",
                                   "resaon=replay"])
def test_bad_quarantine_queries_are_422(client, cast, query):
    response = client.get(f"{API}/quarantine?{query}", headers=cast.regulator.headers)
    assert response.status_code == 422
    assert query.split("=")[0] in response.get_json()["errors"]["query"]


def test_an_unknown_events_parameter_is_422_naming_it(client, cast, register):
    register("scanner-7")
    response = client.get(f"{API}/scanner-7/events?limt=1", headers=cast.customs.headers)
    assert response.status_code == 422
    assert response.get_json()["errors"]["query"] == {"limt": ["Unknown field."]}


def _every_stored_value(platform) -> str:
    """Every row of every table as text: a secret must appear nowhere in it."""
    dump = []
    with platform.db.read() as session:
        for metadata in ALL_METADATA:
            for table in metadata.tables.values():
                for row in session.execute(select(table)):
                    dump.append(repr(tuple(row)))
    return "\n".join(dump)
