"""Prometheus metrics of one gateway, in their own registry (not the global one,
so tests and several gateways in one process do not collide)."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from .messages import REASONS

_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048)
_LAG_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


@dataclass
class GatewayMetrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.received = Counter("tz_gateway_received", "Event messages received", registry=r)
        self.notarized = Counter("tz_gateway_notarized", "Events notarized", registry=r)
        self.duplicates = Counter("tz_gateway_duplicates",
                                  "Redelivered events answered as duplicate", registry=r)
        self.rejected = Counter("tz_gateway_rejected", "Messages quarantined, by reason",
                                ["reason"], registry=r)
        for reason in REASONS:
            self.rejected.labels(reason)
        self.batch_size = Histogram("tz_gateway_batch_size", "Messages per committed batch",
                                    buckets=_BATCH_BUCKETS, registry=r)
        self.commit_seconds = Histogram("tz_gateway_commit_seconds",
                                        "Write transaction of one batch", registry=r)
        self.lag = Histogram("tz_gateway_ack_lag_seconds",
                             "From receipt to the broker acknowledgement",
                             buckets=_LAG_BUCKETS, registry=r)
        self.queue_depth = Gauge("tz_gateway_queue_depth",
                                 "Received messages not yet acknowledged", registry=r)
        self.batch_failures = Counter("tz_gateway_batch_failures",
                                      "Batch transactions that failed and were retried",
                                      registry=r)
        self.acks_skipped = Counter(
            "tz_gateway_acks_skipped",
            "Acknowledgements not sent because the connection that delivered the "
            "message is gone (the broker redelivers it)", registry=r)
        self.connected = Gauge("tz_gateway_connected", "1 while connected to the broker",
                               registry=r)

    def serve(self, host: str, port: int):
        """Serve ``/metrics`` on host:port; returns the server (``.shutdown()``)."""
        server, _thread = start_http_server(port, addr=host, registry=self.registry)
        return server
