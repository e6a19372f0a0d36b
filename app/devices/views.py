"""The device registry API (contract section 6)."""

from __future__ import annotations

from flask_smorest import Blueprint

blp = Blueprint("devices", __name__, url_prefix="/api/v1/devices",
                description="Customs edge devices: registry, events, quarantine.")
