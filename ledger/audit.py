"""The regulator's offline verifier behind ``tradezone audit verify``.

Uses only this package: no server, no database. Reads a bundle file,
verifies it with the log's verifier key, and reports one line per failure.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from .bundle import BundleReport, verify_bundle
from .errors import VerificationError
from .note import NoteVerifier


@dataclass
class AuditResult:
    lines: list[str] = field(default_factory=list)
    ok: bool = False


def verify_bundle_file(path: Path, verifier_key: str) -> AuditResult:
    """Verify the bundle at ``path``; never raises for bad input, reports it."""
    result = AuditResult()
    try:
        verifier = NoteVerifier.from_verifier_key(verifier_key)
    except VerificationError as error:
        result.lines.append(f"error: the verifier key is malformed: {error}")
        return result
    try:
        bundle = json.loads(Path(path).read_bytes())
    except OSError as error:
        result.lines.append(f"error: cannot read {path}: {error.strerror}")
        return result
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        result.lines.append(f"error: {path} is not a JSON bundle (truncated?): {error}")
        return result
    report = verify_bundle(bundle, verifier)
    result.lines.extend(_describe(report))
    result.ok = report.ok
    return result


def _describe(report: BundleReport) -> list[str]:
    lines = [f"FAIL entry {where}: {error}" if where is not None else f"FAIL bundle: {error}"
             for where, error in report.failures]
    size = report.checkpoint.size if report.checkpoint else "?"
    verdict = "OK" if report.ok else "FAILED"
    lines.append(f"{verdict}: {len(report.entries)} entries verified, {len(report.failures)} "
                 f"failures, against checkpoint of size {size}")
    return lines
