"""The bearer token format: ``tz_<token id>_<secret>``.

The id finds the stored row; the secret is checked against its SHA-256 in
constant time. Secrets are 256 random bits, so a plain hash is enough (a
slow password hash protects guessable secrets, which these are not).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

_TOKEN = re.compile(r"tz_([a-z2-7]{16})_([A-Za-z0-9_-]{43})")


@dataclass(frozen=True)
class TokenText:
    token_id: str
    secret: str

    def __str__(self) -> str:
        return f"tz_{self.token_id}_{self.secret}"


def new_identifier(prefix: str, length: int = 16) -> str:
    """A random lower-case base32 identifier, e.g. ``org_7h3k...``."""
    raw = base64.b32encode(secrets.token_bytes(length)).decode().lower().rstrip("=")
    return f"{prefix}{raw[:length]}"


def identifier_pattern(prefix: str, length: int = 16) -> str:
    """The anchored regular expression every ``new_identifier(prefix, length)`` matches.

    Ids from a request are checked against it before any look-up: one that does
    not match names nothing, and some (a NUL) would make PostgreSQL fail the query.
    """
    return rf"^{re.escape(prefix)}[a-z2-7]{{{length}}}$"


def is_identifier(value: str, prefix: str, length: int = 16) -> bool:
    """Whether ``value`` could be a ``new_identifier(prefix, length)``."""
    return re.fullmatch(identifier_pattern(prefix, length), value) is not None


def new_token() -> TokenText:
    return TokenText(new_identifier("", 16), secrets.token_urlsafe(32))


def parse_token(presented: str) -> TokenText | None:
    """The token's parts, or None when it is not in the token format."""
    match = _TOKEN.fullmatch(presented)
    return TokenText(match[1], match[2]) if match else None


def hash_secret(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def secret_matches(secret: str, stored_hash: bytes) -> bool:
    return hmac.compare_digest(hash_secret(secret), stored_hash)
