"""The gateway's own options, read from ``TZ_GATEWAY_*`` variables in one place.

The broker address and credentials, the database and the ledger key stay in
:class:`app.config.Config` (contract section 8); everything that only the
gateway needs is here, so the web app's configuration does not grow with it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace

from app.config import ConfigError, decimal

ONE_WEEK = 7 * 24 * 3600


class OptionError(ConfigError):
    """A ``TZ_GATEWAY_*`` variable does not hold a usable value."""


@dataclass(frozen=True)
class GatewayOptions:
    """How one gateway instance connects, batches and verifies."""

    client_id: str = "tradezone-gateway"
    # "$share/<group>/..." subscription; None (the default) subscribes directly.
    # See docs/GATEWAY.md before turning it on: shared subscriptions break the
    # per-device order that the strictly increasing seq rule relies on.
    shared_group: str | None = None
    # How long the broker keeps the session (subscription and queued events)
    # while the gateway is away. A short expiry LOSES the queued events.
    session_expiry_s: int = ONE_WEEK
    # MQTT 5 Receive Maximum: unacknowledged events the broker may send us at
    # once. Mosquitto otherwise sends only max_inflight_messages (20), which
    # would cap every batch at 20 events.
    receive_maximum: int = 2048
    # Answers published and not yet PUBACKed by the broker (answers.py); lowered
    # at connect to the broker's own Receive Maximum (Mosquitto:
    # max_inflight_messages, 1000 in deploy/mosquitto, 20 by default). A window
    # of 20 sends a burst's answers 20 per round trip.
    answers_in_flight: int = 1000
    keepalive_s: int = 30
    reconnect_min_s: int = 1
    reconnect_max_s: int = 30
    metrics_host: str = "127.0.0.1"
    metrics_port: int = 9108  # 0: no metrics endpoint
    # Per-batch costs (the checkpoint's signature, the commit, the statements)
    # spread over more events: 512 took ~10% less CPU per event than 256 in
    # bench/gateway_bench.py; the broker's Receive Maximum (2048) keeps
    # several batches in flight.
    batch_size: int = 512
    batch_ms: int = 20
    max_payload_bytes: int = 16 * 1024
    quarantine_raw_bytes: int = 4096
    verify_workers: int = 2  # 0: verify signatures in the batching thread
    log_level: str = "INFO"

    def __post_init__(self) -> None:
        _check_range(self, "session_expiry_s", 0, 0xFFFFFFFF)
        _check_range(self, "receive_maximum", 1, 65535)
        _check_range(self, "answers_in_flight", 1, 65535)
        _check_range(self, "keepalive_s", 5, 65535)
        _check_range(self, "reconnect_min_s", 1, 3600)
        _check_range(self, "reconnect_max_s", self.reconnect_min_s, 3600)
        _check_range(self, "metrics_port", 0, 65535)
        _check_range(self, "batch_size", 1, 10_000)
        _check_range(self, "batch_ms", 0, 10_000)
        _check_range(self, "max_payload_bytes", 64, 1024 * 1024)
        _check_range(self, "quarantine_raw_bytes", 0, 1024 * 1024)
        _check_range(self, "verify_workers", 0, 64)
        if not self.client_id or len(self.client_id.encode()) > 65535:
            raise OptionError("TZ_GATEWAY_CLIENT_ID must be a non-empty MQTT client id")
        if self.log_level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR"):
            raise OptionError("TZ_GATEWAY_LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR")
        if self.shared_group is not None and not _is_share_name(self.shared_group):
            raise OptionError("TZ_GATEWAY_SHARED_GROUP must be a name without '/', '+' or '#'")

    @property
    def subscription(self) -> str:
        """The topic filter to subscribe to (contract section 5)."""
        topic = "tz/devices/+/events"
        return f"$share/{self.shared_group}/{topic}" if self.shared_group else topic

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "GatewayOptions":
        """Read every ``TZ_GATEWAY_<FIELD>`` that is set; the rest keep their defaults."""
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for option in fields(cls):
            text = env.get(f"TZ_GATEWAY_{option.name.upper()}")
            if text is None or text == "":
                continue
            values[option.name] = _convert(option.name, option.type, text)
        return replace(cls(), **values)


def _convert(name: str, kind: object, text: str) -> object:
    if kind in ("int", int):
        value = decimal(text)
        if value is None:
            raise OptionError(f"TZ_GATEWAY_{name.upper()} must be an integer, not {text!r}")
        return value
    return text


def _check_range(options: GatewayOptions, name: str, low: int, high: int) -> None:
    value = getattr(options, name)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise OptionError(f"TZ_GATEWAY_{name.upper()} must be an integer from {low} to {high}, "
                          f"not {value!r}")


def _is_share_name(name: str) -> bool:
    return bool(name) and not any(char in name for char in "/+#")
