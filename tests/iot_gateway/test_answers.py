"""The answers' in-flight window (iot_gateway/answers.py): its counting on
its own, and the gateway answering a burst through a small window and
through a stock Mosquitto's Receive Maximum of 20."""

from __future__ import annotations

import threading

import pytest

from iot_gateway.answers import AnswerWindow
from tests.services.mosquitto import MosquittoBroker

from .helpers import DeviceSide, wait_until


def test_a_full_window_makes_the_next_answer_wait_for_a_puback():
    window = AnswerWindow(2)
    assert window.acquire(0.01) and window.acquire(0.01)
    assert not window.acquire(0.01)
    assert window.in_flight == 2

    got_place = threading.Event()
    waiter = threading.Thread(target=lambda: window.acquire(5) and got_place.set())
    waiter.start()
    assert not got_place.wait(0.1)
    window.release()
    waiter.join(5)
    assert got_place.is_set() and window.in_flight == 2


def test_the_broker_lowers_the_window_but_never_raises_it_past_the_configured_size():
    window = AnswerWindow(1000)
    assert window.fit_broker(20) == 20
    assert window.fit_broker(65535) == 1000
    assert window.fit_broker(0) == 1  # a window of nothing would stop every answer


def test_wait_empty_returns_once_every_answer_is_acknowledged():
    window = AnswerWindow(3)
    window.acquire(0.01)
    assert not window.wait_empty(0.01)
    threading.Timer(0.05, window.release).start()
    assert window.wait_empty(5) and window.in_flight == 0


def test_a_release_without_an_answer_in_flight_changes_nothing():
    window = AnswerWindow(1)
    window.release()
    assert window.in_flight == 0
    assert window.acquire(0.01) and not window.acquire(0.01)


@pytest.mark.parametrize("window", [1, 5])
def test_a_burst_is_answered_whole_through_a_small_window(start_gateway, gateway_options,
                                                          devices, register, window):
    device = register()
    gateway = start_gateway(gateway_options, answers_in_flight=window)
    for seq in range(1, 61):
        devices.publish(device.device_id, device.sign(device.event(seq)))
    answers = devices.answers.wait_for(device.device_id, 60)
    assert sorted(a["seq"] for a in answers) == list(range(1, 61))
    assert {a["status"] for a in answers} == {"notarized"}
    assert wait_until(lambda: gateway.link.answers.in_flight == 0)


@pytest.fixture
def stock_broker():
    """A Mosquitto with its defaults: it grants a client's QoS 1 publishes a
    Receive Maximum of 20 (deploy/mosquitto raises it to 1000)."""
    with MosquittoBroker() as running:
        yield running


def test_the_window_fits_a_stock_mosquittos_receive_maximum(stock_broker, start_gateway,
                                                            gateway_options, register):
    device = register()
    gateway = start_gateway(gateway_options, on_broker=stock_broker, answers_in_flight=1000)
    assert gateway.link.answers.limit == 20
    side = DeviceSide(stock_broker.host, stock_broker.port)
    try:
        for seq in range(1, 101):
            side.publish(device.device_id, device.sign(device.event(seq)))
        answers = side.answers.wait_for(device.device_id, 100)
        assert sorted(a["seq"] for a in answers) == list(range(1, 101))
    finally:
        side.close()
