"""A real ``tradezone serve`` (gunicorn) subprocess on a free loopback port."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .ports import free_port

BIN = Path(sys.executable).parent  # the venv's bin: tradezone lives next to python


def tradezone(env: dict[str, str], *args: str, timeout: float = 120) -> str:
    """Run ``tradezone ARGS`` with ``env``; fail the test with its stderr if it fails."""
    done = subprocess.run([str(BIN / "tradezone"), *args], env=env, capture_output=True,
                          text=True, timeout=timeout)
    assert done.returncode == 0, f"tradezone {' '.join(args)} failed:\n{done.stderr}"
    return done.stdout


@contextmanager
def serving(env: dict[str, str], workdir: Path, workers: int = 1) -> Iterator[str]:
    """Serve the API configured by ``env``; yield its base URL; always stop it.

    The database must be migrated already. The log goes to ``workdir/server.log``.
    """
    log_path = workdir / "server.log"
    for _attempt in range(3):  # the free port may be taken before gunicorn binds it
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        with open(log_path, "ab") as log:
            proc = subprocess.Popen(
                [str(BIN / "tradezone"), "serve", "--host", "127.0.0.1", "--port", str(port),
                 "--workers", str(workers)],
                env=env, cwd=workdir, stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True)
        try:
            if _wait_healthy(proc, url):
                yield url
                return
        finally:
            _stop(proc)
    raise AssertionError(f"tradezone serve did not become healthy; log:\n{log_path.read_text()}")


def _wait_healthy(proc: subprocess.Popen, url: str, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=1) as answer:
                if answer.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(0.1)
    return False


def _stop(proc: subprocess.Popen) -> None:
    """SIGTERM the gunicorn master (it stops its workers); SIGKILL its group if stuck."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # the session we started it in
            proc.wait(timeout=10)
