"""All configuration in one place, read from the environment (contract section 8)."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_ORIGIN = "tradezone.example/ledger"


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


class ConfigError(ValueError):
    """A ``TZ_*`` variable does not hold a usable value; the message names it
    and never repeats a password."""


@dataclass(frozen=True)
class Config:
    """Settings for one application instance; pass it to ``create_app``."""

    database_url: str
    ledger_key_file: Path
    ledger_origin: str = DEFAULT_ORIGIN
    mqtt_host: str = "127.0.0.1"
    mqtt_port: int = 1883
    mqtt_username: str | None = None
    mqtt_password: str | None = None
    max_request_bytes: int = 1024 * 1024
    export_policy_file: Path | None = None  # None: the policy shipped in app/consent/policy
    testing: bool = False
    clock: Callable[[], datetime] = field(default=utc_now, compare=False)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None,
                 var_dir: Path | None = None) -> "Config":
        """Read ``TZ_*`` variables; defaults put the database and key under ``var/``."""
        env = os.environ if environ is None else environ
        var = var_dir or Path(env.get("TZ_VAR_DIR", PROJECT_ROOT / "var"))
        return cls(
            database_url=check_database_url(
                env.get("TZ_DATABASE_URL", f"sqlite:///{var / 'tradezone.sqlite3'}")),
            ledger_key_file=Path(env.get("TZ_LEDGER_KEY_FILE", var / "ledger-signing-key.pem")),
            ledger_origin=env.get("TZ_LEDGER_ORIGIN", DEFAULT_ORIGIN),
            mqtt_host=env.get("TZ_MQTT_HOST", "127.0.0.1"),
            mqtt_port=_integer(env, "TZ_MQTT_PORT", 1883, 1, 65535),
            mqtt_username=env.get("TZ_MQTT_USERNAME") or None,
            mqtt_password=env.get("TZ_MQTT_PASSWORD") or None,
            max_request_bytes=_integer(env, "TZ_MAX_REQUEST_BYTES", 1024 * 1024, 1, 2**40),
            export_policy_file=Path(env["TZ_EXPORT_POLICY_FILE"])
            if env.get("TZ_EXPORT_POLICY_FILE") else None,
        )

    @classmethod
    def for_tests(cls, database_url: str, key_file: Path, **overrides) -> "Config":
        """An explicit test configuration: nothing is read from the environment."""
        return replace(cls(database_url=database_url, ledger_key_file=key_file, testing=True),
                       **overrides)


_URL_FORM = "dialect+driver://user:password@host:port/dbname"


def check_database_url(url: str) -> str:
    """``url`` if SQLAlchemy can parse it and its driver is installed; else a
    ConfigError naming TZ_DATABASE_URL that quotes no part of it but the dialect."""
    if not url.strip():
        raise ConfigError("TZ_DATABASE_URL is empty (unset it for the SQLite default)")
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        raise ConfigError(f"TZ_DATABASE_URL is not a database URL ({_URL_FORM}; in the "
                          "password, percent-encode @ : / # ? % as %40 %3A %2F %23 %3F %25)"
                          ) from None
    if parsed.host and "@" in parsed.host:
        # An unencoded "@" in the password: the rest of it would be taken for
        # the host name and quoted by the driver's "cannot resolve" error.
        raise ConfigError("TZ_DATABASE_URL: the host name contains '@'; "
                          "percent-encode an '@' in the password as %40")
    try:
        parsed.get_dialect().import_dbapi()
    except (ArgumentError, ImportError) as error:
        raise ConfigError(f"TZ_DATABASE_URL: cannot use the dialect {parsed.drivername!r} "
                          f"({error}); use sqlite:///PATH or postgresql+psycopg://...") from None
    return url


def redacted_url(url: str | URL) -> str:
    """The database URL with its passwords (``user:password@``, a ``?password=``
    parameter) shown as ``***``, for messages and logs."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        return "(an unparsable URL)"
    hidden = {key: "***" for key in parsed.query if "password" in key.lower()}
    text = parsed.update_query_dict(hidden).render_as_string(hide_password=True)
    return text.replace("=%2A%2A%2A", "=***")


def url_passwords(url: str | URL) -> list[str]:
    """Every password written in the database URL, to scrub from messages."""
    parsed = make_url(url)
    found = [str(parsed.password)] if parsed.password else []
    for key, value in parsed.query.items():
        if "password" in key.lower():
            found += [value] if isinstance(value, str) else list(value)
    return [password for password in found if password]


def decimal(text: str) -> int | None:
    """The integer ``text`` writes in 1 to 20 ASCII digits, else None: int() would
    also take " 64", "1_000" and other scripts' digits (and refuse "²", a digit)."""
    if text.isascii() and text.isdigit() and len(text) <= 20:
        return int(text)
    return None


def _integer(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    """The decimal integer in ``env[name]`` (unset or empty: ``default``), from low to high."""
    text = env.get(name) or ""
    if not text:
        return default
    value = decimal(text)
    if value is None or not low <= value <= high:
        raise ConfigError(f"{name} must be an integer from {low} to {high}, not {text!r}")
    return value
