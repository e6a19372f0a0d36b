"""Compact JWS with EdDSA and ES256 (contract section 5): keys, parsing, verifying.

Independent oracles: the RFC 8037 appendix A and RFC 7515 appendix A.3
examples and the RFC 7638 thumbprint example (testdata/jws_rfc_vectors.json),
and joserfc (built on pyca/cryptography, not pycryptodome) for interop.
"""

import base64
import hashlib
import hmac
import json
from pathlib import Path

import pytest
from Crypto.Hash import SHA256
from Crypto.PublicKey import ECC, RSA
from Crypto.Signature import DSS, eddsa

from ledger.errors import SignatureError, VerificationError
from ledger.jws import (
    AlgorithmMismatch,
    BadSignature,
    JwsError,
    MalformedJws,
    UnverifiedJws,
    base64url_decode,
    base64url_encode,
    generate_private_key,
    parse_compact,
    public_key_of,
    sign_compact,
    verify_jws,
)
from ledger.publickeys import ALGORITHMS, KeyFormatError, PublicKey, jwk_thumbprint, load_public_key

VECTORS = json.loads((Path(__file__).parent / "testdata" / "jws_rfc_vectors.json").read_text())
ED_VECTOR = VECTORS["rfc8037-a4-ed25519"]
ES_VECTOR = VECTORS["rfc7515-a3-es256"]
OTHER_ALG = {"EdDSA": "ES256", "ES256": "EdDSA"}
P256_ORDER = int("FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551", 16)
ED25519_ORDER = 2**252 + 27742317777372353535851937790883648493
PAYLOAD = (b'{"device_id":"dev-1","seq":7,"ts":"2025-01-01T00:00:00Z",'
           b'"type":"seal.status","data":{}}')

# joserfc warns that RFC 9864 deprecates "EdDSA"; contract section 5 fixes that name.
pytestmark = pytest.mark.filterwarnings("ignore:EdDSA is deprecated")


def b64(data: bytes | str) -> str:
    return base64url_encode(data.encode() if isinstance(data, str) else data)


SIG = b64(bytes(64))
PAY = b64(PAYLOAD)
ED_HEADER = b64('{"alg":"EdDSA"}')


@pytest.fixture(scope="module", params=ALGORITHMS)
def alg(request):
    return request.param


@pytest.fixture(scope="module")
def private_keys():
    return {alg: generate_private_key(alg) for alg in ALGORITHMS}


@pytest.fixture(scope="module")
def private_key(private_keys, alg):
    return private_keys[alg]


@pytest.fixture(scope="module")
def public_key(private_key, alg):
    return public_key_of(private_key, alg)


@pytest.fixture(scope="module")
def token(private_key, alg):
    return sign_compact(PAYLOAD, private_key, alg, kid="dev-1")


def with_part(token: str, index: int, value: str) -> str:
    parts = token.split(".")
    parts[index] = value
    return ".".join(parts)


def private_key_from_jwk(jwk: dict) -> ECC.EccKey:
    d = base64url_decode(jwk["d"])
    if jwk["kty"] == "OKP":
        return eddsa.import_private_key(d)
    return ECC.construct(curve="P-256", d=int.from_bytes(d, "big"))


# --- round trips -------------------------------------------------------------

def test_round_trip(alg, public_key, token):
    jws = parse_compact(token)
    assert jws.header == {"alg": alg, "kid": "dev-1"}
    assert (jws.alg, jws.kid, jws.token) == (alg, "dev-1", token)
    assert len(jws.signature) == 64
    assert verify_jws(jws, public_key) == PAYLOAD


def test_bytes_token_parses_like_text(token):
    assert parse_compact(token.encode()) == parse_compact(token)


def test_header_is_compact_json_with_alg_first(alg, private_key):
    bare = sign_compact(b"x", private_key, alg)
    assert bare.split(".")[0] == b64(f'{{"alg":"{alg}"}}')
    assert parse_compact(bare).kid is None
    extra = sign_compact(b"x", private_key, alg, kid="k", extra_header={"typ": "dev+jws"})
    expected = f'{{"alg":"{alg}","kid":"k","typ":"dev+jws"}}'
    assert base64url_decode(extra.split(".")[0]) == expected.encode()


@pytest.mark.parametrize("name", ["alg", "kid", "crit", "b64"])
def test_extra_header_cannot_override_what_verifiers_rely_on(private_key, alg, name):
    with pytest.raises(ValueError, match=name):
        sign_compact(b"x", private_key, alg, extra_header={name: "x"})


def test_es256_signing_is_deterministic_rfc6979(private_keys):
    key = private_keys["ES256"]
    assert sign_compact(b"x", key, "ES256") == sign_compact(b"x", key, "ES256")


def test_sign_refuses_wrong_keys(private_keys, alg):
    with pytest.raises(KeyFormatError):
        sign_compact(b"x", private_keys[OTHER_ALG[alg]], alg)
    with pytest.raises(KeyFormatError):
        sign_compact(b"x", private_keys[alg].public_key(), alg)
    with pytest.raises(KeyFormatError):
        sign_compact(b"x", private_keys[alg], "HS256")
    with pytest.raises(ValueError):
        sign_compact(b"", private_keys[alg], alg)


# --- RFC examples --------------------------------------------------------------

@pytest.mark.parametrize("vector", [ED_VECTOR, ES_VECTOR], ids=["rfc8037-a4", "rfc7515-a3"])
def test_rfc_example_verifies(vector):
    key = load_public_key(vector["alg"], vector["public_jwk"])
    jws = parse_compact(vector["token"])
    assert jws.header == vector["header"]
    assert verify_jws(jws, key) == vector["payload"].encode()


@pytest.mark.parametrize("vector", [ED_VECTOR, ES_VECTOR], ids=["rfc8037-a1", "rfc7515-a3"])
def test_rfc_private_key_matches_its_public_key(vector):
    private = private_key_from_jwk(vector["private_jwk"])
    assert public_key_of(private, vector["alg"]).to_jwk() == vector["public_jwk"]


def test_rfc8037_a4_signature_is_reproduced_exactly():
    private = private_key_from_jwk(ED_VECTOR["private_jwk"])
    assert sign_compact(ED_VECTOR["payload"].encode(), private, "EdDSA") == ED_VECTOR["token"]


def test_rfc8037_a3_thumbprint():
    key = load_public_key("EdDSA", ED_VECTOR["public_jwk"])
    assert key.thumbprint() == ED_VECTOR["thumbprint"]


def test_rfc7638_thumbprint_ignores_optional_members():
    vector = VECTORS["rfc7638-3.1-rsa"]
    assert jwk_thumbprint(vector["jwk"]) == vector["thumbprint"]


def test_thumbprint_of_ec_key_hashes_crv_kty_x_y(public_key):
    jwk = public_key.to_jwk()
    names = ("crv", "kty", "x", "y") if jwk["kty"] == "EC" else ("crv", "kty", "x")
    canonical = "{" + ",".join(f'"{n}":"{jwk[n]}"' for n in names) + "}"
    assert public_key.thumbprint() == b64(hashlib.sha256(canonical.encode()).digest())


# --- interop with joserfc (pyca/cryptography) --------------------------------------

def joserfc_key_class(alg):
    from joserfc import jwk
    return jwk.OKPKey if alg == "EdDSA" else jwk.ECKey


def joserfc_jws():
    from joserfc import jws as joserfc_jws
    return joserfc_jws


@pytest.mark.parametrize("exchange", ["jwk", "pem"])
def test_joserfc_token_verifies_with_ours(alg, exchange):
    theirs = joserfc_key_class(alg).generate_key("Ed25519" if alg == "EdDSA" else "P-256")
    exported = (theirs.as_dict(private=False) if exchange == "jwk"
                else theirs.as_pem(private=False).decode())
    token = joserfc_jws().serialize_compact({"alg": alg, "kid": "dev-1"}, PAYLOAD, theirs,
                                          algorithms=[alg])
    assert verify_jws(parse_compact(token), load_public_key(alg, exported)) == PAYLOAD


@pytest.mark.parametrize("exchange", ["jwk", "pem"])
def test_our_token_verifies_with_joserfc(alg, private_key, public_key, token, exchange):
    exported = public_key.to_jwk() if exchange == "jwk" else public_key.to_pem()
    theirs = joserfc_key_class(alg).import_key(exported)
    result = joserfc_jws().deserialize_compact(token, theirs, algorithms=[alg])
    assert result.payload == PAYLOAD
    assert result.headers() == {"alg": alg, "kid": "dev-1"}


def test_thumbprint_agrees_with_joserfc(public_key, alg):
    theirs = joserfc_key_class(alg).import_key(public_key.to_jwk())
    assert public_key.thumbprint() == theirs.thumbprint()


# --- malformed tokens ------------------------------------------------------------

def header_token(header_text: str) -> str:
    return f"{b64(header_text)}.{PAY}.{SIG}"


MALFORMED = {
    "empty": "",
    "two-parts": f"{ED_HEADER}.{PAY}",
    "four-parts": header_token('{"alg":"EdDSA"}') + "." + SIG,
    "padded-header": ".".join([b64('{"alg": "EdDSA"}') + "==", PAY, SIG]),
    "padded-signature": f"{ED_HEADER}.{PAY}.{b64(bytes(65))}==",
    "standard-alphabet": with_part(header_token('{"alg":"EdDSA"}'), 2, "+/" + SIG[2:]),
    "bad-base64-length": with_part(header_token('{"alg":"EdDSA"}'), 2, SIG + "AAA"),
    "non-canonical-trailing-bits": with_part(header_token('{"alg":"EdDSA"}'), 2, SIG[:-1] + "B"),
    "whitespace": header_token('{"alg":"EdDSA"}') + "\n",
    "empty-header": f".{PAY}.{SIG}",
    "empty-payload": f"{ED_HEADER}..{SIG}",
    "header-not-json": header_token("alg=EdDSA"),
    "header-not-utf8": ".".join([b64(b'{"alg":"EdDSA","x":"\xff"}'), PAY, SIG]),
    "header-array": header_token('["alg","EdDSA"]'),
    "header-string": header_token('"EdDSA"'),
    "header-nan": header_token('{"alg":"EdDSA","x":NaN}'),
    "header-duplicate-alg": header_token('{"alg":"HS256","alg":"EdDSA"}'),
    "alg-missing": header_token('{"kid":"dev-1"}'),
    "alg-number": header_token('{"alg":256}'),
    "alg-null": header_token('{"alg":null}'),
    "alg-unknown": header_token('{"alg":"EdDSA256"}'),
    "kid-number": header_token('{"alg":"EdDSA","kid":1}'),
    "crit-present": header_token('{"alg":"EdDSA","crit":["exp"],"exp":1}'),
    "crit-empty": header_token('{"alg":"EdDSA","crit":[]}'),
    "b64-false": header_token('{"alg":"EdDSA","b64":false,"crit":["b64"]}'),
    "b64-false-without-crit": header_token('{"alg":"EdDSA","b64":false}'),
    "non-ascii": header_token('{"alg":"EdDSA"}') + "\u00e9",
}


@pytest.mark.parametrize("token", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_token_is_refused(token):
    with pytest.raises(MalformedJws) as info:
        parse_compact(token)
    assert info.value.reason == "malformed"


def test_oversized_token_is_refused(token):
    assert parse_compact(token, max_bytes=len(token))
    with pytest.raises(MalformedJws, match="over the limit"):
        parse_compact(token, max_bytes=len(token) - 1)
    with pytest.raises(MalformedJws):
        parse_compact(with_part(token, 1, b64(b"x" * 65536)))


@pytest.mark.parametrize("value", [None, 42, ["a", "b", "c"], b"\xff.a.b"])
def test_non_text_token_is_refused(value):
    with pytest.raises(MalformedJws):
        parse_compact(value)


def test_b64_true_and_unknown_parameters_are_accepted(private_key, alg, public_key):
    token = sign_compact(b"x", private_key, alg, extra_header={"typ": "JOSE", "x-note": [1]})
    assert verify_jws(parse_compact(token), public_key) == b"x"


# --- algorithm confusion -------------------------------------------------------------

def test_other_alg_in_header_is_alg_mismatch(private_keys, alg):
    other = OTHER_ALG[alg]
    token = sign_compact(PAYLOAD, private_keys[other], other)
    key = public_key_of(private_keys[alg], alg)
    with pytest.raises(AlgorithmMismatch) as info:
        verify_jws(parse_compact(token), key)
    error = info.value
    assert (error.reason, error.expected, error.actual) == ("alg_mismatch", alg, other)


def test_alg_none_is_alg_mismatch(public_key):
    token = f"{b64(json.dumps({'alg': 'none'}))}.{PAY}."
    jws = parse_compact(token)
    assert jws.signature == b""
    with pytest.raises(AlgorithmMismatch):
        verify_jws(jws, public_key)


@pytest.mark.parametrize("secret_form", ["pem", "jwk-json", "raw"])
def test_hs256_signed_with_the_public_key_is_alg_mismatch(public_key, secret_form):
    """The classic attack: HMAC keyed with the verifier's public key."""
    secret = {"pem": public_key.to_pem().encode(),
              "jwk-json": json.dumps(public_key.to_jwk()).encode(),
              "raw": public_key.raw}[secret_form]
    signing_input = f"{b64(json.dumps({'alg': 'HS256'}))}.{PAY}"
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    with pytest.raises(AlgorithmMismatch):
        verify_jws(parse_compact(f"{signing_input}.{b64(mac)}"), public_key)


@pytest.mark.parametrize("header_alg", ["Ed25519", "ES384", "RS256", "ES256K"])
def test_registered_but_other_alg_is_alg_mismatch(public_key, header_alg):
    """RFC 9864's "Ed25519" names the same algorithm as "EdDSA", but the contract fixes "EdDSA"."""
    with pytest.raises(AlgorithmMismatch):
        verify_jws(parse_compact(header_token(f'{{"alg":"{header_alg}"}}')), public_key)


def test_alg_is_checked_before_the_signature(public_key, alg):
    token = f"{b64(json.dumps({'alg': OTHER_ALG[alg]}))}.{PAY}.{b64(b'short')}"
    with pytest.raises(AlgorithmMismatch):
        verify_jws(parse_compact(token), public_key)


# --- bad signatures -------------------------------------------------------------------

def flip(data: bytes, bit: int) -> bytes:
    mutated = bytearray(data)
    mutated[bit // 8] ^= 1 << (bit % 8)
    return bytes(mutated)


def test_every_signature_bit_flip_is_bad_signature(token, public_key):
    signature = parse_compact(token).signature
    for bit in range(len(signature) * 8):
        mutated = with_part(token, 2, b64(flip(signature, bit)))
        with pytest.raises(BadSignature) as info:
            verify_jws(parse_compact(mutated), public_key)
        assert info.value.reason == "bad_signature", f"signature bit {bit}"


def test_every_payload_bit_flip_is_bad_signature(token, public_key):
    for bit in range(len(PAYLOAD) * 8):
        mutated = with_part(token, 1, b64(flip(PAYLOAD, bit)))
        with pytest.raises(BadSignature):
            verify_jws(parse_compact(mutated), public_key)


def test_every_header_bit_flip_never_verifies(token, public_key):
    header = base64url_decode(token.split(".")[0])
    outcomes = set()
    for bit in range(len(header) * 8):
        mutated = with_part(token, 0, b64(flip(header, bit)))
        with pytest.raises(JwsError) as info:
            verify_jws(parse_compact(mutated), public_key)
        outcomes.add(type(info.value))
    assert BadSignature in outcomes and MalformedJws in outcomes


def test_every_token_character_change_never_verifies(token, public_key):
    for index, char in enumerate(token):
        if char == ".":
            continue
        replacement = "B" if char == "A" else "A"  # other bits, or a non-canonical encoding
        with pytest.raises(JwsError):
            verify_jws(parse_compact(token[:index] + replacement + token[index + 1:]), public_key)


@pytest.mark.parametrize("length", [0, 1, 63, 65, 128])
def test_wrong_signature_length_is_bad_signature(token, public_key, length):
    signature = (parse_compact(token).signature * 2)[:length]
    with pytest.raises(BadSignature, match="bytes"):
        verify_jws(parse_compact(with_part(token, 2, b64(signature))), public_key)


def test_es256_der_signature_is_refused(private_keys):
    key = private_keys["ES256"]
    signing_input = f"{b64(json.dumps({'alg': 'ES256'}))}.{PAY}"
    der = DSS.new(key, "fips-186-3", encoding="der").sign(SHA256.new(signing_input.encode()))
    with pytest.raises(BadSignature):
        verify_jws(parse_compact(f"{signing_input}.{b64(der)}"), public_key_of(key, "ES256"))


def test_ed25519_signature_with_s_plus_order_is_refused(private_keys):
    key = private_keys["EdDSA"]
    token = sign_compact(PAYLOAD, key, "EdDSA")
    signature = parse_compact(token).signature
    s = int.from_bytes(signature[32:], "little") + ED25519_ORDER
    mutated = with_part(token, 2, b64(signature[:32] + s.to_bytes(32, "little")))
    with pytest.raises(BadSignature):
        verify_jws(parse_compact(mutated), public_key_of(key, "EdDSA"))


def test_es256_signatures_are_malleable(private_keys):
    """(r, n - s) verifies too and secure elements do not normalize s, so it
    cannot be refused: a consumer deduplicating events must compare the
    signing input (header and payload), not the whole token."""
    key = private_keys["ES256"]
    token = sign_compact(PAYLOAD, key, "ES256")
    signature = parse_compact(token).signature
    s = P256_ORDER - int.from_bytes(signature[32:], "big")
    twin = with_part(token, 2, b64(signature[:32] + s.to_bytes(32, "big")))
    assert twin != token
    assert verify_jws(parse_compact(twin), public_key_of(key, "ES256")) == PAYLOAD


def test_signature_by_another_key_is_bad_signature(alg, token):
    stranger = public_key_of(generate_private_key(alg), alg)
    with pytest.raises(BadSignature):
        verify_jws(parse_compact(token), stranger)


def test_public_key_verifies_plain_signatures_on_any_message(private_key, public_key, alg):
    """Firms sign document digests: PublicKey.verify takes the message and a raw
    64-byte signature, made here by pycryptodome directly."""
    digest = hashlib.sha256(b"document").digest()
    if alg == "EdDSA":
        signature = eddsa.new(private_key, "rfc8032").sign(digest)
    else:
        signature = DSS.new(private_key, "fips-186-3", encoding="binary").sign(SHA256.new(digest))
    public_key.verify(digest, signature)
    with pytest.raises(BadSignature):
        public_key.verify(flip(digest, 0), signature)


# --- error classes -----------------------------------------------------------------------

def test_reason_codes_and_hierarchy():
    assert [cls.reason for cls in (MalformedJws, AlgorithmMismatch, BadSignature)] == [
        "malformed", "alg_mismatch", "bad_signature"]
    for cls in (JwsError, MalformedJws, AlgorithmMismatch, BadSignature, KeyFormatError):
        assert issubclass(cls, VerificationError)
    assert issubclass(BadSignature, SignatureError)


def test_failures_chain_their_cause(token, public_key):
    with pytest.raises(MalformedJws) as info:
        parse_compact(header_token("{"))
    assert isinstance(info.value.__cause__, ValueError)
    with pytest.raises(BadSignature) as info:
        verify_jws(parse_compact(with_part(token, 1, b64(b"other"))), public_key)
    assert isinstance(info.value.__cause__, ValueError)


# --- public keys -----------------------------------------------------------------------

def test_pem_round_trip(public_key, alg):
    pem = public_key.to_pem()
    assert pem.startswith("-----BEGIN PUBLIC KEY-----")
    assert load_public_key(alg, pem) == public_key
    assert load_public_key(alg, "\n  " + pem + "\n") == public_key


def test_jwk_round_trip(public_key, alg):
    jwk = public_key.to_jwk()
    assert set(jwk) == ({"kty", "crv", "x", "y"} if alg == "ES256" else {"kty", "crv", "x"})
    assert load_public_key(alg, jwk) == public_key
    assert load_public_key(alg, json.dumps(jwk)) == public_key
    assert load_public_key(alg, {**jwk, "kid": "dev-1", "alg": alg, "use": "sig",
                                 "key_ops": ["verify"]}) == public_key


def test_equal_keys_compare_and_hash_equal(public_key, alg):
    again = load_public_key(alg, public_key.to_jwk())
    assert again == public_key and hash(again) == hash(public_key)
    assert public_key != public_key_of(generate_private_key(alg), alg)


def test_text_keys_are_parsed_once(public_key, alg):
    pem = public_key.to_pem()
    assert load_public_key(alg, pem) is load_public_key(alg, pem)


def test_private_jwk_is_refused(private_key, public_key, alg):
    d = private_key.d.to_bytes(32, "big") if alg == "ES256" else private_key.seed
    with pytest.raises(KeyFormatError, match="private"):
        load_public_key(alg, {**public_key.to_jwk(), "d": b64(d)})


@pytest.mark.parametrize("form", ["PEM", "DER-in-PEM-wrapper"])
def test_private_pem_is_refused(private_key, alg, form):
    pem = private_key.export_key(format="PEM")
    if form != "PEM":
        pem = pem.replace("PRIVATE KEY", "PUBLIC KEY")
    with pytest.raises(KeyFormatError):
        load_public_key(alg, pem)


def test_private_key_object_is_refused(private_key, alg):
    with pytest.raises(KeyFormatError, match="private"):
        PublicKey(alg, private_key)


def test_curve_mismatch_is_refused(private_keys, alg):
    other = public_key_of(private_keys[OTHER_ALG[alg]], OTHER_ALG[alg])
    for form in (other.to_pem(), other.to_jwk(), json.dumps(other.to_jwk())):
        with pytest.raises(KeyFormatError):
            load_public_key(alg, form)
    with pytest.raises(KeyFormatError, match="needs"):
        PublicKey(alg, other.key)


@pytest.mark.parametrize("alg_, key", [
    ("ES256", ECC.generate(curve="P-384").public_key().export_key(format="PEM")),
    ("EdDSA", ECC.generate(curve="Ed448").public_key().export_key(format="PEM")),
    ("EdDSA", {"kty": "OKP", "crv": "X25519", "x": b64(bytes(32))}),
    ("ES256", {"kty": "EC", "crv": "P-384", "x": b64(bytes(48)), "y": b64(bytes(48))}),
    ("ES256", RSA.generate(1024).public_key().export_key(format="PEM").decode()),
    ("ES256", {"kty": "RSA", "n": "AQAB", "e": "AQAB"}),
], ids=["p384-pem", "ed448-pem", "x25519-jwk", "p384-jwk", "rsa-pem", "rsa-jwk"])
def test_other_key_types_are_refused(alg_, key):
    with pytest.raises(KeyFormatError):
        load_public_key(alg_, key)


@pytest.mark.parametrize("bad_alg", ["HS256", "none", "RS256", "eddsa", "", None])
def test_unknown_alg_is_refused(public_key, bad_alg):
    with pytest.raises(KeyFormatError, match="alg"):
        load_public_key(bad_alg, public_key.to_pem())
    with pytest.raises(KeyFormatError):
        generate_private_key(bad_alg)


def edit_jwk(jwk: dict, **changes) -> dict:
    edited = {**jwk, **changes}
    return {name: value for name, value in edited.items() if value is not None}


GARBAGE_TEXT = {
    "empty": "",
    "words": "not a key",
    "json-array": "[1, 2]",
    "json-duplicate": '{"kty":"OKP","kty":"OKP","crv":"Ed25519","x":"AAAA"}',
    "pem-garbage": "-----BEGIN PUBLIC KEY-----\nZ2FyYmFnZQ==\n-----END PUBLIC KEY-----",
    "pem-certificate": "-----BEGIN CERTIFICATE-----\nZ2FyYmFnZQ==\n-----END CERTIFICATE-----",
    "huge": "{" + " " * 20000 + "}",
}


@pytest.mark.parametrize("text", GARBAGE_TEXT.values(), ids=GARBAGE_TEXT.keys())
def test_garbage_text_is_refused(alg, text):
    with pytest.raises(KeyFormatError):
        load_public_key(alg, text)


def test_two_pem_blocks_are_refused(public_key, alg):
    with pytest.raises(KeyFormatError, match="one"):
        load_public_key(alg, public_key.to_pem() + "\n" + public_key.to_pem())


@pytest.mark.parametrize("value", [None, 42, b"-----BEGIN PUBLIC KEY-----", ["x"]])
def test_non_text_non_mapping_key_is_refused(value):
    with pytest.raises(KeyFormatError):
        load_public_key("EdDSA", value)


def test_bad_jwk_members_are_refused(public_key, alg):
    jwk = public_key.to_jwk()
    bad = [
        edit_jwk(jwk, x=None),
        edit_jwk(jwk, x=jwk["x"] + "="),
        edit_jwk(jwk, x=jwk["x"][:-2]),
        edit_jwk(jwk, x=b64(bytes(33))),
        edit_jwk(jwk, x=7),
        edit_jwk(jwk, kty=None),
        edit_jwk(jwk, alg=OTHER_ALG[alg]),
        edit_jwk(jwk, use="enc"),
        edit_jwk(jwk, key_ops=["encrypt"]),
        edit_jwk(jwk, key_ops="verify"),
    ]
    if alg == "ES256":
        bad += [edit_jwk(jwk, y=None), edit_jwk(jwk, y=jwk["x"])]  # off the curve
    for candidate in bad:
        with pytest.raises(KeyFormatError):
            load_public_key(alg, candidate)


def test_small_order_ed25519_key_is_refused():
    identity = b"\x01" + bytes(31)  # y = 1: the neutral element, order 1
    with pytest.raises(KeyFormatError, match="small order"):
        load_public_key("EdDSA", {"kty": "OKP", "crv": "Ed25519", "x": b64(identity)})


def test_p256_point_at_infinity_is_refused():
    """pycryptodome loads x = y = 0 as the point at infinity, and with it a
    signature made without any private key verifies for every message."""
    zero = b64(bytes(32))
    with pytest.raises(KeyFormatError, match="infinity"):
        load_public_key("ES256", {"kty": "EC", "crv": "P-256", "x": zero, "y": zero})


def test_p256_coordinate_not_reduced_mod_p_is_refused():
    """pycryptodome accepts x + p for x; a JWK coordinate must be the canonical one."""
    p = 2**256 - 2**224 + 2**192 + 2**96 - 1
    b = 0x5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B
    x = next(x for x in range(1, 100) if pow(x**3 - 3 * x + b, (p - 1) // 2, p) == 1)
    y = pow(x**3 - 3 * x + b, (p + 1) // 4, p)
    jwk = {"kty": "EC", "crv": "P-256", "y": b64(y.to_bytes(32, "big"))}
    assert load_public_key("ES256", {**jwk, "x": b64(x.to_bytes(32, "big"))})
    with pytest.raises(KeyFormatError, match="canonical"):
        load_public_key("ES256", {**jwk, "x": b64((x + p).to_bytes(32, "big"))})


def test_invalid_ed25519_encoding_is_refused():
    with pytest.raises(KeyFormatError, match="point"):
        load_public_key("EdDSA", {"kty": "OKP", "crv": "Ed25519", "x": b64(b"\xff" * 32)})


def test_unverified_jws_is_frozen(token):
    jws = parse_compact(token)
    assert isinstance(jws, UnverifiedJws)
    with pytest.raises(AttributeError):
        jws.payload = b"other"


def test_base64url_helpers_are_standard():
    for data in (b"", b"\x00", b"\xfb\xff", bytes(range(256))):
        encoded = base64url_encode(data)
        assert encoded == base64.urlsafe_b64encode(data).decode().rstrip("=")
        assert base64url_decode(encoded) == data
