"""Reading the configuration: a bad ``TZ_*`` value is a ConfigError naming the
variable, and never repeats a database password."""

from __future__ import annotations

import pytest

from app.config import Config, ConfigError, redacted_url, url_passwords

PASSWORD = "S3cret-Pw"


def from_env(**env: str) -> Config:
    return Config.from_env({"TZ_LEDGER_KEY_FILE": "/nonexistent/key.pem", **env})


@pytest.mark.parametrize("name, value", [
    ("TZ_MQTT_PORT", "abc"), ("TZ_MQTT_PORT", "99999"), ("TZ_MQTT_PORT", "0"),
    ("TZ_MQTT_PORT", "-1"), ("TZ_MQTT_PORT", "\u0661\u0668\u0668\u0663"),  # Arabic-Indic digits
    ("TZ_MAX_REQUEST_BYTES", "1MB"), ("TZ_MAX_REQUEST_BYTES", "0"),
    ("TZ_MAX_REQUEST_BYTES", "9" * 5000),  # more digits than int() takes
])
def test_a_bad_number_names_its_variable(name, value):
    with pytest.raises(ConfigError, match=f"^{name} must be an integer from"):
        from_env(**{name: value})


def test_numbers_unset_or_empty_keep_their_defaults():
    assert (from_env().mqtt_port, from_env(TZ_MQTT_PORT="").mqtt_port) == (1883, 1883)
    assert from_env(TZ_MQTT_PORT="8883", TZ_MAX_REQUEST_BYTES="2048").max_request_bytes == 2048


@pytest.mark.parametrize("url, message", [
    ("", "TZ_DATABASE_URL is empty"),
    ("not a url", "TZ_DATABASE_URL is not a database URL"),
    (f"postgresql+psycopg://tz:{PASSWORD}@db.example:port/tz",
     "TZ_DATABASE_URL is not a database URL"),
    (f"postgresql+psycopg://tz:{PASSWORD}@x@db.example/tz", "host name contains '@'"),
    (f"postgres://tz:{PASSWORD}@db.example/tz", "cannot use the dialect 'postgres'"),
    (f"postgresql+psycopg2://tz:{PASSWORD}@db.example/tz",
     "cannot use the dialect 'postgresql\\+psycopg2'"),
])
def test_a_database_url_that_cannot_work_is_refused_without_its_password(url, message):
    with pytest.raises(ConfigError, match=message) as refused:
        from_env(TZ_DATABASE_URL=url)
    assert "TZ_DATABASE_URL" in str(refused.value)
    assert "S3cret" not in str(refused.value) and "x@db" not in str(refused.value)


@pytest.mark.parametrize("url", [
    "sqlite:////var/lib/tradezone/tz.sqlite3",
    f"postgresql+psycopg://tz:{PASSWORD}@db.example:5432/tz?sslmode=require",
    "postgresql+psycopg://tz:p%40ss@db.example/tz",  # an "@" percent-encoded
])
def test_usable_database_urls_are_kept_as_given(url):
    assert from_env(TZ_DATABASE_URL=url).database_url == url


def test_redacted_url_hides_every_password():
    url = f"postgresql+psycopg://tz:{PASSWORD}@db/tz?sslmode=require&password=other&sslpassword=k"
    assert redacted_url(url) == ("postgresql+psycopg://tz:***@db/tz?password=***"
                                 "&sslmode=require&sslpassword=***")
    assert sorted(url_passwords(url)) == sorted([PASSWORD, "other", "k"])
    assert redacted_url("sqlite:////tmp/tz.sqlite3") == "sqlite:////tmp/tz.sqlite3"
