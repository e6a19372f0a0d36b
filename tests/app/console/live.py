"""A real ``tradezone serve`` with the sample trade, and a real headless
Chromium (Debian's ``chromium`` package) driven by Playwright."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from tests.services.ports import free_port

BIN = Path(sys.executable).parent  # the venv's bin: tradezone lives next to python
CHROMIUM = "/usr/bin/chromium"
# What the machine notes say Chromium needs here: no sandbox as root, and no
# background connections to hosts this closed network refuses.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]


@dataclass(frozen=True)
class LiveServer:
    url: str
    sample: dict  # what ``tradezone demo load`` wrote: organisations, tokens, documents
    log_path: Path

    @property
    def regulator_token(self) -> str:
        return self.sample["organisations"]["regulator"]["token"]

    def get(self, path: str, token: str | None = None) -> dict:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        request = urllib.request.Request(self.url + path, headers=headers)
        with urllib.request.urlopen(request, timeout=10) as answer:
            return json.load(answer)


def _tradezone(env: dict[str, str], *args: str) -> None:
    done = subprocess.run([str(BIN / "tradezone"), *args], env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, f"tradezone {' '.join(args)} failed:\n{done.stderr}"


def _quarantine_sample(database_url: str) -> None:
    """Two refused device messages, so the quarantine page has something to show."""
    from app.db import Database
    from app.devices.models import QuarantinedEvent

    db = Database(database_url)
    with db.write() as session:
        for n, (reason, detail) in enumerate([
                ("bad_signature", "ES256 signature does not verify"),
                ("replay", "seq 7 was already notarized with other bytes")]):
            raw = f"eyJhbGciOiJFUzI1NiJ9.sample-{n}.sig".encode()
            session.add(QuarantinedEvent(
                topic_device_id="zone-gate-scanner-1", reason=reason, detail=detail, seq=7 + n,
                raw=raw, raw_size=len(raw), raw_sha256=hashlib.sha256(raw).digest(),
                received_at=datetime.now(timezone.utc)))
    db.dispose()


def _wait_healthy(proc: subprocess.Popen, url: str, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=1) as answer:
                if answer.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(0.1)
    return False


def _stop(proc: subprocess.Popen) -> None:
    """SIGTERM the gunicorn master (it stops its workers); SIGKILL its group if stuck."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # the session we started it in
            proc.wait(timeout=10)


@contextmanager
def live_server(workdir: Path) -> Iterator[LiveServer]:
    """``tradezone serve`` (two workers, SQLite) with the sample trade loaded."""
    database_url = f"sqlite:///{workdir / 'tradezone.sqlite3'}"
    env = {**os.environ, "TZ_VAR_DIR": str(workdir), "TZ_DATABASE_URL": database_url,
           "TZ_LEDGER_KEY_FILE": str(workdir / "ledger-key.pem")}
    tokens_file = workdir / "demo-tokens.json"
    _tradezone(env, "db", "upgrade")
    _tradezone(env, "demo", "load", "--tokens-file", str(tokens_file))
    _quarantine_sample(database_url)
    sample = json.loads(tokens_file.read_text())
    log_path = workdir / "server.log"
    for _attempt in range(3):  # the free port may be taken before gunicorn binds it
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        with open(log_path, "ab") as log:
            proc = subprocess.Popen(
                [str(BIN / "tradezone"), "serve", "--host", "127.0.0.1", "--port", str(port),
                 "--workers", "2"],
                env=env, cwd=workdir, stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True)
        try:
            if _wait_healthy(proc, url):
                yield LiveServer(url, sample, log_path)
                return
        finally:
            _stop(proc)
    raise AssertionError(f"tradezone serve did not become healthy; log:\n{log_path.read_text()}")


@contextmanager
def chromium() -> Iterator[object]:
    """Debian's Chromium, headless, with a fresh profile (Playwright makes one per launch)."""
    if shutil.which(CHROMIUM) is None:
        raise AssertionError(f"{CHROMIUM} not found: install Debian's chromium package "
                             f"(bash deploy/ensure-packages.sh chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                             args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()
