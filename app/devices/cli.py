"""``tradezone mqtt ...``: the broker's password and ACL files from the registry."""

from __future__ import annotations

import pwd
import signal
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import click

from app.config import PROJECT_ROOT, Config
from app.db import Database, require_existing_database

from . import broker_config, broker_sync

TEMPLATE = PROJECT_ROOT / "deploy" / "mosquitto" / "mosquitto.conf.in"
REVOKED_GRACE_S = int(broker_sync.REVOKED_GRACE.total_seconds())
TOLD_SETTLE_S = int(broker_sync.TOLD_SETTLE.total_seconds())
MAX_REVOKED_GRACE_S = 366 * 24 * 3600


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
@click.option("--watch", "interval", default=None, metavar="SECONDS",
              type=click.FloatRange(min=0.1),
              help="Keep running: read the registry every SECONDS and, only when the files "
                   "would change, rewrite them and reload the broker (needs --reload-pid). "
                   "SIGTERM or SIGINT stops it.")
@click.option("--revoked-grace", "grace_s", default=REVOKED_GRACE_S, show_default=True,
              metavar="SECONDS", type=click.IntRange(0, MAX_REVOKED_GRACE_S),
              help="Keep admitting a revoked device until the gateway has answered it "
                   f"'revoked' (and {TOLD_SETTLE_S} s more, for the answer to reach it), for "
                   "SECONDS after its revocation at most; 0 puts it off the broker at once.")
def mqtt_sync(directory: Path, reload_pid: Path | None, owner: str | None,
              interval: float | None, grace_s: int) -> None:
    """Write the broker's password file (the gateway, TZ_MQTT_USERNAME/TZ_MQTT_PASSWORD,
    every active device, and each revoked one until the gateway has told it so or
    its --revoked-grace has passed) and ACL file, atomically, mode 0600; then
    reload the broker if --reload-pid is given. With --watch, keep them in step
    with the registry until stopped. A SQLite database that does not exist yet
    is refused, not created."""
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
    if interval is not None and reload_pid is None:
        raise click.UsageError("--watch needs --reload-pid: a broker that is not reloaded "
                               "would keep the old files")
    gateway = broker_config.gateway_entry(config.mqtt_username, config.mqtt_password,
                                          broker_sync.current_files(directory)[0])
    grace = timedelta(seconds=grace_s)
    require_existing_database(config.database_url)
    database = Database(config.database_url)  # only the registry: no ledger key needed
    try:
        from app.migrate import require_current_schema  # alembic: only when needed
        require_current_schema(database, config.database_url)
        if interval is None:
            admitted = broker_sync.read_registry(database, config.clock(), grace)
            _sync_once(admitted, gateway, directory, reload_pid, owner)
        else:
            _watch(broker_sync.RegistryWatcher(database, gateway, directory, reload_pid,
                                               owner=owner, revoked_grace=grace,
                                               clock=config.clock, report=_report), interval)
    finally:
        database.dispose()


def _sync_once(admitted: broker_sync.Admitted, gateway: broker_config.PasswordEntry,
               directory: Path, reload_pid: Path | None, owner: str | None) -> None:
    files = broker_config.render_broker_files(admitted.credentials, gateway)
    try:
        broker_sync.write_broker_files(directory, files, owner)
    except broker_sync.BrokerSyncError as error:
        raise click.ClickException(str(error)) from error
    for reason in files.skipped:
        click.echo(f"left out device {reason}", err=True)
    click.echo(f"wrote {directory / broker_sync.PASSWD} (gateway and "
               f"{admitted.describe(files.devices)}) and {directory / broker_sync.ACL}")
    if reload_pid is not None:
        try:
            pid = broker_sync.reload_broker(reload_pid)
        except broker_sync.BrokerSyncError as error:
            raise click.ClickException(str(error)) from error
        click.echo(f"sent SIGHUP to the broker (pid {pid})")


def _watch(watcher: broker_sync.RegistryWatcher, interval: float) -> None:
    """Run ``watcher`` until SIGTERM or SIGINT; both end it between two syncs."""
    stop = threading.Event()
    previous = {signum: signal.signal(signum, lambda number, frame: stop.set())
                for signum in (signal.SIGTERM, signal.SIGINT)}
    try:
        _report(f"watching the registry every {interval:g} s for {watcher.directory} "
                f"(broker pid file {watcher.reload_pid})")
        watcher.run(interval, stop)
        _report("stopped")
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _report(line: str) -> None:
    """One line of the watcher's log, stamped with the UTC time."""
    now = datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")
    click.echo(f"{now} {line}")


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
