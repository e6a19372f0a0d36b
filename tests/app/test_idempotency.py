"""Idempotency-Key: a retried POST gets the first answer and writes nothing twice."""

from __future__ import annotations

import threading
from datetime import timedelta

from app.devices import services as device_services
from app.documents import services as document_services
from ledger.jws import generate_private_key
from tests.app.conftest import example
from tests.app.devices.conftest import public_pem


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


def _hold_first_call(monkeypatch, module, name):
    """Patch ``module.name`` so that its first call, once done, waits (inside
    the request's write transaction) until the returned event is set; the
    second event is set when it got there."""
    real = getattr(module, name)
    release, reached = threading.Event(), threading.Event()

    def held(*args, **kwargs):
        result = real(*args, **kwargs)
        if not reached.is_set():
            reached.set()
            assert release.wait(30)
        return result
    monkeypatch.setattr(module, name, held)
    return release, reached


def _first_and_racing_retry(app, path, headers, body, release, reached, lock_waiters) -> dict:
    """POST the same request twice: the retry is sent while the first is held
    inside its transaction (``_hold_first_call``), and the first is released once
    the retry waits for a lock. Both answers, as ``first`` and ``retry``."""
    answers = {}

    def send(name):
        answers[name] = app.test_client().post(path, headers=headers, json=body)

    first, retry = (threading.Thread(target=send, args=(name,)) for name in ("first", "retry"))
    first.start()
    assert reached.wait(30)
    retry.start()
    lock_waiters()
    release.set()
    for thread in (first, retry):
        thread.join(timeout=30)
        assert not thread.is_alive()
    return answers


def test_a_retry_racing_a_registration_gets_the_first_answer(app, cast, snapshot, monkeypatch,
                                                             lock_waiters):
    # The retry arrives while the first request is still in its transaction:
    # its registration then fails on the id the first one inserted (a 409 from
    # the device service). The retry must get the first answer all the same.
    release, reached = _hold_first_call(monkeypatch, device_services, "register")
    request = {"device_id": "gate-1", "alg": "EdDSA", "kind": "scanner",
               "public_key": public_pem(generate_private_key("EdDSA"), "EdDSA")}
    headers = {**cast.customs.headers, "Idempotency-Key": "register-gate-1"}
    before = snapshot()
    answers = _first_and_racing_retry(app, "/api/v1/devices", headers, request, release,
                                      reached, lock_waiters)
    assert answers["first"].status_code == 201, answers["first"].get_json()
    assert answers["retry"].status_code == 201, answers["retry"].get_json()
    assert answers["retry"].headers["Idempotent-Replayed"] == "true"
    assert answers["retry"].get_json()["receipt"] == answers["first"].get_json()["receipt"]
    after = snapshot()
    assert after["devices"] == before["devices"] + 1
    assert after["ledger_entries"] == before["ledger_entries"] + 1


def test_a_retry_racing_a_cancellation_gets_the_first_answer(app, client, cast, snapshot,
                                                             monkeypatch, lock_waiters):
    # The retry waits for the document's lock and then finds it cancelled (409
    # from the service): it must get the first answer, as a later retry would.
    invoice = post_invoice(client, cast, "issue-1").get_json()
    release, reached = _hold_first_call(monkeypatch, document_services, "cancel")
    headers = {**cast.exporter.headers, "Idempotency-Key": "cancel-1"}
    before = snapshot()
    answers = _first_and_racing_retry(app, f"/api/v1/documents/{invoice['id']}/cancel", headers,
                                      None, release, reached, lock_waiters)
    assert answers["first"].status_code == 200, answers["first"].get_json()
    assert answers["retry"].status_code == 200, answers["retry"].get_json()
    assert answers["retry"].get_json() == answers["first"].get_json()
    assert snapshot()["ledger_entries"] == before["ledger_entries"] + 1
