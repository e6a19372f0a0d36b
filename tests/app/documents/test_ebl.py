"""Electronic bill of lading: one holder, transfer with acceptance, surrender (MLETR)."""

from __future__ import annotations

import pytest


@pytest.fixture
def ebl(submit):
    return submit("bill_of_lading")


def transfer(client, ebl_id, holder, to):
    return client.post(f"/api/v1/documents/{ebl_id}/transfers", headers=holder.headers,
                       json={"to_org_id": to.org_id})


def decide(client, ebl_id, transfer_id, org, verb="accept"):
    return client.post(f"/api/v1/documents/{ebl_id}/transfers/{transfer_id}/{verb}",
                       headers=org.headers)


def test_shipper_to_bank_to_consignee_then_surrender(client, cast, ebl, check_receipt):
    assert ebl["holder_org_id"] == cast.exporter.org_id
    offered = transfer(client, ebl["id"], cast.exporter, cast.bank)
    assert offered.status_code == 201
    [entry] = check_receipt(offered.get_json()["receipt"], count=1)
    assert entry["type"] == "ebl.transfer_offered"
    accepted = decide(client, ebl["id"], offered.get_json()["id"], cast.bank)
    assert accepted.status_code == 200
    assert accepted.get_json()["document"]["holder_org_id"] == cast.bank.org_id
    [entry] = check_receipt(accepted.get_json()["receipt"], count=1)
    assert entry["type"] == "ebl.transfer_accepted" and entry["holder"] == cast.bank.org_id

    second = transfer(client, ebl["id"], cast.bank, cast.importer).get_json()
    decide(client, ebl["id"], second["id"], cast.importer)
    surrendered = client.post(f"/api/v1/documents/{ebl['id']}/surrender",
                              headers=cast.importer.headers)
    assert surrendered.status_code == 200
    body = surrendered.get_json()
    assert body["status"] == "surrendered" and body["holder_org_id"] == cast.carrier.org_id
    [entry] = check_receipt(body["receipt"], count=1)
    assert entry["type"] == "ebl.surrendered" and entry["surrendered_by"] == cast.importer.org_id
    history = client.get(f"/api/v1/documents/{ebl['id']}/transfers",
                         headers=cast.carrier.headers).get_json()
    assert [(t["to_org_id"], t["status"]) for t in history] == [
        (cast.bank.org_id, "accepted"), (cast.importer.org_id, "accepted")]


def test_an_offered_ebl_is_listed_to_its_transferee_while_the_offer_is_pending(
        client, cast, ebl):
    def listed(org, query=""):
        response = client.get(f"/api/v1/documents{query}", headers=org.headers)
        assert response.status_code == 200, response.get_json()
        return [document["id"] for document in response.get_json()["items"]]

    assert ebl["id"] not in listed(cast.bank)
    offer = transfer(client, ebl["id"], cast.exporter, cast.bank).get_json()
    assert listed(cast.bank, "?offered=true") == [ebl["id"]]
    assert ebl["id"] in listed(cast.bank)
    assert listed(cast.exporter, "?offered=true") == []  # the holder made the offer
    assert ebl["id"] not in listed(cast.importer) + listed(cast.importer, "?offered=true")
    history = client.get(f"/api/v1/documents/{ebl['id']}/transfers",
                         headers=cast.bank.headers).get_json()
    assert [t["id"] for t in history if t["status"] == "pending"] == [offer["id"]]

    assert decide(client, ebl["id"], offer["id"], cast.bank, "reject").status_code == 200
    assert ebl["id"] not in listed(cast.bank)
    again = transfer(client, ebl["id"], cast.exporter, cast.bank).get_json()
    assert decide(client, ebl["id"], again["id"], cast.bank).status_code == 200
    assert ebl["id"] in listed(cast.bank)  # now as its holder
    assert listed(cast.bank, "?offered=true") == []


@pytest.mark.parametrize("value", ["maybe", "", "2"])
def test_an_offered_filter_that_is_not_a_boolean_is_422(client, cast, ebl, snapshot, value):
    before = snapshot()
    response = client.get(f"/api/v1/documents?offered={value}", headers=cast.bank.headers)
    assert response.status_code == 422
    assert response.get_json()["errors"]["query"] == {"offered": ["Not a valid boolean."]}
    assert snapshot() == before


def test_only_the_holder_can_transfer(client, cast, ebl, snapshot):
    before = snapshot()
    by_carrier = transfer(client, ebl["id"], cast.carrier, cast.bank)  # owner, not holder
    by_stranger = transfer(client, ebl["id"], cast.importer, cast.bank)  # cannot see it
    assert by_carrier.status_code == 403
    assert by_stranger.status_code == 404
    assert snapshot() == before


def test_only_the_transferee_accepts_and_only_once(client, cast, ebl, snapshot):
    offer = transfer(client, ebl["id"], cast.exporter, cast.bank).get_json()
    before = snapshot()
    assert decide(client, ebl["id"], offer["id"], cast.exporter).status_code == 403
    assert decide(client, ebl["id"], offer["id"], cast.importer).status_code == 404
    assert snapshot() == before
    assert decide(client, ebl["id"], offer["id"], cast.bank).status_code == 200
    before = snapshot()
    assert decide(client, ebl["id"], offer["id"], cast.bank).status_code == 409
    assert snapshot() == before


def test_rejected_offer_leaves_the_holder(client, cast, ebl):
    offer = transfer(client, ebl["id"], cast.exporter, cast.bank).get_json()
    rejected = decide(client, ebl["id"], offer["id"], cast.bank, "reject").get_json()
    assert rejected["status"] == "rejected"
    assert rejected["document"]["holder_org_id"] == cast.exporter.org_id


def test_one_pending_offer_at_a_time(client, cast, ebl, snapshot):
    transfer(client, ebl["id"], cast.exporter, cast.bank)
    before = snapshot()
    assert transfer(client, ebl["id"], cast.exporter, cast.importer).status_code == 409
    assert client.post(f"/api/v1/documents/{ebl['id']}/surrender",
                       headers=cast.exporter.headers).status_code == 409
    assert snapshot() == before


def test_nothing_happens_after_surrender(client, cast, ebl, snapshot):
    client.post(f"/api/v1/documents/{ebl['id']}/surrender", headers=cast.exporter.headers)
    before = snapshot()
    assert transfer(client, ebl["id"], cast.carrier, cast.bank).status_code == 409
    assert client.post(f"/api/v1/documents/{ebl['id']}/surrender",
                       headers=cast.carrier.headers).status_code == 409
    assert client.post(f"/api/v1/documents/{ebl['id']}/cancel",
                       headers=cast.carrier.headers).status_code == 409
    assert snapshot() == before


def test_transfer_to_self_or_unknown_org_is_422(client, cast, ebl, snapshot):
    before = snapshot()
    for target in (cast.exporter.org_id, "org_aaaaaaaaaaaaaaaa"):
        response = client.post(f"/api/v1/documents/{ebl['id']}/transfers",
                               headers=cast.exporter.headers, json={"to_org_id": target})
        assert response.status_code == 422
        assert "to_org_id" in response.get_json()["errors"]["json"]
    assert snapshot() == before


def test_transferred_ebl_cannot_be_cancelled(client, cast, ebl):
    offer = transfer(client, ebl["id"], cast.exporter, cast.bank).get_json()
    decide(client, ebl["id"], offer["id"], cast.bank)
    assert client.post(f"/api/v1/documents/{ebl['id']}/cancel",
                       headers=cast.carrier.headers).status_code == 409


def test_transfer_of_a_non_ebl_is_409(client, cast, submit):
    invoice = submit("commercial_invoice")
    assert transfer(client, invoice["id"], cast.exporter, cast.bank).status_code == 409


def test_transfer_to_an_organisation_that_cannot_hold_it_is_422(client, cast, ebl, snapshot):
    """Only a firm can accept, transfer or surrender an eBL: an offer to anyone else
    could never be decided and would block the eBL for good."""
    before = snapshot()
    for target in (cast.regulator, cast.customs, cast.admin):
        response = transfer(client, ebl["id"], cast.exporter, target)
        assert response.status_code == 422, target.role
        assert "to_org_id" in response.get_json()["errors"]["json"]
    assert snapshot() == before
    assert transfer(client, ebl["id"], cast.exporter, cast.bank).status_code == 201


def test_shipper_must_be_a_firm(client, cast, snapshot):
    from tests.app.conftest import example
    content = example("bill_of_lading", cast)
    content["shipper"]["org_id"] = cast.regulator.org_id
    before = snapshot()
    response = client.post("/api/v1/documents", headers=cast.carrier.headers,
                           json={"type": "bill_of_lading", "content": content})
    assert response.status_code == 422
    assert "shipper" in str(response.get_json()["errors"]["json"]["content"])
    assert snapshot() == before


def test_malformed_ids_are_refused_not_500(client, cast, ebl, snapshot):
    # A NUL is a valid JSON and URL character that PostgreSQL cannot take in a query.
    offer = transfer(client, ebl["id"], cast.exporter, cast.bank).get_json()
    before = snapshot()
    response = client.post(f"/api/v1/documents/{ebl['id']}/transfers",
                           headers=cast.exporter.headers, json={"to_org_id": "org_\x00"})
    assert response.status_code in (409, 422)
    for verb in ("accept", "reject"):
        assert client.post(f"/api/v1/documents/{ebl['id']}/transfers/xfr_%00/{verb}",
                           headers=cast.bank.headers).status_code == 404
    assert snapshot() == before
    assert decide(client, ebl["id"], offer["id"], cast.bank).status_code == 200
    response = client.post(f"/api/v1/documents/{ebl['id']}/transfers", headers=cast.bank.headers,
                           json={"to_org_id": "org_\x00"})
    assert response.status_code == 422 and "to_org_id" in response.get_json()["errors"]["json"]
