"""Idempotency-Key: a retried POST gets the first answer and writes nothing twice."""

from __future__ import annotations

import threading
from datetime import timedelta

from tests.app.conftest import example


def post_invoice(client, cast, key, content=None):
    return client.post("/api/v1/documents", headers={**cast.exporter.headers,
                                                     "Idempotency-Key": key},
                       json={"type": "commercial_invoice",
                             "content": content or example("commercial_invoice", cast)})


def test_retry_returns_the_first_answer_and_writes_once(client, cast, snapshot):
    first = post_invoice(client, cast, "order-42")
    assert first.status_code == 201
    before = snapshot()
    again = post_invoice(client, cast, "order-42")
    assert again.status_code == 201
    assert again.get_json() == first.get_json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert snapshot() == before


def test_same_key_with_another_request_is_422_and_writes_nothing(client, cast, snapshot):
    post_invoice(client, cast, "order-43")
    content = example("commercial_invoice", cast)
    content["invoice_number"] = "OTHER-1"
    before = snapshot()
    response = post_invoice(client, cast, "order-43", content)
    assert response.status_code == 422
    assert "Idempotency-Key" in response.get_json()["message"]
    assert snapshot() == before


def test_keys_are_per_organisation(client, cast, clock):
    post_invoice(client, cast, "shared-key")
    body = {"recipient_org_id": cast.exporter.org_id, "purpose": "check the invoice",
            "document_types": ["commercial_invoice"], "data_categories": ["reference"],
            "destination": "CN", "expires_at": (clock.now + timedelta(days=1)).isoformat()}
    response = client.post("/api/v1/consents", json=body,
                           headers={**cast.importer.headers, "Idempotency-Key": "shared-key"})
    assert response.status_code == 201


def test_malformed_key_is_400(client, cast, snapshot):
    before = snapshot()
    response = post_invoice(client, cast, "x" * 129)
    assert response.status_code == 400
    assert snapshot() == before


def test_failed_request_is_not_remembered(client, cast):
    content = example("commercial_invoice", cast)
    content["currency"] = "nope"
    assert post_invoice(client, cast, "retry-me", content).status_code == 422
    assert post_invoice(client, cast, "retry-me").status_code == 201


def test_concurrent_retries_create_one_document(app, cast, snapshot):
    before = snapshot()
    results = []

    def send():
        results.append(post_invoice(app.test_client(), cast, "racing-key"))

    threads = [threading.Thread(target=send) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [r.status_code for r in results] == [201] * 4
    assert len({r.get_json()["id"] for r in results}) == 1
    after = snapshot()
    assert after["documents"] == before["documents"] + 1
    assert after["ledger_entries"] == before["ledger_entries"] + 1
