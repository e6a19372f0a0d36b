"""The console in a real headless Chromium against a real ``tradezone serve``:
sign in, search, open an entry and watch the browser verify its proof; then
tamper with what the server sends and watch the same code fail."""

from __future__ import annotations

import base64
import json
import re
import time

import pytest

import ledger
from ledger import keys

from .live import chromium, live_server

VERDICT_TIMEOUT_MS = 10_000


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with live_server(tmp_path_factory.mktemp("console-live")) as running:
        yield running


@pytest.fixture(scope="module")
def browser():
    with chromium() as running:
        yield running


@pytest.fixture(scope="module")
def issued_index(server) -> int:
    """The index of the sample's first document.issued entry (not the last leaf)."""
    found = server.get("/api/v1/audit/entries?type=document.issued&limit=1",
                       token=server.regulator_token)["entries"]
    index = found[0]["index"]
    assert index < server.get("/api/v1/ledger/checkpoint")["size"] - 1
    return index


@pytest.fixture
def page(browser):
    """A fresh browser context (no cookies, no storage); fails the test on any
    script error or console error, CSP violations included."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    problems: list[str] = []
    tab.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    tab.on("console", lambda message: problems.append(
        f"console: {message.text} at {message.location.get('url')}")
        if message.type == "error" else None)
    try:
        yield tab
    finally:
        context.close()
    assert problems == []


def sign_in(page, server) -> None:
    page.goto(server.url + "/console/")
    assert page.url == server.url + "/console/login"
    page.fill("#token", server.regulator_token)
    page.click("#sign-in")
    page.wait_for_url(server.url + "/console/")


def verdict(page, status_id: str) -> tuple[str, str]:
    """Wait until the browser's check has an outcome; (state, text)."""
    status = page.locator(f"#{status_id}")
    page.wait_for_selector(f"#{status_id}:not([data-state='pending'])",
                           timeout=VERDICT_TIMEOUT_MS)
    return status.get_attribute("data-state"), status.inner_text()


def first_issued_document(page, server, screenshot) -> int:
    """Search for document.issued entries; open the first; return its index."""
    page.click("nav >> text=Entries")
    page.fill("input[name=type]", "document.issued")
    page.click("#search-button")
    page.wait_for_url(re.compile(r".*/console/entries\?.*type=document\.issued.*"))
    rows = page.locator("table.entries tbody tr")
    assert rows.count() == 4  # the sample's invoice, packing list, declaration, bill
    types = rows.locator("td:nth-child(2)").all_inner_texts()
    assert types == ["document.issued"] * 4
    page.screenshot(path=str(screenshot), full_page=True)
    link = rows.first.locator("a.index")
    index = int(link.inner_text())
    link.click()
    page.wait_for_url(f"{server.url}/console/entries/{index}")
    return index


def test_sign_in_search_open_entry_and_see_the_proof_verify(server, page, tmp_path):
    started = time.monotonic()
    sign_in(page, server)
    state, text = verdict(page, "signature-status")
    checkpoint = server.get("/api/v1/ledger/checkpoint")
    assert (state, text) == ("verified", f"signature verified: size {checkpoint['size']}, "
                                         f"root {checkpoint['root_hash']}")
    assert "as served by this server (not pinned)" in page.inner_text("#key-source")
    page.screenshot(path=str(tmp_path / "overview.png"), full_page=True)

    index = first_issued_document(page, server, tmp_path / "entries.png")
    state, text = verdict(page, "proof-status")
    assert state == "verified", text
    assert text == f"verified: entry {index} is in the signed tree of size {checkpoint['size']}"
    proof = server.get(f"/api/v1/ledger/proofs/inclusion?index={index}"
                       f"&tree_size={checkpoint['size']}")
    assert page.inner_text("#proof-leaf-hash") == proof["leaf_hash"]
    assert page.inner_text("#proof-computed-root") == checkpoint["root_hash"]
    assert page.inner_text("#proof-path-length") == f"{len(proof['proof'])} hashes"
    shown = json.loads(page.inner_text("#entry-json"))
    assert shown["type"] == "document.issued"
    assert "decoded in your browser" in page.inner_text("#entry-source")
    page.screenshot(path=str(tmp_path / "entry.png"), full_page=True)

    # the document's history, from the entry's subject link, leads back to the entry
    page.click(f"a[href='/console/history?document={shown['document']}']")
    history = page.locator("table.entries a.index").all_inner_texts()
    assert str(index) in history and history == sorted(history, key=int)

    page.click("nav >> text=Quarantine")
    reasons = page.locator("#quarantine .reason").all_inner_texts()
    assert reasons == ["replay", "bad_signature"]
    page.screenshot(path=str(tmp_path / "quarantine.png"), full_page=True)

    page.click("text=Sign out")
    page.wait_for_url(server.url + "/console/login")
    page.goto(server.url + "/console/entries")
    assert page.url == server.url + "/console/login"
    print(f"browser walk-through: {time.monotonic() - started:.1f}s")


def _flip_byte(b64_hash: str, position: int = 5) -> str:
    raw = bytearray(base64.b64decode(b64_hash))
    raw[position] ^= 0x01
    return base64.b64encode(bytes(raw)).decode()


def _tamper_json(path_glob: str, change):
    """A route handler serving the real answer with ``change`` applied to its JSON."""
    def handle(route):
        answer = route.fetch()
        body = answer.json()
        change(body)
        route.fulfill(response=answer, json=body)
    return path_glob, handle


def _flip_signature(body: dict) -> None:
    note = body["checkpoint"]
    signature_start = note.rindex(" ") + 1 + 12  # past the 4-byte key hash
    old = note[signature_start]
    body["checkpoint"] = (note[:signature_start] + ("A" if old != "A" else "B")
                          + note[signature_start + 1:])


TAMPERINGS = {
    "a proof hash with one bit flipped": (
        _tamper_json("**/api/v1/ledger/proofs/inclusion*",
                     lambda body: body["proof"].__setitem__(0, _flip_byte(body["proof"][0]))),
        "does not match the signed root"),
    "a proof hash dropped": (
        _tamper_json("**/api/v1/ledger/proofs/inclusion*", lambda body: body["proof"].pop()),
        "shorter than the path to the root"),
    "a forged checkpoint signature": (
        _tamper_json("**/api/v1/ledger/checkpoint", _flip_signature),
        "signature by"),
    "a checkpoint root that is not the one signed": (
        _tamper_json("**/api/v1/ledger/checkpoint", lambda body: body.__setitem__(
            "checkpoint", body["checkpoint"].replace(
                body["root_hash"], _flip_byte(body["root_hash"])))),
        "does not verify"),
}


@pytest.mark.parametrize("tampering", list(TAMPERINGS))
def test_tampered_answers_show_the_proof_failing(server, page, tampering, issued_index,
                                                 tmp_path):
    (glob, handler), reason = TAMPERINGS[tampering]
    sign_in(page, server)
    index = issued_index
    page.route(glob, handler)
    page.goto(f"{server.url}/console/entries/{index}")
    state, text = verdict(page, "proof-status")
    assert state == "failed", text
    assert text.startswith("FAILED: ") and reason in text, text
    if tampering == "a proof hash with one bit flipped":
        page.screenshot(path=str(tmp_path / "tampered.png"), full_page=True)


def test_tampered_logged_bytes_fail(server, page, issued_index):
    """The page's own copy of the entry bytes is hashed, not the server's leaf hash."""
    sign_in(page, server)

    def change_one_byte(route):
        answer = route.fetch()
        html = answer.text()
        leaf = re.search(r'data-leaf-data="([^"]+)"', html)[1]
        raw = bytearray(base64.b64decode(leaf))
        raw[raw.index(b"document.issued")] = ord("D")  # still valid UTF-8 JSON
        route.fulfill(response=answer, body=html.replace(leaf, base64.b64encode(raw).decode()))

    page.route(f"**/console/entries/{issued_index}", change_one_byte)
    page.goto(f"{server.url}/console/entries/{issued_index}")
    state, text = verdict(page, "proof-status")
    assert state == "failed" and "does not match the signed root" in text, text


def test_a_pinned_key_is_not_replaced_by_the_servers(server, page, issued_index):
    """After pinning another key (as if the server's key had been swapped), the
    browser refuses checkpoints the server signs with its own."""
    sign_in(page, server)
    origin = server.get("/api/v1/ledger/key")["origin"]
    other = ledger.NoteSigner(origin, keys.generate_signing_key()).verifier_key
    page.evaluate("key => localStorage.setItem('tradezone.console.pinnedVerifierKey', key)",
                  other)
    page.reload()
    state, text = verdict(page, "signature-status")
    assert state == "failed" and f"no signature by {origin}" in text, text
    assert "THE SERVER NOW SERVES A DIFFERENT KEY" in page.inner_text("#key-source")
    page.goto(f"{server.url}/console/entries/{issued_index}")
    assert verdict(page, "proof-status")[0] == "failed"

    page.goto(f"{server.url}/console/")
    page.click("#unpin-key")
    assert verdict(page, "signature-status")[0] == "verified"
    page.click("#pin-key")
    page.wait_for_selector("#key-source >> text=pinned in this browser (the server serves "
                           "the same key)")
    assert verdict(page, "signature-status")[0] == "verified"
