"""Watching a log for a split view or a rewritten history.

The monitor keeps the last checkpoint it verified in a state file. Each
check fetches the log's latest checkpoint, verifies its signature with the
log's verifier key, and asks for a consistency proof (RFC 9162 section
2.1.4) from the saved checkpoint to the new one. The log misbehaves when it
signs two checkpoints that cannot both be true:

- ``rollback``: a checkpoint smaller than one it signed before;
- ``split_view``: the same size with another root;
- ``inconsistent``: a larger checkpoint the saved one is no prefix of (the
  consistency proof fails: history was rewritten);
- ``bad_signature``: a checkpoint that does not verify with the key;
- ``mismatch``: an answer whose size or root is not the one its note signs.

Each such finding is a :class:`LogMisbehaviour` that keeps both notes as
evidence; it is recorded in the state file and stays there (every later
check fails too) until someone who has looked into it removes it.
Trouble reaching the server or reading the state is a :class:`MonitorError`,
which says nothing about the log. HTTP goes through an injectable ``fetch``
(urllib by default), so the logic runs without a server in tests.
"""

from __future__ import annotations

import base64
import binascii
import http.client
import json
import os
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .checkpoint import Checkpoint, open_checkpoint
from .entry import utc_timestamp
from .errors import LedgerError, VerificationError
from .hashing import HASH_SIZE
from .note import NoteVerifier
from .strictjson import DuplicateMemberError, loads_strict
from .verify import verify_consistency

STATE_FORMAT = "tradezone.monitor-state.v1"
Fetch = Callable[[str], bytes]
# The ledger's answers the monitor reads are a few kilobytes (a consistency
# proof holds at most two hashes per tree level): a larger one is refused
# rather than read into memory.
MAX_ANSWER_BYTES = 1 << 20
_SHOWN = 80  # characters of an unexpected value quoted in a message


class MonitorError(LedgerError):
    """The monitor could not check the log (network, answer or state file)."""


class LogMisbehaviour(VerificationError):
    """The log signed two checkpoints that cannot both be true.

    ``kind`` says how; ``saved`` and ``received`` are the two notes, and
    ``details`` any further evidence (the consistency proof, say).
    """

    def __init__(self, kind: str, message: str, *, saved: str | None, received: str | None,
                 details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.saved = saved
        self.received = received
        self.details = details or {}

    def evidence(self, url: str, at: datetime) -> dict[str, Any]:
        return {"kind": self.kind, "detected_at": utc_timestamp(at), "url": url,
                "message": str(self), "saved_checkpoint": self.saved,
                "received_checkpoint": self.received, **self.details}


@dataclass(frozen=True)
class SignedCheckpoint:
    checkpoint: Checkpoint
    note: str

    def describe(self) -> str:
        return f"size {self.checkpoint.size}, root {_b64(self.checkpoint.root_hash)}"


@dataclass
class MonitorState:
    """What a monitor remembers between runs."""

    checkpoint: str | None = None  # the last note that verified and was consistent
    checked_at: str | None = None
    url: str | None = None
    alarms: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def load(cls, path: Path) -> MonitorState:
        """The state in ``path``, or an empty one when the file does not exist."""
        try:
            raw = Path(path).read_bytes()
        except FileNotFoundError:
            return cls()
        except OSError as error:
            raise MonitorError(f"cannot read state file {path}: {error.strerror}") from error
        try:
            # Strictly: a repeated "checkpoint" would be read as the last one here
            # and maybe as the first by whoever inspects the file.
            data = loads_strict(raw)
        except ValueError as error:  # not UTF-8 or JSON, a repeated name, NaN, too deep
            raise MonitorError(f"state file {path} is not JSON: {error}") from error
        if not isinstance(data, dict) or data.get("format") != STATE_FORMAT:
            raise MonitorError(f"state file {path} is not a {STATE_FORMAT} file")
        alarms = data.get("alarms", [])
        if not all(isinstance(data.get(name), (str, type(None)))
                   for name in ("checkpoint", "checked_at", "url")) \
                or not isinstance(alarms, list) \
                or not all(isinstance(alarm, dict) for alarm in alarms):
            raise MonitorError(f"state file {path} is malformed")
        return cls(data.get("checkpoint"), data.get("checked_at"), data.get("url"), alarms)

    def save(self, path: Path) -> None:
        """Write the state atomically (a new file renamed over the old), mode 0600."""
        # ASCII (escaped) JSON: an alarm's evidence may hold any character, lone surrogates too
        body = json.dumps({"format": STATE_FORMAT, "url": self.url, "checkpoint": self.checkpoint,
                           "checked_at": self.checked_at, "alarms": self.alarms},
                          indent=2).encode() + b"\n"
        _write_atomically(Path(path), body)


@dataclass
class Outcome:
    """One check: the lines to show, and the misbehaviour found, if any."""

    lines: list[str] = field(default_factory=list)
    alarm: LogMisbehaviour | None = None
    earlier_alarms: int = 0

    @property
    def ok(self) -> bool:
        return self.alarm is None and not self.earlier_alarms


def run_once(url: str, verifier: NoteVerifier, state_path: Path, fetch: Fetch | None = None,
             clock: Callable[[], datetime] | None = None) -> Outcome:
    """Check the log at ``url`` against the state in ``state_path``, and save the new state.

    Raises :class:`MonitorError` when the check could not be made (the state
    is then left as it was)."""
    fetch = fetch or urllib_fetch
    now = (clock or _utc_now)()
    state = MonitorState.load(state_path)
    saved = _saved_checkpoint(state, verifier, state_path)
    outcome = Outcome(earlier_alarms=len(state.alarms))
    try:
        latest = check_latest(url, verifier, saved, fetch)
    except LogMisbehaviour as alarm:
        outcome.alarm = alarm
        state.alarms.append(alarm.evidence(url, now))
        outcome.lines.extend(describe_alarm(alarm))
    else:
        outcome.lines.append(_progress_line(saved, latest))
        state.checkpoint = latest.note
    for earlier in state.alarms[:outcome.earlier_alarms]:
        outcome.lines.append(_printable(f"ALARM recorded earlier ({earlier.get('detected_at')}): "
                                        f"{earlier.get('message')} -- see {state_path}"))
    state.url, state.checked_at = url, utc_timestamp(now)
    state.save(state_path)
    return outcome


def check_latest(url: str, verifier: NoteVerifier, saved: SignedCheckpoint | None,
                 fetch: Fetch) -> SignedCheckpoint:
    """The log's latest checkpoint, once it is shown consistent with ``saved``;
    raises :class:`LogMisbehaviour` with the evidence otherwise."""
    latest = fetch_checkpoint(url, verifier, fetch, saved)
    if saved is None:
        return latest
    old, new = saved.checkpoint, latest.checkpoint
    if new.size < old.size:
        raise _alarm("rollback", "the log's checkpoint is smaller than one it signed before",
                     saved, latest)
    if new.size == old.size:
        if new.root_hash != old.root_hash:
            raise _alarm("split_view", "the log signed two different trees of the same size",
                         saved, latest)
        return latest
    proof, answer = fetch_consistency(url, old.size, new.size, fetch)
    try:
        verify_consistency(old.size, new.size, proof, old.root_hash, new.root_hash)
    except VerificationError as error:
        raise _alarm("inconsistent", f"the saved checkpoint is not a prefix of the new one "
                     f"(history was rewritten): {error}{_server_roots(answer, saved, latest)}",
                     saved, latest, consistency_proof=answer.get("proof")) from error
    return latest


def fetch_checkpoint(url: str, verifier: NoteVerifier, fetch: Fetch,
                     saved: SignedCheckpoint | None = None) -> SignedCheckpoint:
    """GET /api/v1/ledger/checkpoint, its note verified with ``verifier``."""
    answer = _get_json(fetch, f"{url.rstrip('/')}/api/v1/ledger/checkpoint")
    note = answer.get("checkpoint")
    if not isinstance(note, str):
        raise MonitorError("the server's checkpoint answer has no 'checkpoint' note")
    try:
        checkpoint = open_checkpoint(note, verifier)
    except VerificationError as error:
        raise LogMisbehaviour("bad_signature", f"the log's checkpoint does not verify with the "
                              f"key: {error}", saved=saved.note if saved else None,
                              received=note) from error
    latest = SignedCheckpoint(checkpoint, note)
    size, root = answer.get("size"), answer.get("root_hash")
    # type(): 5.0 and true equal 5 and 1 in Python, but are not the size the note signs
    if type(size) is not int or (size, root) != (checkpoint.size, _b64(checkpoint.root_hash)):
        raise _alarm("mismatch", f"the server answered size {_shown(size)} and root "
                     f"{_shown(root)}, but its note signs another", saved, latest)
    return latest


def fetch_consistency(url: str, first: int, second: int,
                      fetch: Fetch) -> tuple[list[bytes], dict[str, Any]]:
    """GET /api/v1/ledger/proofs/consistency: the proof's hashes, and the whole answer."""
    query = urllib.parse.urlencode({"first": first, "second": second})
    answer = _get_json(fetch, f"{url.rstrip('/')}/api/v1/ledger/proofs/consistency?{query}")
    proof = answer.get("proof")
    if not isinstance(proof, list) or not all(isinstance(item, str) for item in proof):
        raise MonitorError("the server's consistency answer has no list of hashes")
    try:
        hashes = [base64.b64decode(item, validate=True) for item in proof]
    except (binascii.Error, ValueError) as error:
        raise MonitorError("the server's consistency proof is not base64") from error
    if any(len(value) != HASH_SIZE for value in hashes):
        raise MonitorError("the server's consistency proof has hashes of the wrong size")
    return hashes, answer


def describe_alarm(alarm: LogMisbehaviour) -> list[str]:
    """The loud report: what happened, and both notes in full (as the server sent
    them, but for control characters and lone surrogates, shown escaped)."""
    lines = [_printable(f"ALARM {alarm.kind}: {alarm}")]
    for label, note in (("saved checkpoint", alarm.saved), ("received checkpoint",
                                                            alarm.received)):
        if note is not None:
            lines.append(f"{label}:")
            lines.extend("    " + _printable(line) for line in note.rstrip("\n").split("\n"))
    return lines


def urllib_fetch(url: str, timeout: float = 30.0) -> bytes:
    """GET ``url``; the body of a 200 answer of at most :data:`MAX_ANSWER_BYTES`,
    else :class:`MonitorError`."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            body = response.read(MAX_ANSWER_BYTES + 1)
            promised_more = bool(getattr(response, "length", None))  # Content-Length unmet
    except urllib.error.HTTPError as error:
        reason = _printable(str(error.reason))  # the server's words
        raise MonitorError(f"GET {url}: HTTP {error.code} {reason}") from error
    except (urllib.error.URLError, OSError, ValueError) as error:
        raise MonitorError(f"GET {url}: {getattr(error, 'reason', error)}") from error
    except http.client.HTTPException as error:  # not HTTP, or a body cut short
        raise MonitorError(f"GET {url}: the answer is not well-formed HTTP "
                           f"({type(error).__name__})") from error
    if len(body) > MAX_ANSWER_BYTES:
        raise MonitorError(f"GET {url}: the answer is over {MAX_ANSWER_BYTES} bytes")
    if promised_more:
        raise MonitorError(f"GET {url}: the answer was cut short")
    return body


def poll(url: str, verifier: NoteVerifier, state_path: Path, interval: float,
         report: Callable[[str], None], fetch: Fetch | None = None,
         sleep: Callable[[float], None] = time.sleep) -> int:
    """Check every ``interval`` seconds until the log misbehaves (returns 1).
    A check that cannot be made is reported and tried again next time."""
    while True:
        try:
            outcome = run_once(url, verifier, state_path, fetch)
        except MonitorError as error:
            report(f"error: {error} (trying again in {interval:g}s)")
        else:
            for line in outcome.lines:
                report(line)
            if not outcome.ok:
                return 1
        sleep(interval)


def _saved_checkpoint(state: MonitorState, verifier: NoteVerifier,
                      path: Path) -> SignedCheckpoint | None:
    if state.checkpoint is None:
        return None
    try:
        return SignedCheckpoint(open_checkpoint(state.checkpoint, verifier), state.checkpoint)
    except VerificationError as error:
        raise MonitorError(f"the checkpoint saved in {path} does not verify with this key "
                           f"(another log's state?): {error}") from error


def _alarm(kind: str, message: str, saved: SignedCheckpoint | None, latest: SignedCheckpoint,
           **details: Any) -> LogMisbehaviour:
    where = f"saved {saved.describe()}; " if saved else ""
    return LogMisbehaviour(kind, f"{message} ({where}received {latest.describe()})",
                           saved=saved.note if saved else None, received=latest.note,
                           details=details)


def _server_roots(answer: dict[str, Any], saved: SignedCheckpoint,
                  latest: SignedCheckpoint) -> str:
    said = answer.get("first_root")
    if isinstance(said, str) and said != _b64(saved.checkpoint.root_hash):
        return (f"; the server now gives size {saved.checkpoint.size} the root {_shown(said)}, "
                f"not the {_b64(saved.checkpoint.root_hash)} it signed")
    return ""


def _progress_line(saved: SignedCheckpoint | None, latest: SignedCheckpoint) -> str:
    if saved is None:
        return f"OK: first checkpoint {latest.describe()} verified and saved (trusted on first use)"
    if saved.checkpoint.size == latest.checkpoint.size:
        return f"OK: checkpoint unchanged, {latest.describe()}"
    return (f"OK: checkpoint {latest.describe()} is consistent with the saved "
            f"{saved.describe()}")


def _get_json(fetch: Fetch, url: str) -> dict[str, Any]:
    body = fetch(url)
    try:
        # Strictly: {"size": 5, "size": 6} is one size to this parser, the other to the next.
        answer = loads_strict(body)
    except DuplicateMemberError as error:
        raise MonitorError(f"GET {url}: the answer repeats the member name "
                           f"{_shown(error.name)}") from error
    except ValueError as error:  # not UTF-8 or JSON, NaN, nested too deeply, a number too long
        raise MonitorError(f"GET {url}: the answer is not JSON") from error
    if not isinstance(answer, dict):
        raise MonitorError(f"GET {url}: the answer is not a JSON object")
    return answer


def _write_atomically(path: Path, body: bytes) -> None:
    directory = path.parent if str(path.parent) else Path(".")
    try:
        fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=directory)
    except OSError as error:
        raise MonitorError(f"cannot write state file {path}: {error.strerror}") from error
    try:
        with os.fdopen(fd, "wb") as handle:  # mkstemp creates the file with mode 0600
            handle.write(body)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except OSError as error:
        os.unlink(temporary)
        raise MonitorError(f"cannot write state file {path}: {error.strerror}") from error
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _b64(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")


def _printable(text: str) -> str:
    """``text`` with what a terminal would act on escaped: what a server sent must
    not move the cursor, clear the screen, or (a lone surrogate) fail to print."""
    return "".join(char if char.isprintable() else ascii(char)[1:-1] for char in text)


def _shown(value: Any) -> str:
    """``value`` as Python shows it, cut to a readable length: answers may hold anything."""
    if isinstance(value, (list, dict)):
        return f"a JSON {'array' if isinstance(value, list) else 'object'}"
    text = repr(value)
    return text if len(text) <= _SHOWN else text[:_SHOWN] + "..."


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)
