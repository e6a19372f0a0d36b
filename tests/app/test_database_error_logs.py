"""A database error reaching the 500 handler is logged as its SQLSTATE (or
SQLite's error name), the constraint, table or column it names, and the
traceback's frames: never the values the driver's message quotes (PostgreSQL's
``Key (id)=(...)``, ``Failing row contains (...)``, a ``COPY`` line)."""

from __future__ import annotations

import logging
from datetime import datetime, timezone

import pytest
from sqlalchemy import insert, text

from app.bulkinsert import BulkInsert
from app.db import unusable_database_line
from app.db_errors import describe, safe_traceback
from app.identity.models import Organization, Role

# Stands for a person's name or a document field. Only ever named in the code
# below, never written out, so that no traceback line quotes it.
MARKER = "PERSONAL-DATA-MARKER"
INTERNAL_ERROR = {"code": 500, "status": "Internal Server Error", "message": "internal error"}
ORGANIZATIONS = Organization.__table__
_ORG_ROWS = BulkInsert(ORGANIZATIONS, ("id", "name", "role", "created_at"))
_NOW = datetime(2026, 11, 23, 9, 0, tzinfo=timezone.utc)


def _org(org_id: str, name: str = "Acme", role: Role | None = Role.FIRM) -> dict:
    return {"id": org_id, "name": name, "role": role, "created_at": _NOW}


def _duplicate_key(session) -> None:
    session.execute(insert(ORGANIZATIONS), _org(MARKER))
    session.execute(insert(ORGANIZATIONS), _org(MARKER))


def _null_in_a_row(session) -> None:
    session.execute(insert(ORGANIZATIONS), _org("org_null", name=MARKER, role=None))


def _null_through_the_drivers_cursor(session) -> None:
    _ORG_ROWS.execute(session.connection(), [tuple(_org("org_null", MARKER, None).values())])


def _null_through_copy(session) -> None:
    # 14 rows of 4 values: over 50 values, PostgreSQL's rows go in by COPY,
    # whose CONTEXT line quotes the failing line of data.
    rows = [tuple(_org(f"org_{n}").values()) for n in range(13)]
    _ORG_ROWS.execute(session.connection(), rows + [tuple(_org("org_null", MARKER, None).values())])


# What each write does wrong, and what its log must name: on PostgreSQL the
# SQLSTATE and constraint or column, on SQLite the error name and the column.
VIOLATIONS = {
    "duplicate key": (_duplicate_key, ["23505", "pk_organizations"],
                      ["SQLITE_CONSTRAINT_PRIMARYKEY", "organizations.id"]),
    "null in a row": (_null_in_a_row, ["23502", "column role"],
                      ["SQLITE_CONSTRAINT_NOTNULL", "organizations.role"]),
    "null by the driver's cursor": (_null_through_the_drivers_cursor, ["23502", "column role"],
                                    ["SQLITE_CONSTRAINT_NOTNULL", "organizations.role"]),
    "null by COPY": (_null_through_copy, ["23502", "column role"],
                     ["SQLITE_CONSTRAINT_NOTNULL", "organizations.role"]),
}


@pytest.fixture
def failing_route(app, platform):
    """A route whose write does a given violation; the 500 handler answers it."""

    def add(violation) -> str:
        def write_wrongly():
            with platform.db.write() as session:
                violation(session)
            return "unreachable"

        app.add_url_rule("/test-only/violation", "violation", write_wrongly, methods=["POST"])
        return "/test-only/violation"

    return add


@pytest.mark.parametrize("name", VIOLATIONS)
def test_a_constraint_violation_is_logged_without_the_rows_values(
        platform, client, failing_route, caplog, name):
    violation, on_postgres, on_sqlite = VIOLATIONS[name]
    path = failing_route(violation)
    with caplog.at_level(logging.ERROR):
        response = client.post(path)
    assert response.status_code == 500
    assert response.get_json() == INTERNAL_ERROR
    logged = caplog.text
    assert MARKER not in logged
    assert "Failing row" not in logged and "Key (" not in logged
    for named in on_postgres if platform.db.dialect == "postgresql" else on_sqlite:
        assert named in logged
    # The frames stay: where the statement ran is in the log.
    assert "Traceback (most recent call last)" in logged
    assert violation.__name__ in logged


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_data_error_is_logged_without_the_input_its_message_quotes(
        client, failing_route, caplog):
    # 22P02's primary message itself quotes the input:
    # invalid input syntax for type integer: "<the value>"
    path = failing_route(lambda session: session.execute(
        text("SELECT CAST(:value AS INTEGER)"), {"value": MARKER}))
    with caplog.at_level(logging.ERROR):
        response = client.post(path)
    assert response.status_code == 500
    assert response.get_json() == INTERNAL_ERROR
    assert MARKER not in caplog.text
    assert "InvalidTextRepresentation SQLSTATE 22P02" in caplog.text


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_an_unusable_database_line_leaves_out_the_servers_detail(platform, config):
    # A lock or statement timeout, a deadlock or a serialization failure is
    # "unavailable" (retry later); the server's DETAIL and CONTEXT lines come
    # with it. Here a server-side RAISE stands in, with the value as DETAIL.
    with pytest.raises(Exception) as raised:
        with platform.db.write() as session:
            session.execute(text(
                "DO $$ BEGIN RAISE EXCEPTION USING ERRCODE = '40001', "
                "MESSAGE = 'could not serialize access', DETAIL = '" + MARKER + "'; END $$"))
    assert MARKER in str(raised.value)  # the driver's text carries it
    line = unusable_database_line(raised.value, config.database_url)
    assert line.startswith("cannot use the database TZ_DATABASE_URL=")
    assert "SerializationFailure SQLSTATE 40001: could not serialize access" in line
    assert MARKER not in line


def test_the_safe_traceback_keeps_chained_errors_and_describes_each_database_error(platform):
    # A SQLAlchemy error wraps the driver's (raise ... from), and another
    # error raised while handling it keeps it as its context.
    with pytest.raises(RuntimeError) as raised:
        try:
            with platform.db.write() as session:
                _duplicate_key(session)
        except Exception:
            raise RuntimeError("the write failed")
    database_error = raised.value.__context__
    lines = safe_traceback(raised.value).splitlines()
    assert MARKER not in "\n".join(lines)
    assert lines[-1] == "RuntimeError: the write failed"
    assert f"sqlalchemy.exc.IntegrityError: {describe(database_error)}" in lines
    assert describe(database_error) in lines  # the driver's own error, first of the chain
    assert "During handling of the above exception, another exception occurred:" in lines
    assert "The above exception was the direct cause of the following exception:" in lines
