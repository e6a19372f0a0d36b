"""A paho-mqtt 2 / MQTT 5 test client whose calls wait for the broker's answer,
to check what the broker allows (connect, subscribe, publish, deliver)."""

from __future__ import annotations

import queue
import threading

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

TIMEOUT = 10.0
NOT_AUTHORIZED = 0x87


class Probe:
    """One connection; ``connect`` returns the CONNACK reason code, ``publish``
    the PUBACK reason code, ``messages`` collects what the broker delivers."""

    def __init__(self, host: str, port: int, username: str | None = None,
                 password: str | None = None, client_id: str = "") -> None:
        self.host, self.port = host, port
        self.messages: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
        self.disconnects: queue.Queue[ReasonCode] = queue.Queue()
        self._connack = threading.Event()
        self._suback = threading.Event()
        self._pubacks: dict[int, ReasonCode] = {}
        self._puback = threading.Condition()
        self.connack: ReasonCode | None = None
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                                  protocol=mqtt.MQTTv5)
        if username is not None:
            self.client.username_pw_set(username, password)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda *args: self._suback.set()
        self.client.on_message = lambda client, userdata, message: self.messages.put(message)
        self.client.on_publish = self._on_publish
        self.client.on_disconnect = lambda c, u, flags, reason, props: self.disconnects.put(reason)

    def connect(self, clean_start: bool = True, session_expiry: int = 0) -> ReasonCode:
        properties = Properties(PacketTypes.CONNECT)
        properties.SessionExpiryInterval = session_expiry
        self.client.connect(self.host, self.port, clean_start=clean_start, properties=properties)
        self.client.loop_start()
        assert self._connack.wait(TIMEOUT), "no CONNACK"
        if self.connack.is_failure:
            self.close()  # else paho would retry the refused connection for ever
        return self.connack

    def subscribe(self, topic: str) -> None:
        self._suback.clear()
        self.client.subscribe(topic, qos=1)
        assert self._suback.wait(TIMEOUT), "no SUBACK"

    def publish(self, topic: str, payload: bytes) -> ReasonCode:
        info = self.client.publish(topic, payload, qos=1)
        assert info.rc == mqtt.MQTT_ERR_SUCCESS, info.rc
        with self._puback:
            assert self._puback.wait_for(lambda: info.mid in self._pubacks, TIMEOUT), "no PUBACK"
            return self._pubacks.pop(info.mid)

    def received(self, timeout: float = TIMEOUT) -> mqtt.MQTTMessage:
        return self.messages.get(timeout=timeout)

    def nothing_received(self, wait: float = 0.5) -> bool:
        try:
            self.messages.get(timeout=wait)
        except queue.Empty:
            return True
        return False

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        self.connack = reason_code
        self._connack.set()

    def _on_publish(self, client, userdata, mid, reason_code, properties) -> None:
        with self._puback:
            self._pubacks[mid] = reason_code
            self._puback.notify_all()
