"""The answers' in-flight window: at most N answers published at QoS 1 and
not yet PUBACKed by the broker.

paho can bound its own in-flight messages (``max_inflight_messages``), but
then, on every PUBACK, it walks every message it holds to find the next one
to send (``Client._update_inflight``): with a window of 1,000 that walk was
9% of the gateway's main-process CPU in a burst, all of it for answers that
were already sent. So paho runs unbounded (``max_inflight_messages`` 0) and
this window bounds it instead: the writer takes a place before it publishes
an answer and waits while there is none; paho's ``on_publish`` (the PUBACK)
gives the place back. Only the writer publishes, so answers still leave in
the order they were given, and an answer that waits for a place waits in the
writer, not in paho's memory.
"""

from __future__ import annotations

import threading


class AnswerWindow:
    """Counts answers in flight against a limit that the broker may lower."""

    def __init__(self, limit: int) -> None:
        self._configured = limit
        self._limit = limit
        self._in_flight = 0
        self._changed = threading.Condition()

    @property
    def limit(self) -> int:
        return self._limit

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def fit_broker(self, receive_maximum: int) -> int:
        """At connect: the broker accepts at most ``receive_maximum`` unacknowledged
        QoS 1 messages from us (MQTT 5 section 3.3.4); the window becomes the
        smaller of that and the configured size. Returns the new limit."""
        with self._changed:
            self._limit = max(1, min(self._configured, receive_maximum))
            self._changed.notify_all()
            return self._limit

    def acquire(self, timeout_s: float) -> bool:
        """Take a place, waiting at most ``timeout_s`` for one; False if none came."""
        with self._changed:
            if not self._changed.wait_for(lambda: self._in_flight < self._limit, timeout_s):
                return False
            self._in_flight += 1
            return True

    def release(self) -> None:
        """A PUBACK came back (or paho did not keep the message): the place is free."""
        with self._changed:
            if self._in_flight > 0:
                self._in_flight -= 1
            self._changed.notify_all()

    def wait_empty(self, timeout_s: float) -> bool:
        """Wait until every answer in flight is PUBACKed; False on timeout."""
        with self._changed:
            return self._changed.wait_for(lambda: self._in_flight == 0, timeout_s)
