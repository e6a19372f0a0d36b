"""The gateway's MQTT connection (paho-mqtt 2, MQTT 5).

- A FIXED client id, ``clean_start=False`` and a long Session Expiry Interval:
  the broker keeps the subscription and queues QoS 1 events while the gateway
  is down. paho's default for MQTT 5, ``MQTT_CLEAN_START_FIRST_ONLY``, starts
  the first connection of every process clean, which would make the broker
  DISCARD that backlog on every gateway restart; hence ``clean_start=False``.
- ``manual_ack=True``: paho does not PUBACK on its own; the gateway
  acknowledges a message only once its outcome is committed (see inbox.py
  for the order).
- Answers go out at QoS 1 through an :class:`~iot_gateway.answers.AnswerWindow`
  fitted to the broker's Receive Maximum, not through paho's own in-flight
  bound (answers.py says why).
- Callbacks only enqueue frozen dataclasses, and every one is wrapped so that
  an exception is logged and never kills paho's network loop.
"""

from __future__ import annotations

import functools
import itertools
import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from .answers import AnswerWindow
from .config import GatewayOptions
from .logs import log_event
from .messages import Received
from .metrics import GatewayMetrics

log = logging.getLogger("iot_gateway.mqtt")

# A connection the broker closes this soon after accepting it, this many times
# in a row, is most likely being taken over by another client with the same
# client id, each taking the session from the other: Mosquitto 2.0 closes the
# older connection without a DISCONNECT saying why.
SHORT_LIVED_S = 5.0
TAKEOVER_SUSPECTED_AFTER = 3


def never_raises(handler: Callable) -> Callable:
    """Wrap a paho callback: log its exception instead of ending the network loop."""

    @functools.wraps(handler)
    def safe(*args, **kwargs):
        try:
            return handler(*args, **kwargs)
        except Exception:
            log_event(log, logging.ERROR, "callback_failed", exc_info=True,
                      callback=handler.__name__)
        return None

    return safe


class MqttLink:
    """Connects, subscribes, hands messages to ``deliver``, acks and answers."""

    def __init__(self, host: str, port: int, username: str | None, password: str | None,
                 options: GatewayOptions, deliver: Callable[[Received], None],
                 metrics: GatewayMetrics) -> None:
        self.host, self.port = host, port
        self.options = options
        self.deliver = deliver
        self.metrics = metrics
        self._arrivals = itertools.count()
        self._generation = 0
        self._connected = False
        self._state = threading.Lock()  # generation and connected, against acks
        self._connected_at: float | None = None  # paho's network thread only
        self._short_lived = 0  # connections in a row closed within SHORT_LIVED_S
        self.subscribed = threading.Event()
        self.answers = AnswerWindow(options.answers_in_flight)
        self.client = self._make_client(username, password)

    def _make_client(self, username: str | None, password: str | None) -> mqtt.Client:
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=self.options.client_id,
                             protocol=mqtt.MQTTv5, manual_ack=True)
        if username is not None:
            client.username_pw_set(username, password)
        client.max_inflight_messages_set(0)  # unbounded: self.answers bounds the answers
        client.reconnect_delay_set(self.options.reconnect_min_s, self.options.reconnect_max_s)
        client.on_connect = never_raises(self._on_connect)
        client.on_connect_fail = never_raises(self._on_connect_fail)
        client.on_disconnect = never_raises(self._on_disconnect)
        client.on_subscribe = never_raises(self._on_subscribe)
        client.on_message = never_raises(self._on_message)
        client.on_publish = never_raises(self._on_publish)
        return client

    # -- lifecycle -----------------------------------------------------------

    def start(self) -> None:
        """Connect in the background (retrying with backoff) and run paho's loop thread."""
        properties = Properties(PacketTypes.CONNECT)
        properties.SessionExpiryInterval = self.options.session_expiry_s
        properties.ReceiveMaximum = self.options.receive_maximum
        self.client.connect_async(self.host, self.port, keepalive=self.options.keepalive_s,
                                  clean_start=False, properties=properties)
        self.client.loop_start()

    def stop(self, drain_timeout_s: float = 2.0) -> None:
        """Wait briefly for the answers in flight to be PUBACKed, then disconnect
        (the session stays)."""
        if self._connected:
            self.answers.wait_empty(drain_timeout_s)  # answers are best effort
        self.client.disconnect()
        self.client.loop_stop()

    # -- the worker side -----------------------------------------------------

    def ack_in_order(self, messages: list[Received]) -> list[Received]:
        """PUBACK each of ``messages``, in this order, whose connection is still
        up (one lock for the batch); returns those acknowledged.

        A packet id means something only on its own connection; after a
        reconnect the broker redelivers the message (DUP) and the gateway
        answers that copy as a duplicate instead.
        """
        acknowledged = []
        with self._state:
            for message in messages:
                if not self._connected or message.generation != self._generation:
                    self.metrics.acks_skipped.inc()
                    continue
                self.client.ack(message.mid, message.qos)
                acknowledged.append(message)
        return acknowledged

    def publish(self, topic: str, payload: bytes, give_up: threading.Event) -> bool:
        """Publish an answer at QoS 1 once the answer window has a place; paho
        keeps it while disconnected and sends it again on reconnect. False (not
        published) if ``give_up`` is set while no place comes."""
        while not self.answers.acquire(timeout_s=0.5):
            if give_up.is_set():
                return False
        info = self.client.publish(topic, payload, qos=1)
        if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
            self.answers.release()  # refused by paho: no PUBACK will come for it
        return True

    # -- paho callbacks (network thread) ---------------------------------------

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            log_event(log, logging.ERROR, "connect_refused", reason=str(reason_code))
            return
        self._fit_answer_window(properties)
        with self._state:
            self._generation += 1
            self._connected = True
        self._connected_at = time.monotonic()
        self.metrics.connected.set(1)
        log_event(log, logging.INFO, "connected", host=self.host, port=self.port,
                  client_id=self.options.client_id, session_present=flags.session_present)
        # paho 2 never resubscribes by itself. With clean_start=False a present
        # session already holds the subscription, but subscribing again is
        # harmless (it replaces it) and covers a session the broker lost.
        # retainHandling=2: no retained messages on (re)subscribe.
        client.subscribe(self.options.subscription,
                         options=SubscribeOptions(qos=1, retainHandling=2))

    def _fit_answer_window(self, properties) -> None:
        """More unacknowledged answers than the broker's Receive Maximum is a
        protocol error (MQTT 5 section 3.3.4) for which the broker may
        disconnect us: the window shrinks to it (and grows back, up to the
        configured size, on a broker that allows more)."""
        allowed = getattr(properties, "ReceiveMaximum", 65535)
        limit = self.answers.fit_broker(allowed)
        if limit < self.options.answers_in_flight:
            log_event(log, logging.INFO, "answers_in_flight_lowered_to_broker_limit",
                      configured=self.options.answers_in_flight, broker_allows=allowed)

    def _on_connect_fail(self, client, userdata) -> None:
        log_event(log, logging.WARNING, "connect_failed", host=self.host, port=self.port)

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        with self._state:
            self._connected = False
        self.subscribed.clear()
        self.metrics.connected.set(0)
        log_event(log, logging.WARNING if reason_code.is_failure else logging.INFO,
                  "disconnected", reason=str(reason_code),
                  by_server=flags.is_disconnect_packet_from_server)
        self._watch_for_takeover(reason_code.is_failure)

    def _watch_for_takeover(self, lost: bool) -> None:
        """Say so, once a streak, when connections keep being closed right
        after they open: two gateways with one client id would otherwise go
        on taking the session from each other, each answering a second's worth
        of events at a time, with nothing in the logs but reconnects."""
        lived = None if self._connected_at is None else time.monotonic() - self._connected_at
        self._connected_at = None
        if lost and lived is not None and lived < SHORT_LIVED_S:
            self._short_lived += 1
        else:
            self._short_lived = 0
        if self._short_lived == TAKEOVER_SUSPECTED_AFTER:
            log_event(log, logging.ERROR, "connection_keeps_closing",
                      client_id=self.options.client_id, times=self._short_lived,
                      within_s=SHORT_LIVED_S,
                      hint="another client is probably connected with the same client id "
                           "(a second gateway with the same TZ_GATEWAY_CLIENT_ID?): the broker "
                           "gives the session to the newest connection; stop one of them")

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:
        failed = [str(code) for code in reason_codes if code.is_failure]
        if failed:
            log_event(log, logging.ERROR, "subscribe_refused",
                      topic=self.options.subscription, reasons=failed)
            return
        self.subscribed.set()
        log_event(log, logging.INFO, "subscribed", topic=self.options.subscription)

    def _on_publish(self, client, userdata, mid, reason_code, properties) -> None:
        # Every publish of this client is an answer at QoS 1: this is its PUBACK.
        self.answers.release()

    def _on_message(self, client, userdata, message: mqtt.MQTTMessage) -> None:
        try:
            topic = message.topic
        except UnicodeDecodeError:  # brokers refuse these, but never trust that
            topic = message._topic.decode("utf-8", "replace")
        self.deliver(Received(
            arrival=next(self._arrivals), topic=topic, payload=bytes(message.payload),
            mid=message.mid, qos=message.qos, dup=bool(message.dup),
            generation=self._generation, received_at=datetime.now(timezone.utc),
            received_mono=time.monotonic()))
