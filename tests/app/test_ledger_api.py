"""The ledger HTTP API as an independent client sees it (contract section 3)."""

from __future__ import annotations

import base64

import pytest
from sqlalchemy import event

import ledger
from app.identity.models import Role


def b64(value: str) -> bytes:
    return base64.b64decode(value, validate=True)


@pytest.fixture
def regulator(make_org):
    return make_org(Role.REGULATOR, "Zone Regulator")


@pytest.fixture
def filled(make_org):
    """Three firms: a log of 6 entries (org.created + token.created each)."""
    return [make_org(Role.FIRM, f"Firm {n}") for n in range(3)]


def test_key_and_checkpoint_verify_with_the_verifier_key(client, filled):
    key = client.get("/api/v1/ledger/key").get_json()
    assert len(b64(key["public_key"])) == 32
    assert key["verifier_key"] == ledger.verifier_key(key["origin"], b64(key["public_key"]))
    body = client.get("/api/v1/ledger/checkpoint").get_json()
    verifier = ledger.NoteVerifier.from_verifier_key(key["verifier_key"])
    checkpoint = ledger.open_checkpoint(body["checkpoint"], verifier)
    assert checkpoint.size == body["size"] == 6
    assert checkpoint.root_hash == b64(body["root_hash"])


def test_every_entry_proves_into_the_checkpoint_and_sizes_are_consistent(client, filled, regulator):
    size = client.get("/api/v1/ledger/checkpoint").get_json()["size"]
    root = b64(client.get("/api/v1/ledger/checkpoint").get_json()["root_hash"])
    page = client.get(f"/api/v1/ledger/entries?limit={size}", headers=regulator.headers).get_json()
    assert [e["index"] for e in page["entries"]] == list(range(size))
    for entry in page["entries"]:
        data = b64(entry["leaf_data"])
        assert ledger.leaf_hash(data) == b64(entry["leaf_hash"])
        assert ledger.decode_entry(data) == entry["entry"]
        proof = client.get(f"/api/v1/ledger/proofs/inclusion?index={entry['index']}"
                           f"&tree_size={size}").get_json()
        assert b64(proof["root_hash"]) == root
        ledger.verify_inclusion(b64(proof["leaf_hash"]), entry["index"], size,
                                [b64(p) for p in proof["proof"]], root)
    for first in range(size + 1):
        for second in range(first, size + 1):
            answer = client.get(f"/api/v1/ledger/proofs/consistency?first={first}"
                                f"&second={second}").get_json()
            ledger.verify_consistency(first, second, [b64(p) for p in answer["proof"]],
                                      b64(answer["first_root"]), b64(answer["second_root"]))


def test_firm_sees_only_entries_naming_it(client, filled, regulator):
    firm = filled[1]
    page = client.get("/api/v1/ledger/entries", headers=firm.headers).get_json()
    assert [e["index"] for e in page["entries"]] == [2, 3]
    assert all(e["entry"]["org"] == firm.org_id for e in page["entries"])
    assert client.get("/api/v1/ledger/entries/2", headers=firm.headers).status_code == 200
    assert client.get("/api/v1/ledger/entries/0", headers=firm.headers).status_code == 404


def test_an_unknown_entries_parameter_is_422_naming_it(client, filled, regulator):
    answer = client.get("/api/v1/ledger/entries?strat=4", headers=regulator.headers)
    assert answer.status_code == 422
    assert answer.get_json()["errors"]["query"] == {"strat": ["Unknown field."]}


def test_entry_pages_continue_with_next(client, filled, regulator):
    first = client.get("/api/v1/ledger/entries?limit=4", headers=regulator.headers).get_json()
    assert [e["index"] for e in first["entries"]] == [0, 1, 2, 3]
    assert first["next"] == 4
    rest = client.get("/api/v1/ledger/entries?start=4&limit=4", headers=regulator.headers).get_json()
    assert [e["index"] for e in rest["entries"]] == [4, 5, 6, 7]  # the regulator's own two
    assert rest["next"] is None


@pytest.mark.parametrize("query, status, field", [
    ("proofs/inclusion?index=6&tree_size=6", 400, None),
    ("proofs/inclusion?index=0&tree_size=7", 404, None),
    ("proofs/inclusion?index=-1&tree_size=6", 422, "index"),
    ("proofs/inclusion?index=abc&tree_size=6", 422, "index"),
    ("proofs/inclusion?index=01&tree_size=6", 422, "index"),
    ("proofs/inclusion?index=%D9%A1&tree_size=6", 422, "index"),  # an Arabic-Indic digit one
    ("proofs/inclusion?index=1", 422, "tree_size"),
    ("proofs/inclusion?index=0&tree_size=99999999999999999999999999", 404, None),
    # more digits than int() converts (4300): a ValueError on the fast path, was a 500
    ("proofs/inclusion?index=0&tree_size=" + "9" * 5000, 422, "tree_size"),
    ("proofs/inclusion?index=" + "9" * 5000 + "&tree_size=6", 422, "index"),
    ("proofs/consistency?first=5&second=4", 400, None),
    ("proofs/consistency?first=1&second=99", 404, None),
    ("proofs/consistency?first=x&second=4", 422, "first"),
    ("proofs/consistency?first=1.5&second=4", 422, "first"),
    ("proofs/consistency?first=1&second=" + "9" * 5000, 422, "second"),
])
def test_bad_proof_queries_are_4xx_json_naming_the_problem(client, filled, query, status, field):
    response = client.get(f"/api/v1/ledger/{query}")
    assert response.status_code == status
    body = response.get_json()
    assert body["code"] == status
    if field:
        assert field in body["errors"]["query"]
    else:
        assert body["message"]


@pytest.mark.parametrize("path, name", [
    ("proofs/inclusion?index=0&tree_size=", "tree_size"),
    ("entries?start=", "start"),
])
def test_an_integer_too_long_to_convert_is_422_saying_so(client, filled, regulator, path, name):
    response = client.get(f"/api/v1/ledger/{path}{'9' * 5000}", headers=regulator.headers)
    assert response.status_code == 422
    assert response.get_json()["errors"]["query"] == {name: ["Number too large."]}


def test_proofs_may_be_cached_and_errors_may_not(client, filled):
    # A proof between two tree sizes never changes; a 404 for a tree the log
    # has not reached yet must not be kept.
    proof = client.get("/api/v1/ledger/proofs/inclusion?index=1&tree_size=6&extra=ignored")
    assert proof.status_code == 200 and proof.is_json
    assert proof.headers["Cache-Control"] == "public, max-age=86400"
    consistency = client.get("/api/v1/ledger/proofs/consistency?first=2&second=6")
    assert consistency.headers["Cache-Control"] == "public, max-age=86400"
    beyond = client.get("/api/v1/ledger/proofs/inclusion?index=1&tree_size=7")
    assert beyond.status_code == 404 and beyond.headers["Cache-Control"] == "no-store"


def test_proof_routes_document_their_query(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    for path, names in (("inclusion", ["index", "tree_size"]), ("consistency", ["first", "second"])):
        operation = spec["paths"][f"/api/v1/ledger/proofs/{path}"]["get"]
        assert [(p["in"], p["name"], p["required"]) for p in operation["parameters"]] == [
            ("query", name, True) for name in names]
        assert {"200", "400", "404", "422"} <= set(operation["responses"])


@pytest.mark.parametrize("path, status", [
    ("entries/8", 404), ("entries/99999999999999999999999", 404), ("entries?start=abc", 422),
    ("entries?limit=0", 422), ("entries?limit=1001", 422),
    ("entries?start=99999999999999999999999", 200),
])
def test_bad_entry_queries_are_4xx_json(client, filled, regulator, path, status):
    response = client.get(f"/api/v1/ledger/{path}", headers=regulator.headers)
    assert response.status_code == status
    assert response.is_json


def test_unknown_route_is_json_404(client):
    response = client.get("/api/v1/nowhere")
    assert response.status_code == 404
    assert response.get_json()["code"] == 404


def test_openapi_document_and_docs_page_are_served_locally(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    assert "/api/v1/ledger/proofs/inclusion" in spec["paths"]
    assert spec["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    page = client.get("/api/v1/docs").get_data(as_text=True)
    assert "/api/v1/docs/assets/swagger-ui-bundle.js" in page
    assert "//cdn" not in page and "unpkg" not in page
    asset = client.get("/api/v1/docs/assets/swagger-ui-bundle.js")
    assert asset.status_code == 200 and len(asset.get_data()) > 100_000


def test_a_tree_the_log_reaches_later_is_served_once_it_exists(client, filled, make_org):
    # Proofs skip the size read for trees this process has seen; a larger one
    # is still refused until the log reaches it, and served afterwards.
    assert client.get("/api/v1/ledger/proofs/inclusion?index=0&tree_size=6").status_code == 200
    assert client.get("/api/v1/ledger/proofs/inclusion?index=0&tree_size=8").status_code == 404
    make_org(Role.FIRM, "Firm 3")  # two more entries
    answer = client.get("/api/v1/ledger/proofs/inclusion?index=7&tree_size=8")
    assert answer.status_code == 200 and answer.get_json()["tree_size"] == 8
    assert client.get("/api/v1/ledger/proofs/consistency?first=6&second=9").status_code == 404


def test_a_proof_over_rows_already_read_opens_no_connection(client, filled, platform):
    connections = []

    def opened(connection):
        connections.append(connection)

    engine = platform.db._autocommit_engine
    event.listen(engine, "engine_connect", opened)
    try:
        first = client.get("/api/v1/ledger/proofs/inclusion?index=3&tree_size=6")
        assert first.status_code == 200 and connections  # the size and the rows were read
        seen = len(connections)
        again = client.get("/api/v1/ledger/proofs/inclusion?index=3&tree_size=6")
        assert again.get_json() == first.get_json()
        assert len(connections) == seen
        client.get("/api/v1/ledger/proofs/inclusion?index=0&tree_size=6")  # leaf 0's row is new
        assert len(connections) == seen + 1
    finally:
        event.remove(engine, "engine_connect", opened)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # PostgreSQL keeps types
@pytest.mark.parametrize("edit, path, index", [
    ("UPDATE ledger_entries SET data = CAST(data AS TEXT) WHERE idx = 3",
     "/api/v1/ledger/entries/3", 3),
    ("UPDATE ledger_entries SET data = CAST(data AS TEXT) WHERE idx = 3",
     "/api/v1/ledger/entries?start=0&limit=5", 3),
    ("UPDATE ledger_tree SET hashes = hex(hashes) WHERE leaf_index = 3",  # 2's sibling
     "/api/v1/ledger/proofs/inclusion?index=2&tree_size=6", 3),
    ("UPDATE ledger_checkpoints SET root_hash = hex(root_hash) WHERE size = 8",  # the latest
     "/api/v1/ledger/checkpoint", 8),
    ("UPDATE ledger_checkpoints SET signed_at = 'yesterday' WHERE size = 8",
     "/api/v1/ledger/checkpoint", 8),
    ("UPDATE ledger_checkpoints SET signed_at = 5 WHERE size = 8",
     "/api/v1/ledger/checkpoint", 8),
], ids=["entry", "entries", "tree-row", "checkpoint-root", "checkpoint-time-text",
        "checkpoint-time-number"])
def test_a_value_edited_into_text_is_an_integrity_failure_naming_its_index(
        client, filled, regulator, platform, edit, path, index, caplog):
    # SQLite keeps whatever type an edit by hand leaves; the answer names where
    # the log is broken, as for any other damage, rather than a bare 500.
    from sqlalchemy import text
    with platform.db.write() as session:
        session.execute(text(edit))
    response = client.get(path, headers=regulator.headers)
    assert response.status_code == 500
    assert response.get_json()["message"] == f"ledger integrity failure at index {index}"
    assert f"ledger integrity failure at index {index}: " in caplog.text
    assert "Traceback" not in caplog.text
