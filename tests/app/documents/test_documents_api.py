"""Issuing, amending, cancelling and listing documents over HTTP."""

from __future__ import annotations

import pytest

from app.documents.types import DOCUMENT_TYPES
from ledger.disclosure import document_digest
from tests.app.conftest import example, owner_of


@pytest.mark.parametrize("doc_type", sorted(DOCUMENT_TYPES))
def test_each_type_is_issued_with_one_verifiable_entry(client, cast, submit, check_receipt,
                                                       doc_type):
    body = submit(doc_type)
    assert body["type"] == doc_type and body["status"] == "issued" and body["version"] == 1
    [entry] = check_receipt(body["receipt"], count=1)
    assert entry["type"] == "document.issued"
    assert entry["digest"] == body["digest"] and entry["document"] == body["id"]
    full = client.get(f"/api/v1/documents/{body['id']}",
                      headers=owner_of(doc_type, cast).headers).get_json()
    assert full["access"] == "full"
    assert document_digest(doc_type, full["content"], full["salts"]) == body["digest"]
    assert "content" not in str(entry)  # the ledger holds the digest, not the content


def test_amendments_chain_digests_and_never_edit_a_version(client, cast, submit, check_receipt):
    first = submit("commercial_invoice")
    content = example("commercial_invoice", cast)
    content["invoice_number"] = content["invoice_number"] + "-A"
    response = client.post(f"/api/v1/documents/{first['id']}/versions",
                           headers=cast.exporter.headers, json={"content": content})
    assert response.status_code == 201
    second = response.get_json()
    [entry] = check_receipt(second["receipt"], count=1)
    assert entry["type"] == "document.amended"
    assert entry["previous_digest"] == first["digest"] and second["version"] == 2
    versions = client.get(f"/api/v1/documents/{first['id']}/versions",
                          headers=cast.exporter.headers).get_json()
    assert [(v["version"], v["digest"], v["previous_digest"]) for v in versions] == [
        (1, first["digest"], None), (2, second["digest"], first["digest"])]


def test_cancelled_document_cannot_change(client, cast, submit, snapshot):
    body = submit("packing_list")
    cancel = client.post(f"/api/v1/documents/{body['id']}/cancel", headers=cast.exporter.headers)
    assert cancel.status_code == 200 and cancel.get_json()["status"] == "cancelled"
    before = snapshot()
    again = client.post(f"/api/v1/documents/{body['id']}/cancel", headers=cast.exporter.headers)
    amend = client.post(f"/api/v1/documents/{body['id']}/versions", headers=cast.exporter.headers,
                        json={"content": example("packing_list", cast)})
    assert (again.status_code, amend.status_code) == (409, 409)
    assert snapshot() == before


def test_listing_filters_and_pages(client, cast, submit):
    ids = [submit("commercial_invoice")["id"] for _ in range(3)] + [submit("packing_list")["id"]]
    page = client.get("/api/v1/documents?limit=2", headers=cast.exporter.headers).get_json()
    assert len(page["items"]) == 2 and page["next"]
    rest = client.get(f"/api/v1/documents?limit=10&cursor={page['next']}",
                      headers=cast.exporter.headers).get_json()
    assert {d["id"] for d in page["items"] + rest["items"]} == set(ids)
    invoices = client.get("/api/v1/documents?type=commercial_invoice",
                          headers=cast.exporter.headers).get_json()["items"]
    assert {d["id"] for d in invoices} == set(ids[:3])
    assert client.get("/api/v1/documents", headers=cast.importer.headers).get_json()["items"] == []
    everything = client.get("/api/v1/documents", headers=cast.regulator.headers).get_json()
    assert {d["id"] for d in everything["items"]} >= set(ids)


def test_customs_reads_declarations_addressed_to_it(client, cast, submit):
    declaration = submit("customs_declaration")
    submit("commercial_invoice")
    listed = client.get("/api/v1/documents", headers=cast.customs.headers).get_json()["items"]
    assert [d["id"] for d in listed] == [declaration["id"]]
    read = client.get(f"/api/v1/documents/{declaration['id']}", headers=cast.customs.headers)
    assert read.status_code == 200 and read.get_json()["access"] == "full"


# --- bad input: a clear 4xx, and nothing written -------------------------------------------

@pytest.mark.parametrize("mutate, field", [
    (lambda c: c.update(currency="usd"), "currency"),
    (lambda c: c.update(issue_date="23/11/2026"), "issue_date"),
    (lambda c: c.update(surprise="field"), "surprise"),
    (lambda c: c.pop("invoice_number"), "invoice_number"),
])
def test_malformed_content_is_422_naming_the_field(client, cast, snapshot, mutate, field):
    content = example("commercial_invoice", cast)
    mutate(content)
    before = snapshot()
    response = client.post("/api/v1/documents", headers=cast.exporter.headers,
                           json={"type": "commercial_invoice", "content": content})
    assert response.status_code == 422
    assert field in str(response.get_json()["errors"]["json"]["content"])
    assert snapshot() == before


@pytest.mark.parametrize("body, field", [
    ({"type": "love_letter", "content": {}}, "type"),
    ({"content": {}}, "type"),
    ({"type": "commercial_invoice"}, "content"),
    ({"type": "commercial_invoice", "content": [1, 2]}, "content"),
    ({"type": "commercial_invoice", "content": {}, "extra": 1}, "extra"),
])
def test_bad_envelopes_are_422(client, cast, snapshot, body, field):
    before = snapshot()
    response = client.post("/api/v1/documents", headers=cast.exporter.headers, json=body)
    assert response.status_code == 422
    assert field in response.get_json()["errors"]["json"]
    assert snapshot() == before


def test_not_json_is_4xx_not_500(client, cast, snapshot):
    before = snapshot()
    response = client.post("/api/v1/documents", headers={**cast.exporter.headers,
                           "Content-Type": "application/json"}, data=b"{not json")
    assert 400 <= response.status_code < 500
    assert snapshot() == before


def test_oversized_body_is_413(client, cast, snapshot):
    before = snapshot()
    content = example("commercial_invoice", cast)
    content["notes"] = "x" * (2 * 1024 * 1024)
    response = client.post("/api/v1/documents", headers=cast.exporter.headers,
                           json={"type": "commercial_invoice", "content": content})
    assert response.status_code == 413
    assert response.get_json()["code"] == 413
    assert snapshot() == before


def test_another_firms_document_is_404(client, cast, submit, snapshot):
    body = submit("commercial_invoice")
    before = snapshot()
    for path in ("", "/versions", "/signatures", "/transfers", "/accesses"):
        assert client.get(f"/api/v1/documents/{body['id']}{path}",
                          headers=cast.importer.headers).status_code == 404, path
    amend = client.post(f"/api/v1/documents/{body['id']}/versions", headers=cast.importer.headers,
                        json={"content": example("commercial_invoice", cast)})
    cancel = client.post(f"/api/v1/documents/{body['id']}/cancel", headers=cast.importer.headers)
    assert (amend.status_code, cancel.status_code) == (404, 404)
    assert client.get("/api/v1/documents/doc_nope", headers=cast.importer.headers).status_code == 404
    assert snapshot() == before


def test_declaration_must_name_a_customs_organisation(client, cast, snapshot):
    content = example("customs_declaration", cast)
    content["customs_authority_org_id"] = cast.importer.org_id
    before = snapshot()
    response = client.post("/api/v1/documents", headers=cast.exporter.headers,
                           json={"type": "customs_declaration", "content": content})
    assert response.status_code == 422
    assert "customs_authority_org_id" in str(response.get_json()["errors"])
    assert snapshot() == before
