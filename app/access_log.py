"""gunicorn's logger with a cheaper access-log line (``tradezone serve``).

For every request, gunicorn's own logger builds a dictionary of every request
header, response header and WSGI environ variable, escapes each value, and
only then formats the line, whatever the format uses. On a proof fetch, the
busiest read, that was an eighth of a worker's CPU (bench/api_bench.py
``--profile proof``). This logger writes the same line in gunicorn's default
format (Apache's combined log format) from the six values it names, with
any credential in the URL or the Referer redacted. Headers (Authorization,
Cookie), the console's CSRF field and request bodies are never logged.
"""

from __future__ import annotations

import re

from gunicorn.config import AccessLogFormat
from gunicorn.glogging import Logger

COMBINED_FORMAT = AccessLogFormat.default

# The API reads tokens from the Authorization header only, but a client may
# still put one in a URL (``?access_token=...``), and a page's URL comes back
# as the next request's Referer: a token's secret (``tz_<id>_<secret>``,
# app/identity/tokens.py) and the value of a parameter named like a credential
# are written as "[redacted]". The token id stays, to tell which token leaked.
REDACTED = "[redacted]"
_TOKEN_SECRET = re.compile(r"(tz_[a-z2-7]{16}_)[A-Za-z0-9_-]+")
_CREDENTIAL_PARAMETER = re.compile(
    r"([?&;](?:access_token|token|csrf|csrf_token|password|secret|api_key|session)=)"
    r"(?!tz_[a-z2-7]{16}_\[redacted\])[^&;#]*",  # a token whose secret is out already
    re.IGNORECASE)


def redact(text: str) -> str:
    """``text`` (a URL) with token secrets and credential parameters' values redacted."""
    if "tz_" not in text and "=" not in text:
        return text  # the common case, without a regular expression
    text = _TOKEN_SECRET.sub(rf"\1{REDACTED}", text)
    return _CREDENTIAL_PARAMETER.sub(rf"\1{REDACTED}", text)


def _quoted(text: str) -> str:
    return '"' + text.replace('"', '\\"') + '"'


class AccessLogger(Logger):
    """gunicorn's ``Logger``; with the default access-log format, each line is
    written directly. The user field is always ``-``: the API takes bearer
    tokens, never the basic-auth user name that field holds."""

    def access(self, resp, req, environ, request_time) -> None:
        if not self.cfg.accesslog or self.cfg.access_log_format != COMBINED_FORMAT:
            super().access(resp, req, environ, request_time)  # other formats, or off
            return
        status = resp.status
        if isinstance(status, str):
            status = status.split(None, 1)[0]
        sent = getattr(resp, "sent", None)
        request_line = (f"{environ['REQUEST_METHOD']} {redact(environ['RAW_URI'])} "
                        f"{environ['SERVER_PROTOCOL']}")
        line = " ".join((
            environ.get("REMOTE_ADDR", "-"), "-", "-", self.now(), _quoted(request_line),
            str(status), "-" if sent is None else str(sent),
            _quoted(redact(environ.get("HTTP_REFERER", "-"))),
            _quoted(environ.get("HTTP_USER_AGENT", "-")),
        ))
        try:
            self.access_log.info(line)  # no arguments: a "%" in the line stays as it is
        except Exception:  # as gunicorn does: a failed access line never fails the request
            self.exception("access log line failed")
