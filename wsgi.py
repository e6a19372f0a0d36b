"""WSGI entry point: ``gunicorn wsgi:app`` serves the API configured from the environment.

A bad setting (``app.config.ConfigError``: a malformed ``TZ_*`` value, a key
file others can read) is one line on stderr and exit status 3, gunicorn's
"worker failed to boot", on which gunicorn stops rather than start worker
after worker. ``tradezone serve`` checks the same before gunicorn starts.
"""

import sys

from gunicorn.arbiter import Arbiter

from app import create_app
from app.config import ConfigError

try:
    app = create_app()
except ConfigError as error:
    print(f"tradezone: {error}", file=sys.stderr)
    raise SystemExit(Arbiter.WORKER_BOOT_ERROR) from None
