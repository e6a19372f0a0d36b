"""Issuing, amending, cancelling and listing documents over HTTP."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import pytest

from app.documents.types import DOCUMENT_TYPES
from app.identity.models import Role
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


def _cursor(created_at: str, last_id: str = "doc_x") -> str:
    raw = json.dumps([created_at, last_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize("query", [
    f"cursor={_cursor('2026-11-23T09:00:00')}",  # a time without an offset
    f"cursor={_cursor('0001-01-01T00:00:00+05:00')}",  # before year 1 in UTC
    f"cursor={_cursor('9999-12-31T23:59:59-05:00')}",  # after year 9999 in UTC
    "created_from=0001-01-01T00:00:00%2B05:00",
    "created_to=9999-12-31T23:59:59-05:00",
])
def test_tampered_cursor_or_unrepresentable_time_is_422(client, cast, submit, query):
    submit("commercial_invoice")
    response = client.get(f"/api/v1/documents?{query}", headers=cast.exporter.headers)
    assert response.status_code == 422
    assert query.split("=")[0] in response.get_json()["errors"]["query"]


@pytest.mark.parametrize("path, query, name", [
    ("", "stauts=cancelled", "stauts"),  # a typo must not answer every document unfiltered
    ("", "limit=2&cursor_=abc", "cursor_"),
    ("/{id}", "consnet=cns_aaaaaaaaaaaaaaaa", "consnet"),
    ("/{id}/accesses", "limit=1&aftr=5", "aftr"),
])
def test_an_unknown_query_parameter_is_422_naming_it(client, cast, submit, snapshot, path,
                                                     query, name):
    cancelled = submit("packing_list")
    client.post(f"/api/v1/documents/{cancelled['id']}/cancel", headers=cast.exporter.headers)
    submit("commercial_invoice")
    before = snapshot()
    response = client.get(f"/api/v1/documents{path.format(id=cancelled['id'])}?{query}",
                          headers=cast.exporter.headers)
    assert response.status_code == 422, response.get_json()
    assert response.get_json()["errors"]["query"] == {name: ["Unknown field."]}
    assert snapshot() == before


def test_listing_pages_and_filters_with_every_known_parameter(client, cast, submit, clock):
    ids = [submit("bill_of_lading")["id"] for _ in range(3)]  # the exporter is the shipper
    submit("commercial_invoice", as_org=cast.carrier)
    window = (clock.now, clock.now + timedelta(days=1))
    created_from, created_to = (time.isoformat().replace("+", "%2B") for time in window)
    query = (f"type=bill_of_lading&status=issued&counterparty={cast.exporter.org_id}"
             f"&created_from={created_from}&created_to={created_to}&limit=2")
    page = client.get(f"/api/v1/documents?{query}", headers=cast.carrier.headers)
    assert page.status_code == 200, page.get_json()
    rest = client.get(f"/api/v1/documents?{query}&cursor={page.get_json()['next']}",
                      headers=cast.carrier.headers)
    assert rest.status_code == 200, rest.get_json()
    listed = page.get_json()["items"] + rest.get_json()["items"]
    assert sorted(d["id"] for d in listed) == sorted(ids)


def test_access_page_after_beyond_any_ledger_index_is_422(client, cast, submit):
    body = submit("commercial_invoice")
    response = client.get(f"/api/v1/documents/{body['id']}/accesses?after={10**20}",
                          headers=cast.exporter.headers)
    assert response.status_code == 422
    assert "after" in response.get_json()["errors"]["query"]


def test_amendment_keeps_the_issue_rules(client, cast, submit, snapshot, make_org):
    """An amendment is validated like an issue: a declaration stays addressed to a
    customs authority (the same one), an eBL names its issuing carrier."""
    declaration = submit("customs_declaration")
    ebl = submit("bill_of_lading")
    other_customs = make_org(Role.CUSTOMS, "Other Customs")
    before = snapshot()
    for doc, org, path, value, status in (
            (declaration, cast.exporter, ("customs_authority_org_id",), cast.importer.org_id, 422),
            (declaration, cast.exporter, ("customs_authority_org_id",),
             "org_aaaaaaaaaaaaaaaa", 422),
            (declaration, cast.exporter, ("customs_authority_org_id",), other_customs.org_id, 409),
            (ebl, cast.carrier, ("carrier", "org_id"), cast.bank.org_id, 422)):
        content = example(doc["type"], cast)
        target = content
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
        response = client.post(f"/api/v1/documents/{doc['id']}/versions", headers=org.headers,
                               json={"content": content})
        assert response.status_code == status, (path, value, response.get_json())
    assert snapshot() == before
    read = client.get(f"/api/v1/documents/{declaration['id']}", headers=cast.customs.headers)
    assert read.status_code == 200 and read.get_json()["version"] == 1


def test_a_document_id_no_database_can_hold_is_404_not_500(client, cast, submit, snapshot):
    submit("commercial_invoice")
    before = snapshot()
    for path in ("", "/versions", "/signatures", "/transfers", "/accesses"):
        response = client.get(f"/api/v1/documents/doc_%00{path}", headers=cast.exporter.headers)
        assert response.status_code == 404, path
    assert snapshot() == before


def test_counterparty_filter_that_is_not_an_org_id_is_422(client, cast, submit):
    submit("commercial_invoice")
    response = client.get("/api/v1/documents?counterparty=org_%00",
                          headers=cast.exporter.headers)
    assert response.status_code == 422
    assert "counterparty" in response.get_json()["errors"]["query"]


def test_text_with_an_unpaired_surrogate_is_422_naming_the_field(client, cast, submit, snapshot):
    # JSON can write "\ud800"; it is not Unicode text, so nothing can digest it.
    issued = submit("commercial_invoice")
    content = example("commercial_invoice", cast)
    content["invoice_number"] = "INV-\ud800"
    before = snapshot()
    for path, body in (("", {"type": "commercial_invoice", "content": content}),
                       (f"/{issued['id']}/versions", {"content": content})):
        response = client.post(f"/api/v1/documents{path}", headers=cast.exporter.headers,
                               json=body)
        assert response.status_code == 422, path
        assert "invoice_number" in response.get_json()["errors"]["json"]["content"]
    assert snapshot() == before
