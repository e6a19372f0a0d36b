"""``tradezone device simulate``: customs edge devices publishing realistic,
signed events over MQTT (contract section 5), for demos, tests and load.

Devices are registered over the API (ES256 and EdDSA mixed) or taken from a
keys file, which keeps each device's private key, MQTT password, next ``seq``
and unanswered events between runs (mode 0600: it holds secrets). Sequence
numbers are reserved in blocks before use, so even a killed run never
reuses one (a killed run does lose the events it had not had answered yet;
a real device keeps its outbox in flash).

A device whose event the gateway rejects as ``revoked``, or that the broker
refuses (revoked, and ``tradezone mqtt sync --watch`` has taken it out of
the password file since), is stopped for the rest of the run, as a real one must stop
(``device_client``); the others go on, and the summary names it.
"""

from __future__ import annotations

import json
import os
import random
import secrets
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from collections.abc import Callable
from typing import Any

from Crypto.PublicKey import ECC

from ledger.jws import generate_private_key, public_key_of

from .device_client import (
    DEFAULT_MAX_IN_FLIGHT, DEFAULT_RESEND_AFTER, DeviceClient, DeviceCredentials, Outbox,
    sign_event,
)

KEYS_FORMAT = "tradezone.simulated-devices.v1"
KINDS = ("scanner", "seal", "cold_chain_sensor")
ALGS = ("ES256", "EdDSA")
SEQ_BLOCK = 10_000


class SimulatorError(Exception):
    """The simulation cannot start: no devices, a bad keys file, a refused registration."""


# --- the keys file --------------------------------------------------------------------------

@dataclass
class SimulatedDevice:
    """One device as the keys file keeps it."""

    device_id: str
    alg: str
    kind: str
    private_key_pem: str = field(repr=False)
    mqtt_password: str | None = field(default=None, repr=False)
    next_seq: int = 1
    unanswered: list[dict[str, Any]] = field(default_factory=list)  # [{"seq", "jws"}]

    @classmethod
    def new(cls, device_id: str, alg: str, kind: str) -> "SimulatedDevice":
        return cls(device_id, alg, kind, generate_private_key(alg).export_key(format="PEM"))

    def credentials(self) -> DeviceCredentials:
        return DeviceCredentials(self.device_id, self.alg, ECC.import_key(self.private_key_pem),
                                 self.mqtt_password)

    def public_pem(self) -> str:
        return public_key_of(ECC.import_key(self.private_key_pem), self.alg).to_pem()


def load_keys_file(path: Path) -> list[SimulatedDevice]:
    """The devices of a keys file ([] when it does not exist yet)."""
    try:
        document = json.loads(path.read_text())
    except FileNotFoundError:
        return []
    except (OSError, ValueError) as error:
        raise SimulatorError(f"cannot read the keys file {path}: {error}") from error
    if not isinstance(document, dict) or document.get("format") != KEYS_FORMAT:
        raise SimulatorError(f"{path} is not a simulator keys file ({KEYS_FORMAT})")
    try:
        return [SimulatedDevice(**device) for device in document["devices"]]
    except (KeyError, TypeError) as error:
        raise SimulatorError(f"{path} has a malformed device: {error}") from error


def save_keys_file(path: Path, devices: list[SimulatedDevice]) -> None:
    """Replace the keys file atomically, readable by its owner only."""
    text = json.dumps({"format": KEYS_FORMAT, "devices": [asdict(d) for d in devices]}, indent=1)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)  # mode 0600
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


# --- registering over the API ----------------------------------------------------------------

def register_device(api: str, token: str, n: int, timeout: float = 30.0) -> SimulatedDevice:
    """Register the ``n``-th simulated device (kinds and algorithms take turns)
    with ``POST /api/v1/devices``; the answer's MQTT password is kept."""
    kind, alg = KINDS[n % len(KINDS)], ALGS[n % len(ALGS)]
    device = SimulatedDevice.new(f"sim-{kind.split('_')[0]}-{secrets.token_hex(4)}", alg, kind)
    answer = _post_json(_devices_url(api), token, {
        "device_id": device.device_id, "alg": alg, "kind": kind,
        "public_key": device.public_pem()}, timeout)
    device.mqtt_password = answer["mqtt_password"]
    return device


def _devices_url(api: str) -> str:
    base = api.rstrip("/")
    return (base if base.endswith("/api/v1") else base + "/api/v1") + "/devices"


def _post_json(url: str, token: str, body: dict, timeout: float) -> dict:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST", headers={
        "Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.load(response)
    except urllib.error.HTTPError as error:
        detail = error.read().decode(errors="replace")[:500]
        raise SimulatorError(f"registering at {url} failed: {error.code} {detail}") from error
    except (urllib.error.URLError, OSError, ValueError) as error:
        raise SimulatorError(f"registering at {url} failed: {error}") from error


# --- realistic events --------------------------------------------------------------------------

_OWNER_CODES = ("MSCU", "MAEU", "CMAU", "COSU", "HLXU", "ONEU", "EGLV", "OOLU")
_LETTER_VALUES = {letter: value for letter, value in zip(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZ",
    [v for v in range(10, 39) if v % 11 != 0])}


def container_check_digit(first_ten: str) -> int:
    """ISO 6346 check digit of owner code, category and serial (10 characters)."""
    total = sum((int(c) if c.isdigit() else _LETTER_VALUES[c]) * 2 ** position
                for position, c in enumerate(first_ten))
    return total % 11 % 10


def container_number(rng: random.Random) -> str:
    first_ten = rng.choice(_OWNER_CODES) + f"{rng.randrange(10**6):06d}"
    return first_ten + str(container_check_digit(first_ten))


class EventSource:
    """A device's stream of plausible readings: customs scans of containers,
    seal states (closed, opened at inspection, rarely tampered), cold-chain
    temperatures drifting around their set point."""

    def __init__(self, kind: str, rng: random.Random | None = None) -> None:
        self.kind = kind
        self.rng = rng or random.Random()
        self.container = container_number(self.rng)
        self.seal_id = f"SL{self.rng.randrange(10**8):08d}"
        self.seal_state = "closed"
        self.celsius = 4.0

    def next(self) -> tuple[str, dict[str, Any]]:
        """(event type, data) of the next reading."""
        if self.kind == "scanner":
            return "customs.scan", {
                "container": container_number(self.rng), "lane": self.rng.randint(1, 6),
                "result": self.rng.choices(("cleared", "inspection", "held"), (90, 8, 2))[0]}
        if self.kind == "seal":
            return "seal.status", {"seal_id": self.seal_id, "container": self.container,
                                   "state": self._next_seal_state()}
        self.celsius = round(self.celsius + self.rng.gauss(0, 0.15) + (4.0 - self.celsius) * 0.1, 2)
        return "sensor.temperature", {"celsius": self.celsius, "setpoint": 4.0,
                                      "humidity_pct": self.rng.randint(60, 80)}

    def _next_seal_state(self) -> str:
        roll = self.rng.random()
        if roll < 0.01:
            self.seal_state = "tampered"
        elif roll < 0.1:
            self.seal_state = "open" if self.seal_state == "closed" else "closed"
        return self.seal_state


def new_shipment() -> str:
    return f"SHP-{datetime.now(timezone.utc):%Y%m%d}-{secrets.token_hex(3).upper()}"


# --- the run -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class SimulationOptions:
    rate: float  # events per second, per device
    duration: float  # seconds of publishing
    host: str = "127.0.0.1"
    port: int = 1883
    shipment: str | None = None  # None: one generated reference per device
    max_in_flight: int = DEFAULT_MAX_IN_FLIGHT
    resend_after: float = DEFAULT_RESEND_AFTER  # seconds before an unanswered event goes again
    ack_timeout: float = 30.0  # how long to wait for the last answers
    connect_timeout: float = 10.0  # also how long a refused device is given to be admitted
    progress_every: float = 0.0  # seconds between progress reports while publishing; 0: none


@dataclass
class Summary:
    """What one run did, by device and in total."""

    devices: int
    algs: Counter[str]
    duration: float
    rate: float
    published: int = 0
    resent: int = 0
    waits: int = 0  # times a device had to wait for room in its outbox
    outcomes: Counter[str] = field(default_factory=Counter)
    unanswered: int = 0
    stray_acks: int = 0
    malformed_acks: int = 0
    refused_connections: Counter[str] = field(default_factory=Counter)
    stopped: dict[str, str] = field(default_factory=dict)  # device id: why it was stopped
    publishing: float = 0.0  # seconds spent publishing new events
    elapsed: float = 0.0  # the whole run: connecting, publishing, waiting for answers

    @property
    def ok(self) -> bool:
        return self.unanswered == 0 and not self.stopped

    def count(self, prefix: str) -> int:
        return sum(n for outcome, n in self.outcomes.items() if outcome.startswith(prefix))

    def reasons(self, prefix: str) -> dict[str, int]:
        return {outcome.split(":", 1)[1]: n for outcome, n in sorted(self.outcomes.items())
                if outcome.startswith(prefix + ":")}

    def as_dict(self) -> dict[str, Any]:
        return {"devices": self.devices, "algs": dict(self.algs), "duration_s": self.duration,
                "rate_per_device": self.rate, "published": self.published,
                "resent": self.resent, "waits_for_room": self.waits,
                "notarized": self.count("notarized"), "duplicate": self.count("duplicate"),
                "rejected": self.reasons("rejected"),
                "refused_by_broker": self.reasons("refused by broker"),
                "unacknowledged": self.unanswered, "stray_acks": self.stray_acks,
                "malformed_acks": self.malformed_acks,
                "refused_connections": dict(self.refused_connections),
                "stopped_devices": dict(self.stopped),
                "publishing_s": round(self.publishing, 3), "elapsed_s": round(self.elapsed, 3)}

    def lines(self) -> list[str]:
        algs = ", ".join(f"{n} {alg}" for alg, n in sorted(self.algs.items()))
        rate = self.published / self.publishing if self.publishing else 0.0
        lines = [
            f"simulated {self.devices} devices ({algs}) for {self.duration:g} s at "
            f"{self.rate:g} events/s each",
            f"published {self.published} events ({rate:.1f}/s in all); re-sent (after a "
            f"reconnect or an overdue ack): {self.resent}; waits for in-flight room: {self.waits}",
            "acks by status:",
            f"  notarized          {self.count('notarized')}",
            f"  duplicate          {self.count('duplicate')}",
            f"  rejected           {self.count('rejected')}{_by_reason(self.reasons('rejected'))}",
        ]
        refused = self.reasons("refused by broker")
        if refused:
            lines.append(f"  refused by broker  {sum(refused.values())}{_by_reason(refused)}")
        lines.append(f"  unacknowledged     {self.unanswered}")
        if self.refused_connections:
            lines.append("connections refused: " + ", ".join(
                f"{reason} x{n}" for reason, n in sorted(self.refused_connections.items())))
        if self.stray_acks or self.malformed_acks:
            lines.append(f"acks for nothing pending: {self.stray_acks}; "
                         f"malformed acks: {self.malformed_acks}")
        shown = sorted(self.stopped.items())[:_STOPPED_SHOWN]
        lines += [f"device {device_id}: {why}, stopped" for device_id, why in shown]
        if len(self.stopped) > len(shown):
            lines.append(f"and {len(self.stopped) - len(shown)} more devices stopped")
        return lines


    def progress_line(self) -> str:
        """One line on the run so far (``--progress``)."""
        rejected = self.count("rejected")
        refused = sum(self.refused_connections.values())  # e.g. a revoked device's
        return (f"{self.elapsed:.0f} s: published {self.published}, notarized "
                f"{self.count('notarized')}, duplicate {self.count('duplicate')}, rejected "
                f"{rejected}{_by_reason(self.reasons('rejected'))}, "
                f"awaiting an answer {self.unanswered}"
                + (f", connections refused {refused}" if refused else "")
                + (f", devices stopped {len(self.stopped)}" if self.stopped else ""))


_STOPPED_SHOWN = 20  # stopped devices named in the summary; the rest are counted


def _by_reason(reasons: dict[str, int]) -> str:
    return f"  ({', '.join(f'{r} {n}' for r, n in reasons.items())})" if reasons else ""


class _Runner:
    """One simulated device during a run: its client, readings and seq counter."""

    def __init__(self, device: SimulatedDevice, options: SimulationOptions, on_reserve) -> None:
        self.device = device
        self.credentials = device.credentials()
        self.client = DeviceClient(self.credentials, options.host, options.port,
                                   Outbox(options.max_in_flight),
                                   resend_after=options.resend_after,
                                   admit_within=options.connect_timeout)
        self.source = EventSource(device.kind)
        self.shipment = options.shipment or new_shipment()
        self.sent_new = 0
        self.waits = 0
        self._reserved = device.next_seq
        self._on_reserve = on_reserve
        for item in device.unanswered:  # kept from an earlier run: sent again on connect
            self.client.outbox.add(item["seq"], item["jws"])

    def publish_due(self, due: int) -> None:
        """Publish new events until ``due`` were sent this run, while there is room
        (none once the device is stopped)."""
        while self.sent_new < due and not self.client.stopped:
            if not self.client.outbox.has_room():
                self.waits += 1
                return
            seq = self._take_seq()
            event_type, data = self.source.next()
            self.client.publish_event(seq, sign_event(self.credentials, seq, event_type, data,
                                                      shipment=self.shipment))
            self.sent_new += 1

    def reserve(self) -> None:
        """Claim the next block of seqs (the caller persists it before use)."""
        self._reserved = self.device.next_seq + SEQ_BLOCK

    def _take_seq(self) -> int:
        seq = self.device.next_seq
        if seq >= self._reserved:
            self.reserve()
            self._on_reserve(self)
        self.device.next_seq = seq + 1
        return seq

    @property
    def reserved(self) -> int:
        return self._reserved


class Simulation:
    """Runs devices from a keys file against the broker and summarizes the acks."""

    def __init__(self, devices: list[SimulatedDevice], options: SimulationOptions,
                 keys_file: Path) -> None:
        if not devices:
            raise SimulatorError("no devices to simulate")
        if options.rate <= 0 or options.duration < 0:
            raise SimulatorError("rate must be positive and duration not negative")
        self.devices, self.options, self.keys_file = devices, options, keys_file
        self.runners: list[_Runner] = []
        self._publishing = 0.0
        self._started = 0.0
        self._stopping = threading.Event()

    def stop(self) -> None:
        """End the run early (e.g. on SIGTERM): publishing and the wait for answers
        stop, and the run saves its state and summarizes as it would at its end;
        unanswered events stay in the keys file for the next run to send first.
        Safe to call from a signal handler or another thread."""
        self._stopping.set()

    def progress(self) -> Summary:
        """The run so far, for a progress report."""
        return self._summary(time.monotonic() - self._started)

    def run(self, report: Callable[[Summary], None] | None = None) -> Summary:
        """Publish for the options' duration, wait for the answers, and summarize;
        ``report`` gets :meth:`progress` every ``options.progress_every`` seconds."""
        self.runners = [_Runner(device, self.options, self._save_reserved)
                        for device in self.devices]
        for runner in self.runners:
            runner.reserve()
        self._save(reserved=True)
        self._started = time.monotonic()
        try:
            for runner in self.runners:
                runner.client.start()
            self._wait_connected()
            self._publish_for(self.options.duration, report)
            self._wait_for_answers(self.options.ack_timeout)
        finally:
            for runner in self.runners:
                runner.client.stop()
            self._save(reserved=False)
        return self._summary(time.monotonic() - self._started)

    def _wait_connected(self) -> None:
        deadline = time.monotonic() + self.options.connect_timeout
        for runner in self.runners:
            runner.client.wait_connected(max(0.0, deadline - time.monotonic()))

    def _publish_for(self, duration: float, report: Callable[[Summary], None] | None) -> None:
        total = max(1, round(self.options.rate * duration)) if duration > 0 else 0
        start = time.monotonic()
        every = self.options.progress_every
        next_report = start + every
        while ((elapsed := time.monotonic() - start) < duration and not self._stopping.is_set()
               and not all(r.client.stopped for r in self.runners)):
            due = min(total, int(elapsed * self.options.rate) + 1)
            for runner in self.runners:
                runner.client.service()
                runner.publish_due(due)
            if report is not None and every > 0 and time.monotonic() >= next_report:
                next_report += every
                report(self.progress())
            next_due = start + due / self.options.rate
            time.sleep(min(0.05, max(0.001, next_due - time.monotonic())))
        self._publishing = time.monotonic() - start

    def _wait_for_answers(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while (time.monotonic() < deadline and not self._stopping.is_set()
               and any(len(r.client.outbox) for r in self.runners if not r.client.stopped)):
            for runner in self.runners:
                runner.client.service()
            time.sleep(0.02)

    def _save_reserved(self, runner: _Runner) -> None:
        self._save(reserved=True)

    def _save(self, reserved: bool) -> None:
        """Write the runners' state into the keys file, keeping its other devices.
        ``reserved``: record each device's reserved seq bound as its next seq, so
        a run that dies never hands out a seq twice."""
        state = {r.device.device_id: self._persisted(r, reserved) for r in self.runners}
        kept = load_keys_file(self.keys_file)
        merged = [state.pop(device.device_id, device) for device in kept]
        save_keys_file(self.keys_file, merged + list(state.values()))

    @staticmethod
    def _persisted(runner: _Runner, reserved: bool = False) -> SimulatedDevice:
        device = runner.device
        next_seq = runner.reserved if reserved else device.next_seq
        return SimulatedDevice(device.device_id, device.alg, device.kind, device.private_key_pem,
                               device.mqtt_password, next_seq,
                               [{"seq": seq, "jws": jws}
                                for seq, jws in runner.client.outbox.unanswered()])

    def _summary(self, elapsed: float) -> Summary:
        summary = Summary(len(self.runners), Counter(r.device.alg for r in self.runners),
                          self.options.duration, self.options.rate,
                          publishing=self._publishing, elapsed=elapsed)
        for runner in self.runners:
            client = runner.client
            summary.published += client.published
            summary.resent += client.resent
            summary.waits += runner.waits
            summary.outcomes.update(client.outbox.outcomes)
            summary.unanswered += len(client.outbox)
            summary.stray_acks += client.outbox.stray_acks
            summary.malformed_acks += client.malformed_acks
            summary.refused_connections.update(client.refusals)
            if client.stopped_because is not None:
                summary.stopped[runner.device.device_id] = client.stopped_because
        return summary


def prepare_devices(keys_file: Path, count: int, api: str | None, token: str | None,
                    ) -> list[SimulatedDevice]:
    """The first ``count`` devices of the keys file, registering the missing ones
    when an API and token are given (the file is saved after each, so no key
    of a registered device is ever lost)."""
    devices = load_keys_file(keys_file)
    if len(devices) < count and not (api and token):
        raise SimulatorError(f"{keys_file} holds {len(devices)} devices, {count} wanted: "
                             f"give --api and --token to register the others")
    while len(devices) < count:
        devices.append(register_device(api, token, len(devices)))
        save_keys_file(keys_file, devices)
    return devices[:count]
