"""The audit API: search over ledger entries and audit bundles (contract section 9)."""

from __future__ import annotations

from flask_smorest import Blueprint

blp = Blueprint("audit", __name__, url_prefix="/api/v1/audit",
                description="Search the ledger and export offline-verifiable audit bundles.")
