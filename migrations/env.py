"""Alembic environment: the URL comes from the caller (``app.migrate``) or,
for ``alembic`` on the command line, from ``TZ_DATABASE_URL`` / the default."""

from __future__ import annotations

from alembic import context
from sqlalchemy import engine_from_config, pool

from app.config import Config
from app.db import make_engine
from app.models import ALL_METADATA

config = context.config
target_metadata = list(ALL_METADATA)


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = config.get_main_option("sqlalchemy.url") or Config.from_env().database_url
    engine = make_engine(url) if url else engine_from_config({}, poolclass=pool.NullPool)
    with engine.connect() as connection:
        _run(connection)
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
