"""The consent lifecycle over HTTP: grant, read, expire, revoke, read refused."""

from __future__ import annotations

from datetime import timedelta

import pytest

import ledger
from app.consent import services
from app.documents import reads
from app.documents import services as documents
from app.documents.access import load_document
from app.errors import PermissionDenied, ValidationFailed
from app.identity.auth import Principal
from ledger.disclosure import DisclosureError, verify_disclosure
from tests.app.conftest import example, in_thread


def grant(client, owner, recipient, clock, **overrides):
    body = {"recipient_org_id": recipient.org_id, "purpose": "verify the order before payment",
            "document_types": ["commercial_invoice"],
            "data_categories": ["reference", "commercial"], "destination": "DE",
            "expires_at": (clock.now + timedelta(days=30)).isoformat()}
    body.update(overrides)
    return client.post("/api/v1/consents", headers=owner.headers, json=body)


@pytest.fixture
def invoice(submit):
    return submit("commercial_invoice")


def test_grant_read_revoke_read_refused(client, cast, clock, invoice, check_receipt, snapshot):
    response = grant(client, cast.exporter, cast.importer, clock)
    assert response.status_code == 201, response.get_json()
    consent = response.get_json()
    [entry] = check_receipt(consent["receipt"], count=1)
    assert entry["type"] == "consent.granted" and entry["recipient"] == cast.importer.org_id
    assert "purpose" not in entry  # free text stays off the ledger

    read = client.get(f"/api/v1/documents/{invoice['id']}", headers=cast.importer.headers)
    assert read.status_code == 200
    view = read.get_json()
    assert view["access"] == "consent" and view["consent_id"] == consent["id"]
    disclosed = verify_disclosure(view["disclosure"], expected_digest=invoice["digest"])
    assert disclosed and set(view["disclosure"]["hidden"])  # some fields withheld
    version_entry, access_entry = check_receipt(view["evidence"], count=2)
    assert version_entry["digest"] == invoice["digest"]
    assert access_entry["type"] == "document.accessed"
    assert access_entry["consent"] == consent["id"]

    revoked = client.post(f"/api/v1/consents/{consent['id']}/revoke", headers=cast.exporter.headers)
    assert revoked.status_code == 200 and revoked.get_json()["status"] == "revoked"
    before = snapshot()
    refused = client.get(f"/api/v1/documents/{invoice['id']}", headers=cast.importer.headers)
    assert refused.status_code == 403
    assert "revoked" in refused.get_json()["message"]
    assert snapshot() == before


def test_expiry_is_enforced_at_read_time(client, cast, clock, invoice, snapshot):
    consent = grant(client, cast.exporter, cast.importer, clock,
                    expires_at=(clock.now + timedelta(hours=1)).isoformat()).get_json()
    assert client.get(f"/api/v1/documents/{invoice['id']}",
                      headers=cast.importer.headers).status_code == 200
    clock.advance(hours=1)
    before = snapshot()
    refused = client.get(f"/api/v1/documents/{invoice['id']}?consent={consent['id']}",
                         headers=cast.importer.headers)
    assert refused.status_code == 403 and "expired" in refused.get_json()["message"]
    assert snapshot() == before


def test_not_yet_valid_consent_is_refused(client, cast, clock, invoice):
    grant(client, cast.exporter, cast.importer, clock,
          valid_from=(clock.now + timedelta(days=1)).isoformat())
    refused = client.get(f"/api/v1/documents/{invoice['id']}", headers=cast.importer.headers)
    assert refused.status_code == 403 and "valid only from" in refused.get_json()["message"]


def test_consent_by_document_id_covers_only_that_document(client, cast, clock, submit):
    first, second = submit("commercial_invoice"), submit("commercial_invoice")
    grant(client, cast.exporter, cast.importer, clock, document_types=[],
          document_ids=[first["id"]])
    assert client.get(f"/api/v1/documents/{first['id']}",
                      headers=cast.importer.headers).status_code == 200
    assert client.get(f"/api/v1/documents/{second['id']}",
                      headers=cast.importer.headers).status_code == 404


def covered(client, consent_id, org, query=""):
    return client.get(f"/api/v1/consents/{consent_id}/documents{query}", headers=org.headers)


def test_a_recipient_finds_the_documents_a_consent_covers_and_reads_each(
        client, cast, clock, submit, snapshot):
    invoices = []
    for _ in range(3):
        clock.advance(seconds=1)
        invoices.append(submit("commercial_invoice")["id"])
    submit("packing_list")  # another type: not covered
    submit("commercial_invoice", as_org=cast.bank)  # another owner: not covered
    consent = grant(client, cast.exporter, cast.importer, clock).get_json()
    before = snapshot()
    first = covered(client, consent["id"], cast.importer, "?limit=2")
    assert first.status_code == 200
    rest = covered(client, consent["id"], cast.importer, f"?cursor={first.get_json()['next']}")
    listed = first.get_json()["items"] + rest.get_json()["items"]
    assert [item["id"] for item in listed] == invoices[::-1] and rest.get_json()["next"] is None
    assert all("content" not in item and "salts" not in item for item in listed)
    assert snapshot() == before  # listing is not reading: nothing logged
    for reader in (cast.exporter, cast.regulator):
        assert [item["id"] for item in covered(client, consent["id"], reader).get_json()[
            "items"]] == invoices[::-1]
    read = client.get(f"/api/v1/documents/{listed[0]['id']}?consent={consent['id']}",
                      headers=cast.importer.headers)
    assert read.status_code == 200 and read.get_json()["access"] == "consent"


def test_a_consent_by_document_id_lists_only_those(client, cast, clock, submit):
    first, _second = submit("commercial_invoice"), submit("commercial_invoice")
    consent = grant(client, cast.exporter, cast.importer, clock, document_types=[],
                    document_ids=[first["id"]]).get_json()
    items = covered(client, consent["id"], cast.importer).get_json()["items"]
    assert [item["id"] for item in items] == [first["id"]]


@pytest.mark.parametrize("change, words", [
    ("revoke", "revoked"), ("expire", "expired"), ("not_yet", "valid only from")])
def test_the_recipient_lists_covered_documents_only_while_it_may_read(
        client, cast, clock, invoice, snapshot, change, words):
    overrides = {"not_yet": {"valid_from": (clock.now + timedelta(days=1)).isoformat()}}.get(
        change, {})
    consent = grant(client, cast.exporter, cast.importer, clock, **overrides)
    assert consent.status_code == 201, consent.get_json()
    consent_id = consent.get_json()["id"]
    if change == "revoke":
        client.post(f"/api/v1/consents/{consent_id}/revoke", headers=cast.exporter.headers)
    if change == "expire":
        clock.advance(days=30)
    before = snapshot()
    refused = covered(client, consent_id, cast.importer)
    assert refused.status_code == 403 and words in refused.get_json()["message"]
    owner = covered(client, consent_id, cast.exporter)  # its owner still sees what it covered
    assert [item["id"] for item in owner.get_json()["items"]] == [invoice["id"]]
    assert snapshot() == before


def test_covered_documents_of_a_consent_that_is_not_yours_are_404(client, cast, clock, invoice,
                                                                  snapshot):
    consent = grant(client, cast.exporter, cast.importer, clock).get_json()
    before = snapshot()
    for stranger in (cast.bank, cast.customs):
        assert covered(client, consent["id"], stranger).status_code == 404
    assert covered(client, "cns_aaaaaaaaaaaaaaaa", cast.importer).status_code == 404
    bad = covered(client, consent["id"], cast.importer, "?limit=0&cursor=%%%")
    assert bad.status_code == 422 and set(bad.get_json()["errors"]["query"]) == {"limit"}
    assert snapshot() == before


def limit(client, consent_id, org, **terms):
    return client.post(f"/api/v1/consents/{consent_id}/limit", headers=org.headers, json=terms)


def test_limiting_a_consent_narrows_the_next_read_and_is_logged(client, cast, clock, invoice,
                                                                 submit, check_receipt):
    packing = submit("packing_list")
    consent = grant(client, cast.exporter, cast.importer, clock,
                    document_types=["commercial_invoice", "packing_list"]).get_json()
    before = client.get(f"/api/v1/documents/{invoice['id']}", headers=cast.importer.headers)
    disclosed_before = set(before.get_json()["disclosure"]["disclosed"])
    new_end = clock.now + timedelta(days=7)
    limited = limit(client, consent["id"], cast.exporter, data_categories=["reference"],
                    document_types=["commercial_invoice"], expires_at=new_end.isoformat())
    assert limited.status_code == 200, limited.get_json()
    body = limited.get_json()
    assert (body["data_categories"], body["document_types"]) == (["reference"],
                                                                 ["commercial_invoice"])
    [entry] = check_receipt(body["receipt"], count=1)
    assert entry["type"] == "consent.limited" and entry["consent"] == consent["id"]
    assert (entry["data_categories"], entry["document_types"], entry["expires_at"]) == (
        ["reference"], ["commercial_invoice"], ledger.utc_timestamp(new_end))

    after = client.get(f"/api/v1/documents/{invoice['id']}", headers=cast.importer.headers)
    disclosed_after = set(after.get_json()["disclosure"]["disclosed"])
    assert disclosed_after and disclosed_after < disclosed_before  # fewer fields in clear
    assert client.get(f"/api/v1/documents/{packing['id']}",
                      headers=cast.importer.headers).status_code == 404  # no longer covered
    clock.advance(days=7)
    refused = client.get(f"/api/v1/documents/{invoice['id']}", headers=cast.importer.headers)
    assert refused.status_code == 403 and "expired" in refused.get_json()["message"]


def test_a_limit_by_document_id_is_logged_for_the_removed_document(client, cast, clock,
                                                                   submit, platform):
    first, second = submit("commercial_invoice"), submit("commercial_invoice")
    consent = grant(client, cast.exporter, cast.importer, clock, document_types=[],
                    document_ids=[first["id"], second["id"]]).get_json()
    limited = limit(client, consent["id"], cast.exporter, document_ids=[first["id"]])
    assert limited.status_code == 200 and limited.get_json()["document_ids"] == [first["id"]]
    assert client.get(f"/api/v1/documents/{second['id']}",
                      headers=cast.importer.headers).status_code == 404
    # The removed document's history names the limit that took it out.
    history = client.get(f"/api/v1/audit/entries?document={second['id']}",
                         headers=cast.regulator.headers).get_json()["entries"]
    assert [e["entry"]["type"] for e in history][-1] == "consent.limited"


@pytest.mark.parametrize("terms, field", [
    ({"data_categories": ["reference", "financial"]}, "data_categories"),
    ({"document_types": ["packing_list"]}, "document_types"),
    ({"document_ids": ["doc_aaaaaaaaaaaaaaaa"]}, "document_ids"),
    ({"document_types": []}, "document_ids"),  # nothing left covered
    ({"data_categories": []}, "data_categories"),
    ({"allowed_actions": []}, "allowed_actions"),
    ({"expires_at": "2030-01-01T00:00:00Z"}, "expires_at"),  # later
    ({"expires_at": "2026-01-01T00:00:00Z"}, "expires_at"),  # in the past
    ({"data_categories": ["reference", "commercial"]}, "_schema"),  # the same: narrows nothing
    ({}, "_schema"),
    ({"purpose": "something else"}, "purpose"),  # not a term that can be limited
])
def test_a_limit_that_would_not_narrow_is_422_and_writes_nothing(client, cast, clock, invoice,
                                                                  snapshot, terms, field):
    consent = grant(client, cast.exporter, cast.importer, clock).get_json()
    before = snapshot()
    response = limit(client, consent["id"], cast.exporter, **terms)
    assert response.status_code == 422, response.get_json()
    assert field in response.get_json()["errors"]["json"]
    assert snapshot() == before
    stored = client.get(f"/api/v1/consents/{consent['id']}", headers=cast.exporter.headers)
    assert stored.get_json()["data_categories"] == ["commercial", "reference"]


def test_only_the_owner_limits_a_live_consent(client, cast, clock, invoice, snapshot):
    consent = grant(client, cast.exporter, cast.importer, clock).get_json()
    narrower = {"data_categories": ["reference"]}
    before = snapshot()
    assert limit(client, consent["id"], cast.importer, **narrower).status_code == 403
    assert limit(client, consent["id"], cast.bank, **narrower).status_code == 404
    assert snapshot() == before
    client.post(f"/api/v1/consents/{consent['id']}/revoke", headers=cast.exporter.headers)
    revoked = limit(client, consent["id"], cast.exporter, **narrower)
    assert revoked.status_code == 409 and "revoked" in revoked.get_json()["message"]
    other = grant(client, cast.exporter, cast.importer, clock).get_json()
    clock.advance(days=30)
    expired = limit(client, other["id"], cast.exporter, **narrower)
    assert expired.status_code == 409 and "expired" in expired.get_json()["message"]


def test_owner_sees_every_access_with_proofs(client, cast, clock, invoice, check_receipt):
    grant(client, cast.exporter, cast.importer, clock)
    for _ in range(3):
        client.get(f"/api/v1/documents/{invoice['id']}", headers=cast.importer.headers)
    log = client.get(f"/api/v1/documents/{invoice['id']}/accesses",
                     headers=cast.exporter.headers).get_json()
    assert [a["reader_org_id"] for a in log["items"]] == [cast.importer.org_id] * 3
    entries = check_receipt(log["receipt"], count=3)
    assert all(e["type"] == "document.accessed" and e["reader"] == cast.importer.org_id
               for e in entries)
    assert client.get(f"/api/v1/documents/{invoice['id']}/accesses",
                      headers=cast.importer.headers).status_code == 404


def test_a_read_whose_version_entry_is_gone_is_an_integrity_failure(
        client, cast, clock, invoice, platform, snapshot, caplog):
    # Before, the receipt silently left the version's entry out.
    from sqlalchemy import text
    grant(client, cast.exporter, cast.importer, clock)
    with platform.db.write() as session:
        index = session.scalar(text("SELECT entry_idx FROM document_versions "
                                    "WHERE document_id = :id"), {"id": invoice["id"]})
        session.execute(text("DELETE FROM ledger_entries WHERE idx = :idx"), {"idx": index})
    before = snapshot()
    read = client.get(f"/api/v1/documents/{invoice['id']}", headers=cast.importer.headers)
    assert read.status_code == 500
    assert read.get_json()["message"] == f"ledger integrity failure at index {index}"
    assert "version 1 is missing from the log" in caplog.text
    assert snapshot() == before  # no access logged


def test_tampered_disclosure_does_not_verify(client, cast, clock, invoice):
    import copy

    grant(client, cast.exporter, cast.importer, clock)
    view = client.get(f"/api/v1/documents/{invoice['id']}", headers=cast.importer.headers).get_json()
    original = view["disclosure"]
    verify_disclosure(original, expected_digest=invoice["digest"])
    changed_value, changed_hash, revealed = (copy.deepcopy(original) for _ in range(3))
    name = sorted(original["disclosed"])[0]
    changed_value["disclosed"][name]["value"] = "something else"
    hidden = sorted(original["hidden"])[0]
    changed_hash["hidden"][hidden] = "0" * 64
    revealed["disclosed"][hidden] = {"value": "guessed", "salt": "AAAA"}
    del revealed["hidden"][hidden]
    for tampered in (changed_value, changed_hash, revealed):
        with pytest.raises(DisclosureError):
            verify_disclosure(tampered, expected_digest=invoice["digest"])


def test_only_owner_revokes_and_revoking_twice_is_409(client, cast, clock, invoice, snapshot):
    consent = grant(client, cast.exporter, cast.importer, clock).get_json()
    before = snapshot()
    assert client.post(f"/api/v1/consents/{consent['id']}/revoke",
                       headers=cast.importer.headers).status_code == 403
    assert client.post(f"/api/v1/consents/{consent['id']}/revoke",
                       headers=cast.bank.headers).status_code == 404
    assert snapshot() == before
    client.post(f"/api/v1/consents/{consent['id']}/revoke", headers=cast.exporter.headers)
    assert client.post(f"/api/v1/consents/{consent['id']}/revoke",
                       headers=cast.exporter.headers).status_code == 409


@pytest.mark.parametrize("overrides, field", [
    ({"recipient_org_id": "org_aaaaaaaaaaaaaaaa"}, "recipient_org_id"),
    ({"document_types": ["love_letter"]}, "document_types"),
    ({"document_types": []}, "document_ids"),
    ({"data_categories": []}, "data_categories"),
    ({"data_categories": ["gossip"]}, "data_categories"),
    ({"destination": "Germany"}, "destination"),
    ({"expires_at": "2020-01-01T00:00:00Z"}, "expires_at"),
    ({"expires_at": "2030-01-01T00:00:00"}, "expires_at"),
    ({"document_ids": ["doc_notmine"]}, "document_ids"),
    ({"allowed_actions": ["delete"]}, "allowed_actions"),
    # what a database cannot store or compare is refused, not a 500
    ({"purpose": "verify\x00the order"}, "purpose"),
    ({"purpose": "verify \ud800 the order"}, "purpose"),
    ({"recipient_org_id": "org_\x00"}, "recipient_org_id"),
    ({"document_ids": ["doc_\x00"]}, "document_ids"),
    ({"expires_at": "9999-12-31T23:59:59-05:00"}, "expires_at"),  # after year 9999 in UTC
    ({"valid_from": "0001-01-01T00:00:00+05:00"}, "valid_from"),  # before year 1 in UTC
])
def test_bad_terms_are_422_naming_the_field(client, cast, clock, snapshot, overrides, field):
    before = snapshot()
    response = grant(client, cast.exporter, cast.importer, clock, **overrides)
    assert response.status_code == 422
    assert field in response.get_json()["errors"]["json"]
    assert snapshot() == before


def test_a_consent_that_allows_no_action_is_422(client, cast, clock, platform, snapshot):
    before = snapshot()
    response = grant(client, cast.exporter, cast.importer, clock, allowed_actions=[])
    assert response.status_code == 422
    assert response.get_json()["errors"]["json"] == {
        "allowed_actions": ["must name at least one action"]}
    owner = Principal(cast.exporter.org_id, cast.exporter.role)
    terms = services.ConsentTerms(
        recipient_org_id=cast.importer.org_id, purpose="verify the order",
        data_categories=("reference",), destination="DE", document_types=("commercial_invoice",),
        expires_at=clock.now + timedelta(days=30), allowed_actions=())
    with pytest.raises(ValidationFailed) as refused:  # the service refuses it too
        with platform.db.write() as session:
            services.grant(session, platform.notary, platform.export_policy, owner, terms,
                           clock.now)
    assert "allowed_actions" in refused.value.errors["json"]
    assert snapshot() == before
    assert grant(client, cast.exporter, cast.importer, clock).get_json()["allowed_actions"] == [
        "read"]  # left out: every action


def test_unknown_query_parameters_are_422_naming_them(client, cast, clock, invoice, snapshot):
    grant(client, cast.exporter, cast.importer, clock)
    before = snapshot()
    page = client.get("/api/v1/consents?stauts=revoked", headers=cast.importer.headers)
    assert page.status_code == 422
    assert page.get_json()["errors"]["query"] == {"stauts": ["Unknown field."]}
    # a read under consent writes an access entry: a mistyped one must write nothing
    read = client.get(f"/api/v1/documents/{invoice['id']}?consnet=cns_aaaaaaaaaaaaaaaa",
                      headers=cast.importer.headers)
    assert read.status_code == 422
    assert read.get_json()["errors"]["query"] == {"consnet": ["Unknown field."]}
    assert snapshot() == before
    paged = client.get("/api/v1/consents?direction=received&status=active&limit=1",
                       headers=cast.importer.headers)
    assert paged.status_code == 200 and len(paged.get_json()["items"]) == 1


def test_export_policy_refuses_restricted_data_abroad_naming_the_rule(client, cast, clock,
                                                                       platform, snapshot):
    rules = [platform.export_policy.rules_for(category)
             for category in ("customs", "financial", "logistics", "party", "commercial")]
    rule = next(rule for rule in rules if rule.restricted)
    abroad = next(code for code in ("DE", "SG", "HK", "US", "JP")
                  if code != "CN" and rule.allows_destination(code))
    before = snapshot()
    response = grant(client, cast.exporter, cast.importer, clock, destination=abroad,
                     data_categories=[rule.category], document_types=["commercial_invoice"])
    assert response.status_code == 422
    assert rule.rule_id in response.get_json()["message"]
    assert snapshot() == before
    allowed = grant(client, cast.exporter, cast.importer, clock, destination=abroad,
                    data_categories=[rule.category], document_types=["commercial_invoice"],
                    export_assessment_ref="CAC-2026-0042")
    assert allowed.status_code == 201, allowed.get_json()


def test_category_not_allowed_to_a_destination_is_refused(client, cast, clock, platform):
    rules = [platform.export_policy.rules_for(category)
             for category in ("customs", "financial", "logistics", "party", "commercial")]
    rule, blocked = next((rule, code) for rule in rules for code in ("US", "DE", "JP", "SG")
                         if not rule.allows_destination(code))
    response = grant(client, cast.exporter, cast.importer, clock, destination=blocked,
                     data_categories=[rule.category], export_assessment_ref="CAC-2026-0042")
    assert response.status_code == 422
    assert rule.rule_id in response.get_json()["message"]


def test_personal_information_needs_the_subjects_separate_consent(client, cast, clock, snapshot):
    before = snapshot()
    refused = grant(client, cast.exporter, cast.importer, clock,
                    document_types=["ecommerce_order"], data_categories=["personal_information"],
                    destination="SG")
    assert refused.status_code == 422
    assert snapshot() == before
    allowed = grant(client, cast.exporter, cast.importer, clock,
                    document_types=["ecommerce_order"], data_categories=["personal_information"],
                    destination="SG", subject_consent_ref="SC-2026-000123")
    assert allowed.status_code == 201, allowed.get_json()


def test_consent_visible_to_owner_recipient_and_regulator_only(client, cast, clock, invoice):
    consent = grant(client, cast.exporter, cast.importer, clock).get_json()
    for org, status in ((cast.exporter, 200), (cast.importer, 200), (cast.regulator, 200),
                        (cast.bank, 404)):
        assert client.get(f"/api/v1/consents/{consent['id']}",
                          headers=org.headers).status_code == status
    received = client.get("/api/v1/consents?direction=received",
                          headers=cast.importer.headers).get_json()["items"]
    assert [c["id"] for c in received] == [consent["id"]]


def test_a_revocation_between_deciding_and_logging_a_read_wins(client, cast, clock, invoice,
                                                               platform, snapshot):
    # A read is decided in a read transaction and logged in a short write; a
    # revocation that commits in between must still refuse the read.

    consent = grant(client, cast.exporter, cast.importer, clock).get_json()
    reader = Principal(cast.importer.org_id, cast.importer.role)
    with platform.db.read() as session:
        plan = reads.plan_read(session, reader, invoice["id"], None, clock.now)
    assert plan.consent.id == consent["id"]
    assert client.post(f"/api/v1/consents/{consent['id']}/revoke",
                       headers=cast.exporter.headers).status_code == 200
    before = snapshot()
    with pytest.raises(PermissionDenied, match="revoked"):
        with platform.db.write() as session:
            reads.log_consent_read(session, platform.notary, reader, plan, clock.now)
    assert snapshot() == before


def test_a_limit_between_deciding_and_logging_a_read_wins(client, cast, clock, invoice,
                                                          platform, snapshot):
    consent = grant(client, cast.exporter, cast.importer, clock).get_json()
    reader = Principal(cast.importer.org_id, cast.importer.role)
    with platform.db.read() as session:
        plan = reads.plan_read(session, reader, invoice["id"], None, clock.now)
    assert limit(client, consent["id"], cast.exporter,
                 data_categories=["reference"]).status_code == 200
    before = snapshot()
    with pytest.raises(reads.ConsentChanged, match="limited"):
        with platform.db.write() as session:
            reads.log_consent_read(session, platform.notary, reader, plan, clock.now)
    assert snapshot() == before  # nothing disclosed under the old terms is logged


def test_a_read_whose_consent_is_limited_meanwhile_is_planned_again(client, cast, clock,
                                                                    invoice, monkeypatch):
    consent = grant(client, cast.exporter, cast.importer, clock).get_json()
    planned = []
    plan_read = reads.plan_read

    def plan_then_limit(*args, **kwargs):
        plan = plan_read(*args, **kwargs)
        planned.append(plan)
        if len(planned) == 1:  # the owner narrows the consent right after the first plan
            assert limit(client, consent["id"], cast.exporter,
                         data_categories=["reference"]).status_code == 200
        return plan

    monkeypatch.setattr(reads, "plan_read", plan_then_limit)
    read = client.get(f"/api/v1/documents/{invoice['id']}", headers=cast.importer.headers)
    assert read.status_code == 200 and len(planned) == 2
    disclosed = read.get_json()["disclosure"]["disclosed"]
    assert set(disclosed) == set(planned[1].fields) < set(planned[0].fields)


def test_malformed_consent_ids_are_refused_not_500(client, cast, clock, invoice, snapshot):
    grant(client, cast.exporter, cast.importer, clock)
    before = snapshot()
    read = client.get(f"/api/v1/documents/{invoice['id']}?consent=cns_%00",
                      headers=cast.importer.headers)
    assert read.status_code == 422 and "consent" in read.get_json()["errors"]["query"]
    page = client.get("/api/v1/consents?after=cns_%00", headers=cast.importer.headers)
    assert page.status_code == 422 and "after" in page.get_json()["errors"]["query"]
    assert client.get("/api/v1/consents/cns_%00", headers=cast.importer.headers).status_code == 404
    assert client.post("/api/v1/consents/cns_%00/revoke",
                       headers=cast.exporter.headers).status_code == 404
    assert snapshot() == before


def _reader(platform, reader, plan, now, outcome: dict):
    """A thread logging the planned consent read in a write transaction of its own."""

    def read():
        with platform.db.write() as session:
            return reads.log_consent_read(session, platform.notary, reader, plan, now)
    return in_thread(read, outcome)


def test_a_revocation_committing_while_a_read_is_logged_wins(client, cast, clock, invoice,
                                                             platform, snapshot, lock_waiters):
    # The read's consent check and the revocation overlap: the revocation has
    # changed the consent and appended its entry, but not committed yet. The
    # read must wait for it and be refused, not log an access after the
    # revocation on the ledger.

    consent = grant(client, cast.exporter, cast.importer, clock).get_json()
    reader = Principal(cast.importer.org_id, cast.importer.role)
    owner = Principal(cast.exporter.org_id, cast.exporter.role)
    with platform.db.read() as session:
        plan = reads.plan_read(session, reader, invoice["id"], None, clock.now)
    outcome: dict = {}
    reader_thread = _reader(platform, reader, plan, clock.now, outcome)
    with platform.db.write() as session:
        services.revoke(session, platform.notary, owner, consent["id"], clock.now)
        session.flush()
        before = snapshot()
        reader_thread.start()
        lock_waiters(unless_done=reader_thread)  # the read waits for the revocation's lock
    reader_thread.join(timeout=30)
    assert not reader_thread.is_alive()
    assert isinstance(outcome.get("refused"), PermissionDenied), outcome
    assert "revoked" in outcome["refused"].message
    after = snapshot()
    assert after["document_accesses"] == before["document_accesses"]


def test_a_read_logged_while_the_document_is_amended_does_not_deadlock(
        client, cast, clock, invoice, platform, lock_waiters):
    # The amendment locks the document, then the ledger's head; the read takes
    # the head, then inserts its access row, whose foreign key takes a
    # key-share lock on the document. That must not wait for the amendment:
    # each would wait for the other (a deadlock, answered 503).
    grant(client, cast.exporter, cast.importer, clock)
    reader = Principal(cast.importer.org_id, cast.importer.role)
    owner = Principal(cast.exporter.org_id, cast.exporter.role)
    with platform.db.read() as session:
        plan = reads.plan_read(session, reader, invoice["id"], None, clock.now)
    content = example("commercial_invoice", cast)
    content["invoice_number"] += "-A"
    outcome: dict = {}
    reader_thread = _reader(platform, reader, plan, clock.now, outcome)
    with platform.db.write() as session:
        load_document(session, invoice["id"], for_update=True)  # the amendment's first step
        reader_thread.start()
        lock_waiters(unless_done=reader_thread)
        amended = documents.amend(session, platform.notary, owner, invoice["id"], content,
                                  clock.now)
    reader_thread.join(timeout=30)
    assert not reader_thread.is_alive()
    assert "done" in outcome, outcome
    assert amended.document.version == 2
