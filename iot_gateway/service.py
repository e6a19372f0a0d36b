"""The gateway: MQTT in, checks, one transaction per batch, acks and answers out.

Threads, besides paho's network thread and the check worker processes::

    paho loop --Received--> Inbox --> "checker" threads --batch--> "writer" thread
    (enqueue only)                    device lookup,      (in the   one transaction,
                                      checks (pool)       order     acks in order, answers
                                                          taken)

The checkers prepare batches k+1 and k+2 while the writer commits batch k;
with check workers there are two checker threads, so that the workers
verify one batch while the other batch's verdicts are unpacked and the next
one is taken (handoff.py keeps the batches in order). Nothing is
acknowledged to the broker before its outcome commits; a crash at any point
leaves the message queued at the broker, which redelivers it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Sequence

from sqlalchemy.exc import DBAPIError, OperationalError

from app.config import Config
from app.errors import DRIVER_OPERATIONAL_ERRORS
from app.platform import Platform

from . import messages as m
from .checks import BatchChecker
from .config import GatewayOptions, OptionError
from .handoff import OrderedHandoff
from .inbox import AckOrder, Inbox
from .logs import log_event
from .messages import Checked, Outcome, Received, Rejection, Status
from .metrics import GatewayMetrics
from .mqtt import MqttLink
from .pool import CheckPool
from .registry import load_devices
from .store import EventStore
from .topics import acks_topic

log = logging.getLogger("iot_gateway")
_STOP = object()
_GAVE_UP = object()  # in the writer's queue: a batch whose checks were given up
RETRY_MAX_S = 10.0
SPLIT_AFTER = 3  # failed attempts before a batch is split to find a poison message


class Gateway:
    """One gateway instance; ``start()`` returns at once, ``stop()`` drains and disconnects."""

    def __init__(self, platform: Platform, config: Config, options: GatewayOptions,
                 metrics: GatewayMetrics | None = None) -> None:
        self.platform = platform
        self.options = options
        self.metrics = metrics or GatewayMetrics()
        self.inbox = Inbox()
        self.ack_order = AckOrder()
        # Exactly what it counts, read when scraped instead of kept up per message.
        self.metrics.queue_depth.set_function(lambda: len(self.ack_order))
        self.pool = CheckPool(options.verify_workers)
        self.checker = BatchChecker(lambda ids: load_devices(platform.db, ids),
                                    self.pool.run, options.max_payload_bytes)
        self.store = EventStore(platform, options.quarantine_raw_bytes)
        self.link = MqttLink(config.mqtt_host, config.mqtt_port, config.mqtt_username,
                             config.mqtt_password, options, self._deliver, self.metrics)
        # One checker thread when the checks run inline: a second would only
        # wait for the GIL.
        self._checker_threads = 2 if options.verify_workers > 0 else 1
        self._batches: OrderedHandoff[list[Received], list[Checked]] = OrderedHandoff(
            self._checker_threads, closed=_STOP)
        self._handoff = self._batches.queue  # checked batches, in arrival order, for the writer
        self._stopping = threading.Event()
        self.finished = threading.Event()  # set when the gateway cannot go on
        self.fatal = False
        self._threads: list[threading.Thread] = []
        self._metrics_server = None

    # -- lifecycle -------------------------------------------------------------

    def start(self) -> None:
        if self.options.metrics_port:
            self._metrics_server = self._serve_metrics()
        self._threads = [threading.Thread(target=self._run_checker, name=f"checker-{n}",
                                          daemon=True) for n in range(self._checker_threads)]
        self._threads.append(threading.Thread(target=self._run_writer, name="writer",
                                              daemon=True))
        for thread in self._threads:
            thread.start()
        self.link.start()
        log_event(log, logging.INFO, "gateway_started", client_id=self.options.client_id,
                  subscription=self.options.subscription, batch_size=self.options.batch_size,
                  batch_ms=self.options.batch_ms, verify_workers=self.options.verify_workers)

    def _serve_metrics(self):
        host, port = self.options.metrics_host, self.options.metrics_port
        try:
            return self.metrics.serve(host, port)
        except OSError as error:  # the port taken, the host not an address of this machine
            raise OptionError(f"TZ_GATEWAY_METRICS_HOST, TZ_GATEWAY_METRICS_PORT: cannot serve "
                              f"metrics on {host}:{port}: {error.strerror or error}") from error

    def stop(self, timeout_s: float = 60.0) -> None:
        """Finish the batches already taken, ack them, disconnect. Messages still
        in the inbox are not acknowledged: the broker keeps them for next time."""
        self._stopping.set()
        for thread in self._threads:
            thread.join(timeout=timeout_s)
        self.link.stop()
        self.pool.close()
        if self._metrics_server is not None:
            self._metrics_server.shutdown()
        log_event(log, logging.INFO, "gateway_stopped", unacknowledged=len(self.ack_order))

    # -- network thread ----------------------------------------------------------

    def _deliver(self, message: Received) -> None:
        self.ack_order.expect(message)
        self.inbox.put(message)
        self.metrics.received.inc()

    # -- checker threads ---------------------------------------------------------

    def _run_checker(self) -> None:
        try:
            while not self._stopping.is_set():
                ticket, batch = self._batches.take(lambda: self.inbox.take(
                    self.options.batch_size, self.options.batch_ms / 1000))
                checked = _GAVE_UP if batch else None  # the writer commits nothing after it
                try:
                    if batch:
                        checked = self._check(batch) or _GAVE_UP
                finally:  # later tickets wait for this one, whatever happens
                    self._batches.put(ticket, checked)
        finally:
            self._batches.leave()

    def _check(self, batch: list[Received]) -> list[Checked] | None:
        """The checked batch; None if stopping while the checks keep failing (the
        batch then stays unacknowledged at the broker)."""
        while True:
            try:
                return self.checker.check(batch)
            except Exception:  # the database read or the worker pool failed: retry
                log_event(log, logging.ERROR, "check_failed", exc_info=True, size=len(batch))
                if self._stopping.wait(1.0):
                    return None

    # -- writer thread -----------------------------------------------------------

    def _run_writer(self) -> None:
        # Once a batch is not committed, no later one may be: the broker
        # redelivers that batch at the next start, and an event of it whose
        # device had a later seq committed meanwhile would be a replay.
        held_back = False
        while True:
            batch = self._handoff.get()
            if batch is _STOP:
                return
            if held_back or batch is _GAVE_UP:
                held_back = True
                continue
            try:
                outcomes = self._commit(batch)
            except _GiveUp:
                held_back = True  # stopping with the database unreachable: nothing is acked
                continue
            except Exception:
                # Not even a quarantine row could be written. Acks must stay in
                # order, so nothing after this batch could be acknowledged: stop,
                # and let the supervisor restart the gateway (exit status 1).
                log_event(log, logging.CRITICAL, "writer_failed", exc_info=True)
                self.fatal = True
                self.finished.set()
                held_back = True
                continue
            self._settle(batch, outcomes)

    def _commit(self, batch: Sequence[Checked]) -> list[Outcome]:
        """Commit ``batch``, retrying; a batch that keeps failing for a reason other
        than the database being unreachable is split until the poison message is
        alone, and that one is quarantined as ``internal_error``."""
        attempt = 0
        while True:
            started = time.perf_counter()
            try:
                outcomes = self.store.commit(batch)
                self.metrics.commit_seconds.observe(time.perf_counter() - started)
                return outcomes
            except Exception as exc:
                attempt += 1
                self.metrics.batch_failures.inc()
                transient = _is_transient(exc)
                log_event(log, logging.ERROR, "commit_failed", exc_info=not transient,
                          size=len(batch), attempt=attempt, error=type(exc).__name__)
                if not transient and attempt >= SPLIT_AFTER:
                    return self._commit_split(batch)
                if self._stopping.wait(min(RETRY_MAX_S, 0.1 * 2 ** attempt)):
                    raise _GiveUp from exc

    def _commit_split(self, batch: Sequence[Checked]) -> list[Outcome]:
        if len(batch) == 1:
            checked = batch[0]
            if checked.rejection is not None and checked.rejection.reason == m.INTERNAL_ERROR:
                raise RuntimeError("cannot even quarantine a message")
            seq = checked.event.seq if checked.event is not None else None
            rejection = Rejection(m.INTERNAL_ERROR, "no transaction could store this message",
                                  seq)
            return self._commit([Checked(checked.message, checked.device_id,
                                         checked.raw_sha256, rejection=rejection)])
        middle = len(batch) // 2
        return self._commit(batch[:middle]) + self._commit(batch[middle:])

    def _settle(self, batch: Sequence[Checked], outcomes: Sequence[Outcome]) -> None:
        """After the commit: broker acks in arrival order, then the answers."""
        now = time.monotonic()
        for message in self.link.ack_in_order(self.ack_order.settle(c.message for c in batch)):
            self.metrics.lag.observe(now - message.received_mono)
        unanswered = 0
        for checked, outcome in zip(batch, outcomes):
            if checked.device_id is None:
                continue
            if unanswered or not self.link.publish(acks_topic(checked.device_id),
                                                   outcome.answer(), give_up=self._stopping):
                unanswered += 1
        if unanswered:  # stopping with the broker not taking answers: they are best effort
            log_event(log, logging.WARNING, "answers_not_sent", count=unanswered)
        self._count(batch, outcomes)

    def _count(self, batch: Sequence[Checked], outcomes: Sequence[Outcome]) -> None:
        statuses = Counter(outcome.status for outcome in outcomes)
        self.metrics.batch_size.observe(len(batch))
        self.metrics.notarized.inc(statuses[Status.NOTARIZED])
        self.metrics.duplicates.inc(statuses[Status.DUPLICATE])
        if statuses[Status.REJECTED]:
            for checked, outcome in zip(batch, outcomes):
                if outcome.status is Status.REJECTED:
                    self._log_rejection(checked, outcome)
        log_event(log, logging.DEBUG, "batch_committed", size=len(batch),
                  notarized=statuses[Status.NOTARIZED], duplicates=statuses[Status.DUPLICATE],
                  rejected=statuses[Status.REJECTED])

    def _log_rejection(self, checked: Checked, outcome: Outcome) -> None:
        self.metrics.rejected.labels(outcome.reason).inc()
        log_event(log, logging.INFO, "event_rejected", device=checked.device_id,
                  reason=outcome.reason, seq=outcome.seq, size=len(checked.message.payload),
                  raw_sha256=checked.raw_sha256.hex(), redelivered=checked.message.dup)


class _GiveUp(Exception):
    """The gateway is stopping and this batch could not be committed."""


def _is_transient(exc: Exception) -> bool:
    """The database is unreachable or busy (retry as is), as opposed to a
    statement that fails on this batch's data (split the batch).

    The ledger's and the batch's bulk rows go through the driver's own cursor
    (``ledger.sqlstore``), so a server lost in the middle of them raises the
    driver's ``OperationalError``, which SQLAlchemy never wraps: counted as
    transient too, or a flapping database would get good events split off
    and quarantined as ``internal_error``."""
    if isinstance(exc, (OperationalError, *DRIVER_OPERATIONAL_ERRORS)):
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated
