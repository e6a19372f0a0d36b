"""Query strings (``app.request_query``): a parameter given more than once is a
422 naming it on every route that reads a query, the ledger's proof routes
included; a field that takes a list still takes every value of its key."""

from __future__ import annotations

import re

import pytest
from flask_smorest import Blueprint
from marshmallow import fields

REPEATED = {"Given more than once."}


def query_parameters(client) -> list[tuple[str, str]]:
    """(path, name) of every query parameter of every operation (all are GETs)."""
    spec = client.get("/api/v1/openapi.json").get_json()
    found = []
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            for parameter in operation.get("parameters", []) if method != "parameters" else []:
                if parameter["in"] == "query":
                    assert method == "get", path
                    found.append((path, parameter["name"]))
    return found


def get_as_anyone(client, cast, url: str):
    """GET ``url`` as the first organisation of the cast it is open to."""
    for org in (cast.regulator, cast.customs, cast.exporter, cast.admin):
        response = client.get(url, headers=org.headers)
        if response.status_code not in (401, 403):
            return response
    raise AssertionError(f"{url} is open to no one in the cast")


def test_every_query_parameter_given_twice_is_422_naming_it(client, cast, snapshot):
    parameters = query_parameters(client)
    assert {path for path, _ in parameters} >= {
        "/api/v1/documents", "/api/v1/consents", "/api/v1/devices", "/api/v1/audit/entries",
        "/api/v1/ledger/entries", "/api/v1/ledger/proofs/inclusion"}
    before = snapshot()
    for path, name in parameters:
        url = re.sub(r"\{[^}]+\}", "x_1", path)  # the query is read before the id is looked up
        response = get_as_anyone(client, cast, f"{url}?{name}=1&{name}=1")
        assert response.status_code == 422, (path, name, response.get_json())
        assert response.get_json()["errors"]["query"] == {name: ["Given more than once."]}, path
    assert snapshot() == before


def test_a_repeated_status_no_longer_lists_by_the_first(client, cast, submit):
    issued = submit("packing_list")
    cancelled = submit("commercial_invoice")
    client.post(f"/api/v1/documents/{cancelled['id']}/cancel", headers=cast.exporter.headers)
    url = "/api/v1/documents?status={}"
    response = client.get(url.format("issued&status=cancelled"), headers=cast.exporter.headers)
    assert response.status_code == 422
    assert response.get_json()["errors"]["query"] == {"status": ["Given more than once."]}
    once = client.get(url.format("cancelled"), headers=cast.exporter.headers)
    assert once.status_code == 200
    assert [item["id"] for item in once.get_json()["items"]] == [cancelled["id"]]
    assert issued["id"] != cancelled["id"]


def test_every_repeated_parameter_is_named_and_a_renamed_one_by_its_query_name(client, cast):
    response = client.get("/api/v1/audit/entries?from=2026-01-01T00:00:00Z&type=a&limit=5"
                          "&type=b&from=2026-01-02T00:00:00Z", headers=cast.regulator.headers)
    assert response.status_code == 422
    assert response.get_json()["errors"]["query"] == {"from": ["Given more than once."],
                                                      "type": ["Given more than once."]}


def test_a_devices_listing_takes_one_status_and_refuses_two(client, cast):
    once = client.get("/api/v1/devices?status=active&limit=5", headers=cast.customs.headers)
    assert once.status_code == 200, once.get_json()
    twice = client.get("/api/v1/devices?status=active&limit=5&status=revoked",
                       headers=cast.customs.headers)
    assert twice.status_code == 422
    assert twice.get_json()["errors"]["query"] == {"status": ["Given more than once."]}


def test_an_unknown_parameter_given_twice_is_answered_as_unknown(client, cast):
    response = client.get("/api/v1/devices?stauts=a&stauts=b", headers=cast.customs.headers)
    assert response.status_code == 422
    assert response.get_json()["errors"]["query"] == {"stauts": ["Unknown field."]}


@pytest.mark.parametrize("query, name", [
    ("index=0&tree_size=2&index=1", "index"),  # canonical integers: the fast path's kind
    ("index=0&tree_size=2&tree_size=2", "tree_size"),  # even the same value twice
    ("index=0&index=x&tree_size=2", "index"),
])
def test_a_proof_parameter_given_twice_is_422_naming_it(client, cast, query, name):
    response = client.get(f"/api/v1/ledger/proofs/inclusion?{query}")
    assert response.status_code == 422, response.get_json()
    assert response.get_json()["errors"]["query"] == {name: ["Given more than once."]}
    consistency = client.get("/api/v1/ledger/proofs/consistency?first=1&second=2&second=2")
    assert consistency.status_code == 422
    assert consistency.get_json()["errors"]["query"] == {"second": ["Given more than once."]}


def test_a_proof_query_given_once_is_answered(client, cast):
    response = client.get("/api/v1/ledger/proofs/inclusion?index=0&tree_size=2&extra=1&extra=2")
    assert response.status_code == 200, response.get_json()  # unknown names are ignored here
    assert (response.get_json()["index"], response.get_json()["tree_size"]) == (0, 2)


@pytest.mark.parametrize("location", ["query", "querystring"])
def test_a_list_field_still_takes_every_value_of_a_repeated_key(app, location):
    parser = Blueprint.ARGUMENTS_PARSER
    argmap = {"tag": fields.List(fields.String()), "one": fields.String()}
    with app.test_request_context("/?tag=a&one=x&tag=b"):
        assert parser.parse(argmap, location=location) == {"tag": ["a", "b"], "one": "x"}
    with app.test_request_context("/?tag=a&one=x&one=y"):
        with pytest.raises(Exception) as refused:
            parser.parse(argmap, location=location)
        assert refused.value.code == 422
        assert refused.value.data["messages"] == {location: {"one": ["Given more than once."]}}
