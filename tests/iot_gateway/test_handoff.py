"""OrderedHandoff: batches reach the writer in the order they were taken."""

from __future__ import annotations

import queue
import threading
import time

from iot_gateway.handoff import OrderedHandoff

CLOSED = object()


def drain(handoff: OrderedHandoff) -> list:
    items = []
    while (item := handoff.queue.get(timeout=5)) is not CLOSED:
        items.append(item)
    return items


def test_results_leave_in_ticket_order_whatever_order_they_are_put_in():
    handoff = OrderedHandoff(producers=1, closed=CLOSED, maxsize=10)
    tickets = [handoff.take(lambda n=n: f"batch {n}") for n in range(3)]
    assert [ticket for ticket, _ in tickets] == [0, 1, 2]
    late = threading.Thread(target=handoff.put, args=(2, "checked 2"))
    late.start()
    middle = threading.Thread(target=handoff.put, args=(1, "checked 1"))
    middle.start()
    late.join(timeout=0.2)
    assert late.is_alive() and handoff.queue.empty()  # ticket 0 is not in yet
    handoff.put(0, "checked 0")
    late.join(timeout=5)
    middle.join(timeout=5)
    handoff.leave()
    assert drain(handoff) == ["checked 0", "checked 1", "checked 2"]


def test_none_passes_the_turn_on_without_queueing_anything():
    handoff = OrderedHandoff(producers=1, closed=CLOSED, maxsize=10)
    for _ in range(3):
        handoff.take(lambda: None)
    handoff.put(0, "checked 0")
    handoff.put(1, None)  # given up on while stopping
    handoff.put(2, "checked 2")
    handoff.leave()
    assert drain(handoff) == ["checked 0", "checked 2"]


def test_closed_is_queued_once_the_last_producer_leaves():
    handoff = OrderedHandoff(producers=2, closed=CLOSED)
    handoff.leave()
    try:
        handoff.queue.get_nowait()
        raise AssertionError("closed was queued while a producer was still working")
    except queue.Empty:
        pass
    handoff.leave()
    assert handoff.queue.get_nowait() is CLOSED


def test_two_producers_hand_over_every_batch_in_order():
    handoff = OrderedHandoff(producers=2, closed=CLOSED, maxsize=2)
    source = iter(range(200))

    def produce() -> None:
        try:
            while True:
                ticket, item = handoff.take(lambda: next(source, None))
                if item is None:
                    handoff.put(ticket, None)
                    return
                if item % 3 == 0:
                    time.sleep(0.002)  # slow: the other producer finishes first
                handoff.put(ticket, item * 10)
        finally:
            handoff.leave()

    producers = [threading.Thread(target=produce) for _ in range(2)]
    for thread in producers:
        thread.start()
    assert drain(handoff) == [n * 10 for n in range(200)]
    for thread in producers:
        thread.join(timeout=5)
        assert not thread.is_alive()
