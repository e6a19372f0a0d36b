"""What the console's pages show, on both databases: the checkpoint, the
search and its paging, an entry with its exact bytes, a subject's history,
the quarantine; and that no page points anywhere but the server itself."""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
from datetime import timedelta

import pytest

import ledger
from app.devices.models import QuarantinedEvent
from ledger.bundle import verify_bundle

ROW_INDEX = re.compile(r'<a class="index" href="/console/entries/(\d+)">')
NEXT_PAGE = re.compile(r'id="next-page" href="([^"]+)"')


def listed(page_html: str) -> list[int]:
    """The entry indexes a list page shows, in order."""
    return [int(i) for i in ROW_INDEX.findall(page_html)]


def data_attribute(page_html: str, name: str) -> str:
    match = re.search(rf'{name}="([^"]*)"', page_html)
    assert match, f"no {name} in the page"
    return html.unescape(match[1])


def all_pages(console, url: str) -> list[list[int]]:
    """Follow ``Next page`` links from ``url``; the indexes of every page."""
    pages = []
    while url:
        answer = console.get(html.unescape(url))
        assert answer.status_code == 200
        pages.append(listed(answer.text))
        found = NEXT_PAGE.search(answer.text)
        url = found[1] if found else None
    return pages


@pytest.fixture
def trade(submit, cast, clock):
    """Three documents, an hour apart: an invoice, a packing list, a bill of lading."""
    documents = []
    for doc_type in ("commercial_invoice", "packing_list", "bill_of_lading"):
        clock.advance(hours=1)
        documents.append(submit(doc_type))
    return documents


def test_overview_shows_the_signed_checkpoint_and_key(console, client, trade):
    page = console.get("/console/").text
    served = client.get("/api/v1/ledger/checkpoint").get_json()
    key = client.get("/api/v1/ledger/key").get_json()
    assert data_attribute(page, "data-note") == served["checkpoint"]
    assert f"{served['size']} entries" in page
    assert served["root_hash"] in page
    assert data_attribute(page, "data-verifier-key") == key["verifier_key"]
    assert key["public_key"] in page
    assert "<dt>Server's check</dt><dd>verified</dd>" in page.replace("&#39;", "'")
    assert 'id="signature-status" data-state="pending"' in page  # the browser decides


def test_entries_lists_the_whole_log_in_order(console, client, trade):
    size = client.get("/api/v1/ledger/checkpoint").get_json()["size"]
    pages = all_pages(console, "/console/entries")
    assert [i for page in pages for i in page] == list(range(size))


def test_paging_covers_every_match_once(console, client, trade):
    size = client.get("/api/v1/ledger/checkpoint").get_json()["size"]
    pages = all_pages(console, "/console/entries?limit=4")
    assert all(len(page) == 4 for page in pages[:-1]) and 1 <= len(pages[-1]) <= 4
    assert [i for page in pages for i in page] == list(range(size))


def test_search_by_type_org_and_document(console, regulator, trade, cast):
    issued = listed(console.get("/console/entries?type=document.issued").text)
    assert len(issued) == 3
    documents = [console.get(f"/console/entries/{i}").text for i in issued]
    assert [d for d in trade if d["id"] in "".join(documents)] == trade

    invoice = trade[0]["id"]
    named = listed(console.get(f"/console/entries?document={invoice}").text)
    assert named and issued[0] in named
    assert set(named) <= set(listed(console.get(
        f"/console/entries?org={cast.exporter.org_id}&limit=200").text))
    assert listed(console.get("/console/entries?type=document.issued&document="
                              f"{trade[1]['id']}").text) == [issued[1]]
    # the paging link keeps the filters
    answer = console.get("/console/entries?type=document.issued&limit=2").text
    assert "type=document.issued" in html.unescape(NEXT_PAGE.search(answer)[1])


def test_search_by_time(console, trade, clock):
    issued = listed(console.get("/console/entries?type=document.issued").text)
    # the three were issued at now - 2h, now - 1h and now
    between = (clock.now - timedelta(minutes=90)).strftime("%Y-%m-%dT%H:%M:%S")
    later = listed(console.get(f"/console/entries?type=document.issued&from={between}").text)
    assert later == issued[1:]
    earlier = listed(console.get(f"/console/entries?type=document.issued&to={between}Z").text)
    assert earlier == issued[:1]


@pytest.mark.parametrize("query", ["type=DROP TABLE", "document=a/b", "from=yesterday",
                                   "after=-1", "limit=0", "limit=100000",
                                   "from=2026-11-23T10:00:00Z&to=2026-11-23T09:00:00Z",
                                   # no time in UTC, and digits int() does not read: not a 500
                                   "from=0001-01-01T00:00:00%2B05:00",
                                   "to=9999-12-31T23:59:59-05:00",
                                   "after=%C2%B2", "limit=%C2%B2",
                                   # one value read of two given: not what was asked
                                   "type=document.issued&type=consent.granted",
                                   "limit=5&limit=6"])
def test_bad_search_is_explained(console, query):
    answer = console.get(f"/console/entries?{query}")
    assert answer.status_code == 400
    assert 'class="error"' in answer.text


def test_entry_page_carries_the_exact_logged_bytes(console, regulator, trade):
    index = listed(console.get("/console/entries?type=document.issued").text)[0]
    page = console.get(f"/console/entries/{index}").text
    api = console.get(f"/api/v1/ledger/entries/{index}", headers=regulator.headers).get_json()
    assert data_attribute(page, "data-index") == str(index)
    assert data_attribute(page, "data-leaf-data") == api["leaf_data"]
    leaf_data = base64.b64decode(api["leaf_data"])
    assert ledger.decode_entry(leaf_data)["document"] == trade[0]["id"]
    assert f'href="/console/history?document={trade[0]["id"]}"' in page
    assert 'id="proof-status" data-state="pending"' in page  # no server verdict


def test_missing_entry_is_404(console):
    answer = console.get("/console/entries/1000000")
    assert answer.status_code == 404
    assert "no entry 1000000" in answer.text


def test_history_of_a_document_in_order(console, regulator, trade, cast):
    bill = trade[2]["id"]
    page = console.get(f"/console/history?document={bill}").text
    shown = listed(page)
    named = listed(console.get(f"/console/entries?document={bill}").text)
    assert shown == named == sorted(shown) and shown
    for index in shown:
        entry = console.get(f"/api/v1/ledger/entries/{index}", headers=regulator.headers)
        assert bill in str(entry.get_json()["entry"])


def test_history_asks_for_one_subject(console):
    assert console.get("/console/history").status_code == 200
    assert console.get("/console/history?document=a&shipment=b").status_code == 400
    twice = console.get("/console/history?document=a&document=b")
    assert twice.status_code == 400 and "document is given more than once" in twice.text
    assert "No entries" in console.get("/console/history?shipment=SHP-NONE").text


def _quarantined(platform, clock, count: int) -> None:
    with platform.db.write() as session:
        for n in range(count):
            clock.advance(seconds=1)
            raw = f"not a jws {n}".encode()
            session.add(QuarantinedEvent(
                topic_device_id=f"scanner-{n % 2}", reason="bad_signature" if n % 2 else "replay",
                detail=f"detail {n}", seq=n, raw=raw, raw_size=len(raw),
                raw_sha256=hashlib.sha256(raw).digest(), received_at=clock.now))


def test_quarantine_newest_first_with_reason_and_paging(console, platform, clock):
    assert "Nothing in quarantine" in console.get("/console/quarantine").text
    _quarantined(platform, clock, 5)
    page = console.get("/console/quarantine?limit=3").text
    assert re.findall(r"<td>detail (\d)</td>", page) == ["4", "3", "2"]
    assert '<span class="reason">bad_signature</span>' in page
    assert hashlib.sha256(b"not a jws 4").hexdigest() in page
    older = console.get(html.unescape(NEXT_PAGE.search(page)[1])).text
    assert re.findall(r"<td>detail (\d)</td>", older) == ["1", "0"]
    replays = console.get("/console/quarantine?reason=replay").text
    assert re.findall(r"<td>detail (\d)</td>", replays) == ["4", "2", "0"]
    assert console.get("/console/quarantine?reason=Bad Reason").status_code == 400
    assert console.get("/console/quarantine?before=%C2%B2").status_code == 400  # a superscript 2
    assert console.get("/console/quarantine?reason=replay&reason=bad_signature").status_code == 400



# Query parameter names reach url_for as keywords: its own (_external, _scheme,
# _anchor, _method, endpoint) must not, nor anything else the forms do not read.
@pytest.mark.parametrize("extra", ["_external=1&_scheme=http", "_anchor=x", "_method=POST",
                                   "endpoint=x", "junk=1"])
def test_paging_links_keep_only_the_forms_fields(console, trade, platform, clock, extra):
    answer = console.get(f"/console/entries?type=document.issued&limit=1&after=0&{extra}")
    assert answer.status_code == 200
    links = [html.unescape(link) for link in re.findall(
        r'<p class="paging">\s*<a href="([^"]+)">First page</a>\s*'
        r'<a id="next-page" href="([^"]+)"', answer.text)[0]]
    assert links[0] == "/console/entries?type=document.issued&limit=1"
    assert links[1].startswith("/console/entries?type=document.issued&limit=1&after=")
    _quarantined(platform, clock, 3)
    answer = console.get(f"/console/quarantine?reason=replay&limit=1&{extra}")
    assert answer.status_code == 200
    older = html.unescape(NEXT_PAGE.search(answer.text)[1])
    assert older.startswith("/console/quarantine?reason=replay&limit=1&before=")

# A protocol-relative "//host" counts only after a non-base64 character: the
# pages show base64 hashes, which contain "//" by chance.
URL = re.compile(r"""(?:https?:|(?<![A-Za-z0-9+/=]))//[^\s"'<>)]+"""
                 r"""|(?:src|href|action)=["']([^"']*)["']""", re.IGNORECASE)


def test_no_page_points_outside_the_server(console, client, regulator, trade, platform, clock):
    _quarantined(platform, clock, 2)
    index = listed(console.get("/console/entries").text)[-1]
    paths = ["/console/", "/console/entries", "/console/entries?type=document.issued",
             f"/console/entries/{index}", f"/console/history?document={trade[0]['id']}",
             "/console/quarantine", "/console/entries?from=x"]
    pages = [console.get(path).text for path in paths] + [client.get("/console/login").text]
    pages.append(console.get("/console/static/console.js").text)
    pages.append(console.get("/console/static/console.css").text)
    for text in pages:
        for match in URL.finditer(text):
            target = match[1] if match[1] is not None else match[0]
            assert (target.startswith("/") and not target.startswith("//")
                    or target.startswith("http://127.0.0.1")), target
        assert "<script>" not in text and " style=" not in text and "onclick" not in text


def test_history_offers_the_documents_audit_bundle(console, trade, verifier):
    invoice = trade[0]["id"]
    page = console.get(f"/console/history?document={invoice}").text
    link = html.unescape(re.search(r'id="bundle-link" href="([^"]+)"', page)[1])
    assert link == f"/console/bundle?document={invoice}"
    answer = console.get(link)
    assert answer.status_code == 200
    assert answer.headers["Content-Disposition"] == (
        f'attachment; filename="audit-bundle-document-{invoice}.json"')
    report = verify_bundle(json.loads(answer.data), verifier)
    assert report.ok, report.failures
    assert [item.index for item in report.entries] == listed(page)


@pytest.mark.parametrize("query, status", [("document=doc_unknown", 404), ("", 400),
                                           ("consent=cns_x", 400), ("org=a&device=b", 400)])
def test_bundle_of_nothing_is_refused(console, query, status):
    answer = console.get(f"/console/bundle?{query}")
    assert answer.status_code == status
    assert 'class="error"' in answer.text
