"""Checked batches from the checker threads to the writer, in the order taken.

Two checker threads keep the check workers busy: while one waits for its
batch's verdicts (and then unpacks them), the other has already taken the
next batch and queued its checks behind. The writer must still commit the
batches in arrival order (the seq rules and the ack order depend on it), so
each batch is taken with a ticket (:meth:`OrderedHandoff.take`) and handed
over in ticket order, whichever thread finishes its checks first.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")
U = TypeVar("U")


class OrderedHandoff(Generic[T, U]):
    """Tickets for what is taken, and a bounded queue that receives the
    results in ticket order; ``closed`` is put once every producer has left."""

    def __init__(self, producers: int, closed: object, maxsize: int = 2) -> None:
        self.queue: queue.Queue = queue.Queue(maxsize=maxsize)
        self._closed = closed
        self._producers = producers
        self._take_lock = threading.Lock()
        self._turn = threading.Condition()
        self._next_ticket = 0
        self._next_to_put = 0

    def take(self, take: Callable[[], T]) -> tuple[int, T]:
        """Call ``take`` (one producer at a time) and number what it returned."""
        with self._take_lock:
            item = take()
            ticket = self._next_ticket
            self._next_ticket += 1
            return ticket, item

    def put(self, ticket: int, result: U | None) -> None:
        """Queue ``result`` once every earlier ticket is in; ``None`` only
        passes the turn on (nothing was taken)."""
        with self._turn:
            self._turn.wait_for(lambda: self._next_to_put == ticket)
            if result is not None:
                self.queue.put(result)
            self._next_to_put += 1
            self._turn.notify_all()

    def leave(self) -> None:
        """A producer is done; the last one out queues ``closed``. Every
        producer puts each ticket it took before it leaves."""
        with self._turn:
            self._producers -= 1
            if self._producers == 0:
                self.queue.put(self._closed)
