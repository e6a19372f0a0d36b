"""Fixtures shared by the whole suite.

Database tests run twice, on SQLite and on a real PostgreSQL server that the
session starts on a loopback port (``tests/services/postgres.py``). Each test
gets a fresh copy of a database migrated once per session, so migrations are
exercised and tests stay independent.
"""

from __future__ import annotations

import itertools
import shutil
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from app import create_app
from app.config import Config
from app.db import make_engine
from app.identity.models import Role
from app.identity.services import create_organization
from app.migrate import upgrade
from app.platform import Platform, build_platform
from tests.services.postgres import PostgresCluster

BACKENDS = ("sqlite", "postgresql")
_database_numbers = itertools.count()


class FakeClock:
    """An injectable clock: ``clock()`` is the current time, ``advance`` moves it."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 11, 23, 9, 0, tzinfo=timezone.utc)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture(scope="session")
def postgres():
    with PostgresCluster() as cluster:
        yield cluster


def _migrate(url: str) -> None:
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.sqlite3"
    _migrate(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres_template(postgres) -> str:
    postgres.create_database("tz_template")
    _migrate(postgres.url("tz_template"))
    return "tz_template"


@pytest.fixture(params=BACKENDS)
def database_url(request, tmp_path) -> str:
    """A freshly migrated, empty database on each backend."""
    if request.param == "sqlite":
        path = tmp_path / "tradezone.sqlite3"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
        return
    postgres = request.getfixturevalue("postgres")
    name = f"tz_test_{next(_database_numbers)}"
    postgres.create_database(name, template=request.getfixturevalue("postgres_template"))
    yield postgres.url(name)
    postgres.drop_database(name)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def config(database_url, tmp_path, clock) -> Config:
    return Config.for_tests(database_url, tmp_path / "keys" / "ledger.pem", clock=clock)


@pytest.fixture
def platform(config) -> Platform:
    platform = build_platform(config)
    with platform.db.write() as session:
        platform.notary.ensure_checkpoint(session)
    yield platform
    platform.db.dispose()


@pytest.fixture
def app(platform):
    return create_app(platform=platform)


@pytest.fixture
def client(app):
    return app.test_client()


@dataclass(frozen=True)
class OrgCredentials:
    org_id: str
    token: str
    role: Role

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@pytest.fixture
def make_org(platform):
    """Create an organisation of a role; returns its id and first token."""

    def make(role: Role, name: str = "Test Org") -> OrgCredentials:
        with platform.db.write() as session:
            org, token = create_organization(session, platform.notary, name, role,
                                             platform.now())
        return OrgCredentials(org.id, token.text, role)

    return make
