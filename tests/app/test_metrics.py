"""The API's Prometheus metrics: requests by route template and status, the
ledger's gauges, admins only; and under ``tradezone serve`` the workers'
counts added up (prometheus-client's multiprocess mode)."""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
from prometheus_client.parser import text_string_to_metric_families

from app.identity.models import Role
from tests.services.tradezone_server import serving, tradezone


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


@pytest.mark.parametrize("role", [Role.FIRM, Role.CUSTOMS, Role.REGULATOR])
def test_only_an_admin_scrapes(client, make_org, role):
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers=make_org(role).headers).status_code == 403


def test_under_tradezone_serve_the_workers_counts_add_up(tmp_path):
    temp = tmp_path / "tmp"
    temp.mkdir()
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path),
           "TMPDIR": str(temp), "TZ_VAR_DIR": str(tmp_path / "var")}
    tradezone(env, "db", "upgrade")
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
        request = urllib.request.Request(f"{base}/metrics",
                                         headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(request, timeout=30) as answer:
            text = answer.read().decode()
        assert sample(text, "tz_api_requests_total", method="GET", route="/api/v1/ledger/key",
                      status="200") == sent
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"{base}/metrics", timeout=30)
        assert refused.value.code == 401
    assert list(temp.iterdir()) == []  # stopped: the workers' metrics files are removed
