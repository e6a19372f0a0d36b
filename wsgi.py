"""WSGI entry point: ``gunicorn wsgi:app`` serves the API configured from the environment.

A bad setting (``app.config.ConfigError``: a malformed ``TZ_*`` value, a key
file others can read, a SQLite database not made yet, a database at another
schema revision than the code's) is one line on stderr and exit status 3,
gunicorn's "worker failed to boot", on which gunicorn stops rather than start
worker after worker. ``tradezone serve`` checks the same before gunicorn
starts. A database that cannot be reached yet is not a bad setting: the app
answers 503 until it can.
"""

import sys

from gunicorn.arbiter import Arbiter

from app import create_app
from app.config import Config, ConfigError
from app.db import require_existing_database
from app.db_errors import DATABASE_ERRORS
from app.errors import database_unavailable
from app.migrate import require_current_schema


def _checked_app():
    config = Config.from_env()
    require_existing_database(config.database_url)  # rather than create it empty
    checked = create_app(config)
    try:
        require_current_schema(checked.extensions["tradezone"].db, config.database_url)
    except DATABASE_ERRORS as error:
        if not database_unavailable(error):
            raise
    return checked


try:
    app = _checked_app()
except ConfigError as error:
    print(f"tradezone: {error}", file=sys.stderr)
    raise SystemExit(Arbiter.WORKER_BOOT_ERROR) from None
