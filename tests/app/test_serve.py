"""``tradezone serve`` as an operator runs it on PostgreSQL: an empty database
migrated from scratch (a second ``db upgrade`` changes nothing), served,
stopped with SIGTERM (exit status 0), and no credential in its access log."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.services.ports import free_port, port_is_open

TRADEZONE = Path(sys.executable).parent / "tradezone"
LEAKED_TOKEN = "tz_abcdefghijklmnop_" + "L" * 43


def test_db_upgrade_from_scratch_then_serve_then_sigterm(postgres, tmp_path):
    postgres.create_database("tz_from_scratch")
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path),
           "TZ_VAR_DIR": str(tmp_path / "var"),
           "TZ_DATABASE_URL": postgres.url("tz_from_scratch")}
    for _ in range(2):
        upgraded = subprocess.run([str(TRADEZONE), "db", "upgrade"], env=env, text=True,
                                  capture_output=True, timeout=120)
        assert upgraded.returncode == 0, upgraded.stderr
        assert "database is up to date; ledger size 0" in upgraded.stderr
    port = free_port()
    log = tmp_path / "serve.log"
    with open(log, "wb") as output:
        server = subprocess.Popen([str(TRADEZONE), "serve", "--port", str(port), "--workers", "1"],
                                  env=env, stdout=output, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while not port_is_open(port) and server.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        url = f"http://127.0.0.1:{port}/api/v1/ledger/checkpoint?access_token={LEAKED_TOKEN}"
        with urllib.request.urlopen(url, timeout=30) as answer:
            assert json.load(answer)["size"] == 0
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=60) == 0, log.read_text()
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    text = log.read_text()
    assert "GET /api/v1/ledger/checkpoint?access_token=tz_abcdefghijklmnop_[redacted]" in text
    assert "L" * 43 not in text


def test_serve_and_the_gateway_make_a_database_others_can_read_private(tmp_path):
    # A database copied into place by hand (cp gives 0644) holds every
    # document; `db upgrade` was the only command that made it 0600.
    from tests.services.tradezone_server import serving

    database = tmp_path / "var" / "tz.sqlite3"
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path),
           "TZ_VAR_DIR": str(tmp_path / "var"), "TZ_DATABASE_URL": f"sqlite:///{database}",
           "TZ_MQTT_PORT": str(free_port()), "TZ_GATEWAY_METRICS_PORT": "0"}
    upgraded = subprocess.run([str(TRADEZONE), "db", "upgrade"], env=env, capture_output=True,
                              timeout=120)
    assert upgraded.returncode == 0, upgraded.stderr
    database.chmod(0o644)
    with serving(env, tmp_path):
        assert database.stat().st_mode & 0o777 == 0o600
    assert "the SQLite database was readable by other users: it is 0600 now" in \
        (tmp_path / "server.log").read_text()

    database.chmod(0o640)
    gateway = subprocess.Popen([str(TRADEZONE), "gateway"], env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    try:
        # Said at start, before any broker is reached (none listens on its port,
        # so it goes on logging failed connections until stopped).
        deadline, line = time.monotonic() + 30, ""
        while "database_made_private" not in line and time.monotonic() < deadline:
            line = gateway.stdout.readline()
        assert "database_made_private" in line
        assert database.stat().st_mode & 0o777 == 0o600
    finally:
        gateway.send_signal(signal.SIGTERM)
        gateway.communicate(timeout=60)
