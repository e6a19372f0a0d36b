"""``Idempotency-Key`` on POST: a retried request gets the first answer and
writes nothing twice.

The first answer is stored in the same transaction as the write it reports,
keyed by (organisation, key) together with a fingerprint of the request; the
same key with a different request is refused.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from flask import Response, request
from marshmallow import Schema
from sqlalchemy import Integer, LargeBinary, String, Text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from .db import Base, UtcDateTime
from .errors import AppError, BadRequest, ValidationFailed
from .identity.auth import current_principal
from .platform import current_platform

HEADER = "Idempotency-Key"
_KEY = re.compile(r"[\x21-\x7e]{1,128}")


class IdempotencyRecord(Base):
    __tablename__ = "idempotency_records"

    org_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    fingerprint: Mapped[bytes] = mapped_column(LargeBinary(32))
    status_code: Mapped[int] = mapped_column(Integer)
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


@dataclass(frozen=True)
class WriteResult:
    """A write's answer: ``body``, or with ``schema`` the fields it dumps into the
    body. The dump waits until the transaction has ended (and so the writers'
    lock is free) unless an idempotency record must store the body with it."""

    status: int
    body: dict
    schema: Schema | None = None

    def render(self) -> str:
        body = self.schema.dump(self.body) if self.schema is not None else self.body
        return json.dumps(body, separators=(",", ":"))


def _fingerprint() -> bytes:
    digest = hashlib.sha256()
    for part in (request.method.encode(), request.full_path.encode(), request.get_data()):
        digest.update(len(part).to_bytes(8, "big") + part)
    return digest.digest()


def _json_response(status: int, body: str, replayed: bool) -> Response:
    response = Response(body, status=status, mimetype="application/json")
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return response


def _replay(record: IdempotencyRecord, fingerprint: bytes) -> Response:
    if record.fingerprint != fingerprint:
        raise ValidationFailed(f"{HEADER} {record.key!r} was already used for a different request",
                               errors={"headers": {HEADER: ["reused with a different request"]}})
    return _json_response(record.status_code, record.body, replayed=True)


def shown_once(response: Response, **secrets: str) -> Response:
    """Add ``secrets`` (a password, a token) to a write's first answer only: the
    stored answer that an Idempotency-Key replays never holds them, since
    secrets are kept only as hashes. A refusal is left as it is."""
    if response.status_code >= 300 or response.headers.get("Idempotent-Replayed"):
        return response
    body = json.loads(response.get_data())
    body.update(secrets)
    response.set_data(json.dumps(body, separators=(",", ":")))
    return response


def perform_write(action: Callable[[Session], WriteResult]) -> Response:
    """Run ``action`` in a write transaction, honouring ``Idempotency-Key``."""
    platform, principal = current_platform(), current_principal()
    key = request.headers.get(HEADER)
    if key is not None and not _KEY.fullmatch(key):
        raise BadRequest(f"{HEADER} must be 1 to 128 printable ASCII characters",
                         errors={"headers": {HEADER: ["malformed"]}})
    fingerprint = _fingerprint() if key else b""
    try:
        with platform.db.write() as session:
            if key:
                stored = session.get(IdempotencyRecord, (principal.org_id, key))
                if stored is not None:
                    return _replay(stored, fingerprint)
            result = action(session)
            if key:
                session.add(IdempotencyRecord(
                    org_id=principal.org_id, key=key, fingerprint=fingerprint,
                    status_code=result.status, body=result.render(), created_at=platform.now()))
    except (IntegrityError, AppError):
        # A concurrent request with the same key committed first (PostgreSQL):
        # this transaction rolled back whole; answer with the first one's result.
        # Its action may itself have failed on what the first one wrote (a
        # device id it registered: 409; a document it cancelled: 409), once it
        # had waited for it: a refusal with a stored answer is replayed too.
        if not key:
            raise
        with platform.db.read() as session:
            stored = session.get(IdempotencyRecord, (principal.org_id, key))
            if stored is None:
                raise
            return _replay(stored, fingerprint)
    return _json_response(result.status, result.render(), replayed=False)
