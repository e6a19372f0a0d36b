"""Command-line entry points of the MQTT side: ``tradezone gateway`` and
``tradezone device ...`` (wired into ``app.cli``)."""

from __future__ import annotations

import click


@click.command("gateway")
def gateway_command() -> None:
    """Run the MQTT gateway until stopped (SIGTERM stops it cleanly).

    Configured by TZ_* variables (database, ledger key, TZ_MQTT_*) and the
    gateway's own TZ_GATEWAY_* ones (docs/GATEWAY.md).
    """
    from app.config import Config
    from iot_gateway.config import GatewayOptions, OptionError
    from iot_gateway.run import run_gateway

    try:
        options = GatewayOptions.from_env()
    except OptionError as error:
        raise click.ClickException(str(error)) from error
    raise SystemExit(run_gateway(Config.from_env(), options))


@click.group("device")
def device_group() -> None:
    """Edge devices: simulate signed events."""


# --- `tradezone device simulate` (iot_gateway/simulator.py) -----------------------------------
from pathlib import Path  # noqa: E402

from iot_gateway.device_client import DEFAULT_MAX_IN_FLIGHT, DEFAULT_RESEND_AFTER  # noqa: E402


@device_group.command("simulate")
@click.option("--devices", "count", default=3, show_default=True, type=click.IntRange(1, 10_000),
              help="How many devices (scanners, seals and cold-chain sensors in turn).")
@click.option("--rate", default=1.0, show_default=True, type=click.FloatRange(min=0.001),
              help="Events per second, per device.")
@click.option("--duration", default=10.0, show_default=True, type=click.FloatRange(min=0),
              help="Seconds of publishing (0: only send what an earlier run left unanswered).")
@click.option("--api", default=None, help="The platform's URL, to register missing devices.")
@click.option("--token", envvar="TZ_API_TOKEN", default=None,
              help="A customs organisation's API token (or TZ_API_TOKEN).")
@click.option("--keys-file", type=click.Path(dir_okay=False, path_type=Path),
              default=Path("tz-simulated-devices.json"), show_default=True,
              help="Private keys, MQTT passwords, next seqs and unanswered events (0600).")
@click.option("--shipment", default=None, help="Shipment reference on every event "
              "(default: one generated per device).")
@click.option("--max-in-flight", default=DEFAULT_MAX_IN_FLIGHT, show_default=True,
              type=click.IntRange(1, 60_000), help="Unanswered events per device before it waits.")
@click.option("--resend-after", default=DEFAULT_RESEND_AFTER, show_default=True,
              type=click.FloatRange(min=0.1), help="Seconds without an answer before an event "
              "is sent again (doubling each time); after a reconnect at once.")
@click.option("--ack-timeout", default=30.0, show_default=True, type=click.FloatRange(min=0),
              help="Seconds to wait for the last answers after publishing.")
@click.option("--progress", default=0.0, show_default=True, type=click.FloatRange(min=0),
              help="Seconds between one-line progress reports while publishing (0: none).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as one JSON object.")
def simulate_command(count: int, rate: float, duration: float, api: str | None,
                     token: str | None, keys_file: Path, shipment: str | None,
                     max_in_flight: int, resend_after: float, ack_timeout: float,
                     progress: float, as_json: bool) -> None:
    """Simulate customs edge devices publishing signed events to the broker
    (TZ_MQTT_HOST, TZ_MQTT_PORT); exit 1 if any event stays unacknowledged
    or a device was stopped (refused by the broker, or answered `revoked`).
    SIGTERM ends the run early: unanswered events are kept for the next run."""
    import json
    import signal

    from app.config import Config
    from iot_gateway.simulator import (
        SimulationOptions, Simulation, SimulatorError, prepare_devices,
    )

    config = Config.from_env()
    options = SimulationOptions(rate=rate, duration=duration, host=config.mqtt_host,
                                port=config.mqtt_port, shipment=shipment,
                                max_in_flight=max_in_flight, resend_after=resend_after,
                                ack_timeout=ack_timeout, progress_every=progress)
    try:
        devices = prepare_devices(keys_file, count, api, token)
        simulation = Simulation(devices, options, keys_file)
        previous = signal.signal(signal.SIGTERM, lambda *_: simulation.stop())
        try:
            summary = simulation.run(report=lambda so_far: click.echo(so_far.progress_line()))
        finally:
            signal.signal(signal.SIGTERM, previous)
    except SimulatorError as error:
        raise click.ClickException(str(error)) from error
    if as_json:
        click.echo(json.dumps(summary.as_dict(), sort_keys=True))
    else:
        for line in summary.lines():
            click.echo(line)
    if not summary.ok:
        raise SystemExit(1)
