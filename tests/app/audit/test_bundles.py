"""GET /api/v1/audit/bundles: who may export what, what a bundle holds, and
that ``tradezone audit verify`` accepts it offline."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from sqlalchemy import select

import ledger
from app.cli import main
from app.identity.models import Role
from app.notary.models import EntryRef

BUNDLES = "/api/v1/audit/bundles"


def naming(platform, kind: str, ref: str) -> list[int]:
    with platform.db.read() as session:
        return sorted(session.scalars(select(EntryRef.entry_idx).where(
            EntryRef.kind == kind, EntryRef.ref == ref)))


def verified(bundle: dict, verifier) -> ledger.BundleReport:
    report = ledger.verify_bundle(bundle, verifier)
    assert report.ok, report.failures
    return report


@pytest.fixture
def signed_invoice(cast, submit, sign_document):
    invoice = submit("commercial_invoice")
    signature = sign_document(cast.exporter, invoice)
    return invoice, signature


@pytest.fixture
def gate(register_device, notarize_event):
    device = register_device("gate-1", alg="EdDSA")
    events = [notarize_event(device, seq, shipment=f"SHP-{seq % 2}") for seq in range(1, 6)]
    return device, events


def test_a_document_bundle_holds_its_entries_signature_and_key(export, cast, platform,
                                                              verifier, signed_invoice):
    invoice, _ = signed_invoice
    response = export(cast.regulator, document=invoice["id"])
    assert response.status_code == 200 and response.mimetype == "application/json"
    assert f"audit-bundle-document-{invoice['id']}.json" in response.headers[
        "Content-Disposition"]
    bundle = response.get_json()
    report = verified(bundle, verifier)
    assert (report.signatures_checked, report.keys_bound, report.without_evidence) == (1, 1, 0)
    [key_id] = bundle["signing_keys"]
    registration = bundle["signing_keys"][key_id]["registered"]
    assert [item["index"] for item in bundle["entries"]] == sorted(
        naming(platform, "document", invoice["id"]) + [registration])
    assert bundle["verifier_key"] == platform.notary.signer.verifier_key
    assert bundle["subject"] == {"kind": "document", "ref": invoice["id"]}
    with platform.db.read() as session:
        latest = ledger.sqlstore.SqlLog(session.connection()).latest_checkpoint()
    assert bundle["checkpoint"] == latest.note


def test_the_owner_exports_its_document_and_verifies_it_offline(export, cast, platform,
                                                               signed_invoice, tmp_path):
    invoice, _ = signed_invoice
    path = tmp_path / "bundle.json"
    path.write_bytes(export(cast.exporter, document=invoice["id"]).get_data())
    result = CliRunner().invoke(main, ["audit", "verify", str(path), "--key",
                                       platform.notary.signer.verifier_key])
    assert result.exit_code == 0, result.output
    assert "OK: 3 entries verified, 0 failures" in result.output
    assert "1 document signatures verified" in result.output
    assert "1 keys matched their registration entries" in result.output


def test_a_device_bundle_carries_each_event_jws_and_the_device_key(export, cast, verifier,
                                                                  gate):
    device, events = gate
    for who in (cast.customs, cast.regulator):
        bundle = export(who, device=device.device_id).get_json()
        report = verified(bundle, verifier)
        assert report.device_events_checked == 5 and report.keys_bound == 1
        assert bundle["device_keys"][device.device_id]["alg"] == "EdDSA"
        assert [item["index"] for item in bundle["entries"]][-5:] == events


def test_a_shipment_bundle(export, cast, make_org, verifier, gate):
    _, events = gate
    bundle = export(cast.regulator, shipment="SHP-1").get_json()
    assert [item["index"] for item in bundle["entries"]][-3:] == events[0::2]
    assert verified(bundle, verifier).device_events_checked == 3
    owner = export(cast.customs, shipment="SHP-1").get_json()
    assert owner["subject"]["also_naming"] == cast.customs.org_id
    assert verified(owner, verifier).device_events_checked == 3
    assert export(make_org(Role.FIRM), shipment="SHP-1").status_code == 404
    assert export(cast.regulator, shipment="SHP-404").status_code == 404


def test_a_shipment_reference_outside_ascii_still_names_an_ascii_file(
        export, cast, verifier, register_device, notarize_event):
    # Devices may name any shipment reference; header values must be Latin-1
    # (PEP 3333), or the server fails the response when it writes them.
    device = register_device("gate-1", alg="EdDSA")
    notarize_event(device, 1, shipment="上海-1")
    response = export(cast.regulator, shipment="上海-1")
    assert response.status_code == 200
    disposition = response.headers["Content-Disposition"]
    assert disposition.isascii(), disposition
    assert disposition == 'attachment; filename="audit-bundle-shipment-__-1.json"'
    assert verified(response.get_json(), verifier).device_events_checked == 1


def test_an_organisation_bundle(export, cast, platform, verifier, signed_invoice):
    bundle = export(cast.exporter, org=cast.exporter.org_id).get_json()
    report = verified(bundle, verifier)
    assert [item["index"] for item in bundle["entries"]] == naming(
        platform, "org", cast.exporter.org_id)
    assert report.signatures_checked == 1
    assert export(cast.regulator, org=cast.importer.org_id).status_code == 200


def test_a_period_narrows_the_entries_but_keeps_key_registrations(export, cast, clock, verifier,
                                                                  register_device,
                                                                  notarize_event):
    device = register_device("gate-2")
    clock.advance(hours=1)
    later = [notarize_event(device, seq) for seq in (1, 2)]
    bundle = export(cast.regulator, device="gate-2", **{"from": "2026-11-23T09:30:00Z"}).get_json()
    registration = bundle["device_keys"]["gate-2"]["registered"]
    assert [item["index"] for item in bundle["entries"]] == [registration] + later
    assert bundle["subject"]["from"] == "2026-11-23T09:30:00.000000Z"
    assert verified(bundle, verifier).keys_bound == 1
    empty = export(cast.regulator, device="gate-2", to="2026-11-23T09:00:00Z").get_json()
    assert [item["index"] for item in empty["entries"]] == []


@pytest.mark.parametrize("subject", ["org", "document", "device"])
def test_subjects_one_may_not_see_are_404_like_missing_ones(export, cast, make_org, gate,
                                                            signed_invoice, subject):
    stranger = make_org(Role.FIRM, "Stranger")
    other_customs = make_org(Role.CUSTOMS, "Other Customs")
    refs = {"org": cast.exporter.org_id, "document": signed_invoice[0]["id"],
            "device": gate[0].device_id}
    for who in (stranger, other_customs):
        refused = export(who, **{subject: refs[subject]})
        missing = export(who, **{subject: "nothing-by-this-id"})
        assert refused.status_code == missing.status_code == 404
        assert refused.get_json()["message"].replace(refs[subject], "X") == \
            missing.get_json()["message"].replace("nothing-by-this-id", "X")


def test_the_importer_named_as_party_still_cannot_export_the_invoice(export, cast,
                                                                    signed_invoice):
    assert export(cast.importer, document=signed_invoice[0]["id"]).status_code == 404


@pytest.mark.parametrize("query, fields", [
    ({}, {"document", "device", "org", "shipment"}),
    ({"document": "a", "org": "b"}, {"document", "org"}),
    ({"org": "a", "from": "2026-11-23T09:00:00"}, {"from"}),
    ({"org": "a", "subject": "b"}, {"subject"}),
    ({"document": "doc_\x00"}, {"document"}),
    ({"org": "org_\x00"}, {"org"}),
    ({"device": "gate\x00"}, {"device"}),
    ({"shipment": "SHP\x00"}, {"shipment"}),
    ({"shipment": "SHP-1", "from": "0001-01-01T00:00:00+05:00"}, {"from"}),
    ({"shipment": "SHP-1", "to": "9999-12-31T23:59:59-05:00"}, {"to"}),
])
def test_bad_bundle_queries_are_422_naming_the_fields(client, cast, query, fields):
    response = client.get(BUNDLES, headers=cast.regulator.headers, query_string=query)
    assert response.status_code == 422
    assert set(response.get_json()["errors"]["query"]) == fields


def test_an_admin_may_not_export(export, cast):
    assert export(cast.admin, org=cast.admin.org_id).status_code == 403


def test_the_bundle_is_streamed_one_entry_per_line(export, cast, gate):
    text = export(cast.regulator, device="gate-1").get_data(as_text=True)
    lines = text.split("\n")
    assert lines[0].endswith('"entries":[') and lines[-2:] == ["]}", ""]
    entries = [json.loads(line.rstrip(",")) for line in lines[1:-2]]
    assert len(entries) == 6 and all(line.endswith(",") for line in lines[1:-3])


def test_the_openapi_document_describes_both_routes(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    assert {"/api/v1/audit/entries", "/api/v1/audit/bundles"} <= set(paths)
    parameters = {p["name"] for p in paths["/api/v1/audit/bundles"]["get"]["parameters"]}
    assert {"document", "device", "org", "shipment", "from", "to"} <= parameters


def test_a_bundle_cut_short_by_a_database_error_logs_no_row_values(
        export, cast, signed_invoice, monkeypatch, caplog):
    """A database error mid-stream ends the answer unfinished; what is logged,
    and what the server is left to log, names the error but not the row it quotes."""
    import psycopg

    from app.audit import bundles

    def failing(*args, **kwargs):
        yield '{"index":0},\n'
        raise psycopg.errors.NotNullViolation(
            "null value\nDETAIL:  Failing row contains (PERSONAL-DATA-MARKER).")
    monkeypatch.setattr(bundles, "_entry_lines", failing)
    invoice, _ = signed_invoice
    with pytest.raises(bundles.BundleInterrupted) as raised:
        export(cast.regulator, document=invoice["id"]).get_data()
    assert "PERSONAL-DATA-MARKER" not in str(raised.value)
    assert raised.value.__cause__ is None and raised.value.__suppress_context__
    assert "psycopg.errors.NotNullViolation" in str(raised.value)
    assert "stopped early" in caplog.text and "NotNullViolation" in caplog.text
    assert "PERSONAL-DATA-MARKER" not in caplog.text
