"""Prometheus metrics of the HTTP API: requests by method, route template
and status, their latency, and the ledger's size and the age of its newest
checkpoint (read at each scrape; ``tz_ledger_up`` says whether that read
worked). Two ways to scrape them:

- ``tradezone serve --metrics-port P`` (``TZ_API_METRICS_PORT``): gunicorn's
  master process serves them on 127.0.0.1:P (``--metrics-host`` for another
  address) without a token, as the gateway serves its own; what a Prometheus
  server should scrape, since no role of the contract is "monitoring only"
  and any token it held would also read or administer the zone's data;
- ``GET /metrics`` on the API with an admin's token, for a look by hand.

gunicorn serves with several worker processes, each counting its own
requests; prometheus-client's multiprocess mode adds them up. It is chosen
when prometheus-client is first imported, from ``PROMETHEUS_MULTIPROC_DIR``:
``tradezone serve`` sets that to a fresh directory before anything imports
this module (never imported at ``import app``). Serving with
``gunicorn wsgi:app`` by hand, set it yourself to an empty directory, or
each scrape sees one worker's counts.

A route is its template (``/api/v1/documents/<document_id>``), never the
path a client sent, so the series stay few; a request no route matched is
``unmatched``. The latency of a streamed answer (an audit bundle) ends when
its first bytes are ready.
"""

from __future__ import annotations

import logging
import os
import time
from datetime import timezone

from flask import Flask, Response, request
from flask_smorest import Blueprint
from prometheus_client import (
    CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest,
    start_http_server,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

import ledger
from ledger.sqlstore import SqlLog

from .db_errors import DATABASE_ERRORS, describe
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

logger = logging.getLogger(__name__)
_UP_HELP = "1 when this scrape could read the ledger's size and newest checkpoint, else 0"
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
    """Count ``response``; a failure to count is logged, never the request's
    failure (the metrics files live in a directory others can remove)."""
    try:
        _count(response)
    except Exception:
        _log_count_failure()
    return response


def _count(response: Response) -> None:
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


_failures_logged = False


def _log_count_failure() -> None:
    """The first failure with its traceback, once per worker: the next ones are
    the same, one per request."""
    global _failures_logged
    if not _failures_logged:
        _failures_logged = True
        logger.exception("a request could not be counted; metrics are incomplete from now on")


class LedgerCollector:
    """The ledger's size and its newest checkpoint, read when scraped.

    ``keep_connections=False`` closes the database connection after each
    scrape: in gunicorn's master, which forks workers at any time and must
    not hand them an open connection."""

    def __init__(self, platform: Platform, keep_connections: bool = True) -> None:
        self.platform = platform
        self.keep_connections = keep_connections

    def collect(self):
        try:
            with self.platform.db.autocommit() as connection:
                log = SqlLog(connection)
                size, latest = log.size, log.latest_checkpoint()
        except (*DATABASE_ERRORS, ledger.IntegrityError) as error:
            # The request counts are still worth a scrape; a traceback in the
            # exporter's thread at every scrape is not. An alert keys on this.
            what = describe(error) if isinstance(error, DATABASE_ERRORS) else str(error)
            logger.warning("the ledger could not be read for metrics: %s", what)
            yield GaugeMetricFamily("tz_ledger_up", _UP_HELP, value=0)
            return
        finally:
            if not self.keep_connections:
                self.platform.db.dispose()
        yield GaugeMetricFamily("tz_ledger_up", _UP_HELP, value=1)
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
              description="Prometheus text format (an admin's token)")
def metrics():
    """The API's metrics in Prometheus' text format, for a look by hand; a
    Prometheus server scrapes ``tradezone serve --metrics-port`` instead, which
    needs no token."""
    if os.environ.get(MULTIPROCESS_DIR):
        requests = CollectorRegistry()
        MultiProcessCollector(requests)  # every worker's counts, added up
    else:
        requests = REGISTRY  # this process's own
    ledger = CollectorRegistry()
    ledger.register(LedgerCollector(current_platform()))
    return Response(generate_latest(requests) + generate_latest(ledger),
                    content_type=CONTENT_TYPE_LATEST)


def serve_exporter(platform: Platform, host: str, port: int):
    """Serve every worker's request metrics and the ledger's gauges on
    host:port, without a token, from a thread of this process (gunicorn's
    master); returns the server (``.shutdown()``). An address that cannot be
    bound is an ``OSError``."""
    registry = CollectorRegistry()
    MultiProcessCollector(registry)
    registry.register(LedgerCollector(platform, keep_connections=False))
    server, _thread = start_http_server(port, addr=host, registry=registry)
    return server
