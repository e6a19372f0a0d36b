"""The monitor against an in-memory log answering like the ledger API: growth
is accepted, a rollback, a split view, a rewritten history, a bad signature
are alarms that keep both notes; network trouble is no alarm."""

from __future__ import annotations

import base64
import json
import os
import socket
import stat
import threading
from datetime import datetime, timezone

import pytest

import ledger
from ledger import monitor, prove
from ledger.monitor import LogMisbehaviour, MonitorError, MonitorState

URL = "http://log.test"
ORIGIN = "test.example/log"


def b64(value: bytes) -> str:
    return base64.b64encode(value).decode()


class FakeServer:
    """A log and the two ledger API answers the monitor asks for."""

    def __init__(self, signer: ledger.NoteSigner | None = None) -> None:
        self.signer = signer or ledger.NoteSigner(ORIGIN, ledger.keys.generate_signing_key())
        self.store = ledger.MemoryHashStore()
        self.served_note: str | None = None  # when set, served instead of the true checkpoint
        self.answer_size_shift = 0
        self.down = False
        self.requests: list[str] = []

    def grow(self, count: int, tag: str = "x") -> None:
        base = self.store.size
        self.store.append([ledger.leaf_hash(f"{tag}{base + i}".encode()) for i in range(count)])

    def note(self, size: int | None = None, root: bytes | None = None) -> str:
        size = self.store.size if size is None else size
        root = prove.tree_root(self.store, size) if root is None else root
        return self.signer.sign(ledger.Checkpoint(ORIGIN, size, root).body())

    def fetch(self, url: str) -> bytes:
        self.requests.append(url)
        if self.down:
            raise MonitorError(f"GET {url}: connection refused")
        if url == f"{URL}/api/v1/ledger/checkpoint":
            note = self.served_note or self.note()
            checkpoint = ledger.Checkpoint.parse(note.split("\n\n")[0].encode() + b"\n")
            return json.dumps({"size": checkpoint.size + self.answer_size_shift,
                               "root_hash": b64(checkpoint.root_hash),
                               "checkpoint": note}).encode()
        query = dict(part.split("=") for part in url.split("?")[1].split("&"))
        first, second = int(query["first"]), int(query["second"])
        proof = prove.consistency_proof(self.store, first, second)
        return json.dumps({"first": first, "second": second,
                           "first_root": b64(prove.tree_root(self.store, first)),
                           "second_root": b64(prove.tree_root(self.store, second)),
                           "proof": [b64(h) for h in proof]}).encode()


@pytest.fixture
def server() -> FakeServer:
    server = FakeServer()
    server.grow(5)
    return server


@pytest.fixture
def verifier(server) -> ledger.NoteVerifier:
    return ledger.NoteVerifier.from_verifier_key(server.signer.verifier_key)


@pytest.fixture
def state(tmp_path):
    return tmp_path / "monitor.json"


def run(server, verifier, state):
    return monitor.run_once(URL, verifier, state, server.fetch,
                            clock=lambda: datetime(2026, 11, 23, 9, tzinfo=timezone.utc))


def saved_note(state) -> str:
    return json.loads(state.read_text())["checkpoint"]


def test_first_check_trusts_and_saves_with_mode_0600(server, verifier, state):
    outcome = run(server, verifier, state)
    assert outcome.ok
    assert outcome.lines[0].startswith("OK: first checkpoint size 5, root ")
    assert saved_note(state) == server.note()
    assert stat.S_IMODE(os.stat(state).st_mode) == 0o600
    assert [name for name in os.listdir(state.parent)] == [state.name]  # no temp file left


@pytest.mark.parametrize("grow_by", [0, 1, 3, 11, 59])
def test_growth_is_proven_consistent_and_saved(server, verifier, state, grow_by):
    run(server, verifier, state)
    server.grow(grow_by)
    outcome = run(server, verifier, state)
    assert outcome.ok, outcome.lines
    assert saved_note(state) == server.note()
    asked_proof = any("consistency" in url for url in server.requests)
    assert asked_proof == (grow_by > 0)


def test_growth_from_the_empty_tree(verifier, state):
    server = FakeServer()
    verifier = ledger.NoteVerifier.from_verifier_key(server.signer.verifier_key)
    run(server, verifier, state)
    server.grow(4)
    assert run(server, verifier, state).ok


def _escaped(line: str) -> str:
    """A line as the monitor shows it: control characters and lone surrogates escaped."""
    return "".join(char if char.isprintable() else ascii(char)[1:-1] for char in line)


def _alarm(server, verifier, state, kind: str) -> monitor.Outcome:
    before = saved_note(state)
    outcome = run(server, verifier, state)
    assert not outcome.ok and outcome.alarm.kind == kind, outcome.lines
    assert outcome.lines[0].startswith(f"ALARM {kind}: ")
    recorded = json.loads(state.read_text())
    assert saved_note(state) == before  # the last good checkpoint is kept
    evidence = recorded["alarms"][-1]
    assert evidence["kind"] == kind and evidence["saved_checkpoint"] == before
    shown = "\n".join(outcome.lines)
    for note in (before, evidence["received_checkpoint"]):  # both notes, signatures and all
        assert all(_escaped(line) in shown for line in note.rstrip("\n").split("\n") if line)
    assert all(line.isprintable() for line in outcome.lines)  # nothing a terminal acts on
    return outcome


def test_a_rollback_is_an_alarm_naming_both_sizes(server, verifier, state):
    server.grow(5)
    run(server, verifier, state)
    server.served_note = server.note(size=7)
    outcome = _alarm(server, verifier, state, "rollback")
    assert "saved size 10" in outcome.lines[0] and "received size 7" in outcome.lines[0]


def test_a_split_view_is_an_alarm_naming_both_roots(server, verifier, state):
    run(server, verifier, state)
    forged_root = bytes(32)
    server.served_note = server.note(root=forged_root)
    outcome = _alarm(server, verifier, state, "split_view")
    assert b64(forged_root) in outcome.lines[0]
    assert b64(prove.tree_root(server.store, 5)) in outcome.lines[0]


def test_a_rewritten_history_fails_the_consistency_proof(server, verifier, state):
    run(server, verifier, state)
    rewritten = FakeServer(server.signer)
    rewritten.grow(5, tag="rewritten")
    rewritten.grow(3)
    outcome = _alarm(rewritten, verifier, state, "inconsistent")
    assert "not a prefix" in outcome.lines[0]
    assert "the server now gives size 5 the root" in outcome.lines[0]
    evidence = json.loads(state.read_text())["alarms"][-1]
    assert evidence["consistency_proof"]


def test_a_forged_larger_checkpoint_fails_the_consistency_proof(server, verifier, state):
    run(server, verifier, state)
    server.grow(4)
    server.served_note = server.note(root=bytes(32))  # the operator signs a tree it has not
    _alarm(server, verifier, state, "inconsistent")


def test_a_bad_signature_is_an_alarm(server, verifier, state):
    run(server, verifier, state)
    impostor = FakeServer(ledger.NoteSigner(ORIGIN, ledger.keys.generate_signing_key()))
    impostor.grow(6)
    server.served_note = impostor.note()
    outcome = _alarm(server, verifier, state, "bad_signature")
    assert "does not verify with the key" in outcome.lines[0]


def test_an_answer_contradicting_its_note_is_an_alarm(server, verifier, state):
    run(server, verifier, state)
    server.answer_size_shift = 1
    _alarm(server, verifier, state, "mismatch")


def test_an_alarm_stays_until_someone_removes_it(server, verifier, state):
    run(server, verifier, state)
    server.served_note = server.note(root=bytes(32))
    run(server, verifier, state)
    server.served_note = None
    server.grow(2)
    again = run(server, verifier, state)
    assert not again.ok and again.alarm is None
    assert again.lines[0].startswith("OK: ") and "ALARM recorded earlier" in again.lines[1]
    recorded = json.loads(state.read_text())
    recorded["alarms"] = []
    state.write_text(json.dumps(recorded))
    assert run(server, verifier, state).ok


def test_network_trouble_is_no_alarm_and_changes_nothing(server, verifier, state):
    run(server, verifier, state)
    before = state.read_bytes()
    server.down = True
    with pytest.raises(MonitorError, match="connection refused"):
        run(server, verifier, state)
    assert state.read_bytes() == before


@pytest.mark.parametrize("content, message", [
    (b"not json", "not JSON"),
    (b'{"format": "other"}', "not a tradezone.monitor-state.v1"),
    (b'{"format": "tradezone.monitor-state.v1", "checkpoint": 5}', "malformed"),
    (b'{"format": "tradezone.monitor-state.v1", "alarms": [1]}', "malformed"),
    (b'{"format": "tradezone.monitor-state.v1", "alarms": ["rollback"]}', "malformed"),
    (b"[" * 100_000 + b"]" * 100_000, "not JSON"),
    # strictly: whoever inspects the file might read the first of two members
    (b'{"format": "tradezone.monitor-state.v1", "checkpoint": null, "checkpoint": null}',
     "duplicate member name 'checkpoint'"),
    (b'{"format": "other", "format": "tradezone.monitor-state.v1"}',
     "duplicate member name 'format'"),
    (b'{"format": "tradezone.monitor-state.v1", "alarms": [{"n": NaN}]}', "NaN is not JSON"),
    (b'{"format": "tradezone.monitor-state.v1", "n": ' + b"9" * 5000 + b"}", "4300 digits"),
    (b'\xff{"format": "tradezone.monitor-state.v1"}', "not JSON"),
    (b'{"format": "tradezone.monitor-state.v1", "url": 5}', "malformed"),
    (b'{"format": "tradezone.monitor-state.v1", "checked_at": ["2026"]}', "malformed"),
])
def test_a_bad_state_file_is_refused(server, verifier, state, content, message):
    state.write_bytes(content)
    with pytest.raises(MonitorError, match=message):
        run(server, verifier, state)


def test_a_state_of_another_log_is_refused(server, verifier, state):
    other = FakeServer()
    other.grow(2)
    MonitorState(checkpoint=other.note()).save(state)
    with pytest.raises(MonitorError, match="does not verify with this key"):
        run(server, verifier, state)


@pytest.mark.parametrize("answer", [b"<html>", b"[]", b'{"size": 1}',
                                    b"[" * 100_000 + b"]" * 100_000,
                                    b'{"size": ' + b"9" * 5000 + b"}", b'{"size": NaN}',
                                    b'\xff\xfe{"size": 1}', b""])
def test_odd_answers_are_monitor_errors(verifier, state, answer):
    with pytest.raises(MonitorError, match="answer"):
        monitor.run_once(URL, verifier, state, lambda url: answer)


@pytest.mark.parametrize("member, answer", [
    ("size", "checkpoint"), ("root_hash", "checkpoint"), ("checkpoint", "checkpoint"),
    ("proof", "consistency"), ("second", "consistency"),
])
def test_an_answer_repeating_a_member_is_refused_naming_it(server, verifier, state, member,
                                                           answer):
    """{"size": 0, "size": 8} is 8 to Python and 0 to a parser keeping the first:
    the monitor must not vouch for what another client would read otherwise."""
    run(server, verifier, state)
    before = state.read_bytes()
    server.grow(3)
    true_fetch = server.fetch

    def fetch(url):
        body = true_fetch(url)
        if answer not in url:
            return body
        return json.dumps(json.loads(body)).replace(
            f'"{member}": ', f'"{member}": 0, "{member}": ', 1).encode()

    server.fetch = fetch
    with pytest.raises(MonitorError, match=f"repeats the member name '{member}'"):
        run(server, verifier, state)
    assert state.read_bytes() == before


@pytest.mark.parametrize("leaves, size, shown", [
    (5, 5.0, "size 5.0 "), (1, True, "size True "), (0, False, "size False "),
    (5, "5" * 10_000, "size '5555"), (5, [5], "size a JSON array "),
], ids=["float", "true-for-1", "false-for-0", "long-string", "array"])
def test_an_answer_size_of_another_json_type_is_a_mismatch(verifier, state, leaves, size, shown):
    """5.0 and true equal 5 and 1 in Python, but are not the integer the note signs;
    whatever the answer holds is shown cut short, on one line."""
    server = FakeServer(ledger.NoteSigner(ORIGIN, ledger.keys.generate_signing_key()))
    server.grow(leaves)
    verifier = ledger.NoteVerifier.from_verifier_key(server.signer.verifier_key)

    def fetch(url):
        return json.dumps({**json.loads(server.fetch(url)), "size": size}).encode()

    outcome = monitor.run_once(URL, verifier, state, fetch)
    assert outcome.alarm is not None and outcome.alarm.kind == "mismatch", outcome.lines
    assert outcome.lines[0].startswith(f"ALARM mismatch: the server answered {shown}")
    assert len(outcome.lines[0]) < 400


def test_polling_reports_errors_and_stops_at_an_alarm(server, verifier, state):
    lines, sleeps = [], []

    def sleep(seconds):
        sleeps.append(seconds)
        if len(sleeps) == 1:
            server.down = True
        elif len(sleeps) == 2:
            server.down = False
            server.served_note = server.note(root=bytes(32))

    code = monitor.poll(URL, verifier, state, 5, lines.append, server.fetch, sleep)
    assert code == 1 and sleeps == [5, 5]
    assert lines[0].startswith("OK: first checkpoint")
    assert lines[1].startswith("error: ") and "trying again in 5s" in lines[1]
    assert lines[2].startswith("ALARM split_view")


def test_urllib_fetch_turns_failures_into_monitor_errors():
    with pytest.raises(MonitorError):
        monitor.urllib_fetch("http://127.0.0.1:9/nothing", timeout=2)
    with pytest.raises(MonitorError):
        monitor.urllib_fetch("not a url")


@pytest.fixture
def raw_http():
    """One-shot servers answering one request with given bytes, HTTP or not."""
    threads = []

    def serve(reply: bytes) -> str:
        listener = socket.create_server(("127.0.0.1", 0))

        def answer():
            with listener, listener.accept()[0] as connection:
                connection.recv(65536)
                try:
                    connection.sendall(reply)
                except OSError:  # the client stopped reading (an answer over the limit)
                    pass

        thread = threading.Thread(target=answer, daemon=True)
        thread.start()
        threads.append(thread)
        return f"http://127.0.0.1:{listener.getsockname()[1]}/api/v1/ledger/checkpoint"

    yield serve
    for thread in threads:
        thread.join(timeout=10)


_LIMIT = monitor.MAX_ANSWER_BYTES


@pytest.mark.parametrize("reply, expected", [
    (b"garbage\r\n\r\n", "not well-formed HTTP"),
    (b"HTTP/1.0 200 OK\r\nContent-Length: 100\r\n\r\n{}", "cut short"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "not well-formed HTTP"),
    (b"HTTP/1.0 200 OK\r\nX: " + b"a" * 70_000 + b"\r\n\r\n", "not well-formed HTTP"),
    (b"HTTP/1.0 200 OK\r\n\r\n" + b" " * (_LIMIT + 1), f"over {_LIMIT} bytes"),
    (b"HTTP/1.0 500 Oops\r\n\r\n", "HTTP 500"),
    (b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n{}", b"{}"),
    (b"HTTP/1.0 200 OK\r\n\r\n" + b" " * _LIMIT, b" " * _LIMIT),
], ids=["not-http", "body-cut-short", "chunk-malformed", "header-line-too-long",
        "over-the-limit", "http-error", "whole", "at-the-limit"])
def test_urllib_fetch_takes_only_a_whole_http_answer_of_bounded_size(raw_http, reply,
                                                                       expected):
    """A server (or whatever answers on its port) may send anything: each is one
    MonitorError (exit status 3), never an exception from http.client."""
    url = raw_http(reply)
    if isinstance(expected, bytes):
        assert monitor.urllib_fetch(url, timeout=10) == expected
    else:
        with pytest.raises(MonitorError, match=expected):
            monitor.urllib_fetch(url, timeout=10)


def test_misbehaviour_is_a_verification_error():
    assert issubclass(LogMisbehaviour, ledger.VerificationError)
    assert issubclass(MonitorError, ledger.LedgerError)


@pytest.mark.parametrize("damage", [
    lambda note: note.replace("\n\n", "\n\n\u2014 witness AAAA\u00e9AAA\n"),
    lambda note: note[:-2] + "\u00e9\n",
    lambda note: "\ud800" + note,
    lambda note: note + "\x1b[2J\rOK: checkpoint unchanged\n",
], ids=["non-ascii-other-signature", "non-ascii-own-signature", "lone-surrogate",
        "terminal-controls"])
def test_a_note_that_is_not_base64_or_utf8_is_a_bad_signature_alarm(server, verifier, state,
                                                                   damage):
    """Notes arrive in JSON, where any character can be: a damaged one is an
    alarm with the evidence, not a traceback, and the saved state is kept. It
    is shown with what a terminal would act on escaped (a lone surrogate cannot
    even be written to it), and kept in the state file as received."""
    run(server, verifier, state)
    server.grow(2)
    true_fetch = server.fetch

    def fetch(url):
        answer = json.loads(true_fetch(url))
        if url.endswith("/checkpoint"):
            answer["checkpoint"] = damage(answer["checkpoint"])
        return json.dumps(answer).encode()

    server.fetch = fetch
    _alarm(server, verifier, state, "bad_signature")
