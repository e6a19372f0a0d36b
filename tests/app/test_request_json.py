"""JSON request bodies (``app.request_json``): a member name repeated in any
object, at any depth, is a 400 naming it, on every route that takes a body;
everything else about reading bodies is as webargs does it."""

from __future__ import annotations

import json
import re

import pytest

from tests.app.conftest import example

REPEATED = b'{"a": 1, "a": 2}'


def body_routes(client) -> list[str]:
    """The path of every operation with a request body (all are POSTs)."""
    spec = client.get("/api/v1/openapi.json").get_json()
    routes = []
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if "requestBody" in operation:
                assert method == "post", path
                routes.append(path)
    return routes


def post_json(client, path: str, org, data: bytes):
    return client.post(path, headers=org.headers, data=data, content_type="application/json")


def test_every_route_taking_a_body_refuses_a_repeated_member_name(client, cast, snapshot):
    routes = body_routes(client)
    assert len(routes) == 10
    before = snapshot()
    for path in routes:
        url = re.sub(r"\{[^}]+\}", "doc_x", path)  # the body is read before the id is looked up
        for org in (cast.exporter, cast.customs, cast.admin):  # the first whose role may post
            response = post_json(client, url, org, REPEATED)
            if response.status_code != 403:
                break
        assert response.status_code == 400, (path, response.get_json())
        body = response.get_json()
        assert "'a'" in body["message"] and "'a'" in body["errors"]["json"][0], path
    assert snapshot() == before


def _repeat_member(text: str, member: str, value) -> bytes:
    """``text`` (a JSON object) with ``"member": value`` written again right
    after the first ``"member":`` pair, in the same object."""
    first = f'"{member}": '
    start = text.index(first) + len(first)
    return (text[:start] + json.dumps(value) + ", " + first + text[start:]).encode()


@pytest.mark.parametrize("path, member, value", [
    (("seller", "name"), "name", "Shanghai Lotus Export Co."),  # what the client displays
    (("line_items", 0, "quantity"), "quantity", "1"),
    ((), "type", "packing_list"),
])
def test_a_member_repeated_at_any_depth_is_400_naming_it(client, cast, snapshot, path, member,
                                                          value):
    content = example("commercial_invoice", cast)
    text = json.dumps({"type": "commercial_invoice", "content": content})
    inner = content
    for step in path[:-1]:
        inner = inner[step]
    if path:  # repeat the member inside the nested object, not at the top
        nested = json.dumps(inner)
        data = text.replace(nested, _repeat_member(nested, member, value).decode(), 1).encode()
    else:
        data = _repeat_member(text, member, value)
    before = snapshot()
    response = post_json(client, "/api/v1/documents", cast.exporter, data)
    assert response.status_code == 400, response.get_json()
    assert response.get_json()["message"] == (
        f"Invalid JSON body: the member name '{member}' is repeated in an object.")
    assert snapshot() == before


def test_a_repeated_member_in_a_public_jwk_is_400(client, cast, snapshot):
    x = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
    data = ('{"alg": "EdDSA", "public_key": {"kty": "OKP", "crv": "Ed25519", '
            f'"x": "{"A" * 43}", "x": "{x}"}}}}').encode()
    before = snapshot()
    response = post_json(client, "/api/v1/keys", cast.exporter, data)
    assert response.status_code == 400
    assert "'x'" in response.get_json()["message"]
    assert snapshot() == before


def test_the_same_name_in_different_objects_is_not_a_repeat(client, cast):
    # every line item and party has its own "name", "quantity", ...
    data = json.dumps({"type": "commercial_invoice",
                       "content": example("commercial_invoice", cast)}).encode()
    assert post_json(client, "/api/v1/documents", cast.exporter, data).status_code == 201


@pytest.mark.parametrize("data, status, errors", [
    (b"{not json", 400, {"json": ["Invalid JSON body."]}),
    (b"\xff\xfe{}", 400, {"json": ["Invalid JSON body."]}),
    (b"\xef\xbb\xbf{}", 400, {"json": ["Invalid JSON body."]}),  # a UTF-8 BOM, as webargs
    (b"   ", 400, {"json": ["Invalid JSON body."]}),
    (b"[" * 100_000, 400, {"json": ["Invalid JSON body."]}),  # too deep to parse: was a 500
    # NaN and Infinity are read; the schema refuses them where it takes no number
    (b'{"type": NaN, "content": {}}', 422, {"json": {"type": ["Not a valid string."]}}),
    (b'{"type": "commercial_invoice", "content": -Infinity}', 422,
     {"json": {"content": ["Not a valid mapping type."]}}),
    (b"", 422, {"json": {"type": ["Missing data for required field."],
                         "content": ["Missing data for required field."]}}),
])
def test_other_bodies_are_answered_as_before(client, cast, snapshot, data, status, errors):
    before = snapshot()
    response = post_json(client, "/api/v1/documents", cast.exporter, data)
    assert (response.status_code, response.get_json()["errors"]) == (status, errors)
    assert snapshot() == before


def test_an_oversized_body_is_413_even_with_a_repeated_member(client, cast, snapshot):
    data = b'{"a": 1, "a": 2, "pad": "' + b"x" * (2 * 1024 * 1024) + b'"}'
    before = snapshot()
    response = post_json(client, "/api/v1/documents", cast.exporter, data)
    assert response.status_code == 413 and response.get_json()["code"] == 413
    assert snapshot() == before


def test_a_body_that_is_not_json_is_not_read_as_json(client, cast, snapshot):
    before = snapshot()
    response = client.post("/api/v1/documents", headers=cast.exporter.headers,
                           data=REPEATED, content_type="text/plain")
    assert response.status_code == 422  # no body: the required fields are missing
    assert snapshot() == before


@pytest.mark.parametrize("charset", ["latin-1", "ISO-8859-1", "utf-16", "us-ascii"])
def test_a_json_body_labelled_with_another_charset_is_415_naming_it(client, cast, snapshot,
                                                                     charset):
    # JSON is UTF-8 (RFC 8259 section 8.1): read as UTF-8, these bytes would not
    # be the text their sender meant ("\xc3\xa4" is "\u00c3\u00a4" in Latin-1).
    data = json.dumps({"type": "commercial_invoice",
                       "content": example("commercial_invoice", cast)}).encode()
    before = snapshot()
    response = client.post("/api/v1/documents", headers=cast.exporter.headers, data=data,
                           content_type=f"application/json; charset={charset}")
    assert response.status_code == 415, response.get_json()
    message = f"Invalid JSON body: the charset {charset!r} is not UTF-8."
    assert response.get_json()["errors"] == {"json": [message]}
    assert snapshot() == before


@pytest.mark.parametrize("charset", ["utf-8", "UTF-8", "utf8"])
def test_a_json_body_labelled_utf8_is_read(client, cast, charset):
    data = json.dumps({"type": "commercial_invoice",
                       "content": example("commercial_invoice", cast)}).encode()
    response = client.post("/api/v1/documents", headers=cast.exporter.headers, data=data,
                           content_type=f"application/json; charset={charset}")
    assert response.status_code == 201, response.get_json()
