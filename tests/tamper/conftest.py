"""An insider changing the database behind a running server, and the tools
that must notice: ``tradezone serve`` as a subprocess on the test database,
the monitor and the verifier talking to it over HTTP, ``ledger check``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import delete, select, update

import ledger
from app.cli import main
from ledger import monitor
from ledger.audit import verify_bundle_file
from ledger.keys import load_signing_key
from ledger.sqlstore import SqlLog, checkpoints, entries, head, tree
from tests.app.conftest import cast, submit  # noqa: F401  (fixtures used here too)
from tests.services.tradezone_server import serving

BIN = Path(sys.executable).parent

pytestmark = pytest.mark.slow


@dataclass
class Server:
    url: str
    env: dict[str, str]

    def get(self, path: str, token: str | None = None) -> bytes:
        request = urllib.request.Request(self.url + path, headers={
            "Authorization": f"Bearer {token}"} if token else {})
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.read()


@pytest.fixture
def server(platform, tmp_path) -> Server:
    """``tradezone serve`` on the test's database and ledger key, stopped afterwards."""
    config = platform.config
    env = {**os.environ, "TZ_DATABASE_URL": config.database_url,
           "TZ_LEDGER_KEY_FILE": str(config.ledger_key_file), "TZ_VAR_DIR": str(tmp_path)}
    with serving(env, tmp_path) as url:
        yield Server(url, env)


class Insider:
    """Someone with write access to the database and the signing key file."""

    def __init__(self, platform) -> None:
        self.platform = platform
        self.signer = ledger.NoteSigner(platform.notary.origin,
                                        load_signing_key(platform.config.ledger_key_file))

    def entry(self, index: int) -> bytes:
        with self.platform.db.read() as session:
            return bytes(session.scalar(select(entries.c.data).where(entries.c.idx == index)))

    def set_entry(self, index: int, data: bytes) -> None:
        self._run(update(entries).where(entries.c.idx == index).values(data=data))

    def delete_entry(self, index: int) -> None:
        self._run(delete(entries).where(entries.c.idx == index))

    def tree_row(self, leaf_index: int) -> bytes:
        with self.platform.db.read() as session:
            return bytes(session.scalar(select(tree.c.hashes).where(
                tree.c.leaf_index == leaf_index)))

    def set_tree_row(self, leaf_index: int, hashes: bytes) -> None:
        self._run(update(tree).where(tree.c.leaf_index == leaf_index).values(hashes=hashes))

    def sign(self, size: int, root: bytes) -> str:
        return self.signer.sign(ledger.Checkpoint(self.signer.name, size, root).body())

    def replace_checkpoint(self, size: int, root: bytes) -> str:
        """Sign another tree at a size already published and serve it as that size's."""
        note = self.sign(size, root)
        self._run(update(checkpoints).where(checkpoints.c.size == size)
                  .values(root_hash=root, note=note))
        return note

    def truncate(self, size: int) -> None:
        """Cut the log back to ``size`` entries, hashes, head and checkpoints included."""
        for table, column in ((entries, entries.c.idx), (tree, tree.c.leaf_index),
                              (checkpoints, checkpoints.c.size)):
            self._run(delete(table).where(column > size if table is checkpoints
                                          else column >= size))
        self._run(update(head).values(size=size))

    def rewrite(self, index: int, data: bytes) -> None:
        """Rewrite entry ``index`` and everything derived from it: every stored
        hash and every checkpoint, re-signed. Consistent in itself."""
        with self.platform.db.write() as session:
            log = SqlLog(session.connection())
            sizes = [stored.size for stored in log.iter_checkpoints()]
            logged = [bytes(row.data) for row in session.execute(
                select(entries.c.data).order_by(entries.c.idx))]
            logged[index] = data
            for table in (entries, tree, checkpoints):
                session.execute(delete(table))
            session.execute(update(head).values(size=0))
            log.append(logged)
            for size in sizes:
                root = ledger.prove.tree_root(log, size)
                log.add_checkpoint(ledger.Checkpoint(self.signer.name, size, root),
                                   self.sign(size, root), self.platform.now())

    def _run(self, statement) -> None:
        with self.platform.db.write() as session:
            session.execute(statement)


@pytest.fixture
def insider(platform) -> Insider:
    return Insider(platform)


@dataclass
class Checked:
    exit_code: int
    output: str


@pytest.fixture
def ledger_check(platform):
    """``tradezone ledger check`` on the test database."""

    def run() -> Checked:
        env = {"TZ_DATABASE_URL": platform.config.database_url,
               "TZ_LEDGER_KEY_FILE": str(platform.config.ledger_key_file)}
        result = CliRunner().invoke(main, ["ledger", "check"], env=env)
        return Checked(result.exit_code, result.output)

    return run


@pytest.fixture
def watch(server, platform, tmp_path):
    """One monitor run against the server (real HTTP), with a state file of its own."""
    verifier = ledger.NoteVerifier.from_verifier_key(platform.notary.signer.verifier_key)
    state = tmp_path / "monitor-state.json"

    def run() -> monitor.Outcome:
        return monitor.run_once(server.url, verifier, state)

    return run


@pytest.fixture
def monitor_command(server, platform, tmp_path):
    """``tradezone audit monitor URL --key K --state F --once`` as a subprocess."""

    def run() -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(BIN / "tradezone"), "audit", "monitor", server.url, "--key",
             platform.notary.signer.verifier_key, "--state", str(tmp_path / "cli-state.json"),
             "--once"], capture_output=True, text=True, timeout=60, env=server.env)

    return run


@pytest.fixture
def audit(server, platform, tmp_path):
    """Export a bundle from the server as ``org`` and verify it offline."""

    def run(org, **query) -> list[str]:
        path = tmp_path / "bundle.json"
        query_string = urllib.parse.urlencode(query)
        path.write_bytes(server.get(f"/api/v1/audit/bundles?{query_string}", org.token))
        result = verify_bundle_file(path, platform.notary.signer.verifier_key)
        return result.lines

    return run


def entry_index(receipt: dict) -> int:
    [item] = receipt["entries"]
    return item["index"]


def json_error(error: urllib.error.HTTPError) -> dict:
    return json.loads(error.read())

