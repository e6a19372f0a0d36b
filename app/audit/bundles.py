"""Audit bundles (contract section 9): every entry naming a subject, each with
its exact logged bytes and inclusion proof to the latest signed checkpoint,
and the evidence behind device events and document signatures.

Who may export what: a regulator any subject; a firm or customs organisation
its own organisation, documents it may see in full (owner, holder,
addressee), its own devices, and of a shipment only the entries that also
name it. Any other subject answers 404, as if it did not exist.

A bundle is streamed in the one-entry-per-line layout of
``ledger.bundle`` (``docs/AUDIT_BUNDLE.md``), built a chunk of entries at a
time: one read each for their bytes, their proofs' hashes and their evidence.
"""

from __future__ import annotations

import heapq
import itertools
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

import ledger
from ledger.bundle import BUNDLE_FORMAT, ENTRIES_CLOSING, entry_line, header_line
from ledger.sqlstore import SqlLog

from app.db import Database
from app.db_errors import describe, safe_traceback
from app.devices.models import Device, DeviceEvent
from app.documents.access import has_full_access
from app.documents.models import Document
from app.errors import NotFound
from app.identity.auth import Principal
from app.identity.models import Organization, Role
from app.notary.models import EntryMeta, EntryRef
from app.signing.models import DocumentSignature, SigningKey

from .proofs import InclusionProofs
from .search import Filters, choose_driver, iter_indexes, matching_indexes, read_entries_checked

CHUNK = 2000  # entries per batch of reads
logger = logging.getLogger(__name__)


class BundleInterrupted(RuntimeError):
    """A bundle's stream failed after its first line: the answer is cut short."""


@dataclass(frozen=True)
class Subject:
    """What a bundle is about, and for whom: ``viewer`` is the organisation
    whose registration entries may be shown (None: a regulator, all)."""

    kind: str  # document, device, org or shipment
    ref: str
    since: datetime | None = None
    until: datetime | None = None
    also_naming: str | None = None  # only entries that also name this organisation
    viewer: str | None = None

    @property
    def filters(self) -> Filters:
        refs = ((self.kind, self.ref),)
        if self.also_naming:
            refs += (("org", self.also_naming),)
        return Filters(refs=refs, since=self.since, until=self.until)

    def describe(self) -> dict[str, str]:
        described = {"kind": self.kind, "ref": self.ref}
        for name, moment in (("from", self.since), ("to", self.until)):
            if moment is not None:
                described[name] = ledger.utc_timestamp(moment)
        if self.also_naming:
            described["also_naming"] = self.also_naming
        return described


def resolve_subject(session: Session, principal: Principal, kind: str, ref: str,
                    since: datetime | None = None, until: datetime | None = None) -> Subject:
    """The subject, if ``principal`` may export its bundle; else :class:`NotFound`."""
    regulator = principal.role == Role.REGULATOR
    subject = Subject(kind, ref, since, until, viewer=None if regulator else principal.org_id)
    if kind == "shipment":
        if not regulator:
            subject = replace(subject, also_naming=principal.org_id)
        if not _any_entry(session, subject):
            raise NotFound(f"no entry names shipment {ref}" + ("" if regulator else
                                                               " and your organisation"))
        return subject
    if not _may_see(session, principal, kind, ref):
        raise NotFound(f"{kind} {ref} not found")
    return subject


def _may_see(session: Session, principal: Principal, kind: str, ref: str) -> bool:
    regulator = principal.role == Role.REGULATOR
    if kind == "org":
        return session.get(Organization, ref) is not None and (
            regulator or ref == principal.org_id)
    if kind == "document":
        document = session.get(Document, ref)
        return document is not None and has_full_access(session, principal, document)
    device = session.get(Device, ref)
    return device is not None and (regulator or device.owner_org_id == principal.org_id)


def _any_entry(session: Session, subject: Subject) -> bool:
    filters = subject.filters
    return session.scalars(matching_indexes(
        filters, choose_driver(session, filters, -1), -1, 1)).first() is not None


def stream_bundle(db: Database, verifier_key: str, subject: Subject) -> Iterator[str]:
    """The bundle as text, a chunk of entries at a time, against the latest checkpoint."""
    with db.read() as session:
        log = SqlLog(session.connection())
        checkpoint = log.latest_checkpoint()
        if checkpoint is None:
            raise ledger.IntegrityError("no checkpoint has been signed yet")
        keys = _Keys.collect(session, subject, checkpoint.size)
        yield header_line({"format": BUNDLE_FORMAT, "checkpoint": checkpoint.note,
                           "verifier_key": verifier_key, "subject": subject.describe(),
                           "device_keys": keys.device_keys, "signing_keys": keys.signing_keys})
        try:
            yield from _entry_lines(session, log, subject, checkpoint.size, keys)
        except Exception as error:
            # Logged as app/db_errors.py tells it (a database error's text can
            # quote rows); re-raised without its text, so that the server ends
            # the response unfinished (the client sees a cut-short bundle) and
            # logs nothing more of it.
            logger.error("audit bundle for %s %s stopped early\n%s", subject.kind,
                         subject.ref, safe_traceback(error))
            raise BundleInterrupted(f"audit bundle for {subject.kind} {subject.ref} stopped "
                                    f"early: {describe(error)}") from None
        yield ENTRIES_CLOSING + "\n"


def _entry_lines(session: Session, log: SqlLog, subject: Subject, tree_size: int,
                 keys: _Keys) -> Iterator[str]:
    indexes = _merged(itertools.takewhile(lambda index: index < tree_size,
                                          iter_indexes(session, subject.filters)),
                      keys.registrations)
    proofs = InclusionProofs(log, tree_size)
    separator = ""
    while chunk := list(itertools.islice(indexes, CHUNK)):
        rows = read_entries_checked(log, chunk)
        evidence = keys.evidence(session, chunk)
        lines = [entry_line(index, data, proof, evidence.get(index))
                 for (index, data), proof in zip(rows, proofs.texts(chunk))]
        yield separator + ",\n".join(lines)
        separator = ",\n"
    if separator:
        yield "\n"


def _merged(first: Iterable[int], second: Iterable[int]) -> Iterator[int]:
    """Two ascending index streams as one, without repeats."""
    last = -1
    for index in heapq.merge(first, second):
        if index != last:
            yield index
            last = index


@dataclass
class _Keys:
    """The device and signing keys a bundle's evidence needs, and where each
    was registered (when the viewer may see that entry)."""

    device_keys: dict[str, dict[str, Any]]
    signing_keys: dict[str, dict[str, Any]]
    registrations: list[int]

    @classmethod
    def collect(cls, session: Session, subject: Subject, tree_size: int) -> _Keys:
        selection = _selection(session, subject)
        devices = session.scalars(select(Device).where(Device.id.in_(
            select(DeviceEvent.device_id).where(DeviceEvent.entry_idx.in_(selection))
            .distinct()))).all()
        signing = session.scalars(select(SigningKey).where(SigningKey.id.in_(
            select(DocumentSignature.key_id).where(DocumentSignature.entry_idx.in_(selection))
            .distinct()))).all()
        visible = _visible(session, subject.viewer, tree_size, {
            **{("device", row.id): row.registration_entry_idx for row in devices},
            **_key_registrations(session, [row.id for row in signing])})
        device_keys = {row.id: _key(row.alg, row.public_jwk, visible.get(("device", row.id)))
                       for row in devices}
        signing_keys = {row.id: _key(row.alg, row.public_jwk, visible.get(("key", row.id)),
                                     org=row.org_id) for row in signing}
        return cls(device_keys, signing_keys, sorted(set(visible.values())))

    def evidence(self, session: Session, indexes: list[int]) -> dict[int, dict[str, str]]:
        """The JWS of each device event and document signature among ``indexes``."""
        found: dict[int, dict[str, str]] = {}
        for table, wanted in ((DeviceEvent, self.device_keys), (DocumentSignature,
                                                                self.signing_keys)):
            if wanted:
                rows = session.execute(select(table.entry_idx, table.jws)
                                       .where(table.entry_idx.in_(indexes)))
                found.update({index: {"jws": jws} for index, jws in rows})
        return found


def _selection(session: Session, subject: Subject):
    filters = subject.filters
    return matching_indexes(filters, choose_driver(session, filters, -1), -1, None).order_by(None)


def _key_registrations(session: Session, key_ids: list[str]) -> dict[tuple[str, str], int]:
    if not key_ids:
        return {}
    rows = session.execute(
        select(EntryRef.ref, EntryRef.entry_idx)
        .join(EntryMeta, EntryMeta.entry_idx == EntryRef.entry_idx)
        .where(EntryRef.kind == "key", EntryRef.ref.in_(key_ids),
               EntryMeta.entry_type == "key.registered"))
    return {("key", ref): index for ref, index in rows}


def _visible(session: Session, viewer: str | None, tree_size: int,
             registrations: dict[tuple[str, str], int]) -> dict[tuple[str, str], int]:
    """The registrations inside the tree that ``viewer`` may see (entries naming it)."""
    inside = {key: index for key, index in registrations.items() if 0 <= index < tree_size}
    if viewer is None or not inside:
        return inside
    named = set(session.scalars(select(EntryRef.entry_idx).where(
        EntryRef.kind == "org", EntryRef.ref == viewer,
        EntryRef.entry_idx.in_(list(inside.values())))))
    return {key: index for key, index in inside.items() if index in named}


def _key(alg: str, jwk: dict[str, Any], registered: int | None, **extra: str) -> dict[str, Any]:
    described: dict[str, Any] = {"alg": alg, "jwk": jwk, **extra}
    if registered is not None:
        described["registered"] = registered
    return described
