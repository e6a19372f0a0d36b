"""Command-line entry points of the MQTT side: ``tradezone gateway`` and
``tradezone device ...`` (wired into ``app.cli``)."""

from __future__ import annotations

import click


@click.command("gateway")
def gateway_command() -> None:
    """Run the MQTT gateway until stopped (SIGTERM stops it cleanly)."""
    raise click.ClickException("the gateway is not built yet")


@click.group("device")
def device_group() -> None:
    """Edge devices: simulate signed events."""
