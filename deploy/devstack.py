"""The whole platform on one machine, for ``make run``.

Starts, in order: the database (migrations, the sample trade), the API
(gunicorn), Eclipse Mosquitto with a configuration and password/ACL files
generated from the device registry, a watcher that keeps those files in step
with the registry (``tradezone mqtt sync --watch``: a device registered over
the API is let in within seconds, a revoked one put out once the gateway has
answered it ``revoked``), the MQTT gateway,
and a simulator publishing signed events from the sample's three customs
devices. Prints what to open, then waits; Ctrl-C (or SIGTERM) stops everything
it started, in reverse order. Everything lives under ``var/`` (or ``TZ_VAR_DIR``).

Run with the project's virtual environment: ``.venv/bin/python deploy/devstack.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
GATEWAY_USER = "tz-gateway"
SYNC_INTERVAL = 2  # seconds between two looks of the watcher at the device registry
API_METRICS_PORT = "9107"  # the API's Prometheus metrics, unless TZ_API_METRICS_PORT says
GATEWAY_METRICS_PORT = "9108"  # the gateway's, unless TZ_GATEWAY_METRICS_PORT says


def main() -> int:
    args = _parse_args()
    var = Path(os.environ.get("TZ_VAR_DIR", ROOT / "var")).resolve()
    mqtt_dir = var / "mqtt"
    mqtt_dir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, TZ_VAR_DIR=str(var), TZ_MQTT_HOST="127.0.0.1",
               TZ_API_METRICS_PORT=os.environ.get("TZ_API_METRICS_PORT", API_METRICS_PORT),
               TZ_GATEWAY_METRICS_PORT=os.environ.get("TZ_GATEWAY_METRICS_PORT",
                                                      GATEWAY_METRICS_PORT),
               TZ_MQTT_PORT=str(args.mqtt_port), TZ_MQTT_USERNAME=GATEWAY_USER,
               TZ_MQTT_PASSWORD=_gateway_password(mqtt_dir / "gateway-password"))
    stack = Stack(env)
    # Both stop everything, whatever this process inherited: a shell starts
    # background jobs with SIGINT ignored, and Python then never raises
    # KeyboardInterrupt for it.
    for stop_signal in (signal.SIGINT, signal.SIGTERM):
        signal.signal(stop_signal, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt))
    try:
        _tradezone(env, "db", "upgrade")
        if args.demo:
            _tradezone(env, "demo", "load")
        stack.start("api", [BIN / "tradezone", "serve", "--host", args.host, "--port",
                            str(args.port)], var / "api.log")
        _wait_http(f"http://{args.host}:{args.port}/healthz", stack)
        broker = _start_broker(stack, env, mqtt_dir, args.mqtt_port)
        stack.start("mqtt-sync", [BIN / "tradezone", "mqtt", "sync", "--dir", mqtt_dir,
                                  "--reload-pid", mqtt_dir / "mosquitto.pid",
                                  "--watch", SYNC_INTERVAL], var / "mqtt-sync.log")
        gateway_log = var / "gateway.log"
        logged_before = gateway_log.stat().st_size if gateway_log.exists() else 0
        stack.start("gateway", [BIN / "tradezone", "gateway"], gateway_log)
        devices = var / "demo-devices.json"
        if args.demo and devices.exists():
            # Until the gateway's first subscription the broker keeps nothing for
            # it: on a first run, events published earlier would be lost (and each
            # device's re-sent first event answered "replay").
            _wait_logged(gateway_log, logged_before, "subscribed", stack)
            stack.start("simulator", [BIN / "tradezone", "device", "simulate", "--keys-file",
                                      devices, "--devices", "3", "--rate", str(args.rate),
                                      "--duration", "86400", "--progress", "30"],
                        var / "simulator.log")
        _print_welcome(args, env, var, broker)
        stack.wait()
    except KeyboardInterrupt:
        pass
    except StackError as error:
        print(f"\nerror: {error}", file=sys.stderr)
        return 1
    finally:
        stack.stop_all()
    return 0


class StackError(Exception):
    """A part of the platform could not start."""


class Stack:
    """The child processes, started in order and stopped in reverse."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.children: list[tuple[str, subprocess.Popen, Path]] = []

    def start(self, name: str, argv: list, log: Path) -> subprocess.Popen:
        handle = open(log, "ab")
        process = subprocess.Popen([str(part) for part in argv], env=self.env, cwd=ROOT,
                                   stdout=handle, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        self.children.append((name, process, log))
        return process

    def check(self) -> None:
        for name, process, log in self.children:
            if process.poll() is not None:
                tail = log.read_text(errors="replace").splitlines()[-15:]
                raise StackError(f"{name} exited ({process.returncode}); its log {log} ends:\n"
                                 + "\n".join(tail))

    def wait(self) -> None:
        while True:
            self.check()
            time.sleep(1)

    def stop_all(self) -> None:
        for name, process, _log in reversed(self.children):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        self.children.clear()


def _start_broker(stack: Stack, env: dict[str, str], mqtt_dir: Path, port: int) -> Path:
    mosquitto = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    if not Path(mosquitto).exists():
        subprocess.run(["bash", str(ROOT / "deploy/ensure-packages.sh"), "mosquitto"], check=False)
        if not Path(mosquitto).exists():
            raise StackError("Eclipse Mosquitto is missing: sudo apt-get install mosquitto")
    state = mqtt_dir / "state"
    state.mkdir(exist_ok=True)
    config = _tradezone(env, "mqtt", "config", "--dir", mqtt_dir, "--state-dir", state,
                        "--port", str(port), "--pid-file", mqtt_dir / "mosquitto.pid",
                        "--log-file", mqtt_dir / "mosquitto.log", "--user", _user_name(),
                        capture=True)
    config_file = mqtt_dir / "mosquitto.conf"
    config_file.write_text(config)
    _tradezone(env, "mqtt", "sync", "--dir", mqtt_dir)
    stack.start("mosquitto", [mosquitto, "-c", config_file], mqtt_dir / "mosquitto.out")
    _wait_port(port, stack)
    return config_file


def _gateway_password(path: Path) -> str:
    """The gateway's broker password, created once (0600) and reused."""
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(24))
    return path.read_text().strip()


def _user_name() -> str:
    import pwd
    return pwd.getpwuid(os.geteuid()).pw_name


def _tradezone(env: dict[str, str], *args, capture: bool = False) -> str:
    result = subprocess.run([str(BIN / "tradezone"), *map(str, args)], env=env, cwd=ROOT,
                            capture_output=capture, text=True)
    if result.returncode != 0:
        raise StackError(f"tradezone {' '.join(map(str, args))} failed"
                         + (f": {result.stderr.strip()}" if capture else ""))
    return result.stdout if capture else ""


def _wait_http(url: str, stack: Stack, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        stack.check()
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.3)
    raise StackError(f"{url} did not answer within {timeout:.0f} s")


def _wait_logged(log: Path, offset: int, event: str, stack: Stack, timeout: float = 30) -> None:
    """Wait until a JSON log line written after ``offset`` in ``log`` has ``event``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        stack.check()
        with open(log, "rb") as handle:
            handle.seek(offset)
            for line in handle:
                try:
                    if json.loads(line).get("event") == event:
                        return
                except (ValueError, AttributeError):
                    continue  # not one of the gateway's JSON lines
        time.sleep(0.2)
    raise StackError(f"no '{event}' in {log} within {timeout:.0f} s")


def _wait_port(port: int, stack: Stack, timeout: float = 15) -> None:
    import socket
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        stack.check()
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise StackError(f"the broker did not listen on 127.0.0.1:{port} within {timeout:.0f} s")


def _print_welcome(args: argparse.Namespace, env: dict[str, str], var: Path,
                   broker: Path) -> None:
    api = f"http://{args.host}:{args.port}"
    tokens = var / "demo-tokens.json"
    regulator = ""
    if tokens.exists():
        regulator = json.loads(tokens.read_text())["organisations"]["regulator"]["token"]
    print(f"""
Tradezone is running (Ctrl-C stops everything):
  API docs        {api}/api/v1/docs            (OpenAPI: {api}/api/v1/openapi.json)
  audit console   {api}/console/               (sign in with the regulator token below)
  ledger          curl {api}/api/v1/ledger/checkpoint
  API metrics     http://127.0.0.1:{env['TZ_API_METRICS_PORT']}/metrics (no token)
  broker          Mosquitto on 127.0.0.1:{args.mqtt_port} ({broker})
  broker users    from the device registry, every {SYNC_INTERVAL} s; log {var}/mqtt-sync.log
  gateway         metrics on http://127.0.0.1:{env['TZ_GATEWAY_METRICS_PORT']}/metrics; logs in {var}/gateway.log
  simulator       3 customs devices, {args.rate} signed events/s each; log {var}/simulator.log
  sample tokens   {tokens}    eval "$(.venv/bin/tradezone demo env)"
  regulator token {regulator or '(no sample loaded)'}
""", flush=True)


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--mqtt-port", type=int, default=int(os.environ.get("TZ_MQTT_PORT", 1883)))
    parser.add_argument("--rate", type=float, default=1.0, help="events/s per simulated device")
    parser.add_argument("--no-demo", dest="demo", action="store_false",
                        help="skip the sample trade and the simulator")
    return parser.parse_args()


if __name__ == "__main__":
    sys.exit(main())
