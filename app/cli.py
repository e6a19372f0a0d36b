"""The ``tradezone`` command line (contract section 7)."""

from __future__ import annotations

import base64
import json
import sys
from datetime import datetime, timedelta
from pathlib import Path

import click

import ledger
from ledger.logcheck import LogReport
from ledger.sqlstore import SqlLog

from .config import Config, ConfigError
from .db import (
    DATABASE_MADE_PRIVATE, Database, make_database_file_private, require_existing_database,
    unusable_database_line,
)
from .db_errors import DATABASE_ERRORS, describe, safe_traceback
from .errors import AppError
from .identity import services as identity
from .identity.models import Role
from .identity.schemas import organization_fields, token_fields
from .logcheck import check_platform_log
from .platform import Platform, build_platform


def _platform(ctx: click.Context, *, first_run: bool = False,
              database_may_be_missing: bool = False, any_schema: bool = False) -> Platform:
    """The platform of the environment's configuration. Its SQLite database and
    signing key must exist unless ``first_run`` (`db upgrade` makes them): a
    command that checks or copies the log, or adds to it, never makes a new key
    for a log that another key signed. `db restore` may bring the database
    back (``database_may_be_missing``), never the key. The schema must be
    the code's, except to migrate, restore, back up or check the log
    (``any_schema``: the ledger's tables have not changed)."""
    if ctx.obj is None:
        config = Config.from_env()
        if not (first_run or database_may_be_missing):
            # The likelier mistake first: `db upgrade` was never run.
            require_existing_database(config.database_url)
        platform = build_platform(config, create_key=first_run)
        if not (first_run or database_may_be_missing or any_schema):
            from .migrate import require_current_schema  # alembic: only when needed
            require_current_schema(platform.db, config.database_url)
        ctx.obj = platform
    return ctx.obj


class _Group(click.Group):
    """Report the platform's own errors, a bad setting and a database that cannot
    be used as one line and exit 1, never a traceback; any other database error
    as its frames and one line, without the values its text quotes."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (AppError, ledger.LedgerError, ConfigError) as error:
            raise click.ClickException(str(error)) from error
        except DATABASE_ERRORS as error:
            line = unusable_database_line(error, Config.from_env().database_url)
            if line is None:  # a bug, worth its frames; never the rows the text quotes
                click.echo(safe_traceback(error), err=True)
                line = f"database error: {describe(error)}"
            raise click.ClickException(line) from error


@click.group(cls=_Group)
def main() -> None:
    """Tradezone: trade documents, consent and device events on a verifiable ledger."""


@main.group()
def db() -> None:
    """The database: its schema, backups and restores."""


@db.command("upgrade")
@click.pass_context
def db_upgrade(ctx: click.Context) -> None:
    """Apply the migrations to the configured database (TZ_DATABASE_URL)."""
    from .migrate import upgrade

    platform = _platform(ctx, first_run=True)
    if make_database_file_private(platform.config.database_url):
        click.echo(DATABASE_MADE_PRIVATE, err=True)
    upgrade(platform.db.engine)
    with platform.db.write() as session:
        checkpoint = platform.notary.ensure_checkpoint(session)
    click.echo(f"database is up to date; ledger size {checkpoint.size}", err=True)


@db.command("backup")
@click.argument("destination", type=click.Path(dir_okay=False, path_type=Path))
@click.pass_context
def db_backup(ctx: click.Context, destination: Path) -> None:
    """Copy the SQLite database to DESTINATION, a new file (0600), as of one
    commit while the API and gateway keep writing; then re-verify the copy's
    log. The ledger's signing key is not in it: back that file up on its own."""
    from .backup import backup_sqlite

    platform = _platform(ctx, any_schema=True)
    copy = backup_sqlite(platform.config.database_url, destination)
    click.echo(f"backup written to {copy.path} ({copy.bytes:,} bytes, readable by its owner only)")
    backup = Database(copy.url)
    try:
        report = _check_log_of(backup, platform)
        with backup.read() as session:
            checkpoint = SqlLog(session.connection()).latest_checkpoint()
    finally:
        backup.dispose()
    _print_log_report(report)
    if checkpoint is not None:
        click.echo(f"its latest checkpoint: size {checkpoint.size}, "
                   f"root {base64.b64encode(checkpoint.root_hash).decode()}")
    if not report.ok:
        click.echo("the copy is faithful: run `tradezone ledger check` on the database", err=True)
        sys.exit(1)


@db.command("restore")
@click.argument("backup", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--discard-newer", is_flag=True,
              help="Restore even over a database whose log went further than the backup's "
                   "(a damaged one): the entries after the backup are dropped.")
@click.pass_context
def db_restore(ctx: click.Context, backup: Path, discard_newer: bool) -> None:
    """Put the SQLite backup BACKUP in place of the database, once its log
    verifies against the platform's key and no process has the database open.
    The database it replaces is renamed beside it, never deleted."""
    from .restore import restore_sqlite

    platform = _platform(ctx, database_may_be_missing=True)
    report: LogReport | None = None  # the backup's, once verify_log has run

    def verify_log(path: Path) -> None:
        nonlocal report
        copy = Database(f"sqlite:///{path}")
        try:
            report = _check_log_of(copy, platform)
        finally:
            copy.dispose()
        if not report.ok:
            _print_log_report(report)
            raise click.ClickException(f"the log of {backup} does not verify against this "
                                       "platform's key (TZ_LEDGER_KEY_FILE): nothing restored")

    restored = restore_sqlite(platform.config.database_url, backup, verify_log,
                              discard_newer=discard_newer)
    click.echo(f"restored {backup} to {restored.database}: log size {restored.log.size:,}, "
               f"{report.checkpoints_checked:,} checkpoints verified")
    if restored.log.checkpoint_root is not None:
        click.echo(f"its latest checkpoint: size {restored.log.checkpoint_size}, "
                   f"root {base64.b64encode(restored.log.checkpoint_root).decode()}")
    if restored.replaced is not None:
        before = (f"log size {restored.replaced_log.size:,}" if restored.replaced_log
                  else f"unreadable: {restored.replaced_unreadable}")
        click.echo(f"the database it replaced ({before}) is now {restored.replaced}")
    click.echo("compare that checkpoint with the newest one your monitors saved before serving "
               "(`tradezone audit monitor`); run `tradezone db upgrade` if the backup was "
               "taken by an older version", err=True)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 256))
@click.option("--metrics-port", envvar="TZ_API_METRICS_PORT", default=0, show_default=True,
              type=click.IntRange(0, 65535),
              help="Also serve Prometheus metrics, without a token, on this port "
                   "(0: not at all; env TZ_API_METRICS_PORT).")
@click.option("--metrics-host", envvar="TZ_API_METRICS_HOST", default="127.0.0.1",
              show_default=True, help="The address of the metrics port (env TZ_API_METRICS_HOST).")
def serve(host: str, port: int, workers: int, metrics_port: int, metrics_host: str) -> None:
    """Serve the API with gunicorn."""
    from .serve import MetricsAddress, serve as run_server

    metrics = MetricsAddress(metrics_host, metrics_port) if metrics_port else None
    run_server(Config.from_env(), host, port, workers, metrics)


@main.group()
def org() -> None:
    """Organisations."""


@org.command("create")
@click.argument("name")
@click.option("--role", required=True, type=click.Choice([role.value for role in Role]))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object and nothing else.")
@click.pass_context
def org_create(ctx: click.Context, name: str, role: str, as_json: bool) -> None:
    """Create an organisation and its first API token (shown once)."""
    platform = _platform(ctx)
    with platform.db.write() as session:
        organization, token = identity.create_organization(
            session, platform.notary, name, Role(role), platform.now())
    if as_json:
        click.echo(json.dumps({"org_id": organization.id, "token": token.text}))
        return
    click.echo(f"organisation {organization.id} ({role}) created")
    click.echo(f"token (shown once, keep it secret): {token.text}")


@org.command("list")
@click.option("--role", type=click.Choice([role.value for role in Role]), default=None)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.pass_context
def org_list(ctx: click.Context, role: str | None, as_json: bool) -> None:
    """List organisations, newest first."""
    platform = _platform(ctx)
    cursor = None
    with platform.db.read() as session:
        while True:
            page, cursor = identity.list_organizations(
                session, Role(role) if role else None, 500, cursor)
            for item in page:
                fields = organization_fields(item)
                if as_json:
                    click.echo(json.dumps(_json_times(fields)))
                else:
                    click.echo(f"{item.id}  {fields['role']:<9}  "
                               f"{item.created_at:%Y-%m-%d %H:%M}  {item.name}")
            if cursor is None:
                return


def _json_times(fields: dict) -> dict:
    return {key: value.isoformat() if isinstance(value, datetime) else value
            for key, value in fields.items()}


@main.group()
def token() -> None:
    """API tokens."""


@token.command("list")
@click.argument("org_id")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.pass_context
def token_list(ctx: click.Context, org_id: str, as_json: bool) -> None:
    """List an organisation's tokens (never their secrets), oldest first."""
    platform = _platform(ctx)
    now = platform.now()
    with platform.db.read() as session:
        identity.get_organization(session, org_id)  # NotFound: one line, exit 1
        for item in identity.list_tokens(session, org_id):
            if as_json:
                click.echo(json.dumps(_json_times(token_fields(item))))
            else:
                used = (f"used {item.last_used_at:%Y-%m-%d %H:%M}" if item.last_used_at
                        else "never used")
                click.echo(f"{item.id}  {_token_state(item, now):<24}  "
                           f"created {item.created_at:%Y-%m-%d %H:%M}  {used:<21}  "
                           f"{item.label or ''}".rstrip())


def _token_state(token, now: datetime) -> str:
    if token.revoked_at is not None:
        return f"revoked {token.revoked_at:%Y-%m-%d %H:%M}"
    if token.expires_at is None:
        return "active"
    verb = "expired" if token.expires_at <= now else "expires"
    return f"{verb} {token.expires_at:%Y-%m-%d %H:%M}"


@token.command("create")
@click.argument("org_id")
@click.option("--label", default=None, help="What the token is for.")
@click.option("--expires-in-days", type=click.IntRange(1, 3660), default=None,
              help="Refuse it after this many days (default: valid until revoked).")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def token_create(ctx: click.Context, org_id: str, label: str | None,
                 expires_in_days: int | None, as_json: bool) -> None:
    """Create another token for an organisation (shown once)."""
    platform = _platform(ctx)
    now = platform.now()
    expires_at = now + timedelta(days=expires_in_days) if expires_in_days else None
    with platform.db.write() as session:
        issued = identity.create_token(session, platform.notary, org_id, now, label,
                                       expires_at=expires_at)
    if as_json:
        click.echo(json.dumps({"org_id": org_id, "token_id": issued.token_id,
                               "token": issued.text}))
        return
    click.echo(f"token {issued.token_id} (shown once, keep it secret): {issued.text}")


@token.command("revoke")
@click.argument("token_id")
@click.pass_context
def token_revoke(ctx: click.Context, token_id: str) -> None:
    """Revoke a token; it is refused from the next request on."""
    platform = _platform(ctx)
    with platform.db.write() as session:
        identity.revoke_token(session, platform.notary, token_id, platform.now())
    click.echo(f"token {token_id} revoked")


@main.group()
def demo() -> None:
    """The sample trade for newcomers."""


@demo.command("load")
@click.option("--tokens-file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Where the sample organisations' tokens go (default: var/demo-tokens.json).")
@click.pass_context
def demo_load(ctx: click.Context, tokens_file: Path | None) -> None:
    """Load the sample organisations, documents and consent (once)."""
    from .demo import load_demo

    platform = _platform(ctx)
    tokens_file = tokens_file or platform.config.ledger_key_file.parent / "demo-tokens.json"
    already = tokens_file.exists()
    sample = load_demo(platform, tokens_file)
    state = "already loaded" if already else "loaded"
    click.echo(f"sample trade {state}; tokens in {tokens_file}", err=True)
    for name, org in sample["organisations"].items():
        click.echo(f"  {name:<10} {org['org_id']}  ({org['role']})", err=True)


@demo.command("env")
@click.option("--tokens-file", type=click.Path(dir_okay=False, path_type=Path), default=None)
@click.pass_context
def demo_env(ctx: click.Context, tokens_file: Path | None) -> None:
    """Print shell exports of the sample's tokens and ids: eval "$(tradezone demo env)"."""
    config = Config.from_env()
    tokens_file = tokens_file or config.ledger_key_file.parent / "demo-tokens.json"
    if not tokens_file.exists():
        raise click.ClickException(f"no sample loaded ({tokens_file} missing): tradezone demo load")
    sample = json.loads(tokens_file.read_text())
    for name, org in sample["organisations"].items():
        click.echo(f"export {name.upper()}_TOKEN={org['token']} {name.upper()}_ID={org['org_id']}")
    for name, document_id in sample["documents"].items():
        click.echo(f"export {name.upper()}={document_id}")
    click.echo(f"export CONSENT={sample['consent']}")


@main.group()
def audit() -> None:
    """The regulator's tools; they need only the ledger package."""


@audit.command("verify")
@click.argument("bundle", type=click.Path(path_type=Path))
@click.option("--key", "verifier_key", required=True,
              help="The log's C2SP verifier key (GET /api/v1/ledger/key).")
def audit_verify(bundle: Path, verifier_key: str) -> None:
    """Verify an audit bundle or receipt offline; exit 0 only if all of it verifies."""
    from ledger.audit import ProgressBar, verify_bundle_file

    progress = ProgressBar(sys.stderr)
    try:
        result = verify_bundle_file(bundle, verifier_key, progress=progress)
    finally:
        progress.close()
    for line in result.lines:
        click.echo(line)
    sys.exit(0 if result.ok else 1)


@audit.command("monitor")
@click.argument("url")
@click.option("--key", "verifier_key", required=True,
              help="The log's C2SP verifier key, obtained out of band.")
@click.option("--state", "state_file", required=True, type=click.Path(path_type=Path),
              help="Where the last verified checkpoint and any alarm are kept (0600).")
@click.option("--once", is_flag=True, help="Check once and exit.")
@click.option("--interval", default=60.0, show_default=True, type=click.FloatRange(min=0.1),
              help="Seconds between checks when polling.")
def audit_monitor(url: str, verifier_key: str, state_file: Path, once: bool,
                  interval: float) -> None:
    """Check the server's latest checkpoint against the one saved in the state file.

    Exit status: 0 consistent; 1 the log misbehaved (bad signature, rollback,
    split view, rewritten history; the evidence is printed and kept in the
    state file); 3 the check could not be made (network, state file)."""
    from ledger import monitor

    try:
        verifier = ledger.NoteVerifier.from_verifier_key(verifier_key)
    except ledger.VerificationError as error:
        raise click.UsageError(f"--key is not a verifier key: {error}") from error
    if not once:
        try:
            sys.exit(monitor.poll(url, verifier, state_file, interval, click.echo))
        except KeyboardInterrupt:
            sys.exit(0)
    try:
        outcome = monitor.run_once(url, verifier, state_file)
    except monitor.MonitorError as error:
        click.echo(f"error: {error}", err=True)
        sys.exit(3)
    for line in outcome.lines:
        click.echo(line)
    sys.exit(0 if outcome.ok else 1)


@main.group("ledger")
def ledger_group() -> None:
    """The operator's view of the log."""


@ledger_group.command("check")
@click.pass_context
def ledger_check(ctx: click.Context) -> None:
    """Re-verify the stored log: every entry, stored hash and signed checkpoint."""
    platform = _platform(ctx, any_schema=True)
    report = _check_log_of(platform.db, platform)
    _print_log_report(report)
    if not report.ok:
        sys.exit(1)


def _check_log_of(database: Database, platform: Platform) -> LogReport:
    """Re-verify ``database``'s log against the platform's signing key, with a
    progress bar on a terminal."""
    from ledger.audit import ProgressBar

    bar = ProgressBar(sys.stderr, label="checking")
    try:
        return check_platform_log(platform, database,
                                  progress=lambda done, size: bar(done, size, done))
    finally:
        bar.close()


def _print_log_report(report: LogReport) -> None:
    for problem in report.problems:
        click.echo(f"index {problem.index}: {problem}")
    click.echo(f"{report.size} entries, {report.checkpoints_checked} checkpoints checked, "
               f"{len(report.problems)} problems")


# The MQTT side's commands live with the gateway package.
from iot_gateway.cli import device_group, gateway_command  # noqa: E402

main.add_command(gateway_command)
main.add_command(device_group)

from .devices.cli import mqtt_group  # noqa: E402
main.add_command(mqtt_group)
