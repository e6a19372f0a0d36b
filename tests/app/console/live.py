"""A real ``tradezone serve`` with the sample trade, and a real headless
Chromium (Debian's ``chromium`` package) driven by Playwright."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from tests.services.tradezone_server import serving, tradezone

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


@contextmanager
def live_server(workdir: Path) -> Iterator[LiveServer]:
    """``tradezone serve`` (two workers, SQLite) with the sample trade loaded."""
    database_url = f"sqlite:///{workdir / 'tradezone.sqlite3'}"
    env = {**os.environ, "TZ_VAR_DIR": str(workdir), "TZ_DATABASE_URL": database_url,
           "TZ_LEDGER_KEY_FILE": str(workdir / "ledger-key.pem")}
    tokens_file = workdir / "demo-tokens.json"
    tradezone(env, "db", "upgrade")
    tradezone(env, "demo", "load", "--tokens-file", str(tokens_file))
    _quarantine_sample(database_url)
    sample = json.loads(tokens_file.read_text())
    with serving(env, workdir, workers=2) as url:
        yield LiveServer(url, sample, workdir / "server.log")


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
