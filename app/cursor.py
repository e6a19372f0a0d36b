"""Page cursors for lists ordered newest first by (created_at, id).

A cursor is the last row's time and id, JSON in unpadded base64url: opaque
to clients, and a malformed one is a 422 naming the ``cursor`` parameter.
"""

from __future__ import annotations

import base64
import json
from datetime import datetime, timezone

from sqlalchemy import and_, or_

from .errors import ValidationFailed


def encode_cursor(created_at: datetime, row_id: str) -> str:
    raw = json.dumps([created_at.isoformat(), row_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """The (created_at, id) of a cursor from :func:`encode_cursor`, or 422."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        created, last_id = json.loads(base64.urlsafe_b64decode(padded))
        created = datetime.fromisoformat(created)
        if created.tzinfo is None:  # we only ever write aware times
            raise ValueError("cursor time has no offset")
        return created.astimezone(timezone.utc), str(last_id)
    except (ValueError, TypeError, OverflowError) as error:
        raise ValidationFailed("malformed cursor",
                               errors={"query": {"cursor": ["malformed"]}}) from error


def after_cursor(decoded: tuple[datetime, str], created_column, id_column):
    """The rows that come after the cursor's row, newest first."""
    created, last_id = decoded
    return or_(created_column < created, and_(created_column == created, id_column < last_id))
