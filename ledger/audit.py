"""The regulator's offline verifier behind ``tradezone audit verify``.

Uses only this package: no server, no database. Reads a bundle file,
verifies it with the log's verifier key, and reports one line per failure.

A bundle as the server streams it has one entry per line (the header line
ends in ``"entries":[``, the last line is ``]}``); such a file is verified
line by line, never held in memory whole. Any other JSON layout is read
whole, so a bundle reformatted by another tool verifies all the same.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from .bundle import (
    ENTRIES_CLOSING, ENTRIES_OPENING, BundleFormatError, BundleReport, BundleVerifier,
    EvidenceError, verify_bundle,
)
from .errors import EntryFormatError, InclusionProofError, VerificationError
from .note import NoteVerifier
from .strictjson import StrictDecoder, loads_strict

Progress = Callable[[int, int, int], None]  # (bytes read, total bytes, entries read)
_PROGRESS_EVERY = 2048  # entries between progress calls


@dataclass
class AuditResult:
    lines: list[str] = field(default_factory=list)
    ok: bool = False
    report: BundleReport | None = None


class _NotStreamed(Exception):
    """The file is not in the one-entry-per-line layout; read it whole."""


class _NotJson(Exception):
    """The file breaks a rule of strict JSON: not UTF-8, a repeated member name,
    NaN, nesting too deep or an integer too long to read (text that is not JSON
    at all, or cut short, is a ``json.JSONDecodeError``)."""


def verify_bundle_file(path: Path, verifier_key: str,
                       progress: Progress | None = None) -> AuditResult:
    """Verify the bundle at ``path``; never raises for bad input, reports it."""
    result = AuditResult()
    try:
        verifier = NoteVerifier.from_verifier_key(verifier_key)
    except VerificationError as error:
        result.lines.append(f"error: the verifier key is malformed: {error}")
        return result
    try:
        report = _verify_file(Path(path), verifier, progress)
    except OSError as error:
        result.lines.append(f"error: cannot read {path}: {error.strerror}")
        return result
    except json.JSONDecodeError as error:
        result.lines.append(f"error: {path} is not a JSON bundle (truncated?): {error}")
        return result
    except _NotJson as error:
        result.lines.append(f"error: {path} is not a JSON bundle: {error}")
        return result
    result.report = report
    result.lines.extend(describe(report))
    result.ok = report.ok
    return result


def _verify_file(path: Path, verifier: NoteVerifier, progress: Progress | None) -> BundleReport:
    with open(path, "rb") as handle:
        total = os.fstat(handle.fileno()).st_size
        first = handle.readline()
        if first.rstrip(b"\n").endswith(ENTRIES_OPENING.encode()):
            try:
                return _verify_streamed(handle, first, total, verifier, progress)
            except _NotStreamed:
                handle.seek(0)
        else:
            handle.seek(0)
        try:
            bundle = json.loads(handle.read(), cls=StrictDecoder)
        except json.JSONDecodeError:
            raise  # not JSON at all, or cut short: reported as maybe truncated
        except ValueError as error:
            raise _NotJson(str(error)) from error
        return verify_bundle(bundle, verifier)


def _verify_streamed(handle: IO[bytes], first: bytes, total: int, verifier: NoteVerifier,
                     progress: Progress | None) -> BundleReport:
    """Verify a bundle in the streamed layout; :class:`_NotStreamed` if it is not one."""
    try:
        header = json.loads(first.rstrip(b"\n") + ENTRIES_CLOSING.encode(), cls=StrictDecoder)
    except ValueError as error:
        raise _NotStreamed from error
    if not isinstance(header, dict) or header.get("entries") != []:
        raise _NotStreamed
    checker = BundleVerifier(verifier, keep_entries=False)
    if not checker.open(header):
        return checker.finish()
    done, count, state = len(first), 0, "open"  # open: an entry or the closing may come
    for line in handle:
        done += len(line)
        body = line.rstrip(b"\n")
        if body == ENTRIES_CLOSING.encode():
            if state == "comma" or handle.read().strip():
                raise _NotStreamed  # a trailing comma, or something after the closing
            state = "closed"
            break
        if state == "last":
            raise _NotStreamed  # two entries without a comma between them
        state = "comma" if body.endswith(b",") else "last"
        checker.add(_entry_from_line(body[:-1] if state == "comma" else body, handle))
        count += 1
        if progress is not None and count % _PROGRESS_EVERY == 0:
            progress(done, total, count)
    if state != "closed":
        checker.fail(None, BundleFormatError(
            f"the bundle ends after {count} entries without closing its entry list "
            f"(truncated?)"))
    if progress is not None:
        progress(total, total, count)
    return checker.finish()


def _entry_from_line(body: bytes, handle: IO[bytes]) -> Any:
    try:
        return loads_strict(body)
    except ValueError as error:
        position = handle.tell()
        if handle.read(1) == b"":  # the last line, cut short: the file is truncated
            raise json.JSONDecodeError("the last entry is cut short", body.decode(
                "utf-8", "replace"), len(body)) from error
        handle.seek(position)
        raise _NotStreamed from error


_LABELS = (
    (InclusionProofError, "inclusion proof does not verify"),
    (EntryFormatError, "entry is not a well-formed canonical entry"),
    (EvidenceError, "evidence does not verify"),
    (BundleFormatError, "malformed"),
)


def _label(error: VerificationError) -> str:
    for kind, label in _LABELS:
        if isinstance(error, kind):
            return f"{label}: {error}"
    return str(error)


def describe(report: BundleReport) -> list[str]:
    """One line per failure, then the summary."""
    lines = [f"FAIL entry {where}: {_label(error)}" if where is not None
             else f"FAIL bundle: {_label(error)}" for where, error in report.failures]
    size = report.checkpoint.size if report.checkpoint else "?"
    verdict = "OK" if report.ok else "FAILED"
    lines.append(f"{verdict}: {report.verified} entries verified, {len(report.failures)} "
                 f"failures, against checkpoint of size {size}")
    if (report.device_events_checked or report.signatures_checked or report.without_evidence
            or report.keys_bound or report.keys_unbound):
        lines.append(
            f"evidence: {report.device_events_checked} device event JWS and "
            f"{report.signatures_checked} document signatures verified; "
            f"{report.without_evidence} entries came without theirs (not checked); "
            f"{report.keys_bound} keys matched their registration entries, "
            f"{report.keys_unbound} keys came without one")
    for index, values in report.disclosures:
        lines.append(f"disclosed and verified against entry {index}'s digest: "
                     f"{', '.join(sorted(values)) or 'no field'}")
    return lines


class ProgressBar:
    """A one-line progress bar on a terminal; silent when ``stream`` is not a TTY."""

    def __init__(self, stream: IO[str] = sys.stderr, label: str = "verifying",
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.stream = stream
        self.label = label
        self.clock = clock
        self.enabled = bool(getattr(stream, "isatty", lambda: False)())
        self._started = clock()
        self._shown = 0.0

    def __call__(self, done: int, total: int, entries: int) -> None:
        if not self.enabled:
            return
        now = self.clock()
        if now - self._shown < 0.2 and done < total:
            return
        self._shown = now
        fraction = done / total if total else 1.0
        bar = "#" * int(fraction * 30)
        self.stream.write(f"\r{self.label} [{bar:<30}] {fraction:4.0%} {entries:,} entries "
                          f"{now - self._started:.1f}s")
        self.stream.flush()

    def close(self) -> None:
        if self.enabled and self._shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
