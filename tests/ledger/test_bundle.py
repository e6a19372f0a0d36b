"""Audit bundles checked offline: proofs, canonical entries, evidence, and the
streamed file layout. Each mutation is named after what it changes, and a
loop flips one bit in every proof hash of every entry."""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import random
from datetime import datetime, timezone

import pytest
import rfc8785

import ledger
from ledger import prove
from ledger.audit import ProgressBar, verify_bundle_file
from ledger.bundle import (
    BundleVerifier, InclusionChecker, decode_entry_fast, entry_line, header_line,
    verify_bundle,
)
from ledger import disclosure
from ledger.jws import generate_private_key, public_key_of, sign_compact

ORIGIN = "test.example/log"
AT = ledger.utc_timestamp(datetime(2026, 11, 23, 9, 0, tzinfo=timezone.utc))


def b64(value: bytes) -> str:
    return base64.b64encode(value).decode()


class FakeLog:
    """A log in memory with a signer: enough to build real bundles."""

    def __init__(self) -> None:
        self.signer = ledger.NoteSigner(ORIGIN, ledger.keys.generate_signing_key())
        self.verifier = ledger.NoteVerifier.from_verifier_key(self.signer.verifier_key)
        self.store = ledger.MemoryHashStore()
        self.data: list[bytes] = []
        self.evidence: dict[int, dict] = {}
        self.device_keys: dict[str, dict] = {}
        self.signing_keys: dict[str, dict] = {}

    def add(self, entry_type: str, evidence: dict | None = None, **fields) -> int:
        data = ledger.encode_entry({"v": 1, "type": entry_type, "at": AT,
                                    "actor": fields.pop("actor", "org_a"), **fields})
        self.data.append(data)
        self.store.append([ledger.leaf_hash(data)])
        if evidence is not None:
            self.evidence[len(self.data) - 1] = evidence
        return len(self.data) - 1

    def relog(self, index: int, data: bytes) -> None:
        """Replace entry ``index`` as if the log had held ``data`` all along."""
        self.data[index] = data
        self.store = ledger.MemoryHashStore()
        self.store.append([ledger.leaf_hash(item) for item in self.data])

    def checkpoint(self) -> str:
        size = self.store.size
        return self.signer.sign(ledger.Checkpoint(ORIGIN, size,
                                                  prove.tree_root(self.store, size)).body())

    def item(self, index: int, size: int) -> dict:
        item = {"index": index, "leaf_data": b64(self.data[index]),
                "leaf_hash": b64(ledger.leaf_hash(self.data[index])),
                "inclusion_proof": [b64(h) for h in prove.inclusion_proof(self.store, index,
                                                                           size)]}
        if index in self.evidence:
            item["evidence"] = self.evidence[index]
        return item

    def bundle(self, indexes=None) -> dict:
        size = self.store.size
        indexes = range(size) if indexes is None else indexes
        return {"format": ledger.BUNDLE_FORMAT, "checkpoint": self.checkpoint(),
                "verifier_key": self.signer.verifier_key, "subject": {"kind": "org", "ref": "x"},
                "device_keys": self.device_keys, "signing_keys": self.signing_keys,
                "entries": [self.item(index, size) for index in indexes]}


class Device:
    def __init__(self, log: FakeLog, device_id: str, alg: str) -> None:
        self.log, self.id, self.alg = log, device_id, alg
        self.key = generate_private_key(alg)
        public = public_key_of(self.key, alg)
        self.registered = log.add("device.registered", device=device_id, owner="org_c",
                                  alg=alg, kind="scanner", thumbprint=public.thumbprint(),
                                  actor="org_c")
        log.device_keys[device_id] = {"alg": alg, "jwk": public.to_jwk(),
                                      "registered": self.registered}
        self.seq = 0

    def event(self, **claims) -> int:
        self.seq += 1
        payload = {"device_id": self.id, "seq": self.seq, "ts": "2026-11-23T08:59:59Z",
                   "type": "customs.scan", "data": {"ok": True}, "shipment": "SHP-1", **claims}
        jws = sign_compact(json.dumps(payload).encode(), self.key, self.alg, kid=self.id)
        return self.log.add("device.event", {"jws": jws}, device=self.id, seq=self.seq,
                            event_type="customs.scan", device_ts="2026-11-23T08:59:59Z",
                            shipment="SHP-1",
                            jws_sha256="sha256:" + hashlib.sha256(jws.encode()).hexdigest(),
                            actor=f"device:{self.id}")


class FirmKey:
    def __init__(self, log: FakeLog, key_id: str, org: str, alg: str = "EdDSA") -> None:
        self.log, self.id, self.org, self.alg = log, key_id, org, alg
        self.key = generate_private_key(alg)
        public = public_key_of(self.key, alg)
        self.registered = log.add("key.registered", key=key_id, org=org, alg=alg,
                                  thumbprint=public.thumbprint(), actor=org)
        log.signing_keys[key_id] = {"alg": alg, "jwk": public.to_jwk(), "org": org,
                                    "registered": self.registered}

    def sign(self, document: str, version: int, digest: str, **claims) -> int:
        payload = {"document": document, "version": version, "digest": digest, **claims}
        jws = sign_compact(json.dumps(payload).encode(), self.key, self.alg, kid=self.id)
        return self.log.add("document.signed", {"jws": jws}, document=document,
                            version=version, digest=digest, key=self.id,
                            jws_sha256="sha256:" + hashlib.sha256(jws.encode()).hexdigest(),
                            actor=self.org)


@pytest.fixture
def log() -> FakeLog:
    log = FakeLog()
    log.add("org.created", org="org_a", role="firm")
    ed, es = Device(log, "gate-1", "EdDSA"), Device(log, "gate.2_x", "ES256")
    firm = FirmKey(log, "key_1", "org_a")
    for _ in range(3):
        ed.event()
        es.event()
    log.add("document.issued", document="doc_1", version=1, digest="sha256:" + "ab" * 32)
    firm.sign("doc_1", 1, "sha256:" + "ab" * 32)
    for n in range(20):
        log.add("document.accessed", document="doc_1", reader=f"org_{n}")
    return log


def failures(bundle: dict, log: FakeLog) -> list[tuple[int | None, str]]:
    report = verify_bundle(bundle, log.verifier)
    return [(where, str(error)) for where, error in report.failures]


def test_a_whole_bundle_with_evidence_verifies(log):
    report = verify_bundle(log.bundle(), log.verifier)
    assert report.ok, report.failures
    assert report.verified == len(log.data)
    assert (report.device_events_checked, report.signatures_checked) == (6, 1)
    assert (report.keys_bound, report.keys_unbound, report.without_evidence) == (3, 0, 0)


def test_every_flipped_bit_in_every_proof_fails_on_that_entry(log):
    bundle = log.bundle()
    for position, item in enumerate(bundle["entries"]):
        for k, text in enumerate(item["inclusion_proof"]):
            mutated = copy.deepcopy(bundle)
            raw = bytearray(base64.b64decode(text))
            raw[k % 32] ^= 1 << (k % 8)
            mutated["entries"][position]["inclusion_proof"][k] = b64(bytes(raw))
            found = failures(mutated, log)
            # a key registration's failure also unbinds its key: reported for the bundle
            assert [where for where, _ in found if where is not None] == [item["index"]], \
                (position, k, found)


def _entry_bytes(bundle: dict, position: int, data: bytes) -> None:
    bundle["entries"][position]["leaf_data"] = b64(data)
    bundle["entries"][position]["leaf_hash"] = b64(ledger.leaf_hash(data))


def _logged(position: int, change):
    """A log that held a changed entry all along (its proofs are valid): what a
    misbehaving operator could log, rather than a bundle changed afterwards."""
    def mutate(log: FakeLog, bundle: dict) -> dict:
        entry = json.loads(log.data[position])
        result = change(entry)
        log.relog(position, result if isinstance(result, bytes) else rfc8785.dumps(entry))
        return log.bundle(range(12))
    return mutate


def _logged_evidence(position: int, jws_of) -> object:
    def mutate(log: FakeLog, bundle: dict) -> dict:
        jws = jws_of(bundle)
        log.evidence[position] = {"jws": jws}
        entry = json.loads(log.data[position])
        entry["jws_sha256"] = "sha256:" + hashlib.sha256(jws.encode()).hexdigest()
        log.relog(position, rfc8785.dumps(entry))
        return log.bundle(range(12))
    return mutate


def _evidence(bundle: dict, position: int, jws: str) -> None:
    bundle["entries"][position]["evidence"] = {"jws": jws}


def _flipped(part: str) -> str:
    raw = bytearray(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    raw[5] ^= 1
    return base64.urlsafe_b64encode(bytes(raw)).decode().rstrip("=")


def _jws_parts(bundle: dict, position: int) -> list[str]:
    return bundle["entries"][position]["evidence"]["jws"].split(".")


# (name, mutation of the bundle, entry position that fails or None for the
# bundle, words the failure must contain). Positions: 0 org.created, 1 and 2
# device registrations, 3 key registration, 4-9 device events (gate-1 at 4,
# 6, 8; gate.2_x at 5, 7, 9), 10 document.issued, 11 document.signed.
MUTATIONS = [
    ("leaf-data-changed", lambda log, b: _entry_bytes(b, 0, log.data[1]), 0, "root"),
    ("leaf-hash-not-of-data", lambda log, b: b["entries"][0].update(leaf_hash=b64(bytes(32))),
     0, "leaf_hash"),
    ("proof-truncated", lambda log, b: b["entries"][10]["inclusion_proof"].pop(), 10, "shorter"),
    ("proof-extended", lambda log, b: b["entries"][10]["inclusion_proof"].append(b64(bytes(32))),
     10, "longer"),
    ("index-moved", lambda log, b: b["entries"][10].update(index=12), 12, "root"),
    ("index-beyond-tree", lambda log, b: b["entries"][10].update(index=10_000), 10_000,
     "not in a tree"),
    ("index-negative", lambda log, b: b["entries"][10].update(index=-1), 10, "index"),
    # beyond 4300 digits Python cannot print it: a parser other than ours may give one
    ("index-of-5000-digits", lambda log, b: b["entries"][10].update(index=10 ** 5000), 10,
     "2^64"),
    ("leaf-data-not-base64", lambda log, b: b["entries"][10].update(leaf_data="***"), 10,
     "base64"),
    ("proof-not-a-list", lambda log, b: b["entries"][10].update(inclusion_proof="x"), 10, "list"),
    ("logged-entry-with-spaces", _logged(0, lambda e: json.dumps(e).encode()), 0, "canonical"),
    ("logged-entry-keys-unsorted", _logged(0, lambda e: json.dumps(
        dict(reversed(e.items())), separators=(",", ":")).encode()), 0, "canonical"),
    ("logged-entry-without-actor", _logged(0, lambda e: e.pop("actor")), 0, "actor"),
    ("logged-entry-nested-deeply", _logged(0, lambda e: b"[" * 5000 + b"]" * 5000), 0,
     "nested"),
    ("logged-entry-version-1.0", _logged(10, lambda e: rfc8785.dumps(e).replace(
        b'"version":1', b'"version":1.0')), 10, "canonical"),
    ("logged-entry-integer-of-5000-digits", _logged(0, lambda e: rfc8785.dumps(e)[:-1]
                                                    + b',"z":' + b"9" * 5000 + b"}"),
     0, "4300 digits"),
    ("logged-entry-repeats-a-member", _logged(0, lambda e: rfc8785.dumps(e)[:-1] + b',"v":1}'),
     0, "duplicate member name 'v'"),
    ("device-jws-swapped", lambda log, b: _evidence(b, 4, b["entries"][6]["evidence"]["jws"]),
     4, "SHA-256"),
    ("device-jws-signature-flipped", _logged_evidence(4, lambda b: ".".join(
        _jws_parts(b, 4)[:2] + [_flipped(_jws_parts(b, 4)[2])])), 4, "bad_signature"),
    ("device-jws-header-alg-none", _logged_evidence(4, lambda b: ".".join(
        [base64.urlsafe_b64encode(b'{"alg":"none","kid":"gate-1"}').decode().rstrip("=")]
        + _jws_parts(b, 4)[1:])), 4, "alg_mismatch"),
    ("device-key-swapped", lambda log, b: b["device_keys"].update(
        {"gate-1": b["device_keys"]["gate.2_x"]}), None, "registration"),
    ("device-key-alg-changed", lambda log, b: b["device_keys"]["gate-1"].update(alg="ES256"),
     None, "not a usable public key"),
    ("device-key-missing", lambda log, b: b["device_keys"].pop("gate.2_x"), 5, "no device key"),
    ("logged-event-seq-changed", _logged(4, lambda e: e.update(seq=7)), 4, "seq"),
    ("logged-event-shipment-changed", _logged(4, lambda e: e.update(shipment="SHP-2")),
     4, "shipment"),
    ("logged-event-names-other-device", _logged(4, lambda e: e.update(device="gate.2_x")),
     4, "kid"),
    ("logged-event-jws-hash-changed", _logged(4, lambda e: e.update(jws_sha256="00" * 32)),
     4, "SHA-256"),
    ("logged-event-seq-true", _logged(4, lambda e: e.update(seq=True)), 4, "seq"),  # == 1
    ("signature-jws-swapped-for-device-jws", lambda log, b: _evidence(
        b, 11, b["entries"][4]["evidence"]["jws"]), 11, "SHA-256"),
    ("logged-signature-digest-changed", _logged(
        11, lambda e: e.update(digest="sha256:" + "cd" * 32)), 11, "digest"),
    ("logged-signature-version-changed", _logged(11, lambda e: e.update(version=2)),
     11, "version"),
    ("logged-signature-version-true", _logged(11, lambda e: e.update(version=True)),
     11, "version"),
    ("signing-key-of-other-org", lambda log, b: b["signing_keys"]["key_1"].update(org="org_z"),
     None, "org"),
    ("registration-not-in-bundle", lambda log, b: b["entries"].pop(3), None,
     "registration entry 3"),
    ("registration-after-use", lambda log, b: b["device_keys"]["gate-1"].update(registered=10),
     None, "registration entry 10"),
    ("registration-of-5000-digits", lambda log, b: b["device_keys"]["gate-1"].update(
        registered=10 ** 5000), None, "'registered' must be an entry index"),
    ("evidence-on-plain-entry", lambda log, b: _evidence(b, 0, "a.b.c"), 0, "has none"),
    ("evidence-not-an-object", lambda log, b: b["entries"][4].update(evidence="x"), 4,
     "evidence"),
    ("keys-not-an-object", lambda log, b: b.update(signing_keys=[]), None, "signing_keys"),
]


@pytest.mark.parametrize("mutate, where, words", [m[1:] for m in MUTATIONS],
                         ids=[m[0] for m in MUTATIONS])
def test_each_named_mutation_is_found_where_it_was_made(log, mutate, where, words):
    bundle = log.bundle(range(12))
    assert verify_bundle(bundle, log.verifier).ok
    changed = mutate(log, bundle)
    bundle = changed if isinstance(changed, dict) and "format" in changed else bundle
    found = failures(bundle, log)
    assert found, "the mutation was accepted"
    assert any(place == where and words in message for place, message in found), found


def _signed_raw(signer, entry_type: str, payload: bytes, **fields) -> int:
    """Log an entry whose evidence is a JWS over exactly ``payload``."""
    jws = sign_compact(payload, signer.key, signer.alg, kid=signer.id)
    return signer.log.add(entry_type, {"jws": jws}, **fields,
                          jws_sha256="sha256:" + hashlib.sha256(jws.encode()).hexdigest())


DIGEST = "sha256:" + "ab" * 32
SIGNED = {"document": "doc_1", "version": 1, "digest": DIGEST}
EVENT = {"device_id": "gate-1", "seq": 1, "type": "customs.scan", "shipment": "SHP-1"}


def _repeating(claims: dict, name: str, first) -> bytes:
    """``claims`` as JSON with ``name`` given twice: ``first``, then its value."""
    text = json.dumps(claims)
    return text.replace(f'"{name}": ', f'"{name}": {json.dumps(first)}, "{name}": ', 1).encode()


# (name, entry type, the signed payload, words of the failure). The entry logs
# what Python's json.loads reads (the last of repeated names, UTF-16 and NaN
# accepted), so a lenient verifier says OK.
PAYLOADS = [
    ("signature-repeats-digest", "document.signed",
     _repeating(SIGNED, "digest", "sha256:" + "cd" * 32), "repeats the member name 'digest'"),
    ("signature-repeats-version", "document.signed", _repeating(SIGNED, "version", 2),
     "repeats the member name 'version'"),
    ("signature-in-utf16", "document.signed", json.dumps(SIGNED).encode("utf-16"), "not JSON"),
    ("signature-with-nan", "document.signed", json.dumps({**SIGNED, "n": float("nan")}).encode(),
     "NaN is not JSON"),
    ("event-repeats-seq", "device.event", _repeating(EVENT, "seq", 2),
     "repeats the member name 'seq'"),
    ("event-repeats-device-id", "device.event", _repeating(EVENT, "device_id", "gate-2"),
     "repeats the member name 'device_id'"),
    ("event-with-integer-of-5000-digits", "device.event",
     json.dumps(EVENT).encode()[:-1] + b', "n": ' + b"9" * 5000 + b"}", "4300 digits"),
    ("event-nested-20000-deep", "device.event",  # within the JWS size limit
     json.dumps(EVENT).encode()[:-1] + b', "n": ' + b"[" * 20_000 + b"]" * 20_000 + b"}",
     "nested too deeply"),
]


@pytest.mark.parametrize("entry_type, payload, words", [case[1:] for case in PAYLOADS],
                         ids=[case[0] for case in PAYLOADS])
def test_a_jws_payload_is_read_strictly(entry_type, payload, words):
    """Another verifier reading the first of two "digest"s would check another
    claim than the one the entry logged: a payload that is not strict JSON
    backs nothing."""
    log = FakeLog()
    device, firm = Device(log, "gate-1", "EdDSA"), FirmKey(log, "key_1", "org_a")
    if entry_type == "device.event":
        index = _signed_raw(device, "device.event", payload, device="gate-1", seq=1,
                            event_type="customs.scan", shipment="SHP-1", actor="device:gate-1")
    else:
        index = _signed_raw(firm, "document.signed", payload, **SIGNED, key="key_1",
                            actor="org_a")
    found = failures(log.bundle(), log)
    assert [where for where, _ in found] == [index], found
    assert words in found[0][1], found


def test_evidence_left_out_is_counted_not_failed(log):
    bundle = log.bundle()
    for item in bundle["entries"]:
        item.pop("evidence", None)
    report = verify_bundle(bundle, log.verifier)
    assert report.ok and report.without_evidence == 7 and report.device_events_checked == 0


def test_registration_with_another_thumbprint_is_refused():
    log = FakeLog()
    device = Device(log, "gate-9", "ES256")
    other = public_key_of(generate_private_key("ES256"), "ES256")
    log.device_keys["gate-9"]["jwk"] = other.to_jwk()  # the operator swaps the key
    device.event()
    found = failures(log.bundle(), log)
    assert any("registration entry" in message for _, message in found), found
    assert any(place == 1 and "bad_signature" in message for place, message in found), found


def test_a_forged_checkpoint_or_other_log_fails_on_the_bundle(log):
    bundle = log.bundle()
    other = FakeLog()
    assert failures(bundle, other) == [(None, f"note has no signature by {ORIGIN}")]
    bundle["format"] = "tradezone.audit-bundle.v2"
    assert "not a tradezone.audit-bundle.v1 bundle" in failures(bundle, log)[0][1]


# -- the inclusion checker against the plain verifier ----------------------


@pytest.mark.parametrize("seed", range(6))
def test_inclusion_checker_agrees_with_verify_inclusion(seed):
    rnd = random.Random(seed)
    for _ in range(40):
        n = rnd.choice([1, 2, 3, 7, 8, 9, 64, 65, rnd.randint(1, 400)])
        store = ledger.MemoryHashStore()
        leaves = [ledger.leaf_hash(b"%d" % i) for i in range(n)]
        store.append(leaves)
        checker = InclusionChecker(n, prove.tree_root(store, n))
        for index in sorted(rnd.sample(range(n), rnd.randint(1, n))):
            proof = [b64(h) for h in prove.inclusion_proof(store, index, n)]
            if proof and checker._index >= 0 and rnd.random() < 0.4:
                bad = list(proof)
                k = rnd.randrange(len(bad))
                raw = bytearray(base64.b64decode(bad[k]))
                raw[rnd.randrange(32)] ^= 1 << rnd.randrange(8)
                bad[k] = b64(bytes(raw))
                for leaf, attempt in ((leaves[index], bad), (leaves[index], bad[:-1]),
                                      (leaves[(index + 1) % n], proof) if n > 1 else
                                      (leaves[index], bad)):
                    with pytest.raises(ledger.VerificationError):
                        checker.check(index, leaf, attempt)
            checker.check(index, leaves[index], proof)


# -- canonical entries: the fast path agrees with decode_entry ------------


def _random_value(rnd: random.Random, depth: int = 0):
    choice = rnd.randrange(9 if depth < 3 else 6)
    if choice == 0:
        return rnd.choice([0, 1, -1, 7, 10 ** 15 - 1, -(10 ** 14), 2 ** 53 - 1, 2 ** 53, 10 ** 20])
    if choice == 1:
        return rnd.choice([0.5, 1.0, 1e21, 1e-7, -0.0, 3.14])
    if choice == 2:
        return rnd.choice([True, False, None])
    if choice in (3, 4, 5):
        alphabet = "ab\"\\/\b\f\n\r\t\x00\x1f\x7fé€\u2028😀\ud800 "
        return "".join(rnd.choice(alphabet) for _ in range(rnd.randrange(6)))
    if choice in (6, 7):
        return {_random_key(rnd): _random_value(rnd, depth + 1) for _ in range(rnd.randrange(4))}
    return [_random_value(rnd, depth + 1) for _ in range(rnd.randrange(4))]


def _random_key(rnd: random.Random) -> str:
    return rnd.choice(["a", "b", "B", "é", "€", "😀", "\ufb33", "a b", "aa", "1", "_x"])


def _outcome(decode, data: bytes):
    try:
        return "ok", decode(data)
    except ledger.VerificationError as error:
        return "error", type(error)


def _candidates(rnd: random.Random, entry: dict) -> list[bytes]:
    out = []
    try:
        out.append(rfc8785.dumps(entry))
    except Exception:  # an entry that cannot be canonical at all
        pass
    for kwargs in ({"sort_keys": True, "separators": (",", ":"), "ensure_ascii": False},
                   {"sort_keys": True, "separators": (",", ":")},
                   {"separators": (",", ":"), "ensure_ascii": False}, {}):
        try:
            out.append(json.dumps(entry, **kwargs).encode("utf-8", "surrogatepass"))
        except ValueError:
            pass
    if out:
        text = out[0]
        out.append(text.replace(b":1", b":1.0").replace(b":0", b":-0"))
        out.append(text + b" ")
        out.append(text.replace(b'"v":1', b'"v":1,"v":1'))
        out.append(text.replace(b'"x"', b'NaN'))
    return out


@pytest.mark.parametrize("seed", range(4))
def test_fast_canonical_check_agrees_with_decode_entry(seed):
    rnd = random.Random(seed)
    for _ in range(600):
        entry = {"v": 1, "type": "test.random", "at": AT, "actor": "org_a",
                 **{_random_key(rnd): _random_value(rnd) for _ in range(rnd.randrange(4))}}
        if rnd.random() < 0.1:
            entry["x"] = "x"
        for data in _candidates(rnd, entry):
            assert _outcome(decode_entry_fast, data) == _outcome(ledger.decode_entry, data), data


# -- the streamed file layout ------------------------------------------------


def streamed(bundle: dict) -> str:
    header = {name: value for name, value in bundle.items() if name != "entries"}
    lines = []
    for item in bundle["entries"]:
        proof = item["inclusion_proof"]
        lines.append(entry_line(item["index"], base64.b64decode(item["leaf_data"]), proof,
                                item.get("evidence")))
    body = ",\n".join(lines) + ("\n" if lines else "")
    return header_line(header) + body + "]}\n"


def test_the_streamed_layout_is_the_same_json(log):
    bundle = log.bundle()
    assert json.loads(streamed(bundle)) == bundle
    empty = dict(bundle, entries=[])
    assert json.loads(streamed(empty)) == empty


@pytest.fixture
def key(log) -> str:
    return log.signer.verifier_key


def verify_text(tmp_path, text: str | bytes, key: str):
    path = tmp_path / "bundle.json"
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return verify_bundle_file(path, key)


def test_a_streamed_file_and_a_reformatted_one_both_verify(log, key, tmp_path):
    text = streamed(log.bundle())
    result = verify_text(tmp_path, text, key)
    assert result.ok, result.lines
    assert result.lines[0] == f"OK: {len(log.data)} entries verified, 0 failures, against " \
                              f"checkpoint of size {len(log.data)}"
    assert result.lines[1].startswith("evidence: 6 device event JWS and 1 document signatures")
    pretty = verify_text(tmp_path, json.dumps(json.loads(text), indent=1), key)
    assert pretty.ok and pretty.lines == result.lines


@pytest.mark.parametrize("cut, message", [
    (lambda t: t[:t.rindex("]}")], "without closing its entry list"),
    (lambda t: t[:t.rindex("]}") - 40], "not a JSON bundle (truncated?)"),
    (lambda t: t[:t.index("\n") + 1], "without closing its entry list"),
    (lambda t: t[:-3] + ",\n]}\n", "not a JSON bundle"),
    (lambda t: t + "{}", "not a JSON bundle"),
    (lambda t: t.replace("},\n", "}\n", 1), "not a JSON bundle"),
])
def test_a_damaged_streamed_file_gets_a_clear_message(log, key, tmp_path, cut, message):
    result = verify_text(tmp_path, cut(streamed(log.bundle())), key)
    assert not result.ok
    assert any(message in line for line in result.lines), result.lines


def test_a_changed_line_in_a_streamed_file_is_named(log, key, tmp_path):
    lines = streamed(log.bundle()).split("\n")
    item = json.loads(lines[5].rstrip(","))
    item["leaf_hash"] = b64(bytes(32))
    lines[5] = json.dumps(item, separators=(",", ":")) + ","
    result = verify_text(tmp_path, "\n".join(lines), key)
    assert not result.ok
    assert result.lines[0].startswith(f"FAIL entry {item['index']}: malformed: ")


def test_progress_is_reported_by_bytes(log, key, tmp_path):
    for _ in range(5000):
        log.add("document.accessed", document="doc_1", reader="org_r")
    calls = []
    path = tmp_path / "big.json"
    path.write_text(streamed(log.bundle()))
    result = verify_bundle_file(path, key, progress=lambda *args: calls.append(args))
    assert result.ok
    assert calls[-1] == (path.stat().st_size, path.stat().st_size, len(log.data))
    assert len(calls) >= 2 and all(a[0] <= b[0] for a, b in zip(calls, calls[1:]))


def test_the_progress_bar_is_silent_off_a_terminal(tmp_path):
    import io

    stream = io.StringIO()
    bar = ProgressBar(stream)
    bar(1, 2, 1)
    bar.close()
    assert stream.getvalue() == ""


def test_bundle_verifier_can_drop_entries_to_save_memory(log):
    checker = BundleVerifier(log.verifier, keep_entries=False)
    bundle = log.bundle()
    assert checker.open(bundle)
    for item in bundle["entries"]:
        checker.add(item)
    report = checker.finish()
    assert report.ok and report.entries == [] and report.verified == len(log.data)


def test_random_damage_never_raises(log, key, tmp_path):
    rnd = random.Random(7)
    good = streamed(log.bundle()).encode()
    deep = b"[" * 100_000 + b"]" * 100_000
    for attempt in range(300):
        damaged = bytearray(good)
        for _ in range(rnd.randint(1, 4)):
            position = rnd.randrange(len(damaged))
            action = rnd.randrange(3)
            if action == 0:
                damaged[position] = rnd.randrange(256)
            elif action == 1:
                del damaged[position:position + rnd.randint(1, 40)]
            else:
                damaged[position:position] = rnd.choice([b"\n", b",", b"]}", b"{", deep[:50]])
        result = verify_text(tmp_path, bytes(damaged), key)
        assert result.lines and (result.ok or not result.ok)
    nested = verify_text(tmp_path, deep, key)
    assert not nested.ok and nested.lines[0].startswith("error: ")


# -- entries in log order, each once ---------------------------------------


def _reordered(order):
    def mutate(bundle: dict) -> None:
        bundle["entries"] = [bundle["entries"][position] for position in order(
            list(range(len(bundle["entries"]))))]
    return mutate


@pytest.mark.parametrize("reorder, where", [
    (lambda p: p[:6] + [5] + p[6:], 5),                   # an entry repeated right after itself
    (lambda p: p + [0], 0),                                # the first entry again at the end
    (lambda p: p[:10] + [p[11], p[10]] + p[12:], 10),     # two neighbours swapped
    (lambda p: p[::-1], 30),                               # the whole list reversed
], ids=["repeated", "first-again-at-the-end", "neighbours-swapped", "reversed"])
def test_entries_repeated_or_out_of_log_order_fail(log, key, tmp_path, reorder, where):
    """A bundle holds its entries in log order, each once: a copy or a
    reordering is tampering even though every proof on its own verifies."""
    bundle = log.bundle()
    _reordered(reorder)(bundle)
    found = failures(bundle, log)
    assert any(place == where and "log order" in message for place, message in found), found
    result = verify_text(tmp_path, streamed(bundle), key)
    assert not result.ok and any(f"FAIL entry {where}: malformed: " in line
                                 for line in result.lines), result.lines


# -- strict JSON -------------------------------------------------------------


@pytest.mark.parametrize("change", [
    lambda t: t.replace('"checkpoint":', '"checkpoint":"forged","checkpoint":', 1),
    lambda t: t.replace('{"index":0,', '{"index":7,"index":0,', 1),
    lambda t: t.replace('"entries":[', '"entries":[],"entries":[', 1),
    lambda t: t.replace('"subject":{', '"subject":{"n":NaN,', 1),
    lambda t: t.replace('"subject":{', '"subject":{"n":-Infinity,', 1),
], ids=["checkpoint-twice", "index-twice", "entries-twice", "nan", "infinity"])
@pytest.mark.parametrize("layout", ["streamed", "pretty"])
def test_duplicate_member_names_and_nan_are_not_json(log, key, tmp_path, change, layout):
    """Two JSON parsers may read a repeated name differently (first or last
    wins), and NaN is not JSON (RFC 8259): the verifier must not say OK to a
    file that another tool would read as something else."""
    text = change(streamed(log.bundle()))
    if layout == "pretty":
        text = text.replace(",", ", ").replace("\n", "\n  ")
    result = verify_text(tmp_path, text, key)
    assert not result.ok
    assert len(result.lines) == 1 and result.lines[0].startswith("error: "), result.lines
    assert "(truncated?)" not in result.lines[0]  # it is whole, and breaks a rule of JSON


@pytest.mark.parametrize("data, words", [
    (b'{"actor":"org_a","at":"2026-11-23T09:00:00Z","n":' + b"9" * 5000 + b',"type":"x.y","v":1}',
     "4300 digits"),
    (b'{"actor":"org_a","at":"2026-11-23T09:00:00Z","type":"x.y","v":1,"v":1}',
     "duplicate member name 'v'"),
    (b"[" * 100_000, "nested too deeply"),
    (b"\xff\xfe\xfd", "utf-8"),
], ids=["integer-of-5000-digits", "member-repeated", "nested-100000-deep", "not-utf8"])
@pytest.mark.parametrize("layout", ["streamed", "pretty"])
def test_a_hostile_logged_entry_fails_on_that_entry_in_a_file(log, key, tmp_path, data, words,
                                                              layout):
    """Bytes the operator logged, with valid proofs: one FAIL line for that
    entry, and every other entry still verified."""
    log.relog(0, data)
    text = streamed(log.bundle())
    result = verify_text(tmp_path, text if layout == "streamed" else json.dumps(
        json.loads(text), indent=1), key)
    assert not result.ok
    assert result.lines[0].startswith("FAIL entry 0: entry is not a well-formed canonical "
                                      "entry: ") and words in result.lines[0], result.lines
    assert result.lines[1].startswith(f"FAILED: {len(log.data) - 1} entries verified, 1 failures")


def test_a_checkpoint_note_with_non_ascii_or_surrogates_is_a_failure_not_a_traceback(
        log, key, tmp_path):
    bundle = log.bundle()
    for note in (bundle["checkpoint"].replace("\n\n", "\n\n\u2014 other AAAA\u00e9AAA\n"),
                 "\ud800" + bundle["checkpoint"]):
        result = verify_text(tmp_path, json.dumps(dict(bundle, checkpoint=note)), key)
        assert not result.ok and result.lines[0].startswith("FAIL bundle: "), result.lines


# -- redacted copies: a disclosure as the evidence of a document version's entry --

@pytest.fixture
def plain() -> FakeLog:
    """A log without device or signing keys in its bundles."""
    log = FakeLog()
    log.add("org.created", org="org_a", role="firm")
    return log


def _redacted_version(log: FakeLog, disclosed: set[str]) -> tuple[int, dict]:
    content = {"invoice_number": "INV-7", "buyer": {"name": "Nordhandel GmbH"},
               "total": {"amount": "10.00", "currency": "EUR"}}
    salts = disclosure.new_salts(content)
    digest = disclosure.document_digest("commercial_invoice", content, salts)
    shown = disclosure.disclose("commercial_invoice", content, salts, disclosed).to_json()
    index = log.add("document.issued", {"disclosure": shown}, document="doc_9",
                    doc_type="commercial_invoice", version=1, digest=digest)
    return index, shown


def test_a_redacted_copy_verifies_down_to_each_disclosed_value(plain):
    index, _shown = _redacted_version(plain, {"invoice_number", "total"})
    report = verify_bundle(plain.bundle([index]), plain.verifier)
    assert report.ok, report.failures
    assert report.disclosures == [(index, {"invoice_number": "INV-7",
                                           "total": {"amount": "10.00", "currency": "EUR"}})]


@pytest.mark.parametrize("tamper, words", [
    (lambda shown: shown["disclosed"]["total"]["value"].update(amount="1000.00"),
     "do not match the digest"),
    (lambda shown: shown["disclosed"]["total"].update(salt="A" * 22), "do not match the digest"),
    (lambda shown: shown["hidden"].update(buyer="00" * 32), "do not match the digest"),
    (lambda shown: shown["hidden"].pop("buyer"), "do not match the digest"),
    (lambda shown: shown.update(type="packing_list"), "the entry notarized a 'commercial_invoice'"),
    (lambda shown: shown.update(digest="sha256:" + "00" * 32), "do not match the digest"),
    (lambda shown: shown["hidden"].update(total="ab" * 32), "both disclosed and hidden"),
    (lambda shown: shown.pop("disclosed"), "malformed disclosure"),
])
def test_a_changed_redacted_copy_fails_on_its_entry(plain, tamper, words):
    index, shown = _redacted_version(plain, {"invoice_number", "total"})
    tamper(shown)
    assert [(where, words in message) for where, message in
            failures(plain.bundle([index]), plain)] == [(index, True)]


def test_a_disclosure_of_another_version_fails(plain):
    first, shown = _redacted_version(plain, {"invoice_number"})
    second, _ = _redacted_version(plain, {"invoice_number"})  # other salts: another digest
    plain.evidence[second] = {"disclosure": shown}
    assert [where for where, _ in failures(plain.bundle([first, second]), plain)] == [second]


@pytest.mark.parametrize("evidence", [{"disclosure": "x"}, {"disclosure": {}, "jws": "a.b.c"},
                                      {"jws": "a.b.c"}, "disclosure"])
def test_malformed_evidence_of_a_version_is_named(plain, evidence):
    index, _ = _redacted_version(plain, {"invoice_number"})
    plain.evidence[index] = evidence
    [(where, message)] = failures(plain.bundle([index]), plain)
    assert where == index and ("disclosure" in message or "malformed" in message)


def test_a_disclosure_on_an_entry_of_another_type_is_refused(plain):
    index = plain.add("document.cancelled", {"disclosure": {}}, document="doc_1")
    assert [where for where, _ in failures(plain.bundle([index]), plain)] == [index]


def test_the_offline_verifier_prints_what_was_disclosed(plain, tmp_path):
    index, _ = _redacted_version(plain, {"invoice_number", "total"})
    path = tmp_path / "redacted.json"
    path.write_text(json.dumps(plain.bundle([index])))
    result = verify_bundle_file(path, plain.signer.verifier_key)
    assert result.ok, result.lines
    assert f"disclosed and verified against entry {index}'s digest: invoice_number, total" \
        in result.lines
