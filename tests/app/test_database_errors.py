"""A database that is down is a 503 with Retry-After; a database bug a JSON 500
whose log line carries no bound values (tests/app/test_database_error_logs.py:
nor any value the driver's message quotes)."""

from __future__ import annotations

import logging

import pytest

from app import create_app
from app.config import Config
from app.errors import DATABASE_RETRY_AFTER_S
from tests.services.ports import free_port

TOKEN_ID = "abcdefghijklmnop"
TOKEN = f"tz_{TOKEN_ID}_{'S' * 43}"  # well formed: its id is looked up
REQUESTS = [
    ("GET", "/api/v1/ledger/checkpoint", {}),
    ("GET", "/api/v1/ledger/proofs/inclusion?index=0&tree_size=1", {}),
    ("POST", "/api/v1/documents", {"headers": {"Authorization": f"Bearer {TOKEN}"},
                                   "json": {"type": "commercial_invoice", "content": {}}}),
]


def _client(database_url: str, tmp_path):
    app = create_app(Config.for_tests(database_url, tmp_path / "keys" / "ledger.pem"))
    return app.test_client()


@pytest.mark.parametrize("method,path,options", REQUESTS, ids=lambda value: str(value)[:40])
def test_an_unreachable_database_is_a_503_asking_to_retry(tmp_path, method, path, options):
    # Nothing listens on the port: the server is down or restarting.
    client = _client(f"postgresql+psycopg://tradezone@127.0.0.1:{free_port()}/tradezone",
                     tmp_path)
    response = client.open(path, method=method, **options)
    assert response.status_code == 503
    assert response.headers["Retry-After"] == str(DATABASE_RETRY_AFTER_S)
    assert response.get_json() == {"code": 503, "status": "Service Unavailable",
                                   "message": "the database is unavailable; retry later"}


@pytest.mark.parametrize("method,path,options", REQUESTS, ids=lambda value: str(value)[:40])
def test_a_database_bug_is_a_json_500_and_its_log_has_no_bound_values(
        tmp_path, caplog, method, path, options):
    # A database the migrations never ran on: "no such table" is the platform's bug.
    client = _client(f"sqlite:///{tmp_path / 'unmigrated.db'}", tmp_path)
    with caplog.at_level(logging.ERROR):
        response = client.open(path, method=method, **options)
    assert response.status_code == 500
    assert response.get_json() == {"code": 500, "status": "Internal Server Error",
                                   "message": "internal error"}
    logged = caplog.text
    assert "SQLITE_ERROR: no such table" in logged
    assert TOKEN_ID not in logged  # for the POST, a bound value: the token's id is looked up
    assert "[SQL:" not in logged  # described (app/db_errors.py), not SQLAlchemy's text
