"""The OpenAPI document: every route with its schemas, errors and examples."""

from __future__ import annotations

import pytest

from app.consent.schemas import GRANT_EXAMPLE, LIMIT_EXAMPLE, GrantSchema, LimitSchema
from app.devices.schemas import REGISTER_EXAMPLE, RegisterSchema
from app.documents import services
from app.documents.schemas import (
    SIGNATURE_EXAMPLE, TRANSFER_EXAMPLE, AmendSchema, SignatureSubmitSchema, SubmitSchema,
    TransferOfferSchema, amend_example, submit_examples,
)
from app.documents.types import DOCUMENT_TYPES
from app.identity.schemas import (
    ORG_EXAMPLE, TOKEN_EXAMPLE, OrganizationCreateSchema, TokenCreateSchema,
)
from app.idempotency import HEADER
from app.signing.views import SigningKeyRegisterSchema
from ledger.jws import parse_compact
from ledger.publickeys import load_public_key

METHODS = ("get", "post", "put", "patch", "delete")


@pytest.fixture
def spec(client):
    return client.get("/api/v1/openapi.json").get_json()


def operations(spec):
    for path, item in spec["paths"].items():
        for method in METHODS:
            if method in item:
                yield path, method, item[method]


def test_every_route_with_an_id_documents_404(spec):
    missing = [(method, path) for path, method, op in operations(spec)
               if "{" in path and "404" not in op["responses"]]
    assert missing == []


def test_every_request_body_documents_400_413_415_422_and_has_an_example(spec):
    bodies = [(path, method, op) for path, method, op in operations(spec) if "requestBody" in op]
    assert len(bodies) == 10
    for path, method, op in bodies:
        assert {"400", "413", "415", "422"} <= set(op["responses"]), (method, path)
        assert "repeats a member name" in op["responses"]["400"]["description"], (method, path)
        media = op["requestBody"]["content"]["application/json"]
        assert media.get("example") or media.get("examples"), (method, path)


def test_every_post_takes_an_idempotency_key_and_documents_its_errors(spec):
    posts = [(path, op) for path, method, op in operations(spec) if method == "post"]
    assert len(posts) == 18
    for path, op in posts:
        headers = [p["name"] for p in op.get("parameters", []) if p["in"] == "header"]
        assert headers == [HEADER], path
        assert {"400", "422"} <= set(op["responses"]), path


@pytest.mark.parametrize("path, method", [
    ("/api/v1/consents/{consent_id}/revoke", "post"),
    ("/api/v1/consents/{consent_id}/limit", "post"),
    ("/api/v1/keys/{key_id}/revoke", "post"),
    ("/api/v1/orgs/{org_id}/tokens/{token_id}/revoke", "post"),
    ("/api/v1/devices/{device_id}/revoke", "post"),
    ("/api/v1/documents/{document_id}/versions", "post"),
    ("/api/v1/documents/{document_id}/cancel", "post"),
    ("/api/v1/documents/{document_id}/surrender", "post"),
    ("/api/v1/documents/{document_id}/signatures", "post"),
    ("/api/v1/documents/{document_id}/transfers", "post"),
    ("/api/v1/documents/{document_id}/transfers/{transfer_id}/accept", "post"),
    ("/api/v1/documents/{document_id}/transfers/{transfer_id}/reject", "post"),
])
def test_state_changes_the_state_may_forbid_document_409(spec, path, method):
    assert "409" in spec["paths"][path][method]["responses"]


def test_document_content_is_one_of_the_types_schemas(spec):
    schemas = spec["components"]["schemas"]
    for name in ("Submit", "Amend"):
        one_of = [ref["$ref"].rsplit("/", 1)[1] for ref in
                  schemas[name]["properties"]["content"]["oneOf"]]
        assert sorted(one_of) == sorted(t.schema_name for t in DOCUMENT_TYPES.values())
    assert "customs_authority_org_id" in schemas["CustomsDeclaration"]["required"]
    assert schemas["CommercialInvoice"]["properties"]["seller"]["$ref"].endswith(
        "/TaxRegisteredParty")


def test_submit_has_an_example_of_every_type_and_each_validates(spec):
    body = spec["paths"]["/api/v1/documents"]["post"]["requestBody"]
    examples = body["content"]["application/json"]["examples"]
    assert sorted(examples) == sorted(DOCUMENT_TYPES)
    for name, example in submit_examples().items():
        request = SubmitSchema().load(example["value"])
        services.validate_content(name, request["content"])  # raises on a bad example


def test_the_other_examples_load_through_their_schemas():
    AmendSchema().load(amend_example())
    services.validate_content("commercial_invoice", amend_example()["content"])
    TransferOfferSchema().load(TRANSFER_EXAMPLE)
    OrganizationCreateSchema().load(ORG_EXAMPLE)
    TokenCreateSchema().load(TOKEN_EXAMPLE)
    GrantSchema().load(GRANT_EXAMPLE)
    LimitSchema().load(LIMIT_EXAMPLE)
    registered = RegisterSchema().load(REGISTER_EXAMPLE)
    load_public_key(registered["alg"], registered["public_key"])
    key = SigningKeyRegisterSchema().load({"alg": "EdDSA",
                                           "public_key": REGISTER_EXAMPLE["public_key"]})
    load_public_key(key["alg"], key["public_key"])
    jws = SignatureSubmitSchema().load(SIGNATURE_EXAMPLE)["jws"]
    assert parse_compact(jws).kid.startswith("key_")
