"""The gateway's small parts on their own: payload rules, topics, ack order,
batching, options, answers, callbacks that cannot crash the loop."""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from datetime import datetime, timezone

import pytest

from iot_gateway.config import GatewayOptions, OptionError
from iot_gateway.inbox import AckOrder, Inbox
from iot_gateway.messages import Outcome, Received, Status
from iot_gateway.mqtt import never_raises
from iot_gateway.payload import BadPayload, claimed_seq, parse_event_payload
from iot_gateway.store import SeqState
from iot_gateway.topics import device_of_event_topic, topic_label

EVENT = {"device_id": "scanner-1", "seq": 7, "ts": "2026-11-23T09:00:00.123+08:00",
         "type": "customs.scan", "data": {}, "shipment": "SHP-1"}


def payload(**changes) -> bytes:
    event = {**EVENT, **changes}
    return json.dumps({k: v for k, v in event.items() if v is not ...}).encode()


def test_a_full_event_payload_parses():
    event = parse_event_payload(payload())
    assert (event.device_id, event.seq, event.ts, event.type, event.shipment) == (
        "scanner-1", 7, "2026-11-23T09:00:00.123+08:00", "customs.scan", "SHP-1")
    assert parse_event_payload(payload(shipment=...)).shipment is None


@pytest.mark.parametrize("ts", ["2026-11-23T09:00:00Z", "2026-11-23t09:00:00z",
                                "2016-12-31T23:59:60Z", "2026-02-28T00:00:00.123456789-12:30"])
def test_rfc3339_times_are_accepted(ts):
    assert parse_event_payload(payload(ts=ts)).ts == ts


@pytest.mark.parametrize("ts", ["2026-11-23", "2026-11-23 09:00:00Z", "2026-02-30T00:00:00Z",
                                "2026-11-23T24:00:00Z", "2026-11-23T09:00:00", "2026-11-23T09:00Z",
                                "2026-11-23T09:00:00+0800", "2026-11-23T09:00:00+24:00",
                                "2026-11-23T09:00:00.1234567890Z", "２０２６-11-23T09:00:00Z"])
def test_other_times_are_refused(ts):
    with pytest.raises(BadPayload, match="ts"):
        parse_event_payload(payload(ts=ts))


@pytest.mark.parametrize("changes", [
    {"seq": True}, {"seq": -1}, {"seq": 2**63}, {"seq": "7"}, {"seq": 7.0}, {"seq": ...},
    {"device_id": 1}, {"type": ""}, {"type": "t" * 65}, {"data": None}, {"shipment": ""},
    {"shipment": None}, {"shipment": "s" * 65}])
def test_payload_rules(changes):
    with pytest.raises(BadPayload):
        parse_event_payload(payload(**changes))


@pytest.mark.parametrize("raw", [b"[1]", b"\xff", b'{"seq": 1, "seq": 2}', b'{"seq": NaN}',
                                 b"[" * 100000])
def test_payload_that_is_not_a_json_object(raw):
    with pytest.raises(BadPayload):
        parse_event_payload(raw)
    assert claimed_seq(raw) is None


def test_claimed_seq_reads_unverified_payloads():
    assert claimed_seq(payload()) == 7
    assert claimed_seq(payload(seq=True)) is None


@pytest.mark.parametrize("topic, device", [
    ("tz/devices/scanner-1/events", "scanner-1"), ("tz/devices/a.b_C-9/events", "a.b_C-9"),
    ("tz/devices/" + "x" * 64 + "/events", "x" * 64), ("tz/devices/" + "x" * 65 + "/events", None),
    ("tz/devices/a b/events", None), ("tz/devices//events", None), ("tz/devices/a/acks", None),
    ("tz/devices/a/events/x", None), ("other/devices/a/events", None)])
def test_event_topics(topic, device):
    assert device_of_event_topic(topic) == device


def test_topic_label_is_bounded():
    assert topic_label("tz/devices/" + "y" * 300 + "/events") == "y" * 128
    assert topic_label("odd") == "odd"


def test_acks_leave_in_arrival_order():
    order = AckOrder()
    messages = [received(n) for n in range(5)]
    for message in messages:
        order.expect(message)
    assert order.settle([messages[1], messages[2]]) == []
    assert order.settle([messages[0]]) == messages[:3]
    assert order.settle([messages[4]]) == []
    assert order.settle([messages[3]]) == messages[3:]
    assert len(order) == 0


def test_inbox_batches_by_count_and_by_time():
    inbox = Inbox()
    for n in range(10):
        inbox.put(received(n))
    assert [m.arrival for m in inbox.take(4, 1.0)] == [0, 1, 2, 3]
    started = time.monotonic()
    assert len(inbox.take(100, 0.05)) == 6  # waits for the batch to fill, then gives up
    assert 0.04 <= time.monotonic() - started < 1.0
    assert inbox.take(100, 0.05, idle_s=0.01) == []


def test_a_batch_waits_from_its_first_messages_arrival():
    inbox = Inbox()
    inbox.put(dataclasses.replace(received(0), received_mono=time.monotonic() - 1.0))
    started = time.monotonic()
    assert len(inbox.take(100, 0.5)) == 1  # it has waited long enough already
    assert time.monotonic() - started < 0.25


def test_inbox_hands_out_a_full_batch_at_once():
    inbox = Inbox()

    def fill():
        for n in range(8):
            inbox.put(received(n))

    inbox.put(dataclasses.replace(received(100), received_mono=time.monotonic()))
    threading.Timer(0.05, fill).start()
    started = time.monotonic()
    assert len(inbox.take(9, 5.0)) == 9  # woken when full, not at the 5 s deadline
    assert time.monotonic() - started < 2.0


def test_inbox_wakes_for_the_first_message():
    inbox = Inbox()
    threading.Timer(0.05, inbox.put, args=(received(0),)).start()
    assert len(inbox.take(1, 0.0, idle_s=5)) == 1


def test_seq_state():
    state = SeqState({"d": 3})
    assert state.decide("d", 3, b"a") is Status.REJECTED  # at or below the last, never seen
    assert state.decide("d", 4, b"a") is Status.NOTARIZED
    assert state.decide("d", 4, b"a") is Status.DUPLICATE
    assert state.decide("d", 4, b"b") is Status.REJECTED
    assert state.decide("new", 0, b"a") is Status.NOTARIZED


def test_answers():
    assert json.loads(Outcome(Status.NOTARIZED, 3, ledger_index=9).answer()) == {
        "seq": 3, "status": "notarized", "ledger_index": 9}
    assert json.loads(Outcome(Status.REJECTED, None, "malformed").answer()) == {
        "seq": None, "status": "rejected", "reason": "malformed"}


def test_options_from_the_environment():
    options = GatewayOptions.from_env({"TZ_GATEWAY_CLIENT_ID": "gw-1",
                                       "TZ_GATEWAY_SHARED_GROUP": "gateways",
                                       "TZ_GATEWAY_BATCH_SIZE": "128",
                                       "TZ_GATEWAY_METRICS_PORT": "0", "TZ_GATEWAY_BATCH_MS": ""})
    assert (options.client_id, options.batch_size, options.metrics_port, options.batch_ms) == (
        "gw-1", 128, 0, GatewayOptions().batch_ms)
    assert options.subscription == "$share/gateways/tz/devices/+/events"
    assert GatewayOptions().subscription == "tz/devices/+/events"


@pytest.mark.parametrize("env", [{"TZ_GATEWAY_BATCH_SIZE": "0"},
                                 {"TZ_GATEWAY_BATCH_SIZE": "many"},
                                 {"TZ_GATEWAY_SHARED_GROUP": "a/b"},
                                 {"TZ_GATEWAY_RECEIVE_MAXIMUM": "70000"},
                                 {"TZ_GATEWAY_LOG_LEVEL": "LOUD"},
                                 {"TZ_GATEWAY_BATCH_SIZE": "\u0665"},  # an Arabic-Indic 5
                                 {"TZ_GATEWAY_BATCH_SIZE": "1_000"},
                                 {"TZ_GATEWAY_BATCH_SIZE": " 64"}])
def test_bad_options_are_refused(env):
    with pytest.raises(OptionError, match="TZ_GATEWAY_"):
        GatewayOptions.from_env(env)


def test_a_failing_callback_is_logged_not_raised(caplog):
    @never_raises
    def on_message(client, userdata, message):
        raise KeyError("boom")

    assert on_message(None, None, None) is None
    assert "callback_failed" in caplog.text


def received(arrival: int) -> Received:
    return Received(arrival, "tz/devices/d/events", b"", arrival + 1, 1, False, 1,
                    datetime.now(timezone.utc), time.monotonic())


def test_the_command_refuses_a_bad_option_by_name():
    from click.testing import CliRunner

    from app.cli import main

    result = CliRunner().invoke(main, ["gateway"], env={"TZ_GATEWAY_BATCH_SIZE": "0"})
    assert result.exit_code == 1
    assert "TZ_GATEWAY_BATCH_SIZE must be an integer from 1 to 10000" in result.output
