"""Prometheus metrics of the HTTP API, at ``GET /metrics`` (an admin's token):
requests by method, route template and status, their latency, and the
ledger's size and the age of its newest checkpoint (read at each scrape).

gunicorn serves with several worker processes, each counting its own
requests; prometheus-client's multiprocess mode adds them up. It is chosen
when prometheus-client is first imported, from ``PROMETHEUS_MULTIPROC_DIR``:
``tradezone serve`` sets that to a fresh directory before its workers start,
and this module is imported only when a worker builds its app (never at
``import app``). Serving with ``gunicorn wsgi:app`` by hand, set it yourself
to an empty directory, or each scrape sees one worker's counts.

A route is its template (``/api/v1/documents/<document_id>``), never the
path a client sent, so the series stay few; a request no route matched is
``unmatched``. The latency of a streamed answer (an audit bundle) ends when
its first bytes are ready.
"""

from __future__ import annotations

import os
import time
from datetime import timezone

from flask import Flask, Response, request
from flask_smorest import Blueprint
from prometheus_client import (
    CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

from ledger.sqlstore import SqlLog

from .identity.auth import protected
from .identity.models import Role
from .platform import Platform, current_platform
from .serve import MULTIPROCESS_DIR


REQUESTS = Counter("tz_api_requests", "HTTP requests answered, by method, route and status",
                   ["method", "route", "status"])
LATENCY = Histogram("tz_api_request_seconds", "Time to answer an HTTP request",
                    ["method", "route"],
                    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
                             10))

blp = Blueprint("metrics", __name__, description="The API's Prometheus metrics (operators).")


def install(app: Flask) -> None:
    """Count and time every request ``app`` answers."""
    app.before_request(_start_timer)
    app.after_request(_observe)


def _start_timer() -> None:
    request.environ[_STARTED] = time.perf_counter()


_STARTED = "tradezone.request_started"
# The labelled series, by (method, route, status): labels() takes a lock and
# builds its key on every call, and this runs on every request.
_series: dict[tuple[str, str, int], tuple] = {}


def _observe(response: Response) -> Response:
    rule = request.url_rule
    key = (request.method, rule.rule if rule is not None else "unmatched", response.status_code)
    series = _series.get(key)
    if series is None:
        series = _series[key] = (REQUESTS.labels(key[0], key[1], str(key[2])),
                                 LATENCY.labels(key[0], key[1]))
    series[0].inc()
    started = request.environ.get(_STARTED)
    if started is not None:
        series[1].observe(time.perf_counter() - started)
    return response


class LedgerCollector:
    """The ledger's size and its newest checkpoint, read when scraped."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform

    def collect(self):
        with self.platform.db.autocommit() as connection:
            log = SqlLog(connection)
            size, latest = log.size, log.latest_checkpoint()
        yield GaugeMetricFamily("tz_ledger_entries", "Entries in the ledger", value=size)
        if latest is not None:
            yield GaugeMetricFamily("tz_ledger_checkpoint_size",
                                    "Tree size of the newest signed checkpoint",
                                    value=latest.size)
            signed_at = latest.signed_at
            if signed_at.tzinfo is None:  # SQLite hands back naive UTC times
                signed_at = signed_at.replace(tzinfo=timezone.utc)
            age = self.platform.now() - signed_at
            yield GaugeMetricFamily("tz_ledger_checkpoint_age_seconds",
                                    "Seconds since the newest checkpoint was signed",
                                    value=age.total_seconds())


@blp.route("/metrics")
@protected(blp, Role.ADMIN)
@blp.response(200, content_type=CONTENT_TYPE_LATEST,
              description="Prometheus text format; scrape with an admin token")
def metrics():
    """The API's metrics in Prometheus' text format."""
    if os.environ.get(MULTIPROCESS_DIR):
        requests = CollectorRegistry()
        MultiProcessCollector(requests)  # every worker's counts, added up
    else:
        requests = REGISTRY  # this process's own
    ledger = CollectorRegistry()
    ledger.register(LedgerCollector(current_platform()))
    return Response(generate_latest(requests) + generate_latest(ledger),
                    content_type=CONTENT_TYPE_LATEST)
