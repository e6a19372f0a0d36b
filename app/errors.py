"""The application's exception hierarchy and its one JSON error format.

Services raise these; the handlers registered by :func:`register_error_handlers`
turn them into ``{"code", "status", "message", "errors"?}`` answers, the same
shape flask-smorest uses for its own validation errors.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

import sqlite3

import psycopg
from flask import Flask, jsonify
from sqlalchemy.exc import DBAPIError

import ledger

from .db_errors import DATABASE_ERRORS, describe, log_database_error

# Seconds a client is asked to wait when the database cannot be reached.
DATABASE_RETRY_AFTER_S = 5

# SQLite reports mistakes in the schema or SQL as OperationalError too: those
# are the platform's bugs, not a database that is down or busy.
_SQLITE_SCHEMA_ERRORS = ("no such table", "no such column", "syntax error", "has no column")


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


# Of the drivers' errors, the ones a database that is down, restarting or busy raises.
DRIVER_OPERATIONAL_ERRORS = (sqlite3.OperationalError, psycopg.OperationalError)


def database_unavailable(error: DBAPIError | sqlite3.Error | psycopg.Error) -> bool:
    """Whether a database error means "down, restarting or too busy": worth a
    retry, so a 503. A connection the server dropped, a server that cannot be
    reached, a lock not granted in time."""
    if isinstance(error, DBAPIError):
        if error.connection_invalidated:
            return True
        error = error.orig
    if not isinstance(error, DRIVER_OPERATIONAL_ERRORS):
        return False
    message = str(error).lower()
    return not any(text in message for text in _SQLITE_SCHEMA_ERRORS)


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

    def _database(error: DBAPIError | sqlite3.Error | psycopg.Error):
        # The driver's message can quote a key, a whole row or the SQL: never
        # answered, and logged only as describe() tells it (app/db_errors.py).
        if not database_unavailable(error):
            log_database_error(app.logger, "database error", error)
            return jsonify(error_body(HTTPStatus.INTERNAL_SERVER_ERROR, "internal error")), 500
        app.logger.warning("database unavailable: %s", describe(error))
        response = jsonify(error_body(HTTPStatus.SERVICE_UNAVAILABLE,
                                      "the database is unavailable; retry later"))
        response.status_code = HTTPStatus.SERVICE_UNAVAILABLE.value
        response.headers["Retry-After"] = str(DATABASE_RETRY_AFTER_S)
        return response

    for database_error in DATABASE_ERRORS:
        app.register_error_handler(database_error, _database)
