"""The audit console's pages (plain Flask blueprint, not part of the OpenAPI API)."""

from __future__ import annotations

from flask import Blueprint

blp = Blueprint("console", __name__, url_prefix="/console", template_folder="templates",
                static_folder="static")
