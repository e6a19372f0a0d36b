"""What the OpenAPI document states once for every operation, where no route's
decorators say it (an apispec plugin run on each path as it is registered),
and the document types' content schemas.

- a 404 on every route with an id in its path (nothing by that id, or
  nothing the caller may see: the two are never told apart);
- a 413 on every request body (``MAX_CONTENT_LENGTH``), a 415 for one
  labelled with a charset other than UTF-8, and a 400 for one that is not
  JSON or repeats a member name (:mod:`app.request_json`);
- the ``Idempotency-Key`` header on every POST (every API write goes through
  :func:`app.idempotency.perform_write`), with its 400 (malformed) and 422
  (reused with another request).
"""

from __future__ import annotations

from typing import Any

from apispec import APISpec, BasePlugin

from .documents.types import DOCUMENT_TYPES
from .idempotency import HEADER

ERROR_SCHEMA = "Error"  # flask-smorest's error schema component

IDEMPOTENCY_PARAMETER = {
    "in": "header", "name": HEADER, "required": False,
    "schema": {"type": "string", "pattern": r"^[\x21-\x7e]{1,128}$"},
    "description": "1 to 128 printable ASCII characters; a retry with the same key and the "
                   "same request gets the first answer (header Idempotent-Replayed: true) and "
                   "writes nothing; the same key with another request is a 422",
    "example": "invoice-2026-0117-submit",
}


def _error(description: str) -> dict[str, Any]:
    return {"description": description,
            "content": {"application/json": {"schema": ERROR_SCHEMA}}}


class SharedResponsesPlugin(BasePlugin):
    """Adds the shared responses and header to each operation (see the module)."""

    def operation_helper(self, path: str | None = None, operations: dict | None = None,
                         **kwargs: Any) -> None:
        has_ids = path is not None and ("{" in path or "<" in path)
        for method, operation in (operations or {}).items():
            responses = operation.setdefault("responses", {})
            if has_ids:
                responses.setdefault("404", _error("no such resource, or none you may see"))
            bad_requests = []
            if "requestBody" in operation:
                responses.setdefault("413", _error("the body is larger than the server takes"))
                responses.setdefault("415", _error("the body's charset is not UTF-8"))
                bad_requests.append("a body that is not JSON or repeats a member name")
            if method == "post":
                operation.setdefault("parameters", []).append(IDEMPOTENCY_PARAMETER)
                bad_requests.append(f"a malformed {HEADER}")
                responses.setdefault("422", _error(f"{HEADER} reused with another request, "
                                                   "or a field that is not valid"))
            if bad_requests:
                responses.setdefault("400", _error(", or ".join(bad_requests)))


def register_document_types(spec: APISpec) -> None:
    """Each document type's content schema as a component, which ``Submit.content``
    and ``Amend.content`` name (their field is a plain object, checked against the
    type's schema by the service)."""
    for _, document_type in sorted(DOCUMENT_TYPES.items()):
        spec.components.schema(document_type.schema_name, schema=document_type.schema)
