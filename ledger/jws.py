"""Compact JWS (RFC 7515 section 7.1) with EdDSA (Ed25519, RFC 8037) and
ES256 (ECDSA P-256 with a 64-byte r || s signature, RFC 7518 section 3.4).

Parsing and verifying are two steps, so a caller can look at the unverified
header (its ``kid``) between them. The header never chooses the algorithm:
:func:`verify_jws` insists that the header's ``alg`` equals the ``alg`` the
key was registered with. Every failure is a :class:`JwsError` whose
``reason`` is one of the fixed codes ``malformed``, ``alg_mismatch`` and
``bad_signature``.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from Crypto.Hash import SHA256
from Crypto.PublicKey import ECC
from Crypto.Signature import DSS, eddsa

from .errors import SignatureError, VerificationError
from .strictjson import loads_strict

if TYPE_CHECKING:
    from .publickeys import PublicKey

ALGORITHMS = ("EdDSA", "ES256")
_CURVES = {"EdDSA": "Ed25519", "ES256": "NIST P-256"}

# Names in the IANA "JSON Web Signature and Encryption Algorithms" registry
# usable as a JWS "alg". A header naming one of these that is not the key's is
# an alg_mismatch; a header naming anything else is malformed.
_REGISTERED_ALGS = frozenset({
    "none", "HS256", "HS384", "HS512", "RS256", "RS384", "RS512",
    "ES256", "ES384", "ES512", "PS256", "PS384", "PS512",
    "EdDSA", "ES256K", "Ed25519", "Ed448",
})
_BASE64URL = re.compile(r"[A-Za-z0-9_-]*")
DEFAULT_MAX_BYTES = 65536


class KeyFormatError(VerificationError):
    """A key is not usable for its algorithm: bad PEM or JWK, wrong curve,
    a private key where a public one is expected (or the reverse), an
    unknown alg. Exported by :mod:`ledger.publickeys`, its natural home;
    defined here because that module imports this one."""


class JwsError(VerificationError):
    """A JWS does not verify; ``reason`` is the fixed code for why."""

    reason = "malformed"


class MalformedJws(JwsError):
    """The token is not a well-formed compact JWS that this module accepts."""

    reason = "malformed"


class AlgorithmMismatch(JwsError):
    """The header's ``alg`` is not the one the key is registered for."""

    reason = "alg_mismatch"

    def __init__(self, message: str, *, expected: str, actual: object) -> None:
        super().__init__(message)
        self.expected = expected
        self.actual = actual


class BadSignature(JwsError, SignatureError):
    """The signature does not verify with the key (wrong length included)."""

    reason = "bad_signature"


def base64url_encode(data: bytes) -> str:
    """Base64url without padding (RFC 7515 section 2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def base64url_decode(text: str) -> bytes:
    """Strict inverse of :func:`base64url_encode`: the url-safe alphabet only,
    no padding, and the canonical encoding (unused trailing bits zero).

    Raises ``ValueError`` for anything else.
    """
    if not isinstance(text, str) or not _BASE64URL.fullmatch(text) or len(text) % 4 == 1:
        raise ValueError("not unpadded base64url")
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except binascii.Error as exc:
        raise ValueError("not unpadded base64url") from exc
    if base64url_encode(data) != text:
        raise ValueError("not the canonical base64url encoding")
    return data


@dataclass(frozen=True)
class UnverifiedJws:
    """A parsed compact JWS whose signature has not been checked.

    ``signing_input`` is ASCII(BASE64URL(header) || "." || BASE64URL(payload)),
    RFC 7515 section 5.1 step 5; ``token`` is the whole compact serialization.
    """

    header: dict[str, Any]
    payload: bytes
    signing_input: bytes
    signature: bytes
    token: str

    @property
    def kid(self) -> str | None:
        return self.header.get("kid")

    @property
    def alg(self) -> str:
        return self.header["alg"]


def parse_compact(token: str | bytes, *, max_bytes: int = DEFAULT_MAX_BYTES) -> UnverifiedJws:
    """Parse a compact JWS strictly, checking no signature; raises :class:`MalformedJws`.

    The payload may be any non-empty bytes (an empty payload is the detached
    form of RFC 7515 appendix F, which is not supported). The signature's
    length is checked by :func:`verify_jws`, which knows the algorithm.
    """
    text = _token_text(token, max_bytes)
    parts = text.split(".")
    if len(parts) != 3:
        raise MalformedJws(f"compact JWS has 3 dot-separated parts, not {len(parts)}")
    encoded_header, encoded_payload, encoded_signature = parts
    header = _parse_header(_decode_part(encoded_header, "header"))
    payload = _decode_part(encoded_payload, "payload")
    if not payload:
        raise MalformedJws("payload is empty (detached content is not supported)")
    return UnverifiedJws(
        header=header,
        payload=payload,
        signing_input=f"{encoded_header}.{encoded_payload}".encode("ascii"),
        signature=_decode_part(encoded_signature, "signature"),
        token=text,
    )


def verify_jws(jws: UnverifiedJws, key: PublicKey) -> bytes:
    """Return the payload once the JWS verifies with ``key`` under ``key.alg``.

    Raises :class:`AlgorithmMismatch` when the header names another ``alg``
    (the header never chooses the algorithm), else :class:`BadSignature`.
    """
    if jws.alg != key.alg:
        raise AlgorithmMismatch(
            f"header alg {jws.alg!r} is not the key's alg {key.alg!r}",
            expected=key.alg, actual=jws.alg)
    key.verify(jws.signing_input, jws.signature)
    return jws.payload


def sign_compact(payload: bytes, private_key: ECC.EccKey, alg: str, kid: str | None = None,
                 extra_header: Mapping[str, Any] | None = None) -> str:
    """A compact JWS of ``payload`` signed with a pycryptodome Ed25519 or P-256 key.

    The protected header is compact JSON: ``alg``, then ``kid`` when given,
    then ``extra_header``, which may not set ``alg``, ``kid``, ``crit`` or ``b64``.
    ES256 signatures are deterministic (RFC 6979) and 64 bytes r || s.
    """
    _check_private_key(private_key, alg)
    if not isinstance(payload, (bytes, bytearray)) or not payload:
        raise ValueError("payload must be non-empty bytes")
    header = _signing_header(alg, kid, extra_header)
    encoded = base64url_encode(json.dumps(header, separators=(",", ":"), allow_nan=False).encode())
    signing_input = f"{encoded}.{base64url_encode(bytes(payload))}"
    signature = _sign(signing_input.encode("ascii"), private_key, alg)
    return f"{signing_input}.{base64url_encode(signature)}"


def generate_private_key(alg: str) -> ECC.EccKey:
    """A new private key for ``alg``: Ed25519 for EdDSA, P-256 for ES256."""
    _check_alg(alg)
    return ECC.generate(curve=_CURVES[alg])


def public_key_of(private_key: ECC.EccKey, alg: str) -> PublicKey:
    """The :class:`~ledger.publickeys.PublicKey` (with its verifier) of a private key."""
    from .publickeys import PublicKey  # publickeys imports this module

    _check_private_key(private_key, alg)
    return PublicKey(alg, private_key.public_key())


def _token_text(token: str | bytes, max_bytes: int) -> str:
    if not isinstance(token, (str, bytes)):
        raise MalformedJws(f"a compact JWS is text, not {type(token).__name__}")
    if len(token) > max_bytes:
        raise MalformedJws(f"token is {len(token)} bytes, over the limit of {max_bytes}")
    if isinstance(token, bytes):
        try:
            return token.decode("ascii")
        except UnicodeDecodeError as exc:
            raise MalformedJws("token has non-ASCII bytes") from exc
    if not token.isascii():
        raise MalformedJws("token has non-ASCII characters")
    return token


def _decode_part(part: str, name: str) -> bytes:
    try:
        return base64url_decode(part)
    except ValueError as exc:
        raise MalformedJws(f"{name} is not unpadded canonical base64url") from exc


def _parse_header(raw: bytes) -> dict[str, Any]:
    """RFC 7515 section 5.2 steps 2-5, plus the rules of this profile."""
    try:
        header = loads_strict(raw)
    except (UnicodeDecodeError, ValueError) as exc:
        raise MalformedJws("protected header is not UTF-8 JSON without duplicate names") from exc
    if not isinstance(header, dict):
        raise MalformedJws("protected header is not a JSON object")
    _check_header_params(header)
    return header


def _check_header_params(header: dict[str, Any]) -> None:
    alg = header.get("alg")
    if not isinstance(alg, str):
        raise MalformedJws("header has no string 'alg'")
    if alg not in _REGISTERED_ALGS:
        raise MalformedJws(f"header alg {alg!r} is not a registered JWS algorithm")
    if "kid" in header and not isinstance(header["kid"], str):
        raise MalformedJws("header 'kid' is not a string")
    if "crit" in header:  # RFC 7515 section 4.1.11: we understand no extension
        raise MalformedJws("header has 'crit'; no critical extension is supported")
    if "b64" in header and header["b64"] is not True:  # RFC 7797 unencoded payload
        raise MalformedJws("header 'b64' other than true is not supported")




def _check_alg(alg: str) -> None:
    if alg not in ALGORITHMS:
        raise KeyFormatError(f"alg {alg!r} is not one of {', '.join(ALGORITHMS)}")


def _check_private_key(private_key: ECC.EccKey, alg: str) -> None:
    _check_alg(alg)
    if (not isinstance(private_key, ECC.EccKey) or not private_key.has_private()
            or private_key.curve != _CURVES[alg]):
        raise KeyFormatError(f"alg {alg} signs with a private {_CURVES[alg]} key")


def _signing_header(alg: str, kid: str | None,
                    extra_header: Mapping[str, Any] | None) -> dict[str, Any]:
    header: dict[str, Any] = {"alg": alg}
    if kid is not None:
        if not isinstance(kid, str):
            raise ValueError("kid must be a string")
        header["kid"] = kid
    extra = dict(extra_header or {})
    refused = sorted({"alg", "kid", "crit", "b64"} & extra.keys())
    if refused:
        raise ValueError(f"extra_header may not set {', '.join(refused)}")
    header.update(extra)
    return header


def _sign(signing_input: bytes, private_key: ECC.EccKey, alg: str) -> bytes:
    if alg == "EdDSA":
        return eddsa.new(private_key, "rfc8032").sign(signing_input)
    signer = DSS.new(private_key, "deterministic-rfc6979", encoding="binary")
    return signer.sign(SHA256.new(signing_input))
