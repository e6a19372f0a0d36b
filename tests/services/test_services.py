"""The throwaway PostgreSQL and Mosquitto really start, serve and stop."""
from __future__ import annotations

import queue
import threading
import uuid

import paho.mqtt.client as mqtt
import psycopg
import pytest
import sqlalchemy
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from .mosquitto import MosquittoBroker, make_password_file
from .ports import port_is_open
from . import postgres
from .postgres import PostgresCluster, PostgresError

TIMEOUT = 10.0


# -- PostgreSQL ---------------------------------------------------------------

def test_postgres_starts_serves_and_stops():
    cluster = PostgresCluster()
    with cluster:
        port, base_dir = cluster.port, cluster.base_dir
        assert base_dir.is_dir()

        with psycopg.connect(cluster.conninfo()) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
            assert conn.execute("SHOW fsync").fetchone() == ("off",)

        cluster.create_database("tz_source")
        cluster.create_database("tz_copy", template="tz_source")
        engine = sqlalchemy.create_engine(cluster.url("tz_copy"))
        try:
            with engine.connect() as conn:
                current = conn.execute(sqlalchemy.text("SELECT current_database()")).scalar()
                assert current == "tz_copy"
        finally:
            engine.dispose()

        cluster.drop_database("tz_copy")
        cluster.drop_database("tz_source")
        with psycopg.connect(cluster.conninfo()) as conn:
            names = {row[0] for row in conn.execute("SELECT datname FROM pg_database")}
        assert not names & {"tz_source", "tz_copy"}

    assert not port_is_open(port)
    assert not base_dir.exists()
    cluster.stop()  # idempotent


def test_postgres_missing_binaries_names_the_package(tmp_path, monkeypatch):
    monkeypatch.setattr(postgres, "PG_ROOT", tmp_path)
    with pytest.raises(PostgresError, match="Debian package 'postgresql'"):
        PostgresCluster().start()


# -- Mosquitto ----------------------------------------------------------------

class Client:
    """A paho-mqtt 2 / MQTT 5 client whose connect/subscribe/publish wait for the ack."""

    def __init__(self, broker: MosquittoBroker, client_id: str = "", **auth):
        self.messages: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
        self.session_present: bool | None = None
        self._connack = threading.Event()
        self._suback = threading.Event()
        self.reason_code = None
        self.broker = broker
        self.mqtt = mqtt.Client(callback_api_version=mqtt.CallbackAPIVersion.VERSION2,
                                client_id=client_id, protocol=mqtt.MQTTv5)
        if auth:
            self.mqtt.username_pw_set(auth["username"], auth["password"])
        self.mqtt.on_connect = self._on_connect
        self.mqtt.on_subscribe = lambda *args: self._suback.set()
        self.mqtt.on_message = lambda client, userdata, msg: self.messages.put(msg)

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        self.session_present = flags.session_present
        self.reason_code = reason_code
        self._connack.set()

    def connect(self, clean_start: bool = True, session_expiry: int = 0) -> "Client":
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = session_expiry
        self.mqtt.connect(self.broker.host, self.broker.port, clean_start=clean_start,
                          properties=props)
        self.mqtt.loop_start()
        assert self._connack.wait(TIMEOUT), "no CONNACK"
        return self

    def subscribe(self, topic: str) -> None:
        self._suback.clear()
        self.mqtt.subscribe(topic, qos=1)
        assert self._suback.wait(TIMEOUT), "no SUBACK"

    def publish(self, topic: str, payload: bytes) -> None:
        info = self.mqtt.publish(topic, payload, qos=1)
        info.wait_for_publish(TIMEOUT)
        assert info.is_published(), "no PUBACK"

    def close(self) -> None:
        self.mqtt.disconnect()
        self.mqtt.loop_stop()


@pytest.fixture
def broker():
    with MosquittoBroker() as b:
        yield b


def test_mosquitto_qos1_publish_subscribe(broker):
    sub = Client(broker).connect()
    pub = Client(broker).connect()
    try:
        sub.subscribe("tz/test")
        pub.publish("tz/test", b"hello")
        msg = sub.messages.get(timeout=TIMEOUT)
        assert (msg.topic, msg.payload, msg.qos) == ("tz/test", b"hello", 1)
    finally:
        pub.close()
        sub.close()


def test_mosquitto_persistent_session_survives_restart(broker):
    client_id = f"tz-sub-{uuid.uuid4().hex[:8]}"
    sub = Client(broker, client_id).connect(clean_start=False, session_expiry=300)
    sub.subscribe("tz/queued")
    sub.close()

    pub = Client(broker).connect()
    pub.publish("tz/queued", b"while-offline")
    pub.close()

    port = broker.port
    broker.restart()
    assert broker.port == port

    sub = Client(broker, client_id).connect(clean_start=False, session_expiry=300)
    try:
        assert sub.session_present is True
        msg = sub.messages.get(timeout=TIMEOUT)
        assert (msg.topic, msg.payload) == ("tz/queued", b"while-offline")
    finally:
        sub.close()


def test_mosquitto_password_file(tmp_path):
    pwfile = make_password_file(tmp_path / "passwd", {"device-1": "s3cret"})
    assert pwfile.stat().st_mode & 0o777 == 0o600
    with MosquittoBroker(allow_anonymous=False, password_file=pwfile) as broker:
        anon = Client(broker).connect()
        assert anon.reason_code.is_failure
        anon.close()
        ok = Client(broker, username="device-1", password="s3cret").connect()
        assert not ok.reason_code.is_failure
        ok.close()


def test_mosquitto_stop_closes_port_and_removes_dir():
    broker = MosquittoBroker().start()
    port, base_dir = broker.port, broker.base_dir
    assert port_is_open(port)
    broker.kill()
    assert not port_is_open(port)
    broker.start()  # back on the same port after a crash
    assert broker.port == port and port_is_open(port)
    broker.stop()
    assert not port_is_open(port)
    assert not base_dir.exists()
    broker.stop()  # idempotent
