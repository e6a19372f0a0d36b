"""Structured logs: one JSON object per line on stderr.

Log calls name an event and its fields (``log_event(log, INFO, "batch_committed",
size=12)``); payloads and tokens are never logged, only their sizes, digests
and the reasons they were refused. A traceback is logged as
``app.db_errors.safe_traceback`` tells it: a database error's text can quote
the row it refused (an event's JWS, a quarantined payload), so it is
described by its SQLSTATE and constraint instead.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import datetime, timezone
from typing import Any

from app.db_errors import safe_traceback

_FIELDS = "tz_fields"


class JsonLineFormatter(logging.Formatter):
    """``{"ts", "level", "logger", "event", ...fields}`` on one line."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, timezone.utc)
            .isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        line.update(getattr(record, _FIELDS, {}))
        if record.exc_info and record.exc_info[1] is not None:
            line["error"] = safe_traceback(record.exc_info[1])
        return json.dumps(line, default=str, separators=(",", ":"))


def log_event(logger: logging.Logger, level: int, event: str, exc_info: bool = False,
              **fields: Any) -> None:
    """Log ``event`` with ``fields`` as JSON members (nothing is formatted into text).
    ``exc_info``: the exception being handled goes in as the field ``error``, its
    safe traceback (the record itself carries no exception for a handler to print)."""
    if logger.isEnabledFor(level):
        error = sys.exc_info()[1] if exc_info else None
        if error is not None:
            fields["error"] = safe_traceback(error)
        logger.log(level, event, extra={_FIELDS: fields})


def configure(level: str = "INFO") -> None:
    """Send the ``iot_gateway`` loggers to stderr as JSON lines."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLineFormatter())
    root = logging.getLogger("iot_gateway")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False
