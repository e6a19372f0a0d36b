"""Pages of lists ordered newest first by (created_at, id), and their cursors.

A cursor is the last row's time and id, JSON in unpadded base64url: opaque
to clients, and a malformed one is a 422 naming the ``cursor`` parameter.
"""

from __future__ import annotations

import base64
import json
from datetime import datetime, timezone

from sqlalchemy import Select, and_, or_
from sqlalchemy.orm import Session

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


def newest_first_page(session: Session, query: Select, created_column, id_column, limit: int,
                      cursor: str | None) -> tuple[list, str | None]:
    """One page of ``query``'s rows (ORM objects), newest first from after
    ``cursor``, and the cursor of the next page (None at the end)."""
    if cursor:
        created, last_id = decode_cursor(cursor)
        query = query.where(or_(created_column < created,
                                and_(created_column == created, id_column < last_id)))
    rows = list(session.scalars(
        query.order_by(created_column.desc(), id_column.desc()).limit(limit + 1)))
    page = rows[:limit]
    if len(rows) <= limit:
        return page, None
    last = page[-1]
    return page, encode_cursor(getattr(last, created_column.key), getattr(last, id_column.key))
