"""All configuration in one place, read from the environment (contract section 8)."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_ORIGIN = "tradezone.example/ledger"


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


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
            database_url=env.get("TZ_DATABASE_URL", f"sqlite:///{var / 'tradezone.sqlite3'}"),
            ledger_key_file=Path(env.get("TZ_LEDGER_KEY_FILE", var / "ledger-signing-key.pem")),
            ledger_origin=env.get("TZ_LEDGER_ORIGIN", DEFAULT_ORIGIN),
            mqtt_host=env.get("TZ_MQTT_HOST", "127.0.0.1"),
            mqtt_port=int(env.get("TZ_MQTT_PORT", "1883")),
            mqtt_username=env.get("TZ_MQTT_USERNAME") or None,
            mqtt_password=env.get("TZ_MQTT_PASSWORD") or None,
            max_request_bytes=int(env.get("TZ_MAX_REQUEST_BYTES", str(1024 * 1024))),
            export_policy_file=Path(env["TZ_EXPORT_POLICY_FILE"])
            if env.get("TZ_EXPORT_POLICY_FILE") else None,
        )

    @classmethod
    def for_tests(cls, database_url: str, key_file: Path, **overrides) -> "Config":
        """An explicit test configuration: nothing is read from the environment."""
        return replace(cls(database_url=database_url, ledger_key_file=key_file, testing=True),
                       **overrides)
