"""The application's exception hierarchy and its one JSON error format.

Services raise these; the handlers registered by :func:`register_error_handlers`
turn them into ``{"code", "status", "message", "errors"?}`` answers, the same
shape flask-smorest uses for its own validation errors.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from flask import Flask, jsonify

import ledger


class AppError(Exception):
    """A request that cannot be served as asked; ``status`` is its HTTP code."""

    status = HTTPStatus.BAD_REQUEST

    def __init__(self, message: str, *, errors: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.errors = errors


class BadRequest(AppError):
    status = HTTPStatus.BAD_REQUEST


class AuthenticationError(AppError):
    status = HTTPStatus.UNAUTHORIZED


class PermissionDenied(AppError):
    status = HTTPStatus.FORBIDDEN


class NotFound(AppError):
    status = HTTPStatus.NOT_FOUND


class Conflict(AppError):
    status = HTTPStatus.CONFLICT


class ValidationFailed(AppError):
    status = HTTPStatus.UNPROCESSABLE_ENTITY


def error_body(status: HTTPStatus, message: str, errors: dict[str, Any] | None = None) -> dict:
    body: dict[str, Any] = {"code": status.value, "status": status.phrase, "message": message}
    if errors:
        body["errors"] = errors
    return body


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(AppError)
    def _app_error(error: AppError):
        response = jsonify(error_body(error.status, error.message, error.errors))
        response.status_code = error.status.value
        if error.status == HTTPStatus.UNAUTHORIZED:
            response.headers["WWW-Authenticate"] = 'Bearer realm="tradezone"'
        return response

    @app.errorhandler(ledger.TreeSizeError)
    def _tree_size(error: ledger.TreeSizeError):
        return jsonify(error_body(HTTPStatus.BAD_REQUEST, str(error))), 400

    @app.errorhandler(ledger.IntegrityError)
    def _integrity(error: ledger.IntegrityError):
        app.logger.error("ledger integrity failure at index %s: %s", error.index, error)
        body = error_body(HTTPStatus.INTERNAL_SERVER_ERROR,
                          f"ledger integrity failure at index {error.index}")
        return jsonify(body), 500
