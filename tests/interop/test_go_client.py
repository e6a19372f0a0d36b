"""A client that follows only the contract (sections 2-4) verifies a real server.

The client is ``goclient/main.go``: Go's own ``golang.org/x/mod/sumdb/note``
opens the checkpoint and ``golang.org/x/mod/sumdb/tlog`` checks the RFC 9162
inclusion and consistency proofs. It is built once per session in GOPATH mode
against Debian's packages (no go.mod: the module proxy is not reachable), then
run against ``tradezone serve`` on each database backend.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

import ledger
from ledger import keys
from tests.services.tradezone_server import serving, tradezone

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent  # the venv's bin: tradezone lives next to python
GO_PACKAGES = "golang-go golang-golang-x-mod-dev"
GOPATH = "/usr/share/gocode"  # where Debian's golang-*-dev packages install sources

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def go_client(tmp_path_factory) -> Path:
    """The Go client, built once into a temp dir."""
    go = shutil.which("go")
    if go is None:
        pytest.fail(f"'go' not found: install the Debian packages {GO_PACKAGES} "
                    f"(make system-packages)")
    out = tmp_path_factory.mktemp("goclient")
    env = {
        **os.environ,
        "GO111MODULE": "off",  # GOPATH mode: x/mod comes from Debian's package
        "GOPATH": GOPATH,
        "GOCACHE": str(out / "cache"),
        "GOPROXY": "off",
        "GOFLAGS": "",
        "CGO_ENABLED": "0",  # pure Go, so no C compiler is needed
    }
    started = time.monotonic()
    build = subprocess.run([go, "build", "-o", str(out / "goclient"), "."],
                           cwd=HERE / "goclient", env=env, capture_output=True, text=True,
                           timeout=300)
    if build.returncode != 0:
        pytest.fail(f"building the Go client failed (are the Debian packages {GO_PACKAGES} "
                    f"installed? make system-packages):\n{build.stderr}")
    print(f"go build: {time.monotonic() - started:.1f}s", file=sys.stderr)
    return out / "goclient"


@dataclass
class Server:
    url: str
    env: dict[str, str]

    def cli(self, *args: str) -> dict:
        """Run ``tradezone ARGS --json`` against the server's database."""
        result = subprocess.run([str(BIN / "tradezone"), *args, "--json"], env=self.env,
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    def get(self, path: str) -> dict:
        with urllib.request.urlopen(self.url + path, timeout=10) as response:
            return json.load(response)


@pytest.fixture
def server(database_url, tmp_path) -> Server:
    """``tradezone serve`` as a subprocess on a free port, always stopped afterwards."""
    env = {**os.environ, "TZ_DATABASE_URL": database_url,
           "TZ_LEDGER_KEY_FILE": str(tmp_path / "key.pem")}
    tradezone(env, "db", "upgrade")
    with serving(env, tmp_path, workers=2) as url:
        yield Server(url, env)


def run_go(go_client: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(go_client), *args], input=stdin, capture_output=True, text=True,
                          timeout=120)


def _change_one_byte(text: str, index: int) -> str:
    """``text`` with the ASCII character at ``index`` replaced: a digit by
    another digit (a plausible forged size), anything else by a letter."""
    old = text[index]
    assert old.isascii(), old
    new = str((int(old) + 1) % 10) if old.isdigit() else ("B" if old == "A" else "A")
    return text[:index] + new + text[index + 1:]


def test_go_client_verifies_checkpoint_and_every_proof(server, go_client, tmp_path):
    regulator = server.cli("org", "create", "Interop Regulator", "--role", "regulator")
    firms = [server.cli("org", "create", f"Interop Firm {i}", "--role", "firm")
             for i in range(4)]
    server.cli("token", "create", firms[0]["org_id"])

    checkpoint = server.get("/api/v1/ledger/checkpoint")
    size = checkpoint["size"]
    assert size >= 9 and size & (size - 1) != 0, f"want a non-power-of-two size, got {size}"

    started = time.monotonic()
    result = run_go(go_client, "-url", server.url, "-token", regulator["token"])
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (f"verified checkpoint size {size}, {size} inclusion "
                                     f"proofs, {size + 1} consistency proofs")
    print(f"go client: {elapsed:.2f}s for size {size}", file=sys.stderr)

    # Go's note verifier accepts the checkpoint as served, and rejects it with
    # one byte changed, in the signed body or in the signature.
    vkey = server.get("/api/v1/ledger/key")["verifier_key"]
    note = checkpoint["checkpoint"]
    accepted = run_go(go_client, "-verify-note", "-", "-key", vkey, stdin=note)
    assert accepted.returncode == 0, accepted.stderr
    assert accepted.stdout == note.split("\n\n")[0] + "\n"

    origin, size_line, _root, _rest = note.split("\n", 3)
    signature_start = note.rindex(" ") + 1
    tampered = {
        "origin": _change_one_byte(note, 0),
        "size": _change_one_byte(note, len(origin) + 1),
        "root hash": _change_one_byte(note, len(origin) + len(size_line) + 2 + 10),
        # Base64 characters 6+ of the signature line encode the Ed25519
        # signature itself, not the 4-byte key hash.
        "signature": _change_one_byte(note, signature_start + 20),
    }
    for what, bad_note in tampered.items():
        note_file = tmp_path / "tampered.note"
        note_file.write_text(bad_note)
        rejected = run_go(go_client, "-verify-note", str(note_file), "-key", vkey)
        assert rejected.returncode == 1, f"changed {what} was accepted: {bad_note!r}"
        assert "invalid signature" in rejected.stderr, (what, rejected.stderr)

    # A note that our Python NoteSigner makes over arbitrary text verifies in Go,
    # with the server's key and with a fresh key of another name.
    text = "Arbitrary text, not a checkpoint.\nSecond line: ünïcode ✓\n"
    signers = [
        ledger.NoteSigner(server.get("/api/v1/ledger/key")["origin"],
                          keys.load_signing_key(tmp_path / "key.pem")),
        ledger.NoteSigner("interop.example/python-signer", keys.generate_signing_key()),
    ]
    for signer in signers:
        signed = signer.sign(text.encode())
        opened = run_go(go_client, "-verify-note", "-", "-key", signer.verifier_key,
                        stdin=signed)
        assert opened.returncode == 0, opened.stderr
        assert opened.stdout == text
    # ...and not with a key that did not sign it.
    wrong_key = run_go(go_client, "-verify-note", "-", "-key", signers[0].verifier_key,
                       stdin=signers[1].sign(text.encode()))
    assert wrong_key.returncode == 1
    assert "no verifiable signatures" in wrong_key.stderr, wrong_key.stderr
