"""Per-message checks in the batching thread or in a pool of worker processes.

pycryptodome's Ed25519 and P-256 verification costs about 300 us of CPU per
signature on this machine (much more under load) and holds the GIL, so the
gateway runs each message's checks (JWS parsing, signature, payload) in
worker processes (``TZ_GATEWAY_VERIFY_WORKERS``, default 2) while its main
process receives, commits the previous batch and answers;
bench/gateway_bench.py measures both modes.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from .checks import MessageJob, Verdict, verify_messages
from .checkwire import pack_jobs, unpack_verdict, verify_packed
from .logs import log_event

log = logging.getLogger("iot_gateway.pool")


class CheckPool:
    """Runs :func:`~iot_gateway.checks.verify_messages` over a batch's jobs;
    ``workers`` = 0 runs them in the caller's thread. Each batch goes out as
    ``chunks_per_worker`` tasks per worker, packed (see checkwire.py)."""

    def __init__(self, workers: int, chunks_per_worker: int = 2) -> None:
        self.workers = workers
        self._chunks = max(1, workers * chunks_per_worker)
        self._replacing = threading.Lock()  # both checker threads see a pool break
        self._pool: ProcessPoolExecutor | None = self._start_pool() if workers > 0 else None

    def run(self, jobs: Sequence[MessageJob]) -> list[Verdict]:
        """One verdict per job, in order."""
        pool = self._pool
        if pool is None or len(jobs) < 2:
            return verify_messages(jobs)
        size = -(-len(jobs) // min(self._chunks, len(jobs)))
        chunks = [jobs[start:start + size] for start in range(0, len(jobs), size)]
        try:
            futures = [pool.submit(verify_packed, pack_jobs(chunk)) for chunk in chunks]
            return [unpack_verdict(job, wire) for chunk, future in zip(chunks, futures)
                    for job, wire in zip(chunk, future.result(), strict=True)]
        except BrokenProcessPool:
            # A worker died (OOM killer, a stray SIGKILL): start new ones; the
            # caller retries the batch.
            log_event(log, logging.ERROR, "check_worker_died")
            self._replace(pool)
            raise

    def _replace(self, broken: ProcessPoolExecutor) -> None:
        """Start a new pool in place of ``broken``, once (the other checker
        thread may have done it already), and end what is left of the old one."""
        with self._replacing:
            if self._pool is not broken:
                return
            # The executor ends a broken pool's other workers with SIGTERM,
            # which they ignore (_init_worker); left alone they wait forever
            # (for a queue lock the dead worker may have held), and so does
            # the executor's thread joining them, which hangs the gateway's
            # exit. SIGKILL them instead.
            for process in list((broken._processes or {}).values()):
                process.kill()
            broken.shutdown(wait=False, cancel_futures=True)
            self._pool = self._start_pool()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def _start_pool(self, attempts: int = 3) -> ProcessPoolExecutor:
        """Start the workers and wait until each has imported the checks."""
        for attempt in range(1, attempts + 1):
            # "spawn": the gateway has threads running, which fork does not copy safely.
            pool = ProcessPoolExecutor(
                max_workers=self.workers, mp_context=multiprocessing.get_context("spawn"),
                initializer=_init_worker, initargs=(os.getpid(),))
            try:
                for future in [pool.submit(_warm_up) for _ in range(self.workers)]:
                    future.result()
                return pool
            except BrokenProcessPool:
                pool.shutdown(wait=False, cancel_futures=True)
                log_event(log, logging.ERROR, "check_workers_failed_to_start", attempt=attempt)
                if attempt == attempts:
                    raise
        raise AssertionError("unreachable")


def _init_worker(parent_pid: int) -> None:
    # Ctrl-C, and systemd's SIGTERM to the whole control group, reach the
    # workers too; the parent finishes its batch (with their help) and then
    # closes the pool, which ends them.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    threading.Thread(target=_exit_with_parent, args=(parent_pid,), daemon=True,
                     name="parent-watch").start()


def _exit_with_parent(parent_pid: int) -> None:
    # Workers hold both ends of the pool's call queue, so a SIGKILLed parent
    # would leave them blocked forever; leave as soon as it is gone.
    while os.getppid() == parent_pid:
        time.sleep(1.0)
    os._exit(0)


def _warm_up() -> None:
    """Nothing: running it makes the worker start and import this module and
    the checks (pycryptodome included) before the first batch needs them."""
