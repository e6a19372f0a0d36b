"""Headers that tell a browser how to treat every answer of the API.

The set is the OWASP REST Security Cheat Sheet's list for all API responses:
never cache (documents, receipts and new tokens are confidential), never
guess a content type, never be framed. An answer that chose its own cache
policy keeps it (proofs never change, so caches may keep them; Swagger UI's
assets), and the regulator's console sets its own, stricter, headers first.
Strict-Transport-Security is left to the TLS terminator in front of
gunicorn: browsers ignore it over plain HTTP.
"""

from __future__ import annotations

from flask import Flask, Response

API_RESPONSE_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
}


def install(app: Flask) -> None:
    """Add the headers to every answer of ``app`` that has not set them itself."""
    app.after_request(_add_missing_headers)


def _add_missing_headers(response: Response) -> Response:
    headers = response.headers
    for name, value in API_RESPONSE_HEADERS.items():
        if name not in headers:
            headers[name] = value
    return response
