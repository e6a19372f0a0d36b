"""Hostile values in every path parameter, query parameter and JSON body member
of every operation in the OpenAPI document, as every role: bad input is a 4xx
in the error shape, never a 500 (the platform's promise for bad input).

The values are the ones that break services in practice: text that is no
UTF-8 (a lone surrogate, escaped in JSON or percent-encoded in a URL), NUL,
numbers past 64 bits or past a float, impossible dates, huge strings,
containers where scalars belong and the reverse."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest

from tests.app.conftest import example

# Percent-encoded as they stand: no str holds them (\xff is no UTF-8 lead
# byte; ED A0 80 is the UTF-8 form of the surrogate U+D800, which UTF-8 forbids).
RAW_URL_VALUES = ["%FF", "%ED%A0%80", "%00", "%C0%AF"]
TEXT_VALUES = ["", " ", "a\x00b", "\u202e", "\U0001f600", "x" * 3000, "9" * 40, "-1", "0",
               "1e400", "NaN", "null", "../..", "%", "' OR 1=1 --", "2026-02-30T00:00:00Z",
               "9999-12-31T23:59:59Z", "0000-01-01"]
JSON_VALUES: list[Any] = [None, True, 0, -1, 2 ** 63, 2 ** 64, -(2 ** 63) - 1, 10 ** 400, 1.5,
                          1e308, -0.0, "", "\ud800", "a\x00b", "x" * 3000, "9" * 40,
                          "2026-02-30T00:00:00Z", [], {}, [None], {"": None}]


def operations(client) -> Iterator[tuple[str, str, dict]]:
    spec = client.get("/api/v1/openapi.json").get_json()
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method != "parameters":
                yield method, path, operation


def valid_body(world: dict, path: str, operation: dict) -> Any:
    """The world's body for the operation, else its OpenAPI example; None
    for an operation that takes no body."""
    if "requestBody" not in operation:
        return None
    return world["bodies"].get(path, request_example(operation))


def request_example(operation: dict) -> Any:
    for content in operation.get("requestBody", {}).get("content", {}).values():
        if "example" in content:
            return content["example"]
        for named in content.get("examples", {}).values():
            return named.get("value")
    return None


def with_value(document: Any, path: tuple, value: Any) -> Any:
    """A copy of ``document`` with the member at ``path`` replaced by ``value``."""
    if not path:
        return value
    copied = json.loads(json.dumps(document))
    target = copied
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return copied


def member_paths(document: Any, prefix: tuple = ()) -> Iterator[tuple]:
    """Every member and item of a JSON document, the document itself first."""
    yield prefix
    if isinstance(document, dict):
        for key, value in document.items():
            yield from member_paths(value, prefix + (key,))
    elif isinstance(document, list):
        for index, value in enumerate(document):
            yield from member_paths(value, prefix + (index,))


@pytest.fixture
def world(client, cast, submit):
    """Real ids for the path parameters, so a hostile value in one parameter
    meets the code behind the others, and a valid body for each POST that
    takes one (the OpenAPI examples name organisations that do not exist), so
    a hostile value in one member meets the checks behind the others."""
    invoice = submit("commercial_invoice")
    ebl = submit("bill_of_lading")
    terms = {"recipient_org_id": cast.importer.org_id, "purpose": "payment",
             "document_ids": [invoice["id"]], "data_categories": ["reference", "commercial"],
             "destination": "DE", "expires_at": "2099-01-01T00:00:00Z"}
    consent = client.post("/api/v1/consents", headers=cast.exporter.headers, json=terms)
    assert consent.status_code == 201, consent.get_json()
    transfer = client.post(f"/api/v1/documents/{ebl['id']}/transfers",
                           headers=cast.exporter.headers, json={"to_org_id": cast.bank.org_id})
    assert transfer.status_code == 201, transfer.get_json()
    ids = {"document_id": invoice["id"], "consent_id": consent.get_json()["id"],
           "transfer_id": transfer.get_json()["id"], "org_id": cast.exporter.org_id,
           "token_id": "tok_aaaaaaaaaaaaaaaa", "key_id": "key_aaaaaaaaaaaaaaaa",
           "device_id": "dev-0001", "index": "1"}
    bodies = {
        "/api/v1/documents": {"type": "commercial_invoice",
                              "content": example("commercial_invoice", cast)},
        "/api/v1/documents/{document_id}/versions": {
            "content": example("commercial_invoice", cast)},
        "/api/v1/consents": terms,
        "/api/v1/consents/{consent_id}/limit": {"data_categories": ["commercial"]},
    }
    return {"ids": ids, "bodies": bodies, "ebl_id": ebl["id"]}


def send(client, method: str, url: str, headers: dict, body: Any = None):
    data = None if body is None else json.dumps(body)
    return client.open(url, method=method.upper(), headers={
        **headers, **({"Content-Type": "application/json"} if data is not None else {})},
        data=data)


def check(response, what: str, failures: list[str]) -> None:
    if response.status_code >= 500:
        failures.append(f"{response.status_code} {what}: {response.get_data(as_text=True)[:200]}")
    elif response.status_code >= 400:
        body = response.get_json(silent=True)
        if not isinstance(body, dict) or body.get("code") != response.status_code:
            failures.append(f"{response.status_code} without the error shape {what}: {body}")


def fill(path: str, values: dict[str, str], hostile: tuple[str, str] | None = None) -> str:
    def one(match: re.Match) -> str:
        name = match.group(1)
        if hostile is not None and hostile[0] == name:
            return hostile[1]
        return quote(values[name], safe="")
    return re.sub(r"\{(\w+)\}", one, path)


def url_values() -> list[str]:
    return [quote(text, safe="") for text in TEXT_VALUES] + RAW_URL_VALUES


def test_hostile_path_and_query_values_are_never_a_500(client, cast, world):
    roles = (cast.exporter, cast.importer, cast.customs, cast.regulator, cast.admin)
    failures: list[str] = []
    for method, path, operation in operations(client):
        names = [(p["in"], p["name"]) for p in operation.get("parameters", [])]
        body = valid_body(world, path, operation)
        for where, name in names:
            if where not in ("path", "query"):
                continue
            for value in url_values():
                if where == "path":
                    url = fill(path, world["ids"], (name, value))
                else:
                    url = f"{fill(path, world['ids'])}?{name}={value}"
                for org in roles:
                    check(send(client, method, url, org.headers, body),
                          f"{method.upper()} {url[:120]} as {org.role.value}", failures)
    assert failures == []


def test_hostile_json_members_are_never_a_500(client, cast, world):
    owner = {"/api/v1/devices": cast.customs, "/api/v1/orgs": cast.admin,
             "/api/v1/orgs/{org_id}/tokens": cast.admin}
    failures: list[str] = []
    for method, path, operation in operations(client):
        body = valid_body(world, path, operation)
        if body is None:
            continue
        org = owner.get(path, cast.exporter)
        ids = dict(world["ids"])
        if path.endswith("/transfers"):  # an eBL's holder offering it
            ids["document_id"], body = world["ebl_id"], {"to_org_id": cast.carrier.org_id}
        url = fill(path, ids)
        for member in member_paths(body):
            for value in JSON_VALUES:
                check(send(client, method, url, org.headers, with_value(body, member, value)),
                      f"{method.upper()} {path} {member}={str(value)[:40]!r}", failures)
    assert failures == []


def test_hostile_idempotency_keys_are_never_a_500(client, cast, world):
    failures: list[str] = []
    body = {"type": "commercial_invoice", "content": {}}
    for key in TEXT_VALUES[:8] + ["k" * 300]:
        try:
            response = send(client, "post", "/api/v1/documents",
                            {**cast.exporter.headers, "Idempotency-Key": key}, body)
        except ValueError:  # a header value the test client itself refuses (NUL)
            continue
        check(response, f"Idempotency-Key {key[:40]!r}", failures)
    assert failures == []
