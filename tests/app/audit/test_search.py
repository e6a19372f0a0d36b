"""GET /api/v1/audit/entries: filters combine, visibility follows the ledger's
rule, pages follow the log order, bad parameters are named."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.identity.models import Role
from app.notary.models import EntryMeta, EntryRef

SEARCH = "/api/v1/audit/entries"


def search(client, who, **query):
    response = client.get(SEARCH, headers=who.headers, query_string=query)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def indexes(page) -> list[int]:
    return [item["index"] for item in page["entries"]]


def naming(platform, kind: str, ref: str) -> set[int]:
    with platform.db.read() as session:
        return set(session.scalars(select(EntryRef.entry_idx).where(
            EntryRef.kind == kind, EntryRef.ref == ref)))


def of_type(platform, entry_type: str) -> set[int]:
    with platform.db.read() as session:
        return set(session.scalars(select(EntryMeta.entry_idx).where(
            EntryMeta.entry_type == entry_type)))


@pytest.fixture
def trade(cast, submit, clock, register_device, notarize_event):
    """Two documents an hour apart, then a device's events on two shipments."""
    invoice = submit("commercial_invoice")
    clock.advance(hours=1)
    packing = submit("packing_list")
    clock.advance(hours=1)
    device = register_device("gate-1")
    events = [notarize_event(device, seq, shipment=f"SHP-{seq % 2}") for seq in range(1, 6)]
    return {"invoice": invoice, "packing": packing, "device": device, "events": events}


def test_a_regulator_finds_every_entry_naming_a_document(client, cast, platform, trade):
    document = trade["invoice"]["id"]
    page = search(client, cast.regulator, document=document)
    assert indexes(page) == sorted(naming(platform, "document", document))
    assert page["next"] is None
    for item in page["entries"]:
        assert item == client.get(f"/api/v1/ledger/entries/{item['index']}",
                                  headers=cast.regulator.headers).get_json()


def test_filters_combine(client, cast, platform, trade):
    exporter = cast.exporter.org_id
    page = search(client, cast.regulator, org=exporter, type="document.issued")
    expected = naming(platform, "org", exporter) & of_type(platform, "document.issued")
    assert indexes(page) == sorted(expected) and len(expected) == 2
    both = search(client, cast.regulator, device="gate-1", shipment="SHP-1")
    assert indexes(both) == [trade["events"][i] for i in (0, 2, 4)]
    none = search(client, cast.regulator, document=trade["invoice"]["id"],
                  type="device.event")
    assert none == {"entries": [], "next": None}


def test_firms_and_customs_see_only_entries_naming_them(client, cast, platform, make_org,
                                                        trade):
    stranger = make_org(Role.FIRM, "Stranger")
    document = trade["invoice"]["id"]
    assert search(client, stranger, document=document)["entries"] == []
    assert indexes(search(client, stranger)) == sorted(naming(platform, "org", stranger.org_id))
    exporter = search(client, cast.exporter, document=document, limit=500)
    assert indexes(exporter) == sorted(naming(platform, "document", document)
                                       & naming(platform, "org", cast.exporter.org_id))
    customs = search(client, cast.customs, device="gate-1", limit=500)
    assert set(trade["events"]) <= set(indexes(customs))
    # naming another organisation narrows, it never widens
    assert search(client, stranger, org=cast.exporter.org_id)["entries"] == []


def test_an_admin_may_not_search(client, cast):
    response = client.get(SEARCH, headers=cast.admin.headers)
    assert response.status_code == 403 and "admin" in response.get_json()["message"]


def test_pages_walk_the_log_in_order(client, cast, platform, trade):
    everything = search(client, cast.regulator, limit=500)
    assert everything["next"] is None
    assert indexes(everything) == list(range(len(everything["entries"])))
    walked, after = [], None
    while True:
        query = {"limit": 3, **({"after": after} if after is not None else {})}
        page = search(client, cast.regulator, **query)
        walked += indexes(page)
        assert len(indexes(page)) == 3 or page["next"] is None
        if page["next"] is None:
            break
        after = page["next"]
        assert after == indexes(page)[-1]
    assert walked == indexes(everything)
    org = cast.exporter.org_id
    first = search(client, cast.regulator, org=org, limit=2)
    rest = search(client, cast.regulator, org=org, after=first["next"], limit=500)
    assert indexes(first) + indexes(rest) == sorted(naming(platform, "org", org))


def test_a_period_selects_by_entry_time(client, cast, trade):
    document_hour = {"from": "2026-11-23T10:00:00Z", "to": "2026-11-23T11:00:00+00:00"}
    page = search(client, cast.regulator, **document_hour)
    assert [item["entry"]["type"] for item in page["entries"]] == ["document.issued"]
    assert page["entries"][0]["entry"]["document"] == trade["packing"]["id"]
    in_shanghai = search(client, cast.regulator, type="document.issued",
                         **{"from": "2026-11-23T17:00:00.5+08:00"})
    assert [item["entry"]["document"] for item in in_shanghai["entries"]] == [
        trade["packing"]["id"]]
    before = search(client, cast.regulator, type="document.issued",
                    to="2026-11-23t09:00:00.000001z")
    assert [item["entry"]["document"] for item in before["entries"]] == [trade["invoice"]["id"]]


@pytest.mark.parametrize("query, field", [
    ({"from": "2026-11-23T09:00:00"}, "from"),
    ({"from": "2026-11-23 09:00"}, "from"),
    ({"to": "yesterday"}, "to"),
    ({"to": "2026-11-23"}, "to"),
    ({"from": "2026-02-30T09:00:00Z"}, "from"),
    ({"from": "2026-11-23T10:00:00Z", "to": "2026-11-23T09:00:00Z"}, "to"),
    ({"limit": "0"}, "limit"),
    ({"limit": "501"}, "limit"),
    ({"limit": "ten"}, "limit"),
    ({"after": "-1"}, "after"),
    ({"after": "01"}, "after"),
    ({"type": "Document Issued"}, "type"),
    ({"document": "d" * 81}, "document"),
    ({"documents": "doc_x"}, "documents"),
    # What no database column takes: a 422, not a 500 from the query.
    ({"after": str(2**63), "type": "org.created"}, "after"),
    ({"after": "99999999999999999999"}, "after"),
    ({"org": "org_a\x00b"}, "org"),
    ({"shipment": "SHP\x00"}, "shipment"),
    ({"from": "0001-01-01T00:00:00+05:00"}, "from"),
    ({"to": "9999-12-31T23:59:59-05:00"}, "to"),
])
@pytest.mark.parametrize("who", ["regulator", "exporter"])
def test_bad_parameters_are_422_naming_the_field(client, cast, query, field, who):
    response = client.get(SEARCH, headers=getattr(cast, who).headers, query_string=query)
    assert response.status_code == 422, response.get_json()
    body = response.get_json()
    assert body["code"] == 422 and field in body["errors"]["query"], body


def test_naive_times_say_what_is_missing(client, cast):
    response = client.get(SEARCH, headers=cast.regulator.headers,
                          query_string={"from": "2026-11-23T09:00:00"})
    assert "UTC offset" in response.get_json()["errors"]["query"]["from"][0]


def test_a_stored_entry_that_is_not_canonical_is_an_integrity_failure(client, cast, platform,
                                                                      trade):
    from sqlalchemy import update

    from ledger.sqlstore import entries

    [index] = [item["index"] for item in trade["invoice"]["receipt"]["entries"]]
    with platform.db.write() as session:
        data = session.scalar(select(entries.c.data).where(entries.c.idx == index))
        session.execute(update(entries).where(entries.c.idx == index).values(
            data=bytes(data).replace(b",", b", ", 1)))
    response = client.get(SEARCH, headers=cast.regulator.headers,
                          query_string={"document": trade["invoice"]["id"]})
    assert response.status_code == 500
    assert response.get_json()["message"] == f"ledger integrity failure at index {index}"
