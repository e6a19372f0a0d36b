"""The API's Prometheus metrics: requests by route template and status, the
ledger's gauges, admins only; and under ``tradezone serve`` the workers'
counts added up (prometheus-client's multiprocess mode)."""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from app import metrics
from app.identity.models import Role
from tests.services.ports import free_port, port_is_open
from tests.services.tradezone_server import BIN, serving, tradezone


def sample(text: str, name: str, **labels: str) -> float | None:
    """The value of one series in Prometheus' text format, None if absent."""
    for family in text_string_to_metric_families(text):
        for found in family.samples:
            if found.name == name and found.labels == labels:
                return found.value
    return None


@pytest.fixture
def admin(make_org):
    return make_org(Role.ADMIN, "Zone Operator")


def scrape(client, admin) -> str:
    response = client.get("/metrics", headers=admin.headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.content_type.startswith("text/plain")
    return response.get_data(as_text=True)


def test_requests_are_counted_by_route_template_and_status(client, admin, make_org):
    firm = make_org(Role.FIRM)
    route = "/api/v1/documents/<document_id>"
    labels = {"method": "GET", "route": route, "status": "404"}
    before = sample(scrape(client, admin), "tz_api_requests_total", **labels) or 0
    for n in range(3):
        client.get(f"/api/v1/documents/doc_{'a' * 15}{n}", headers=firm.headers)
    client.get("/no/such/path")
    text = scrape(client, admin)
    assert sample(text, "tz_api_requests_total", **labels) == before + 3
    assert "doc_aaaa" not in text  # the template, never the path a client sent
    assert sample(text, "tz_api_requests_total", method="GET", route="unmatched",
                  status="404") >= 1
    assert sample(text, "tz_api_request_seconds_count", method="GET", route=route) >= 3


def test_the_ledger_gauges_follow_the_log(client, admin, platform, clock):
    text = scrape(client, admin)
    size = sample(text, "tz_ledger_entries")
    assert size >= 2 and sample(text, "tz_ledger_checkpoint_size") == size  # the admin's org
    clock.advance(seconds=90)
    assert sample(scrape(client, admin), "tz_ledger_checkpoint_age_seconds") == 90.0
    assert sample(text, "tz_ledger_up") == 1


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # PostgreSQL keeps types
def test_a_ledger_that_cannot_be_read_is_a_gauge_and_a_line_not_a_failed_scrape(
        client, admin, platform, caplog):
    from sqlalchemy import text as sql
    before = sample(scrape(client, admin), "tz_api_requests_total", method="GET",
                    route="/metrics", status="200") or 0
    with platform.db.write() as session:  # an edit by hand: no time where one belongs
        session.execute(sql("UPDATE ledger_checkpoints SET signed_at = 'soon'"))
    with caplog.at_level(logging.WARNING, logger="app.metrics"):
        text = scrape(client, admin)
    assert sample(text, "tz_ledger_up") == 0
    assert sample(text, "tz_ledger_entries") is None
    assert sample(text, "tz_api_requests_total", method="GET", route="/metrics",
                  status="200") == before + 1  # the request counts are still there
    (record,) = [r for r in caplog.records if r.name == "app.metrics"]
    assert record.getMessage().startswith("the ledger could not be read for metrics: "
                                          "the signing time of checkpoint ")
    assert "Traceback" not in caplog.text


@pytest.mark.parametrize("role", [Role.FIRM, Role.CUSTOMS, Role.REGULATOR])
def test_only_an_admin_scrapes(client, make_org, role):
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers=make_org(role).headers).status_code == 403


def serve_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """A migrated database under ``tmp_path``; temporary files in ``tmp_path/tmp``."""
    temp = tmp_path / "tmp"
    temp.mkdir()
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path),
           "TMPDIR": str(temp), "TZ_VAR_DIR": str(tmp_path / "var"), **extra}
    tradezone(env, "db", "upgrade")
    return env


def get(url: str, token: str | None = None) -> str:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers),
                                timeout=30) as answer:
        return answer.read().decode()


def test_a_request_is_answered_even_when_it_cannot_be_counted(client, monkeypatch, caplog):
    # The metrics files live in a directory others can remove (a tmp cleaner).
    def broken(_response):
        raise FileNotFoundError("counter_1.db")

    monkeypatch.setattr(metrics, "_count", broken)
    monkeypatch.setattr(metrics, "_failures_logged", False)
    with caplog.at_level(logging.ERROR, logger="app.metrics"):
        for _ in range(3):
            assert client.get("/api/v1/ledger/key").status_code == 200
    assert [record.message for record in caplog.records] == [
        "a request could not be counted; metrics are incomplete from now on"]


def test_under_tradezone_serve_the_workers_counts_add_up(tmp_path):
    metrics_port = free_port()
    env = serve_env(tmp_path, TZ_API_METRICS_PORT=str(metrics_port))
    temp = tmp_path / "tmp"
    token = json.loads(tradezone(env, "org", "create", "Zone Operator", "--role", "admin",
                                 "--json"))["token"]
    with serving(env, tmp_path, workers=2) as base:
        def fetch(_n: int) -> int:
            with urllib.request.urlopen(f"{base}/api/v1/ledger/key", timeout=30) as answer:
                return answer.status

        # Concurrent connections, until both workers have served some (a sync
        # worker serves one at a time; the second may still be starting).
        (metrics_dir,) = temp.glob("tradezone-metrics-*")
        sent, deadline = 0, time.monotonic() + 60
        with ThreadPoolExecutor(8) as pool:
            while len(list(metrics_dir.glob("counter_*.db"))) < 2:
                assert time.monotonic() < deadline, "one worker served everything"
                assert list(pool.map(fetch, range(40))) == [200] * 40
                sent += 40
        key_route = {"method": "GET", "route": "/api/v1/ledger/key", "status": "200"}
        text = get(f"{base}/metrics", token)
        assert sample(text, "tz_api_requests_total", **key_route) == sent
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"{base}/metrics", timeout=30)
        assert refused.value.code == 401
        # The master's metrics port: the same figures, no token asked.
        scraped = get(f"http://127.0.0.1:{metrics_port}/metrics")
        assert sample(scraped, "tz_api_requests_total", **key_route) == sent
        assert sample(scraped, "tz_ledger_entries") == sample(text, "tz_ledger_entries") == 2
    assert list(temp.iterdir()) == []  # stopped: the workers' metrics files are removed
    assert not port_is_open(metrics_port)


def test_a_reload_by_sighup_keeps_serving_and_counting(tmp_path):
    # gunicorn's workers unwind the stack they were forked with when they
    # exit; one that removed the shared metrics directory on its way out
    # made every later request a 500.
    env = serve_env(tmp_path)
    temp = tmp_path / "tmp"
    with serving(env, tmp_path, workers=2) as base:
        (metrics_dir,) = temp.glob("tradezone-metrics-*")
        assert get(f"{base}/api/v1/ledger/key")
        master = int(re.search(r"Listening at: \S+ \((\d+)\)",
                               (tmp_path / "server.log").read_text()).group(1))
        os.kill(master, signal.SIGHUP)
        deadline = time.monotonic() + 30
        while (tmp_path / "server.log").read_text().count("Booting worker") < 4:
            assert time.monotonic() < deadline, "gunicorn did not reload"
            time.sleep(0.1)
        time.sleep(1)  # the old workers finish and exit
        for _ in range(10):
            assert get(f"{base}/api/v1/ledger/key")  # urlopen raises on a 500
        assert metrics_dir.is_dir()
    assert list(temp.iterdir()) == []


def test_a_metrics_port_that_cannot_be_bound_stops_serve_with_one_line(tmp_path):
    env = serve_env(tmp_path)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [str(BIN / "tradezone"), "serve", "--port", str(free_port()),
             "--metrics-port", str(port)],
            env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert f"cannot serve metrics on 127.0.0.1:{port}" in done.stderr
    assert "Traceback" not in done.stderr and "Booting worker" not in done.stderr
    assert list((tmp_path / "tmp").iterdir()) == []


@pytest.mark.parametrize("value, message", [
    ("70000", "70000 is not in the range 0<=x<=65535"),
    ("abc", "'abc' is not a valid integer range"),
])
def test_a_metrics_port_that_is_no_port_is_refused_before_anything_starts(tmp_path, value,
                                                                          message):
    env = serve_env(tmp_path, TZ_API_METRICS_PORT=value)
    done = subprocess.run([str(BIN / "tradezone"), "serve", "--port", str(free_port())],
                          env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert f"Invalid value for '--metrics-port': {message}" in done.stderr
    assert "Booting worker" not in done.stderr
    assert list((tmp_path / "tmp").iterdir()) == []


def test_a_binary_upgrade_by_usr2_keeps_serving_and_counting(tmp_path):
    # gunicorn's upgrade: USR2 re-executes the master beside the old one, then
    # the old one is stopped. The new master inherits the old one's metrics
    # directory and port; it must not depend on either.
    metrics_port = free_port()
    env = serve_env(tmp_path, TZ_API_METRICS_PORT=str(metrics_port))
    log = tmp_path / "server.log"
    masters = lambda: [int(pid) for pid in  # noqa: E731
                       re.findall(r"Listening at: \S+ \((\d+)\)", log.read_text())]
    with serving(env, tmp_path, workers=1) as base:
        assert get(f"{base}/api/v1/ledger/key")
        (old,) = masters()
        os.kill(old, signal.SIGUSR2)
        deadline = time.monotonic() + 30
        while len(masters()) < 2 or log.read_text().count("Booting worker") < 2:
            assert time.monotonic() < deadline, "gunicorn did not re-execute"
            time.sleep(0.1)
        new = masters()[1]
        try:
            os.kill(old, signal.SIGTERM)
            while _alive(old):
                assert time.monotonic() < deadline + 30, "the old master did not stop"
                time.sleep(0.1)
            for _ in range(5):
                assert get(f"{base}/api/v1/ledger/key")  # urlopen raises on a 500
            while not port_is_open(metrics_port):  # the new master takes the port over
                assert time.monotonic() < deadline + 30, "nobody serves the metrics port"
                time.sleep(0.2)
            scraped = get(f"http://127.0.0.1:{metrics_port}/metrics")
            assert sample(scraped, "tz_api_requests_total", method="GET",
                          route="/api/v1/ledger/key", status="200") == 5
        finally:
            os.kill(new, signal.SIGTERM)
            while _alive(new):
                time.sleep(0.1)
    assert list((tmp_path / "tmp").iterdir()) == []
    assert not port_is_open(metrics_port)


def _alive(pid: int) -> bool:
    """Running: neither gone nor a zombie (the old master is `serving`'s child,
    reaped only when it stops it)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"
