"""What the console's pages show, read straight from the database.

The console never holds a regulator's token, so it does not call the HTTP API
on the regulator's behalf: it reads the same tables and services the API uses.
Entry search is the audit package's (the engine behind ``GET /api/v1/audit/entries``),
quarantine the device registry's, both as they serve a regulator.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

import ledger
from app.audit import search as audit_search
from app.devices import services as devices
from app.devices.models import QuarantinedEvent
from app.identity.auth import Principal
from app.identity.models import Role
from app.notary.models import EntryMeta
from ledger.sqlstore import SqlLog, StoredCheckpoint

SUBJECT_KINDS = ("document", "shipment", "device", "consent", "org")


@dataclass(frozen=True)
class EntryFilter:
    """The audit search's filters; ``None`` leaves a field unfiltered."""

    type: str | None = None
    org: str | None = None
    document: str | None = None
    consent: str | None = None
    device: str | None = None
    shipment: str | None = None
    start: datetime | None = None  # the API's ``from``
    end: datetime | None = None  # the API's ``to``

    def is_empty(self) -> bool:
        return all(getattr(self, f.name) is None for f in fields(self))


@dataclass(frozen=True)
class EntryView:
    """One logged entry: its exact bytes and their decoded JSON."""

    index: int
    leaf_data: bytes
    entry: dict[str, Any]

    @property
    def leaf_data_b64(self) -> str:
        return base64.b64encode(self.leaf_data).decode()

    @property
    def pretty(self) -> str:
        return json.dumps(self.entry, indent=2, ensure_ascii=False, sort_keys=True)

    def subjects(self) -> list[tuple[str, str]]:
        """The (kind, id) pairs this entry names, for links to their history."""
        named = []
        for kind in SUBJECT_KINDS:
            values = self.entry.get(kind), self.entry.get(kind + "s")
            for value in values:
                items = value if isinstance(value, list) else [value]
                named += [(kind, item) for item in items if isinstance(item, str) and item]
        return named


@dataclass(frozen=True)
class EntryPage:
    entries: list[EntryView]
    next: int | None  # pass back as ``after`` for the next page


def latest_checkpoint(session: Session) -> StoredCheckpoint | None:
    return SqlLog(session.connection()).latest_checkpoint()


def entry_types(session: Session) -> list[str]:
    """The entry types the log holds, for the search form's suggestions."""
    return list(session.scalars(select(EntryMeta.entry_type).distinct()
                                .order_by(EntryMeta.entry_type)))


def entry_at(session: Session, index: int) -> EntryView | None:
    """The entry at ``index``, or None beyond the log's end."""
    log = SqlLog(session.connection())
    rows = log.read_entries(index, index + 1) if 0 <= index < log.size else []
    return _view(*rows[0]) if rows else None


def search_entries(session: Session, wanted: EntryFilter, after: int | None,
                   limit: int) -> EntryPage:
    """Entries matching ``wanted`` in log order, after index ``after``, ``limit`` at most
    (the audit search that serves ``GET /api/v1/audit/entries`` to a regulator)."""
    refs = tuple((kind, getattr(wanted, kind)) for kind in audit_search.REF_KINDS
                 if getattr(wanted, kind))
    filters = audit_search.Filters(refs, wanted.type, wanted.start, wanted.end)
    page = audit_search.search(session, filters, -1 if after is None else after, limit)
    return EntryPage([_view(index, data) for index, data in page.rows], page.next)


def history(session: Session, wanted: EntryFilter, cap: int = 1000) -> tuple[list[EntryView], bool]:
    """Every entry matching ``wanted`` in log order, up to ``cap``; True if cut short."""
    found: list[EntryView] = []
    after = None
    while len(found) < cap:
        page = search_entries(session, wanted, after, min(200, cap - len(found)))
        found += page.entries
        if page.next is None:
            return found, False
        after = page.next
    return found, True


@dataclass(frozen=True)
class QuarantinePage:
    items: list[QuarantinedEvent]
    next: int | None  # pass back as ``before`` for older items


def quarantine(session: Session, regulator_org_id: str, device: str | None, reason: str | None,
               before: int | None, limit: int) -> QuarantinePage:
    """Rejected device messages, newest first, as the device registry shows a regulator."""
    viewer = Principal(regulator_org_id, Role.REGULATOR)
    items, cursor = devices.quarantine(session, viewer, device, reason, limit, before)
    return QuarantinePage(items, cursor)


def _view(index: int, data: bytes) -> EntryView:
    return EntryView(index, data, ledger.decode_entry(data))
