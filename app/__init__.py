"""Tradezone's HTTP API: ``create_app`` builds a Flask app from a Config."""

from __future__ import annotations

from flask import Flask, jsonify
from flask_smorest import Api

from .apidoc import SharedResponsesPlugin, register_document_types
from .config import Config
from .docs import ASSETS_URL, blp as docs_blp
from .errors import register_error_handlers
from .identity.auth import BEARER_AUTH
from .audit.views import blp as audit_blp
from .consent.views import blp as consents_blp
from .console.views import blp as console_blp
from .devices.views import blp as devices_blp
from .documents.views import blp as documents_blp
from .notary.views import blp as ledger_blp
from .identity.views import blp as orgs_blp
from .signing.views import blp as keys_blp
from .platform import Platform, build_platform
from .request_json import read_json_bodies_strictly
from .request_query import read_queries_strictly
from . import security_headers

API_BLUEPRINTS = (ledger_blp, documents_blp, consents_blp, keys_blp, devices_blp, audit_blp,
                  orgs_blp)


def create_app(config: Config | None = None, platform: Platform | None = None) -> Flask:
    """Build the web app; ``config`` defaults to the environment's (``Config.from_env``)."""
    platform = platform or build_platform(config or Config.from_env())
    app = Flask(__name__)
    app.config.update(
        TESTING=platform.config.testing,
        MAX_CONTENT_LENGTH=platform.config.max_request_bytes,
        API_TITLE="Tradezone",
        API_VERSION="v1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/api/v1",
        OPENAPI_JSON_PATH="openapi.json",
        OPENAPI_SWAGGER_UI_PATH="/docs",
        OPENAPI_SWAGGER_UI_URL=ASSETS_URL,
        API_SPEC_OPTIONS={"info": {"description": (
            "Trade documents, data-sharing consent and device events, each notarized on a "
            "verifiable Merkle log. Public: the ledger checkpoint, key and proofs. "
            "Everything else takes `Authorization: Bearer <token>`.")}},
    )
    app.extensions["tradezone"] = platform
    read_json_bodies_strictly()
    read_queries_strictly()
    api = Api(app, spec_kwargs={"extra_plugins": [SharedResponsesPlugin()]})
    api.spec.components.security_scheme(BEARER_AUTH, {"type": "http", "scheme": "bearer"})
    register_document_types(api.spec)
    for blueprint in API_BLUEPRINTS:
        api.register_blueprint(blueprint)
    # Imported here, not at `import app`: prometheus-client picks its
    # multiprocess mode when first imported (app/metrics.py says why).
    from . import metrics
    metrics.install(app)
    api.register_blueprint(metrics.blp)
    app.register_blueprint(docs_blp)
    app.register_blueprint(console_blp)
    register_error_handlers(app)
    security_headers.install(app)

    @app.get("/healthz")
    def healthz():
        return jsonify(status="ok")

    return app
