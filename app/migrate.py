"""Applying the Alembic migrations: the only way the schema is made."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

import migrations

from .config import ConfigError, redacted_url
from .db import Database

MIGRATIONS_DIR = Path(migrations.__file__).resolve().parent


def alembic_config() -> AlembicConfig:
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the database behind ``engine`` to ``revision``."""
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def require_current_schema(database: Database, url: str) -> None:
    """A ConfigError unless the database is at the migrations' head revision.

    Code that expects a column the database lacks fails on every request
    that touches it (a 500 for every authenticated request, say), so the
    long-running commands check at start, as they check the key and the URL.
    """
    where = f"the database TZ_DATABASE_URL={redacted_url(url)}"
    with database.autocommit() as connection:
        current = MigrationContext.configure(connection).get_current_revision()
    scripts = ScriptDirectory.from_config(alembic_config())
    head = scripts.get_current_head()
    if current == head:
        return
    if current is None:
        raise ConfigError(f"{where} has no Tradezone tables: run `tradezone db upgrade`")
    if current not in {script.revision for script in scripts.walk_revisions()}:
        raise ConfigError(f"{where} is at schema revision {current}, which this code does not "
                          f"know (its newest is {head}): run the code that migrated it")
    raise ConfigError(f"{where} is at schema revision {current}; this code needs {head}: "
                      f"run `tradezone db upgrade`")
