"""The serving access log: the same line as gunicorn's own logger, cheaper."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

import pytest
from gunicorn.config import Config
from gunicorn.glogging import Logger

from app.access_log import AccessLogger


def _request(user_agent: str = 'curl/8.5 "quoted"', sent: int | None = 1234):
    response = SimpleNamespace(status="201 CREATED", sent=sent,
                               headers=[("Content-Type", "application/json")])
    request = SimpleNamespace(headers=[("AUTHORIZATION", "Bearer tz_secret"),
                                       ("USER-AGENT", user_agent)])
    environ = {"REQUEST_METHOD": "POST", "RAW_URI": "/api/v1/documents?x=%41",
               "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "127.0.0.1",
               "HTTP_AUTHORIZATION": "Bearer tz_secret", "HTTP_USER_AGENT": user_agent,
               "PATH_INFO": "/api/v1/documents", "QUERY_STRING": "x=%41"}
    return response, request, environ, timedelta(microseconds=2500)


def _line(logger_class, tmp_path, name, request, access_log_format=None) -> str:
    config = Config()
    config.set("accesslog", str(tmp_path / name))
    if access_log_format is not None:
        config.set("access_log_format", access_log_format)
    logger = logger_class(config)
    logger.access(*request)
    for handler in logger.access_log.handlers:
        handler.close()
    return (tmp_path / name).read_text()


@pytest.fixture(autouse=True)
def fixed_clock(monkeypatch):
    monkeypatch.setattr(Logger, "now", lambda self: "[23/Nov/2026:10:00:00 +0000]")


@pytest.mark.parametrize("request_args", [
    {}, {"sent": None}, {"sent": 0}, {"user_agent": "-"},
], ids=["bytes sent", "nothing sent", "empty body", "no user agent"])
def test_the_line_is_gunicorns_combined_format_line(tmp_path, request_args):
    request = _request(**request_args)
    ours = _line(AccessLogger, tmp_path, "ours.log", request)
    gunicorns = _line(Logger, tmp_path, "gunicorn.log", request)
    assert ours == gunicorns
    assert ours.startswith('127.0.0.1 - - [23/Nov/2026:10:00:00 +0000] '
                           '"POST /api/v1/documents?x=%41 HTTP/1.1" 201 ')
    assert "tz_secret" not in ours


def test_another_format_is_left_to_gunicorn(tmp_path):
    request = _request()
    ours = _line(AccessLogger, tmp_path, "ours.log", request, "%(m)s %(U)s %(s)s %(L)s")
    assert ours == "POST /api/v1/documents 201 0.002500\n"


TOKEN = "tz_abcdefghijklmnop_" + "S" * 43


@pytest.mark.parametrize("uri", [
    f"/api/v1/documents?access_token={TOKEN}",
    f"/api/v1/documents?limit=5&token={TOKEN}",
    f"/api/v1/documents/{TOKEN}",
    "/console/login?csrf=Zm9vYmFyYmF6&token=typed-into-the-wrong-form",
])
def test_credentials_in_the_url_or_referer_are_not_logged(tmp_path, uri):
    response, request, environ, took = _request()
    environ = {**environ, "RAW_URI": uri, "HTTP_REFERER": f"http://zone.example{uri}"}
    line = _line(AccessLogger, tmp_path, "ours.log", (response, request, environ, took))
    for secret in ("S" * 43, "Zm9vYmFyYmF6", "typed-into-the-wrong-form"):
        assert secret not in line
    assert line.count("[redacted]") >= 2  # in the request line and in the Referer
    if uri.endswith(TOKEN):
        assert "tz_abcdefghijklmnop_[redacted]" in line  # the id says which token leaked


def test_an_ordinary_query_is_logged_as_sent(tmp_path):
    response, request, environ, took = _request()
    environ = {**environ, "RAW_URI": "/api/v1/ledger/entries?limit=5&after=10&type=org.created"}
    line = _line(AccessLogger, tmp_path, "ours.log", (response, request, environ, took))
    assert '"POST /api/v1/ledger/entries?limit=5&after=10&type=org.created HTTP/1.1"' in line
