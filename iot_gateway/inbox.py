"""Received messages between the network thread and the batch threads.

:class:`Inbox` hands messages out in batches (group commit: up to N messages,
or T milliseconds after the first). :class:`AckOrder` releases broker
acknowledgements in arrival order: MQTT 5 section 4.6 requires PUBACKs in the
order the PUBLISHes arrived, and paho's ``Client.ack`` sends whatever it is
given at once, so a message is acknowledged only when it and every message
received before it have a committed outcome.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterable

from .messages import Received


class Inbox:
    """A FIFO of received messages taken in batches.

    ``put`` wakes the taking thread only when that changes what it does: the
    first message, or the batch it waits for being full. Waking it for every
    message would cost a thread switch (and a GIL hand-over) per message.
    """

    def __init__(self) -> None:
        self._messages: deque[Received] = deque()
        self._ready = threading.Condition()
        self._wake_at = 1  # queue length at which the taker wants to know

    def put(self, message: Received) -> None:
        with self._ready:
            self._messages.append(message)
            if len(self._messages) == self._wake_at:
                self._ready.notify()

    def __len__(self) -> int:
        return len(self._messages)

    def take(self, max_count: int, max_wait_s: float, idle_s: float = 0.2) -> list[Received]:
        """Up to ``max_count`` messages: waits at most ``idle_s`` for the first
        (an empty list then), then until ``max_wait_s`` after the first one's
        arrival for the batch to fill (messages that queued up while the
        previous batch was being checked do not wait again)."""
        with self._ready:
            self._wake_at = 1
            if not self._ready.wait_for(lambda: self._messages, timeout=idle_s):
                return []
            deadline = self._messages[0].received_mono + max_wait_s
            self._wake_at = max_count
            while len(self._messages) < max_count:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not self._ready.wait(timeout=remaining):
                    break
            self._wake_at = 1
            count = min(max_count, len(self._messages))
            return [self._messages.popleft() for _ in range(count)]


class AckOrder:
    """Tracks received messages until they can be acknowledged, in arrival order."""

    def __init__(self) -> None:
        self._waiting: deque[int] = deque()  # arrival numbers, in order
        self._messages: dict[int, Received] = {}
        self._done: set[int] = set()
        self._lock = threading.Lock()

    def expect(self, message: Received) -> None:
        """Register a message as it arrives (network thread, arrival order)."""
        with self._lock:
            self._waiting.append(message.arrival)
            self._messages[message.arrival] = message

    def settle(self, messages: Iterable[Received]) -> list[Received]:
        """Mark ``messages`` as durably handled; return the messages that may now
        be acknowledged: the longest settled prefix of the arrival order."""
        with self._lock:
            self._done.update(message.arrival for message in messages)
            ready = []
            while self._waiting and self._waiting[0] in self._done:
                arrival = self._waiting.popleft()
                self._done.discard(arrival)
                ready.append(self._messages.pop(arrival))
            return ready

    def __len__(self) -> int:
        return len(self._waiting)
