"""Audit bundles and receipts: entries with inclusion proofs to one signed
checkpoint, and the evidence behind them, verifiable offline with the log's
verifier key (``docs/AUDIT_BUNDLE.md`` is the full description).

    {"format": "tradezone.audit-bundle.v1",
     "checkpoint": "<signed note>",
     "verifier_key": "<C2SP verifier key>",               (informational)
     "subject": {...},                                    (informational)
     "device_keys": {"<device id>": {"alg", "jwk", "registered"?}},
     "signing_keys": {"<key id>": {"alg", "jwk", "org"?, "registered"?}},
     "entries": [{"index": I, "leaf_data": B64, "leaf_hash": B64,
                  "inclusion_proof": [B64, ...], "evidence": {"jws": "..."}?}, ...]}

A receipt is a bundle of the entries of one action, without the optional
members. Verifiers ignore members they do not know, so a v1 verifier that
knows nothing of evidence still checks every entry of a bundle that has it.
"""

from __future__ import annotations

import binascii
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from .checkpoint import Checkpoint, open_checkpoint
from .disclosure import DisclosureError, verify_disclosure
from .entry import check_entry, decode_entry
from .errors import VerificationError
from .hashing import HASH_SIZE, leaf_hash, node_hash
from .jws import JwsError, parse_compact, verify_jws
from .note import NoteVerifier
from .publickeys import KeyFormatError, PublicKey, load_public_key
from .strictjson import DuplicateMemberError, loads_strict
from .verify import verify_inclusion

BUNDLE_FORMAT = "tradezone.audit-bundle.v1"
_MAX_INDEX = 2**64 - 1
ENTRIES_OPENING = '"entries":['  # how the first line of a streamed bundle ends
ENTRIES_CLOSING = "]}"


class BundleFormatError(VerificationError):
    """A bundle is not in the audit-bundle format."""


class EvidenceError(VerificationError):
    """A JWS or key in a bundle does not back the entry it goes with."""


class VerifiedEntry(NamedTuple):
    """An entry whose bytes, leaf hash and inclusion proof verified."""

    index: int
    leaf_data: bytes
    entry: dict[str, Any]


@dataclass
class BundleReport:
    """The verified checkpoint and entries, and one error per entry that failed.

    ``entries`` is filled only when the verifier keeps them (not for streamed
    bundles of millions of entries); ``verified`` counts them either way.
    """

    checkpoint: Checkpoint | None = None
    entries: list[VerifiedEntry] = field(default_factory=list)
    failures: list[tuple[int | None, VerificationError]] = field(default_factory=list)
    verified: int = 0
    device_events_checked: int = 0
    signatures_checked: int = 0
    without_evidence: int = 0
    keys_bound: int = 0
    keys_unbound: int = 0
    disclosures: list[tuple[int, dict[str, Any]]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.checkpoint is not None and not self.failures


def verify_bundle(unverified: Mapping[str, Any], verifier: NoteVerifier) -> BundleReport:
    """Check the checkpoint signature, then every entry: its bytes are a
    canonical entry, its leaf hash matches, its inclusion proof verifies, and
    its evidence (device event or document signature JWS) backs it."""
    checker = BundleVerifier(verifier)
    if checker.open(unverified):
        entries = unverified.get("entries")
        if not isinstance(entries, list):
            checker.fail(None, BundleFormatError("entries must be a list"))
        else:
            for item in entries:
                checker.add(item)
    return checker.finish()


class BundleVerifier:
    """Verifies a bundle piece by piece: :meth:`open` the header (format,
    checkpoint, keys), :meth:`add` each entry, then :meth:`finish` the checks
    that span entries (key registrations). A streamed bundle of a million
    entries is verified without holding it in memory."""

    def __init__(self, verifier: NoteVerifier, *, keep_entries: bool = True) -> None:
        self.verifier = verifier
        self.keep_entries = keep_entries
        self.report = BundleReport()
        self._proofs: InclusionChecker | None = None
        self._keys = _EvidenceKeys()
        self._position = 0
        self._last_index = -1  # of the last entry that verified

    def fail(self, index: int | None, error: VerificationError) -> None:
        self.report.failures.append((index, error))

    def open(self, header: Any) -> bool:
        """Check the format and the checkpoint; False when nothing more can be checked."""
        if not isinstance(header, Mapping) or header.get("format") != BUNDLE_FORMAT:
            self.fail(None, BundleFormatError(f"not a {BUNDLE_FORMAT} bundle"))
            return False
        try:
            self.report.checkpoint = open_checkpoint(header.get("checkpoint"), self.verifier)
        except VerificationError as error:
            self.fail(None, error)
            return False
        checkpoint = self.report.checkpoint
        self._proofs = InclusionChecker(checkpoint.size, checkpoint.root_hash)
        for error in self._keys.load(header):
            self.fail(None, error)
        return True

    def add(self, item: Any) -> None:
        """Verify one bundle entry; a failure is recorded under its index."""
        position, self._position = self._position, self._position + 1
        try:
            index = item.get("index") if isinstance(item, Mapping) else None
            if _is_index(index) and index <= self._last_index:
                raise BundleFormatError(f"entry {index} comes after entry {self._last_index}: "
                                        f"entries must be in log order, each once")
            verified = verify_bundle_entry(item, self.report.checkpoint, self._proofs)
            self._keys.check(verified, item.get("evidence"), self.report)
        except VerificationError as error:
            self.fail(index if _is_index(index) else position, error)
            return
        self._last_index = verified.index
        self.report.verified += 1
        if self.keep_entries:
            self.report.entries.append(verified)

    def finish(self) -> BundleReport:
        """The report, once the keys' registration entries have been checked."""
        if self.report.checkpoint is not None:
            for error in self._keys.check_registrations(self.report):
                self.fail(None, error)
        return self.report


def verify_bundle_entry(item: Any, checkpoint: Checkpoint,
                        proofs: InclusionChecker | None = None) -> VerifiedEntry:
    """One bundle entry against a verified checkpoint; raises on any failure."""
    if not isinstance(item, Mapping):
        raise BundleFormatError("an entry must be an object")
    index = item.get("index")
    if not _is_index(index):
        raise BundleFormatError("entry index must be an integer from 0 to 2^64-1")
    data = _b64(item.get("leaf_data"), "leaf_data")
    computed = leaf_hash(data)
    if "leaf_hash" in item and not _same_hash(item["leaf_hash"], computed):
        raise BundleFormatError(f"entry {index}: leaf_hash is not the hash of leaf_data")
    proof = item.get("inclusion_proof")
    if not isinstance(proof, list):
        raise BundleFormatError(f"entry {index}: inclusion_proof must be a list")
    proofs = proofs or InclusionChecker(checkpoint.size, checkpoint.root_hash)
    proofs.check(index, computed, proof)
    return VerifiedEntry(index, data, decode_entry_fast(data))


# -- canonical entries ---------------------------------------------------


class _NotFast(Exception):
    """The fast canonical check cannot decide; ask ``decode_entry``."""


def _no_float(text: str) -> float:
    raise _NotFast


def _small_int(text: str) -> int:
    if len(text) > 15:  # beyond 15 characters an integer may leave the I-JSON range
        raise _NotFast
    return int(text)


# Built once: json.loads and json.dumps with options build a new decoder or
# encoder on every call, which shows at a million entries.
_ENTRY_DECODER = json.JSONDecoder(parse_float=_no_float, parse_int=_small_int,
                                  parse_constant=_no_float)
_SORTED_COMPACT = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def decode_entry_fast(data: bytes) -> dict[str, Any]:
    """What :func:`ledger.decode_entry` returns or raises for ``data``, faster.

    For ASCII bytes without fractions, exponents, NaN or long integers, the
    RFC 8785 form of the parsed entry is ``json.dumps`` with sorted keys and
    no spaces (same key order for ASCII keys, same string escapes, same
    integers), so equal bytes prove canonical form without re-encoding with
    ``rfc8785``. Anything else, and every rejection, goes through
    ``decode_entry`` itself.
    """
    if data.isascii():
        try:
            entry = _ENTRY_DECODER.decode(data.decode("ascii"))
            if isinstance(entry, dict):
                check_entry(entry)
                again = _SORTED_COMPACT.encode(entry)
                if again.isascii() and again.encode() == data:
                    return entry
        except (_NotFast, ValueError, RecursionError, VerificationError):
            pass
    return decode_entry(data)


# -- inclusion proofs ------------------------------------------------------


class InclusionChecker:
    """Checks many inclusion proofs into one tree (RFC 9162 section 2.1.3.2).

    The first proof, and any proof whose index is not above the one before,
    is checked in full with :func:`ledger.verify_inclusion`. A proof of a
    higher index is checked against the previous one: below their lowest
    common ancestor its hashes are folded from the leaf as usual, the node
    reached there must equal the previous proof's (already proven) sibling,
    and the hashes above must equal the previous proof's, which were proven
    to lead to the root. Entries in log order thus cost about two hashes
    each instead of one per tree level. Anything unexpected falls back to the
    full check, which alone decides what is reported.
    """

    def __init__(self, tree_size: int, root: bytes) -> None:
        self.tree_size = tree_size
        self.root = root
        self.height = (tree_size - 1).bit_length() if tree_size > 1 else 0
        self._index = -1               # the last index proven
        self._proof: list[str] = []    # its proof, as given
        self._nodes: list[bytes] = []  # its ancestors, level 0 (leaf) to height (root)
        self._above: list[int] = []    # proof hashes at levels >= l, for each level l

    def check(self, index: int, leaf: bytes, proof: list[Any]) -> None:
        """Raise :class:`InclusionProofError` unless ``proof`` puts ``leaf`` at ``index``."""
        if index > self._index >= 0 and index < self.tree_size and self._check_after(
                index, leaf, proof):
            return
        self._check_in_full(index, leaf, proof)

    def _check_in_full(self, index: int, leaf: bytes, proof: list[Any]) -> None:
        self._index = -1
        hashes = [_b64(item, "inclusion_proof") for item in proof]
        verify_inclusion(leaf, index, self.tree_size, hashes, self.root)
        nodes, has_sibling, cursor = [leaf], [], 0
        for level in range(self.height):
            sibling = self._sibling_side(index, level)
            if sibling:
                pair = (hashes[cursor], nodes[-1]) if sibling < 0 else (nodes[-1], hashes[cursor])
                nodes.append(node_hash(*pair))
                cursor += 1
            else:
                nodes.append(nodes[-1])
            has_sibling.append(bool(sibling))
        self._index, self._proof = index, list(proof)
        self._nodes, self._above = nodes, _counts_above(has_sibling)

    def _check_after(self, index: int, leaf: bytes, proof: list[Any]) -> bool:
        """True when ``proof`` verifies given the previous proof; False to check in full."""
        split = (index ^ self._index).bit_length() - 1  # level of the two children of the LCA
        shared = self._above[split + 1]
        own = len(proof) - shared - 1
        previous_top = len(self._proof) - shared
        if own < 0 or proof[own + 1:] != self._proof[previous_top:] \
                or proof[own] != _text(self._nodes[split]):
            return False
        nodes, above, used, node = [leaf], [], 0, leaf
        for level in range(split):
            side = self._sibling_side(index, level)
            if side:
                if used == own:
                    return False
                sibling = _b64_or_none(proof[used])
                if sibling is None:
                    return False
                used += 1
                node = node_hash(sibling, node) if side < 0 else node_hash(node, sibling)
            nodes.append(node)
            above.append(side != 0)
        if used != own or _text(node) != self._proof[previous_top - 1]:
            return False
        above.append(True)  # the sibling at the split level
        self._index, self._proof = index, proof
        self._nodes[:split + 1] = nodes
        self._above[:split + 2] = _counts_above(above, shared)
        return True

    def _sibling_side(self, index: int, level: int) -> int:
        """-1 if the node at ``level`` on the leaf's path has a left sibling,
        1 a right one, 0 none (it is on the right edge and moves up alone)."""
        k = index >> level
        if k & 1:
            return -1
        return 1 if (k + 1) << level < self.tree_size else 0


def _counts_above(has_sibling: list[bool], base: int = 0) -> list[int]:
    """For each level l of ``has_sibling`` (and one more), the number of proof
    hashes at levels >= l, given ``base`` hashes above the last level."""
    counts = [base]
    for present in reversed(has_sibling):
        counts.append(counts[-1] + present)
    counts.reverse()
    return counts


# -- evidence: device events and document signatures ---------------------


@dataclass
class _Key:
    owner: str          # "device" or "key"
    name: str           # the device id or signing key id
    key: PublicKey
    org: str | None = None
    registered: int | None = None
    first_use: int | None = None


_REGISTRATION_TYPES = {"device": "device.registered", "key": "key.registered"}


class _EvidenceKeys:
    """The bundle's device and signing keys, and the checks that use them."""

    def __init__(self) -> None:
        self.keys: dict[tuple[str, str], _Key] = {}
        self.registrations: dict[int, dict[str, Any] | None] = {}

    def load(self, header: Mapping[str, Any]) -> list[VerificationError]:
        errors = []
        for member, owner in (("device_keys", "device"), ("signing_keys", "key")):
            table = header.get(member, {})
            if not isinstance(table, Mapping):
                errors.append(BundleFormatError(f"{member} must be an object"))
                continue
            for name, spec in table.items():
                try:
                    key = self.keys[owner, name] = _load_key(owner, name, spec)
                except VerificationError as error:
                    errors.append(error)
                    continue
                if key.registered is not None:
                    self.registrations[key.registered] = None
        return errors

    def check(self, verified: VerifiedEntry, evidence: Any, report: BundleReport) -> None:
        """Check the evidence an entry comes with; raises :class:`EvidenceError`."""
        entry, index = verified.entry, verified.index
        if index in self.registrations:
            self.registrations[index] = entry
        if entry["type"] in DISCLOSABLE_TYPES and evidence is not None:
            report.disclosures.append((index, _check_disclosure(entry, evidence)))
            return
        checks = _EVIDENCE_CHECKS
        if entry["type"] not in checks:
            if evidence is not None:
                raise EvidenceError(f"evidence given for a {entry['type']} entry, which has none")
            return
        if evidence is None:
            report.without_evidence += 1
            return
        check, owner = checks[entry["type"]]
        name = entry.get("device" if owner == "device" else "key")
        key = self.keys.get((owner, name)) if isinstance(name, str) else None
        if key is None:
            raise EvidenceError(f"the bundle has no {owner} key {name!r} for this entry")
        if not isinstance(evidence, Mapping) or not isinstance(evidence.get("jws"), str):
            raise BundleFormatError("evidence must be an object with a string 'jws'")
        check(entry, evidence["jws"], key)
        key.first_use = index if key.first_use is None else min(key.first_use, index)
        if owner == "device":
            report.device_events_checked += 1
        else:
            report.signatures_checked += 1

    def check_registrations(self, report: BundleReport) -> list[VerificationError]:
        """Each key that names its registration entry must match that verified entry."""
        errors = []
        for key in self.keys.values():
            if key.registered is None:
                report.keys_unbound += 1
                continue
            try:
                _check_registration(key, self.registrations.get(key.registered))
                report.keys_bound += 1
            except EvidenceError as error:
                errors.append(error)
        return errors


def _load_key(owner: str, name: Any, spec: Any) -> _Key:
    label = f"{'device' if owner == 'device' else 'signing'} key {name!r}"
    if not isinstance(spec, Mapping) or not isinstance(spec.get("alg"), str):
        raise BundleFormatError(f"{label} must be an object with 'alg' and 'jwk'")
    registered, org = spec.get("registered"), spec.get("org")
    if registered is not None and not _is_index(registered):
        raise BundleFormatError(f"{label}: 'registered' must be an entry index")
    if org is not None and not isinstance(org, str):
        raise BundleFormatError(f"{label}: 'org' must be a string")
    try:
        key = load_public_key(spec["alg"], spec.get("jwk"))
    except KeyFormatError as error:
        raise EvidenceError(f"{label} is not a usable public key: {error}") from error
    return _Key(owner, name, key, org, registered)


def _check_registration(key: _Key, entry: dict[str, Any] | None) -> None:
    label = f"{'device' if key.owner == 'device' else 'signing'} key {key.name!r}"
    if entry is None:
        raise EvidenceError(f"{label}: its registration entry {key.registered} is not "
                            f"among the verified entries of the bundle")
    expected = {"type": _REGISTRATION_TYPES[key.owner], key.owner: key.name,
                "alg": key.key.alg, "thumbprint": key.key.thumbprint()}
    if key.org is not None:
        expected["org"] = key.org
    wrong = sorted(name for name, value in expected.items() if entry.get(name) != value)
    if wrong:
        raise EvidenceError(f"{label} does not match its registration entry {key.registered} "
                            f"({', '.join(wrong)} differ)")
    if key.first_use is not None and key.first_use < key.registered:
        raise EvidenceError(f"{label} is used at entry {key.first_use}, before its "
                            f"registration at entry {key.registered}")


def _check_device_event(entry: dict[str, Any], jws: str, key: _Key) -> None:
    """The device's JWS (RFC 7515) is the one the entry logged and verifies with its key."""
    claims = _verified_claims(entry, jws, key, "device event")
    if claims.get("device_id") != entry["device"]:
        raise EvidenceError(f"JWS device_id {claims.get('device_id')!r} is not the entry's "
                            f"device {entry['device']!r}")
    seq = claims.get("seq")
    if type(seq) is not int or not _same_json(seq, entry.get("seq")):
        raise EvidenceError(f"JWS seq {seq!r} is not the entry's seq {entry.get('seq')!r}")
    for claim, member in (("type", "event_type"), ("ts", "device_ts"), ("shipment", "shipment")):
        if member in entry and not _same_json(claims.get(claim), entry[member]):
            raise EvidenceError(f"JWS {claim} {claims.get(claim)!r} is not the entry's "
                                f"{member} {entry[member]!r}")


def _check_document_signature(entry: dict[str, Any], jws: str, key: _Key) -> None:
    """The firm's JWS over {document, version, digest} is the one the entry logged."""
    claims = _verified_claims(entry, jws, key, "document signature")
    for name in ("document", "version", "digest"):
        if not _same_json(claims.get(name), entry.get(name)) or (
                name == "version" and type(claims.get(name)) is not int):
            raise EvidenceError(f"signed {name} {claims.get(name)!r} is not the entry's "
                                f"{entry.get(name)!r}")
    if key.org is not None and key.org != entry.get("actor"):
        raise EvidenceError(f"signing key {key.name!r} belongs to {key.org!r}, not to the "
                            f"entry's actor {entry.get('actor')!r}")


def _verified_claims(entry: dict[str, Any], jws: str, key: _Key, what: str) -> dict[str, Any]:
    digest = hashlib.sha256(jws.encode("utf-8", "surrogatepass")).hexdigest()
    logged = entry.get("jws_sha256")
    if logged != "sha256:" + digest:
        raise EvidenceError(f"{what} JWS has SHA-256 {digest}, not the entry's "
                            f"jws_sha256 {logged!r}")
    try:
        unverified = parse_compact(jws)
        if unverified.kid != key.name:
            raise EvidenceError(f"JWS kid {unverified.kid!r} is not {key.name!r}")
        payload = verify_jws(unverified, key.key)
        # Strictly, as the server and the gateway read it when they logged the
        # entry: with a repeated name (two "digest"s, say) this verifier would
        # check one claim and another verifier the other.
        claims = loads_strict(payload)
    except JwsError as error:
        raise EvidenceError(f"{what} JWS does not verify ({error.reason}): {error}") from error
    except DuplicateMemberError as error:
        raise EvidenceError(f"{what} JWS payload repeats the member name "
                            f"{error.name!r}") from error
    except ValueError as error:  # not UTF-8, not JSON, NaN, nested or a number too long
        raise EvidenceError(f"{what} JWS payload is not JSON: {error}") from error
    if not isinstance(claims, dict):
        raise EvidenceError(f"{what} JWS payload is not a JSON object")
    return claims


def _same_json(signed: Any, logged: Any) -> bool:
    """The same claim (a JSON scalar): Python's ``==`` also takes true for 1 and
    false for 0."""
    return (type(signed) is bool) == (type(logged) is bool) and signed == logged


# Entries that notarize a document version's digest: their evidence, when a
# bundle carries one, is a disclosure of some of the version's fields.
DISCLOSABLE_TYPES = ("document.issued", "document.amended")


def _check_disclosure(entry: dict[str, Any], evidence: Any) -> dict[str, Any]:
    """The disclosed fields (name -> value) of a redacted copy of the version the
    entry notarized: their salted hashes and the hidden fields' hashes give the
    digest the entry logged (``ledger.disclosure``)."""
    if not isinstance(evidence, Mapping) or set(evidence) != {"disclosure"} \
            or not isinstance(evidence["disclosure"], Mapping):
        raise BundleFormatError("evidence of a document version must be an object with "
                                "only a 'disclosure' object")
    disclosure = evidence["disclosure"]
    if disclosure.get("type") != entry.get("doc_type"):
        raise EvidenceError(f"the disclosure is of a {disclosure.get('type')!r}, the entry "
                            f"notarized a {entry.get('doc_type')!r}")
    try:
        return verify_disclosure(disclosure, expected_digest=entry.get("digest"))
    except DisclosureError as error:
        raise EvidenceError(str(error)) from error


_EVIDENCE_CHECKS = {"device.event": (_check_device_event, "device"),
                    "document.signed": (_check_document_signature, "key")}


# -- writing bundles line by line ------------------------------------------


def header_line(header: Mapping[str, Any]) -> str:
    """The first line of a streamed bundle: every member but the entries, then
    ``"entries":[``. The members come in the order given; ``entries`` last."""
    text = json.dumps({**header, "entries": []}, separators=(",", ":"), ensure_ascii=True)
    if "entries" in header or not text.endswith(ENTRIES_OPENING + ENTRIES_CLOSING):
        raise ValueError("the header must not have entries of its own")
    return text[:-len(ENTRIES_CLOSING)] + "\n"


def entry_line(index: int, leaf_data: bytes, proof_text: Iterable[str],
               evidence: Mapping[str, Any] | None = None) -> str:
    """One bundle entry as compact JSON on one line (without the separating comma);
    ``proof_text`` is the inclusion proof, each hash already in standard base64."""
    proof = '","'.join(proof_text)
    proof = f'"{proof}"' if proof else ""
    line = (f'{{"index":{index},"leaf_data":"{_text(leaf_data)}",'
            f'"leaf_hash":"{_text(leaf_hash(leaf_data))}","inclusion_proof":[{proof}]')
    if evidence is not None:
        line += ',"evidence":' + json.dumps(evidence, separators=(",", ":"), ensure_ascii=True)
    return line + "}"


def _text(value: bytes) -> str:
    return binascii.b2a_base64(value, newline=False).decode("ascii")


# -- small helpers ---------------------------------------------------------


def _is_index(value: Any) -> bool:
    # RFC 9162 indexes are 64-bit: beyond, no tree holds the entry, and a number
    # of over 4300 digits (another parser may read one) could not even be shown
    return type(value) is int and 0 <= value <= _MAX_INDEX


def _b64(value: Any, name: str) -> bytes:
    if not isinstance(value, str):
        raise BundleFormatError(f"{name} must be base64 text")
    try:
        return binascii.a2b_base64(value, strict_mode=True)
    except (binascii.Error, ValueError) as error:
        raise BundleFormatError(f"{name} is not valid base64") from error


def _b64_or_none(value: Any) -> bytes | None:
    try:
        decoded = _b64(value, "hash")
    except BundleFormatError:
        return None
    return decoded if len(decoded) == HASH_SIZE else None


def _same_hash(text: Any, expected: bytes) -> bool:
    return text == _text(expected) or _b64(text, "leaf_hash") == expected


__all__ = [
    "BUNDLE_FORMAT", "BundleFormatError", "BundleReport", "BundleVerifier", "EvidenceError",
    "InclusionChecker", "VerifiedEntry", "decode_entry_fast", "entry_line", "header_line",
    "verify_bundle", "verify_bundle_entry",
]
