"""Fixtures for the gateway: one real Mosquitto for the module's tests, a
gateway running in this process against the test database, and the device
side that publishes events and reads answers."""

from __future__ import annotations

import dataclasses
import uuid

import pytest

from app.identity.models import Role
from iot_gateway.config import GatewayOptions
from iot_gateway.service import Gateway
from tests.services.mosquitto import MosquittoBroker
from .helpers import DeviceSide, GatewayBroker, forget_session, register_device


@pytest.fixture(scope="session")
def broker():
    with GatewayBroker() as running:
        yield running


@pytest.fixture
def customs(make_org):
    return make_org(Role.CUSTOMS, "Zone Customs")


@pytest.fixture
def register(platform, customs):
    """register(alg="EdDSA", device_id=None, revoked=False) -> SimDevice"""

    def make(alg: str = "EdDSA", device_id: str | None = None, revoked: bool = False):
        return register_device(platform, customs.org_id, alg, device_id, revoked)

    return make


@pytest.fixture
def gateway_options() -> GatewayOptions:
    return GatewayOptions(client_id=f"gw-test-{uuid.uuid4().hex[:8]}", metrics_port=0,
                          batch_size=64, batch_ms=5, verify_workers=0,
                          reconnect_min_s=1, reconnect_max_s=2)


@pytest.fixture
def start_gateway(platform, config, broker):
    """start_gateway(options, on_broker=None, **option_overrides) -> a running
    Gateway (on the module's broker unless ``on_broker`` names another), stopped
    at teardown (its broker session is dropped too, so it queues nothing for
    later tests)."""
    started: list[tuple[Gateway, MosquittoBroker]] = []

    def start(options: GatewayOptions, on_broker: MosquittoBroker | None = None,
              **overrides) -> Gateway:
        options = dataclasses.replace(options, **overrides)
        target = on_broker or broker
        gateway_config = dataclasses.replace(config, mqtt_host=target.host,
                                             mqtt_port=target.port)
        gateway = Gateway(platform, gateway_config, options)
        started.append((gateway, target))
        gateway.start()
        assert gateway.link.subscribed.wait(15), "the gateway did not subscribe"
        return gateway

    yield start
    for gateway, target in started:
        gateway.stop()
        forget_session(target.host, target.port, gateway.options.client_id)


@pytest.fixture
def gateway(start_gateway, gateway_options) -> Gateway:
    return start_gateway(gateway_options)


@pytest.fixture
def devices(broker):
    side = DeviceSide(broker.host, broker.port)
    yield side
    side.close()
    forget_session(broker.host, broker.port, side.client_id)
