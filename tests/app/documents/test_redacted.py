"""Redacted copies: a reader with full access hands a document over outside the
platform with only some fields in clear; the receiver checks it offline, down
to each value, against the notarized digest."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from ledger.audit import verify_bundle_file
from ledger.bundle import verify_bundle
from tests.app.conftest import example


def redacted(client, org, document_id, query):
    return client.get(f"/api/v1/documents/{document_id}/redacted?{query}", headers=org.headers)


def test_a_redacted_copy_verifies_offline_down_to_each_value(client, cast, submit, verifier,
                                                             snapshot, platform, tmp_path):
    invoice = submit("commercial_invoice")
    content = example("commercial_invoice", cast)
    before = snapshot()
    response = redacted(client, cast.exporter, invoice["id"],
                        "fields=invoice_number,totals&categories=party")
    assert response.status_code == 200, response.get_json()
    assert snapshot() == before  # the caller may read it all: nothing to log
    bundle = response.get_json()
    report = verify_bundle(bundle, verifier)
    assert report.ok, report.failures
    [(index, values)] = report.disclosures
    assert values["invoice_number"] == content["invoice_number"]
    assert values["totals"] == content["totals"]
    assert "seller" in values and "buyer" in values  # the party category
    hidden = bundle["entries"][0]["evidence"]["disclosure"]["hidden"]
    assert hidden and not set(hidden) & set(values)
    assert bundle["subject"] == {"kind": "document", "ref": invoice["id"], "version": 1}
    # The command a receiver runs, with the log's key obtained out of band.
    path = tmp_path / "redacted.json"
    path.write_text(response.get_data(as_text=True))
    result = verify_bundle_file(path, platform.notary.signer.verifier_key)
    assert result.ok and any("invoice_number" in line for line in result.lines), result.lines
    # A value changed on the way fails on that entry.
    bundle["entries"][0]["evidence"]["disclosure"]["disclosed"]["invoice_number"]["value"] = "X"
    assert [where for where, _ in verify_bundle(bundle, verifier).failures] == [index]


def test_an_earlier_version_can_be_redacted(client, cast, submit, verifier):
    first = submit("commercial_invoice")
    content = example("commercial_invoice", cast)
    content["invoice_number"] += "-A"
    amended = client.post(f"/api/v1/documents/{first['id']}/versions",
                          headers=cast.exporter.headers, json={"content": content})
    assert amended.status_code == 201
    for version, number in ((1, first), (2, amended.get_json())):
        bundle = redacted(client, cast.exporter, first["id"],
                          f"fields=invoice_number&version={version}").get_json()
        report = verify_bundle(bundle, verifier)
        assert report.ok and report.entries[0].entry["digest"] == number["digest"]
    assert redacted(client, cast.exporter, first["id"],
                    "fields=invoice_number&version=3").status_code == 404


def test_only_readers_with_full_access_get_one(client, cast, submit, clock):
    invoice = submit("commercial_invoice")
    client.post("/api/v1/consents", headers=cast.exporter.headers, json={
        "recipient_org_id": cast.importer.org_id, "purpose": "check before paying",
        "document_ids": [invoice["id"]], "data_categories": ["reference"],
        "destination": "DE", "expires_at": (clock.now + timedelta(days=3)).isoformat()})
    assert redacted(client, cast.regulator, invoice["id"], "fields=totals").status_code == 200
    for outsider in (cast.importer, cast.bank, cast.customs):  # a consent reads, not exports
        assert redacted(client, outsider, invoice["id"], "fields=totals").status_code == 404


@pytest.mark.parametrize("query, field", [
    ("", "fields"),
    ("fields=", "fields"),
    ("fields=no_such_field", "fields"),
    ("categories=secrets", "categories"),
    ("fields=totals&version=0", "version"),
    ("fields=totals&limit=3", "limit"),
])
def test_a_bad_redaction_is_422_naming_the_parameter(client, cast, submit, snapshot, query,
                                                     field):
    invoice = submit("commercial_invoice")
    before = snapshot()
    response = redacted(client, cast.exporter, invoice["id"], query)
    assert response.status_code == 422, response.get_json()
    assert field in json.dumps(response.get_json()["errors"]["query"])
    assert snapshot() == before
