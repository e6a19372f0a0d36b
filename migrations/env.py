"""Alembic environment: the URL comes from the caller (``app.migrate``) or,
for ``alembic`` on the command line, from ``TZ_DATABASE_URL`` / the default.
There a bad setting or a database that cannot be used is one line and exit
status 1, as with ``tradezone db upgrade``, not a traceback."""

from __future__ import annotations

from alembic import context
from sqlalchemy import engine_from_config, pool

from app.config import Config, ConfigError
from app.db import make_engine, unusable_database_line
from app.db_errors import DATABASE_ERRORS
from app.models import ALL_METADATA

config = context.config
target_metadata = list(ALL_METADATA)


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    try:
        url = config.get_main_option("sqlalchemy.url") or Config.from_env().database_url
        engine = make_engine(url) if url else engine_from_config({}, poolclass=pool.NullPool)
    except ConfigError as error:
        raise SystemExit(f"tradezone: {error}") from None
    try:
        with engine.connect() as connection:
            _run(connection)
    except DATABASE_ERRORS as error:
        line = unusable_database_line(error, url)
        if line is None:  # a failing migration: its traceback is worth reading
            raise
        raise SystemExit(f"tradezone: {line}") from None
    finally:
        engine.dispose()


def _run(connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata,
                      render_as_batch=connection.dialect.name == "sqlite",
                      compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("offline migrations are not supported; connect to the database")
run_migrations_online()
