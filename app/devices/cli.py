"""``tradezone mqtt ...``: the broker's password and ACL files from the registry."""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import tempfile
from pathlib import Path

import click

from app.config import PROJECT_ROOT, Config
from app.db import Database

from . import broker_config, services

TEMPLATE = PROJECT_ROOT / "deploy" / "mosquitto" / "mosquitto.conf.in"


@click.group("mqtt")
def mqtt_group() -> None:
    """The MQTT broker's configuration (Mosquitto)."""


@mqtt_group.command("sync")
@click.option("--dir", "directory", required=True,
              type=click.Path(file_okay=False, path_type=Path),
              help="Where to write 'passwd' and 'acl' (the broker's password_file, acl_file).")
@click.option("--reload-pid", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="The broker's pid file: send it SIGHUP so it re-reads both files.")
@click.option("--owner", default=None,
              help="Give both files to this user (the one Mosquitto runs as); needs root.")
def mqtt_sync(directory: Path, reload_pid: Path | None, owner: str | None) -> None:
    """Write the broker's password file (the gateway, TZ_MQTT_USERNAME/TZ_MQTT_PASSWORD,
    and every active device; revoked devices are left out) and ACL file, atomically,
    mode 0600; then reload the broker if --reload-pid is given."""
    config = Config.from_env()
    if not config.mqtt_username or not config.mqtt_password:
        raise click.ClickException("TZ_MQTT_USERNAME and TZ_MQTT_PASSWORD (the gateway's "
                                   "broker credentials) must be set")
    try:
        broker_config.check_username(config.mqtt_username)
    except broker_config.BrokerConfigError as error:
        raise click.ClickException(f"TZ_MQTT_USERNAME: {error}") from error
    if owner is not None:
        try:
            pwd.getpwnam(owner)
        except KeyError as error:
            raise click.ClickException(f"--owner: no user {owner!r}") from error
    database = Database(config.database_url)  # only the registry: no ledger key needed
    try:
        with database.read() as session:
            rows = services.active_mqtt_credentials(session)
    finally:
        database.dispose()
    devices, skipped = broker_config.device_entries(rows, config.mqtt_username)
    gateway = broker_config.PasswordEntry(config.mqtt_username, broker_config.hash_password(
        config.mqtt_password, iterations=broker_config.GATEWAY_ITERATIONS))
    directory.mkdir(parents=True, exist_ok=True)
    write_private(directory / "passwd", broker_config.render_password_file([gateway, *devices]),
                  owner)
    write_private(directory / "acl", broker_config.render_acl_file(config.mqtt_username), owner)
    for reason in skipped:
        click.echo(f"left out device {reason}", err=True)
    click.echo(f"wrote {directory / 'passwd'} (gateway and {len(devices)} active devices) "
               f"and {directory / 'acl'}")
    if reload_pid is not None:
        pid = reload_broker(reload_pid)
        click.echo(f"sent SIGHUP to the broker (pid {pid})")


@mqtt_group.command("config")
@click.option("--dir", "directory", required=True,
              type=click.Path(file_okay=False, path_type=Path),
              help="Where `tradezone mqtt sync` writes 'passwd' and 'acl'.")
@click.option("--state-dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="The broker's persistence directory.")
@click.option("--port", default=1883, show_default=True, type=click.IntRange(1, 65535))
@click.option("--pid-file", default="/run/mosquitto/mosquitto.pid", show_default=True)
@click.option("--log-file", default="/var/log/mosquitto/mosquitto.log", show_default=True)
@click.option("--user", default="mosquitto", show_default=True,
              help="The user Mosquitto drops to when started as root.")
def mqtt_config(directory: Path, state_dir: Path, port: int, pid_file: str, log_file: str,
                user: str) -> None:
    """Print the broker configuration (deploy/mosquitto/mosquitto.conf.in filled in)."""
    try:
        template = TEMPLATE.read_text()
    except OSError as error:
        raise click.ClickException(f"cannot read the template {TEMPLATE}: {error}") from error
    click.echo(broker_config.render_broker_config(
        template, port=port, state_dir=str(state_dir.resolve()),
        auth_dir=str(directory.resolve()), pid_file=pid_file, log_file=log_file, user=user),
        nl=False)


def write_private(path: Path, text: str, owner: str | None = None) -> None:
    """Replace ``path`` atomically with ``text``: a 0600 file written and synced
    beside it, then renamed over it, so the broker never reads half a file."""
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)  # mode 0600
    temporary = Path(name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        if owner is not None:
            shutil.chown(temporary, user=owner)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    _fsync_directory(path.parent)


def reload_broker(pid_file: Path) -> int:
    """Send SIGHUP to the process named in ``pid_file``; its pid."""
    try:
        text = pid_file.read_text().strip()
    except OSError as error:
        raise click.ClickException(f"cannot read the pid file {pid_file}: {error}") from error
    if not text.isdigit() or int(text) <= 1:
        raise click.ClickException(f"{pid_file} does not hold a process id")
    pid = int(text)
    try:
        os.kill(pid, signal.SIGHUP)
    except ProcessLookupError as error:
        raise click.ClickException(f"no broker process {pid} (stale {pid_file}?)") from error
    except PermissionError as error:
        raise click.ClickException(f"not allowed to signal process {pid}") from error
    return pid


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
