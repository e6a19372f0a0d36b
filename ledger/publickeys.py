"""Public keys of devices and firms for EdDSA (Ed25519) and ES256 (P-256).

A key arrives as PEM (SubjectPublicKeyInfo) or as a JWK (RFC 7517; OKP keys
RFC 8037 section 2, EC keys RFC 7518 section 6.2) and is bound to the one
algorithm it was registered with. Loading builds the pycryptodome verifier
once; :meth:`PublicKey.verify` only checks signatures.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from Crypto.Hash import SHA256
from Crypto.PublicKey import ECC
from Crypto.Signature import DSS, eddsa

from .strictjson import loads_strict
from .jws import (
    _CURVES,
    ALGORITHMS,
    BadSignature,
    KeyFormatError,
    _check_alg,
    base64url_decode,
    base64url_encode,
)

__all__ = ["ALGORITHMS", "KeyFormatError", "PublicKey", "jwk_thumbprint", "load_public_key"]

_JWK_TYPES = {"EdDSA": ("OKP", "Ed25519"), "ES256": ("EC", "P-256")}
_SIGNATURE_SIZE = 64  # Ed25519 R || S; ES256 r || s, 32 bytes each
_COORDINATE_SIZE = 32
_MAX_KEY_TEXT = 16384
# RFC 7638 section 3.2 (EC, RSA) and RFC 8037 section 2 (OKP): the members hashed.
_THUMBPRINT_MEMBERS = {"EC": ("crv", "kty", "x", "y"), "OKP": ("crv", "kty", "x"),
                       "RSA": ("e", "kty", "n")}


@dataclass(frozen=True)
class PublicKey:
    """A public key bound to one JWS algorithm, with its verifier built once.

    ``raw`` identifies the key: the 32-byte Ed25519 encoding (RFC 8032), or
    the 65-byte uncompressed P-256 point (SEC 1). Equal keys compare equal.
    """

    alg: str
    key: ECC.EccKey = field(repr=False, compare=False)
    raw: bytes = field(init=False, repr=False)
    _check: Callable[[bytes, bytes], Any] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _check_alg(self.alg)
        if not isinstance(self.key, ECC.EccKey):
            raise KeyFormatError(f"expected a pycryptodome EccKey, not {type(self.key).__name__}")
        if self.key.has_private():
            raise KeyFormatError("a private key was given where a public key is expected")
        if self.key.curve != _CURVES[self.alg]:
            raise KeyFormatError(
                f"alg {self.alg} needs a {_CURVES[self.alg]} key, not {self.key.curve}")
        object.__setattr__(self, "raw", _raw_bytes(self.key, self.alg))
        object.__setattr__(self, "_check", _verifier(self.key, self.alg))

    def verify(self, message: bytes, signature: bytes) -> None:
        """Raise :class:`~ledger.jws.BadSignature` unless ``signature`` (64 bytes;
        r || s for ES256) is this key's signature on ``message``."""
        if len(signature) != _SIGNATURE_SIZE:
            raise BadSignature(
                f"{self.alg} signature is {len(signature)} bytes, not {_SIGNATURE_SIZE}")
        try:
            self._check(message, signature)
        except ValueError as exc:
            raise BadSignature(f"{self.alg} signature does not verify") from exc

    def to_jwk(self) -> dict[str, str]:
        """The public JWK: OKP/Ed25519 (RFC 8037) or EC/P-256 (RFC 7518 section 6.2)."""
        kty, crv = _JWK_TYPES[self.alg]
        if self.alg == "EdDSA":
            return {"kty": kty, "crv": crv, "x": base64url_encode(self.raw)}
        return {"kty": kty, "crv": crv, "x": base64url_encode(self.raw[1:33]),
                "y": base64url_encode(self.raw[33:])}

    def to_pem(self) -> str:
        """The SubjectPublicKeyInfo PEM (RFC 5480, RFC 8410)."""
        return self.key.export_key(format="PEM")

    def thumbprint(self) -> str:
        """The RFC 7638 JWK thumbprint (base64url SHA-256) of :meth:`to_jwk`."""
        return jwk_thumbprint(self.to_jwk())


def load_public_key(alg: str, key: str | Mapping[str, Any]) -> PublicKey:
    """Load a public key for ``alg`` from PEM text or a JWK (a mapping or JSON text).

    The key type must fit ``alg`` (EdDSA: OKP Ed25519; ES256: EC P-256).
    Every failure is a :class:`KeyFormatError`. Text keys are cached, so
    loading the same stored key again does not parse it again.
    """
    _check_alg(alg)
    if isinstance(key, str):
        return _load_text(alg, key)
    if isinstance(key, Mapping):
        return _from_jwk(alg, key)
    raise KeyFormatError(f"a public key is PEM text or a JWK, not {type(key).__name__}")


def jwk_thumbprint(jwk: Mapping[str, Any]) -> str:
    """RFC 7638 section 3: base64url(SHA-256(required members, sorted, no spaces))."""
    members = _THUMBPRINT_MEMBERS.get(jwk.get("kty"))  # type: ignore[arg-type]
    if members is None:
        raise KeyFormatError(f"no thumbprint for kty {jwk.get('kty')!r}")
    missing = [name for name in members if not isinstance(jwk.get(name), str)]
    if missing:
        raise KeyFormatError(f"JWK lacks string member(s) {', '.join(missing)}")
    canonical = json.dumps({name: jwk[name] for name in members},
                           separators=(",", ":"), ensure_ascii=False)
    return base64url_encode(hashlib.sha256(canonical.encode("utf-8")).digest())


def _raw_bytes(key: ECC.EccKey, alg: str) -> bytes:
    if alg == "EdDSA":
        if (key.pointQ * 8).is_point_at_infinity():
            raise KeyFormatError("Ed25519 public key is a point of small order")
        return key.export_key(format="raw")
    if key.pointQ.is_point_at_infinity():  # pycryptodome verifies any signature with it
        raise KeyFormatError("P-256 public key is the point at infinity")
    return key.export_key(format="raw", compress=False)


def _verifier(key: ECC.EccKey, alg: str) -> Callable[[bytes, bytes], Any]:
    if alg == "EdDSA":
        return eddsa.new(key, "rfc8032").verify
    dss = DSS.new(key, "fips-186-3", encoding="binary")
    return lambda message, signature: dss.verify(SHA256.new(message), signature)


@functools.lru_cache(maxsize=4096)
def _load_text(alg: str, text: str) -> PublicKey:
    if len(text) > _MAX_KEY_TEXT:
        raise KeyFormatError(f"key text is {len(text)} characters, over {_MAX_KEY_TEXT}")
    stripped = text.strip()
    if stripped.startswith("-----"):
        return _from_pem(alg, stripped)
    try:
        jwk = loads_strict(stripped)
    except ValueError as exc:
        raise KeyFormatError("key is neither PEM nor JWK JSON") from exc
    if not isinstance(jwk, dict):
        raise KeyFormatError("JWK JSON is not an object")
    return _from_jwk(alg, jwk)


def _from_pem(alg: str, pem: str) -> PublicKey:
    if (not pem.startswith("-----BEGIN PUBLIC KEY-----")
            or not pem.endswith("-----END PUBLIC KEY-----") or pem.count("-----BEGIN") != 1):
        raise KeyFormatError("PEM must be one 'PUBLIC KEY' (SubjectPublicKeyInfo) block; "
                             "private keys and other PEM types are refused")
    try:
        key = ECC.import_key(pem)
    except (ValueError, IndexError, TypeError) as exc:
        raise KeyFormatError("PEM is not an Ed25519 or NIST curve public key") from exc
    return PublicKey(alg, key)


def _from_jwk(alg: str, jwk: Mapping[str, Any]) -> PublicKey:
    if "d" in jwk:
        raise KeyFormatError("JWK has the private member 'd'; give the public key only")
    kty, crv = jwk.get("kty"), jwk.get("crv")
    if (kty, crv) != _JWK_TYPES[alg]:
        want_kty, want_crv = _JWK_TYPES[alg]
        raise KeyFormatError(
            f"alg {alg} needs a JWK with kty {want_kty!r} and crv {want_crv!r}, "
            f"not kty {kty!r} crv {crv!r}")
    _check_jwk_usage(alg, jwk)
    key = _import_jwk_point(alg, jwk)
    public_key = PublicKey(alg, key)
    canonical = public_key.to_jwk()
    if canonical != {name: jwk[name] for name in canonical}:
        raise KeyFormatError("JWK coordinates are not in canonical form")
    return public_key


def _check_jwk_usage(alg: str, jwk: Mapping[str, Any]) -> None:
    """RFC 7517 sections 4.2-4.4: a stated use, key_ops or alg must allow this use."""
    if "alg" in jwk and jwk["alg"] != alg:
        raise KeyFormatError(f"JWK is for alg {jwk['alg']!r}, not {alg}")
    if "use" in jwk and jwk["use"] != "sig":
        raise KeyFormatError(f"JWK use is {jwk['use']!r}, not 'sig'")
    if "key_ops" in jwk and (not isinstance(jwk["key_ops"], list)
                             or "verify" not in jwk["key_ops"]):
        raise KeyFormatError("JWK key_ops does not include 'verify'")


def _import_jwk_point(alg: str, jwk: Mapping[str, Any]) -> ECC.EccKey:
    x = _coordinate(jwk, "x")
    try:
        if alg == "EdDSA":
            return eddsa.import_public_key(x)
        y = _coordinate(jwk, "y")
        return ECC.construct(curve="P-256", point_x=int.from_bytes(x, "big"),
                             point_y=int.from_bytes(y, "big"))
    except ValueError as exc:
        raise KeyFormatError(f"JWK is not a valid {_CURVES[alg]} point") from exc


def _coordinate(jwk: Mapping[str, Any], name: str) -> bytes:
    value = jwk.get(name)
    if not isinstance(value, str):
        raise KeyFormatError(f"JWK member {name!r} is missing or not a string")
    try:
        data = base64url_decode(value)
    except ValueError as exc:
        raise KeyFormatError(f"JWK member {name!r} is not unpadded base64url") from exc
    if len(data) != _COORDINATE_SIZE:
        raise KeyFormatError(f"JWK member {name!r} is {len(data)} bytes, not {_COORDINATE_SIZE}")
    return data
